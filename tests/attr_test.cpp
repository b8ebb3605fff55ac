// bpf() entry point (kernel-map-semantics.md §1): the size/attr rules in order (E2BIG for
// size > 4096 or nonzero bytes past the known size, EFAULT for an unreadable attr, EINVAL for
// an unknown cmd), truncation by a short size, per-command CHECK_ATTR tails, and unsupported
// commands failing without side effects. Every row runs against the library and, where
// bpf() is permitted, against the kernel.
#include <bpfmap/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "errno_table.hpp"
#include "test_support.hpp"

using namespace tbl;
namespace bdata = boost::unit_test::data;

namespace {

// The attr size a backend knows: 144 for the library (our header's union bpf_attr), the live
// kernel's own size for the kernel (the first offset where a nonzero byte gives E2BIG, §1
// step 2; 168 on 6.18).
unsigned attr_size(const Backend& b) {
    if (!b.kernel) return kAttrSize;
    static const unsigned kernel_size = [&b] {
        for (unsigned off = kAttrSize; off < 4096; ++off) {
            AttrBuf u;
            std::memset(&u, 0, sizeof u);
            u.bytes[off] = 1;
            if (raw(b, 999, &u, 4096).err == E2BIG) return off;
        }
        return 4096u;
    }();
    return kernel_size;
}

void fill_create(AttrBuf& u, unsigned type = BPF_MAP_TYPE_HASH) {
    u.a.map_type = type;
    u.a.key_size = 4;
    u.a.value_size = 8;
    u.a.max_entries = 4;
}

// Context of one row: a fresh HASH map (key 4, value 8, max 4) holding key 1.
struct Ctx {
    Fd map;
    __u32 key = 1;
    __u64 value = 0;
};

struct EntryRow {
    const char* name;
    int cmd;
    unsigned size;
    bool null_attr;
    std::function<void(AttrBuf&, Ctx&, const Backend&)> fill;  // may be empty
    // Expected result; gets the backend (some rows depend on the kernel's attr size).
    std::function<int(const Backend&)> want;
    bool kernel = true;  // also run against the kernel
};

int W(int e) {
    return e;
}

const std::vector<EntryRow>& entry_rows() {
    static const std::vector<EntryRow> rows = {
        // Step 1: size > 4096 → E2BIG, whatever else.
        {"size 4097, NULL attr, MAP_CREATE",
         BPF_MAP_CREATE,
         4097,
         true,
         {},
         [](const Backend&) { return W(E2BIG); }},
        {"size 4097, all-zero attr, MAP_CREATE",
         BPF_MAP_CREATE,
         4097,
         false,
         {},
         [](const Backend&) { return W(E2BIG); }},
        {"size 4097, valid HASH create attr", BPF_MAP_CREATE, 4097, false,
         [](AttrBuf& u, Ctx&, const Backend&) { fill_create(u); },
         [](const Backend&) { return W(E2BIG); }},
        {"size 4097, NULL attr, unknown cmd 999",
         999,
         4097,
         true,
         {},
         [](const Backend&) { return W(E2BIG); }},
        {"size 4097, NULL attr, unknown cmd -1",
         -1,
         4097,
         true,
         {},
         [](const Backend&) { return W(E2BIG); }},
        {"size 8192, NULL attr, LOOKUP",
         BPF_MAP_LOOKUP_ELEM,
         8192,
         true,
         {},
         [](const Backend&) { return W(E2BIG); }},
        {"size UINT_MAX, NULL attr, MAP_CREATE",
         BPF_MAP_CREATE,
         UINT_MAX,
         true,
         {},
         [](const Backend&) { return W(E2BIG); }},
        // Step 2: bytes past the known size.
        {"size 4096, all-zero attr, unknown cmd 999 (tail zero → cmd check)",
         999,
         4096,
         false,
         {},
         [](const Backend&) { return W(EINVAL); }},
        {"size 4096, valid HASH create, zero tail", BPF_MAP_CREATE, 4096, false,
         [](AttrBuf& u, Ctx&, const Backend&) { fill_create(u); },
         [](const Backend&) { return W(kNewFd); }},
        {"size 4096, valid HASH create, byte 4095 = 1", BPF_MAP_CREATE, 4096, false,
         [](AttrBuf& u, Ctx&, const Backend&) {
             fill_create(u);
             u.bytes[4095] = 1;
         },
         [](const Backend&) { return W(E2BIG); }},
        {"size 4096, valid HASH create, byte at the backend's attr size = 1", BPF_MAP_CREATE, 4096,
         false,
         [](AttrBuf& u, Ctx&, const Backend& b) {
             fill_create(u);
             u.bytes[attr_size(b)] = 1;
         },
         [](const Backend&) { return W(E2BIG); }},
        {"size 145, valid HASH create, byte 144 = 1 (library rule: known size 144; a newer "
         "kernel treats it as a field → EINVAL)",
         BPF_MAP_CREATE, 145, false,
         [](AttrBuf& u, Ctx&, const Backend&) {
             fill_create(u);
             u.bytes[144] = 1;
         },
         [](const Backend& b) { return attr_size(b) > 144 ? W(EINVAL) : W(E2BIG); }},
        {"size 4096, unknown cmd 999, byte 4095 = 1 (E2BIG before cmd)", 999, 4096, false,
         [](AttrBuf& u, Ctx&, const Backend&) { u.bytes[4095] = 1; },
         [](const Backend&) { return W(E2BIG); }},
        {"size 144, valid HASH create, byte 200 = 1 (outside size: never read)", BPF_MAP_CREATE,
         144, false,
         [](AttrBuf& u, Ctx&, const Backend&) {
             fill_create(u);
             u.bytes[200] = 1;
         },
         [](const Backend&) { return W(kNewFd); }},
        // Step 3: copy; size 0 reads nothing.
        {"size 0, NULL attr, MAP_CREATE (all fields 0 → map_type 0)",
         BPF_MAP_CREATE,
         0,
         true,
         {},
         [](const Backend&) { return W(EINVAL); }},
        {"size 0, valid HASH create attr (not read → map_type 0)", BPF_MAP_CREATE, 0, false,
         [](AttrBuf& u, Ctx&, const Backend&) { fill_create(u); },
         [](const Backend&) { return W(EINVAL); }},
        {"size 0, NULL attr, unknown cmd 999",
         999,
         0,
         true,
         {},
         [](const Backend&) { return W(EINVAL); }},
        {"size 0, NULL attr, MAP_GET_FD_BY_ID (id 0)",
         BPF_MAP_GET_FD_BY_ID,
         0,
         true,
         {},
         [](const Backend&) { return W(ENOENT); }},
        {"size 144, NULL attr, MAP_CREATE",
         BPF_MAP_CREATE,
         144,
         true,
         {},
         [](const Backend&) { return W(EFAULT); }},
        {"size 1, NULL attr, MAP_CREATE",
         BPF_MAP_CREATE,
         1,
         true,
         {},
         [](const Backend&) { return W(EFAULT); }},
        {"size 4096, NULL attr, MAP_CREATE",
         BPF_MAP_CREATE,
         4096,
         true,
         {},
         [](const Backend&) { return W(EFAULT); }},
        {"size 144, NULL attr, unknown cmd 999 (copy before cmd check)",
         999,
         144,
         true,
         {},
         [](const Backend&) { return W(EFAULT); }},
        {"size 144, NULL attr, LOOKUP",
         BPF_MAP_LOOKUP_ELEM,
         144,
         true,
         {},
         [](const Backend&) { return W(EFAULT); }},
        // Step 4: unknown commands.
        {"unknown cmd 999, zero attr",
         999,
         144,
         false,
         {},
         [](const Backend&) { return W(EINVAL); }},
        {"unknown cmd -1, zero attr", -1, 144, false, {}, [](const Backend&) { return W(EINVAL); }},
        {"unknown cmd 36, zero attr", 36, 144, false, {}, [](const Backend&) { return W(EINVAL); }},
        // Short sizes truncate fields.
        {"MAP_CREATE size 12 (max_entries lost)", BPF_MAP_CREATE, 12, false,
         [](AttrBuf& u, Ctx&, const Backend&) { fill_create(u); },
         [](const Backend&) { return W(EINVAL); }},
        {"MAP_CREATE size 16 with map_flags 1<<20 (flags never seen)", BPF_MAP_CREATE, 16, false,
         [](AttrBuf& u, Ctx&, const Backend&) {
             fill_create(u);
             u.a.map_flags = 1u << 20;
         },
         [](const Backend&) { return W(kNewFd); }},
        {"MAP_CREATE size 20 with map_flags 1<<20 (flags seen)", BPF_MAP_CREATE, 20, false,
         [](AttrBuf& u, Ctx&, const Backend&) {
             fill_create(u);
             u.a.map_flags = 1u << 20;
         },
         [](const Backend&) { return W(EINVAL); }},
        {"MAP_CREATE size 28 with map_name \"bad-name\" (name lost)", BPF_MAP_CREATE, 28, false,
         [](AttrBuf& u, Ctx&, const Backend&) {
             fill_create(u);
             std::memcpy(u.a.map_name, "bad-name", 8);
         },
         [](const Backend&) { return W(kNewFd); }},
        {"MAP_CREATE size 44 with map_name \"bad-name\" (name seen)", BPF_MAP_CREATE, 44, false,
         [](AttrBuf& u, Ctx&, const Backend&) {
             fill_create(u);
             std::memcpy(u.a.map_name, "bad-name", 8);
         },
         [](const Backend&) { return W(EINVAL); }},
        {"MAP_CREATE size 72 (up to map_extra), valid", BPF_MAP_CREATE, 72, false,
         [](AttrBuf& u, Ctx&, const Backend&) { fill_create(u); },
         [](const Backend&) { return W(kNewFd); }},
        {"LOOKUP size 32 (all its fields) on a present key", BPF_MAP_LOOKUP_ELEM, 32, false,
         [](AttrBuf& u, Ctx& c, const Backend&) {
             u.a.map_fd = static_cast<__u32>(c.map.get());
             u.a.key = ptr(&c.key);
             u.a.value = ptr(&c.value);
         },
         [](const Backend&) { return W(kOK); }},
        {"LOOKUP size 16 (value lost → NULL) on a present key", BPF_MAP_LOOKUP_ELEM, 16, false,
         [](AttrBuf& u, Ctx& c, const Backend&) {
             u.a.map_fd = static_cast<__u32>(c.map.get());
             u.a.key = ptr(&c.key);
             u.a.value = ptr(&c.value);
         },
         [](const Backend&) { return W(EFAULT); }},
        {"LOOKUP size 4 (key lost), missing element semantics not reached", BPF_MAP_LOOKUP_ELEM, 4,
         false,
         [](AttrBuf& u, Ctx& c, const Backend&) {
             u.a.map_fd = static_cast<__u32>(c.map.get());
             u.a.key = ptr(&c.key);
         },
         [](const Backend&) { return W(EFAULT); }},
        {"LOOKUP size 8 (key lost → NULL) on a present key", BPF_MAP_LOOKUP_ELEM, 8, false,
         [](AttrBuf& u, Ctx& c, const Backend&) {
             u.a.map_fd = static_cast<__u32>(c.map.get());
             u.a.key = ptr(&c.key);
             u.a.value = ptr(&c.value);
         },
         [](const Backend&) { return W(EFAULT); }},
        {"LOOKUP size 24 (flags lost) with flags=1", BPF_MAP_LOOKUP_ELEM, 24, false,
         [](AttrBuf& u, Ctx& c, const Backend&) {
             u.a.map_fd = static_cast<__u32>(c.map.get());
             u.a.key = ptr(&c.key);
             u.a.value = ptr(&c.value);
             u.a.flags = 1;
         },
         [](const Backend&) { return W(kOK); }},
    };
    return rows;
}

}  // namespace

BOOST_DATA_TEST_CASE(entry_point_table, bdata::make(kBackends), backend) {
    if (!usable(backend)) return;
    for (const EntryRow& row : entry_rows()) {
        if (backend.kernel && !row.kernel) continue;
        std::string label = std::string("[") + backend.name + "] " + row.name;
        Ctx ctx;
        Res cr = create(backend, BPF_MAP_TYPE_HASH, 4, 8, 4);
        ctx.map = own(cr);
        if (!expect(label + " (setup: create HASH)", cr, kNewFd)) continue;
        __u64 v = 7;
        if (!expect(label + " (setup: insert key 1)", update(backend, ctx.map.get(), &ctx.key, &v),
                    kOK))
            continue;
        AttrBuf u;
        std::memset(&u, 0, sizeof u);
        if (row.fill) row.fill(u, ctx, backend);
        Res r = raw(backend, row.cmd, row.null_attr ? nullptr : &u, row.size);
        expect(label, r, row.want(backend));
        if (r.ret > 0 && (row.cmd == BPF_MAP_CREATE || row.cmd == BPF_MAP_GET_FD_BY_ID))
            ::close(r.ret);
    }
}

// §1 step 2, every offset: one nonzero byte anywhere in [known size, size) → E2BIG, for
// size 4096 and for size = offset + 1 (the byte is the last one), on MAP_CREATE and LOOKUP.
BOOST_DATA_TEST_CASE(tail_past_known_size_sweep, bdata::make(kBackends), backend) {
    if (!usable(backend)) return;
    Res cr = create(backend, BPF_MAP_TYPE_HASH, 4, 8, 4);
    Fd map = own(cr);
    if (!expect(std::string("[") + backend.name + "] sweep (setup: create HASH)", cr, kNewFd))
        return;
    __u32 key = 1;
    __u64 value = 5;
    update(backend, map.get(), &key, &value);
    for (int cmd : {BPF_MAP_CREATE, BPF_MAP_LOOKUP_ELEM}) {
        for (bool last_byte : {false, true}) {
            const std::string label = std::string("[") + backend.name + "] " +
                                      (cmd == BPF_MAP_CREATE ? "MAP_CREATE" : "LOOKUP") +
                                      ", valid attr, one byte 0x80 at each offset " +
                                      std::to_string(attr_size(backend)) + "..4095, size " +
                                      (last_byte ? "offset + 1" : "4096");
            std::string bad;
            for (unsigned off = attr_size(backend); off < 4096; ++off) {
                AttrBuf u;
                std::memset(&u, 0, sizeof u);
                if (cmd == BPF_MAP_CREATE) {
                    fill_create(u);
                } else {
                    u.a.map_fd = static_cast<__u32>(map.get());
                    u.a.key = ptr(&key);
                    u.a.value = ptr(&value);
                }
                u.bytes[off] = 0x80;
                Res r = raw(backend, cmd, &u, last_byte ? off + 1 : 4096);
                if (r.ret == -1 && r.err == E2BIG) continue;
                if (r.ret > 0 && cmd == BPF_MAP_CREATE) ::close(r.ret);
                if (bad.size() < 400) bad += " " + std::to_string(off) + "→" + show(r);
            }
            BOOST_CHECK_MESSAGE(bad.empty(),
                                label << ": expected -1/E2BIG at every offset; got" << bad);
        }
    }
}

// §1 step 5 / per-command CHECK_ATTR: a nonzero byte anywhere after the command's last field
// (inside the 144-byte union) → EINVAL, before anything else (the rest of the attr is valid).
// Every such offset is tried, one byte at a time.
namespace {

struct TailRow {
    const char* name;
    int cmd;
    size_t end;          // offsetofend(last field) with our header
    size_t kernel_from;  // the kernel is checked from here (a newer kernel has more fields)
};

constexpr size_t kEndElem = offsetof(union bpf_attr, flags) + 8;  // 32

const std::vector<TailRow>& tail_rows() {
    static const std::vector<TailRow> rows = {
        // 6.18 reads value_type_btf_obj_fd, map_token_fd, excl_prog_hash(_size) at 72..91.
        {"MAP_CREATE (last field map_extra)", BPF_MAP_CREATE,
         offsetof(union bpf_attr, map_extra) + 8, 92},
        {"LOOKUP (last field flags)", BPF_MAP_LOOKUP_ELEM, kEndElem, kEndElem},
        {"UPDATE (last field flags)", BPF_MAP_UPDATE_ELEM, kEndElem, kEndElem},
        {"DELETE (last field key)", BPF_MAP_DELETE_ELEM, offsetof(union bpf_attr, key) + 8,
         offsetof(union bpf_attr, key) + 8},
        {"GET_NEXT_KEY (last field next_key)", BPF_MAP_GET_NEXT_KEY,
         offsetof(union bpf_attr, next_key) + 8, offsetof(union bpf_attr, next_key) + 8},
        {"LOOKUP_AND_DELETE (last field flags)", BPF_MAP_LOOKUP_AND_DELETE_ELEM, kEndElem,
         kEndElem},
        {"FREEZE (last field map_fd)", BPF_MAP_FREEZE, 4, 4},
        {"OBJ_GET_INFO_BY_FD (last field info.info)", BPF_OBJ_GET_INFO_BY_FD,
         offsetof(union bpf_attr, info.info) + 8, offsetof(union bpf_attr, info.info) + 8},
        {"MAP_GET_NEXT_ID (last field next_id)", BPF_MAP_GET_NEXT_ID,
         offsetof(union bpf_attr, next_id) + 4, offsetof(union bpf_attr, next_id) + 4},
        {"MAP_GET_FD_BY_ID (last field open_flags)", BPF_MAP_GET_FD_BY_ID,
         offsetof(union bpf_attr, open_flags) + 4, offsetof(union bpf_attr, open_flags) + 4},
        {"OBJ_PIN (last field file_flags; NULL path)", BPF_OBJ_PIN,
         offsetof(union bpf_attr, file_flags) + 4, offsetof(union bpf_attr, file_flags) + 4},
        {"OBJ_GET (last field file_flags; NULL path)", BPF_OBJ_GET,
         offsetof(union bpf_attr, file_flags) + 4, offsetof(union bpf_attr, file_flags) + 4},
        {"MAP_LOOKUP_BATCH (last field batch.flags)", BPF_MAP_LOOKUP_BATCH,
         offsetof(union bpf_attr, batch.flags) + 8, offsetof(union bpf_attr, batch.flags) + 8},
    };
    return rows;
}

// A valid attr for cmd on map (key 1 present; UPDATE adds key 2).
struct TailWorld {
    Fd map;
    __u32 id = 0;
    __u32 key = 1, other = 2, nk = 0;
    __u64 value = 9, out = 0;
    struct bpf_map_info info;
};

bool make_world(const Backend& b, TailWorld& w, const std::string& label) {
    Res cr = create(b, BPF_MAP_TYPE_HASH, 4, 8, 4);
    w.map = own(cr);
    if (!expect(label + " (setup: create HASH)", cr, kNewFd)) return false;
    if (!expect(label + " (setup: insert)", update(b, w.map.get(), &w.key, &w.value), kOK))
        return false;
    w.id = map_id(b, w.map.get());
    return true;
}

void fill_valid(AttrBuf& u, int cmd, TailWorld& w) {
    std::memset(&u, 0, sizeof u);
    std::memset(&w.info, 0, sizeof w.info);
    const int fd = w.map.get();
    switch (cmd) {
        case BPF_MAP_CREATE:
            fill_create(u);
            break;
        case BPF_MAP_LOOKUP_ELEM:
        case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
            u.a.map_fd = static_cast<__u32>(fd);
            u.a.key = ptr(&w.key);
            u.a.value = ptr(&w.out);
            break;
        case BPF_MAP_UPDATE_ELEM:
            u.a.map_fd = static_cast<__u32>(fd);
            u.a.key = ptr(&w.other);
            u.a.value = ptr(&w.value);
            break;
        case BPF_MAP_DELETE_ELEM:
            u.a.map_fd = static_cast<__u32>(fd);
            u.a.key = ptr(&w.key);
            break;
        case BPF_MAP_GET_NEXT_KEY:  // NULL key: the first key
            u.a.map_fd = static_cast<__u32>(fd);
            u.a.next_key = ptr(&w.nk);
            break;
        case BPF_MAP_FREEZE:
            u.a.map_fd = static_cast<__u32>(fd);
            break;
        case BPF_OBJ_GET_INFO_BY_FD:
            u.a.info.bpf_fd = static_cast<__u32>(fd);
            u.a.info.info_len = sizeof w.info;
            u.a.info.info = ptr(&w.info);
            break;
        case BPF_MAP_GET_FD_BY_ID:
            u.a.map_id = w.id;
            break;
        case BPF_OBJ_PIN:
            u.a.bpf_fd = static_cast<__u32>(fd);
            break;
        case BPF_MAP_LOOKUP_BATCH:
            u.a.batch.map_fd = static_cast<__u32>(fd);
            break;
        default:
            break;  // MAP_GET_NEXT_ID, OBJ_GET: all zero
    }
}

bool returns_fd(int cmd) {
    return cmd == BPF_MAP_CREATE || cmd == BPF_MAP_GET_FD_BY_ID || cmd == BPF_OBJ_GET;
}

}  // namespace

BOOST_DATA_TEST_CASE(check_attr_tail_table, bdata::make(kBackends), backend) {
    if (!usable(backend)) return;
    for (const TailRow& row : tail_rows()) {
        const size_t from = backend.kernel ? row.kernel_from : row.end;
        const std::string label = std::string("[") + backend.name + "] " + row.name +
                                  ": one nonzero byte at each offset " + std::to_string(from) +
                                  "..143";
        TailWorld w;
        if (!make_world(backend, w, label)) continue;
        // The command is valid without the stray byte.
        if (row.cmd != BPF_MAP_FREEZE && row.cmd != BPF_MAP_LOOKUP_AND_DELETE_ELEM &&
            row.cmd != BPF_MAP_DELETE_ELEM && row.cmd != BPF_OBJ_PIN && row.cmd != BPF_OBJ_GET &&
            row.cmd != BPF_MAP_LOOKUP_BATCH && row.cmd != BPF_MAP_GET_NEXT_ID) {
            AttrBuf u;
            fill_valid(u, row.cmd, w);
            Res r = raw(backend, row.cmd, &u, kAttrSize);
            if (r.ret > 0 && returns_fd(row.cmd)) ::close(r.ret);
            expect(label + " (control: the attr without the stray byte)", r,
                   returns_fd(row.cmd) ? kNewFd : kOK);
            if (row.cmd == BPF_MAP_UPDATE_ELEM) del(backend, w.map.get(), &w.other);
        }
        std::string bad;
        for (size_t off = from; off < kAttrSize; ++off) {
            AttrBuf u;
            fill_valid(u, row.cmd, w);
            u.bytes[off] = 0x80;
            Res r = raw(backend, row.cmd, &u, kAttrSize);
            if (r.ret == -1 && r.err == EINVAL) continue;
            bad += " " + std::to_string(off) + "→" + show(r);
            if (r.ret > 0 && returns_fd(row.cmd)) ::close(r.ret);
            // The call did something: start again from a fresh map.
            if (!make_world(backend, w, label)) break;
        }
        BOOST_CHECK_MESSAGE(bad.empty(),
                            label << ": expected -1/EINVAL at every offset; got" << bad);
        // Nothing changed: key 1 is still there, key 2 was not added, the map is not frozen.
        expect(label + " → key 1 still present", lookup(backend, w.map.get(), &w.key, &w.out), kOK);
        expect(label + " → key 2 not added", lookup(backend, w.map.get(), &w.other, &w.out),
               ENOENT);
        expect(label + " → map not frozen (update works)",
               update(backend, w.map.get(), &w.key, &w.value), kOK);
    }
}

// §1 step 3: an unreadable attr (PROT_NONE page) with size > 0 → EFAULT; an attr of exactly
// `size` bytes that ends where a PROT_NONE page begins is fine (only min(size, 144) bytes
// are read). The library runs each row in a child process, so that a crash is reported
// instead of ending this binary.
namespace {

struct PageRow {
    const char* name;
    int cmd;
    unsigned size;
    bool tight;  // false: the attr is in a PROT_NONE page; true: it ends at one
    int want;    // EFAULT, or kChildOk
};

const PageRow kPageRows[] = {
    {"MAP_CREATE, attr in a PROT_NONE page, size 144", BPF_MAP_CREATE, 144, false, EFAULT},
    {"MAP_CREATE, attr in a PROT_NONE page, size 8", BPF_MAP_CREATE, 8, false, EFAULT},
    {"LOOKUP, attr in a PROT_NONE page, size 144", BPF_MAP_LOOKUP_ELEM, 144, false, EFAULT},
    {"unknown cmd 999, attr in a PROT_NONE page, size 144 (copy before cmd)", 999, 144, false,
     EFAULT},
    {"unknown cmd 999, attr in a PROT_NONE page, size 4096", 999, 4096, false, EFAULT},
    {"MAP_CREATE, valid 144-byte attr ending at a PROT_NONE page, size 144", BPF_MAP_CREATE, 144,
     true, kChildOk},
    {"MAP_CREATE, valid 72-byte attr ending at a PROT_NONE page, size 72", BPF_MAP_CREATE, 72, true,
     kChildOk},
    {"MAP_CREATE, valid 16-byte attr ending at a PROT_NONE page, size 16", BPF_MAP_CREATE, 16, true,
     kChildOk},
};

int page_row_status(const Backend& b, int row_index) {
    const PageRow& row = kPageRows[row_index];
    void* m = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return kChildSetup;
    auto* p = static_cast<unsigned char*>(m);
    int st = kChildSetup;
    if (mprotect(p + 4096, 4096, PROT_NONE) == 0) {
        void* attr = p + 4096;
        if (row.tight) {
            AttrBuf u;
            std::memset(&u, 0, sizeof u);
            fill_create(u);
            std::memcpy(p + 4096 - row.size, &u, row.size);
            attr = p + 4096 - row.size;
        }
        Res r = raw(b, row.cmd, attr, row.size);
        if (r.ret >= 0) {
            if (row.cmd == BPF_MAP_CREATE) ::close(r.ret);
            st = kChildOk;
        } else {
            st = child_code(r.err);
        }
    }
    munmap(m, 8192);
    return st;
}

}  // namespace

BPFMAP_CHILD(attr_page) {
    if (args.size() != 1) return kChildSetup;
    return page_row_status(Backend{"library", false}, std::stoi(args[0]));
}

BOOST_DATA_TEST_CASE(unreadable_attr_table, bdata::make(kBackends), backend) {
    if (!usable(backend)) return;
    for (int i = 0; i < static_cast<int>(std::size(kPageRows)); ++i) {
        const PageRow& row = kPageRows[i];
        const std::string label = std::string("[") + backend.name + "] " + row.name;
        int st = backend.kernel ? page_row_status(backend, i)
                                : bt::spawn_child("attr_page", {std::to_string(i)}).wait();
        BOOST_CHECK_MESSAGE(st == row.want, label + ": expected " +
                                                (row.want == kChildOk ? std::string("success")
                                                                      : "-1/" + errname(row.want)) +
                                                ", got " + child_status_str(st));
    }
}

// Commands the library does not support fail (EINVAL, as for an unknown command, header
// bpf.h) and change nothing: no fd is created, no output is written, the map is unchanged.
namespace {

int lowest_free_fd() {
    int fd = ::dup(0);
    if (fd < 0) fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) ::close(fd);
    return fd;
}

}  // namespace

BOOST_AUTO_TEST_CASE(unsupported_commands_change_nothing) {
    const Backend lib{"library", false};
    const Backend kern{"kernel", true};
    // A valid socket-filter program: r0 = 0; exit.
    struct bpf_insn insns[2];
    std::memset(insns, 0, sizeof insns);
    insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
    insns[0].dst_reg = BPF_REG_0;
    insns[1].code = BPF_JMP | BPF_EXIT;
    static const char license[] = "GPL";
    AttrBuf prog;
    std::memset(&prog, 0, sizeof prog);
    prog.a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    prog.a.insns = ptr(insns);
    prog.a.insn_cnt = 2;
    prog.a.license = ptr(license);
    if (bt::kernel_bpf_available()) {
        AttrBuf k = prog;
        Res r = raw(kern, BPF_PROG_LOAD, &k, kAttrSize);
        expect("[kernel] BPF_PROG_LOAD of the valid-looking program (proves the attr is valid)", r,
               kNewFd);
        if (r.ret >= 0) ::close(r.ret);
    }
    {
        int before = lowest_free_fd();
        AttrBuf p = prog;
        expect("[library] BPF_PROG_LOAD (unsupported)", raw(lib, BPF_PROG_LOAD, &p, kAttrSize),
               EINVAL);
        expect_true("[library] BPF_PROG_LOAD (unsupported)", lowest_free_fd() == before,
                    "an fd was left open");
        expect_true("[library] BPF_PROG_LOAD (unsupported)", std::memcmp(&p, &prog, sizeof p) == 0,
                    "the attr was modified");
    }

    Fd map = own(create(lib, BPF_MAP_TYPE_HASH, 4, 8, 8));
    BOOST_REQUIRE_MESSAGE(map.ok(), "[library] setup: create HASH: " << show({-1, errno}));
    const __u32 keys_in[3] = {1, 2, 3};
    for (__u32 k : keys_in) {
        __u64 v = 100 + k;
        BOOST_REQUIRE_MESSAGE(update(lib, map.get(), &k, &v).ret == 0, "[library] setup: insert");
    }
    struct BatchRow {
        const char* name;
        int cmd;
    };
    const BatchRow batch_rows[] = {
        {"BPF_MAP_LOOKUP_BATCH", BPF_MAP_LOOKUP_BATCH},
        {"BPF_MAP_LOOKUP_AND_DELETE_BATCH", BPF_MAP_LOOKUP_AND_DELETE_BATCH},
        {"BPF_MAP_UPDATE_BATCH", BPF_MAP_UPDATE_BATCH},
        {"BPF_MAP_DELETE_BATCH", BPF_MAP_DELETE_BATCH},
    };
    for (const BatchRow& row : batch_rows) {
        std::string label = std::string("[library] ") + row.name + " (unsupported) on a HASH map";
        __u32 keys[8];
        __u64 values[8];
        __u32 out_batch = 0xAAAAAAAA;
        bool writes = row.cmd == BPF_MAP_UPDATE_BATCH || row.cmd == BPF_MAP_DELETE_BATCH;
        if (writes) {
            // Input: keys 1, 2, 3 (delete) or 4..11 (update, new keys).
            for (__u32 i = 0; i < 8; ++i) {
                keys[i] = row.cmd == BPF_MAP_DELETE_BATCH ? 1 + i % 3 : 4 + i;
                values[i] = 500 + i;
            }
        } else {
            std::memset(keys, 0xAA, sizeof keys);
            std::memset(values, 0xAA, sizeof values);
        }
        __u32 keys_copy[8];
        __u64 values_copy[8];
        std::memcpy(keys_copy, keys, sizeof keys);
        std::memcpy(values_copy, values, sizeof values);
        AttrBuf u;
        std::memset(&u, 0, sizeof u);
        u.a.batch.map_fd = static_cast<__u32>(map.get());
        u.a.batch.keys = ptr(keys);
        u.a.batch.values = ptr(values);
        u.a.batch.count = row.cmd == BPF_MAP_DELETE_BATCH ? 3 : 8;
        if (!writes) u.a.batch.out_batch = ptr(&out_batch);
        AttrBuf before = u;
        int fd_before = lowest_free_fd();
        expect(label, raw(lib, row.cmd, &u, kAttrSize), EINVAL);
        expect_true(label, std::memcmp(&u, &before, sizeof u) == 0,
                    "the attr was modified (e.g. batch.count written back)");
        expect_true(label, std::memcmp(keys, keys_copy, sizeof keys) == 0,
                    "the keys buffer was written");
        expect_true(label, std::memcmp(values, values_copy, sizeof values) == 0,
                    "the values buffer was written");
        expect_true(label, out_batch == 0xAAAAAAAA, "out_batch was written");
        expect_true(label, lowest_free_fd() == fd_before, "an fd was left open");
        for (__u32 k : keys_in) {
            __u64 v = 0;
            Res r = lookup(lib, map.get(), &k, &v);
            expect(label + " → key " + std::to_string(k) + " still present", r, kOK);
            expect_true(label, r.ret != 0 || v == 100 + k,
                        "key " + std::to_string(k) + " has a changed value");
        }
        for (__u32 k = 4; k < 12; ++k) {
            __u64 v = 0;
            expect(label + " → key " + std::to_string(k) + " not added",
                   lookup(lib, map.get(), &k, &v), ENOENT);
        }
    }
    // Other unsupported commands with a zeroed attr.
    const BatchRow others[] = {
        {"BPF_PROG_ATTACH", BPF_PROG_ATTACH},
        {"BPF_PROG_TEST_RUN", BPF_PROG_TEST_RUN},
        {"BPF_PROG_GET_NEXT_ID", BPF_PROG_GET_NEXT_ID},
        {"BPF_PROG_GET_FD_BY_ID", BPF_PROG_GET_FD_BY_ID},
        {"BPF_BTF_LOAD", BPF_BTF_LOAD},
        {"BPF_LINK_CREATE", BPF_LINK_CREATE},
        {"BPF_ENABLE_STATS", BPF_ENABLE_STATS},
        {"BPF_ITER_CREATE", BPF_ITER_CREATE},
        {"BPF_PROG_BIND_MAP", BPF_PROG_BIND_MAP},
        {"BPF_BTF_GET_NEXT_ID", BPF_BTF_GET_NEXT_ID},
    };
    for (const BatchRow& row : others) {
        int fd_before = lowest_free_fd();
        AttrBuf u;
        std::memset(&u, 0, sizeof u);
        std::string label = std::string("[library] ") + row.name + " (unsupported), zero attr";
        expect(label, raw(lib, row.cmd, &u, kAttrSize), EINVAL);
        expect_true(label, lowest_free_fd() == fd_before, "an fd was left open");
    }
}
