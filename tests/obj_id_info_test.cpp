// Object commands (kernel-map-semantics.md §10, §11): BPF_MAP_GET_NEXT_ID (order, ENOENT at
// the end, start_id ≥ INT_MAX → EINVAL), BPF_MAP_GET_FD_BY_ID (0/unknown/gone → ENOENT, bad
// open_flags → EINVAL, restricted fds), BPF_OBJ_GET_INFO_BY_FD (EBADFD/EINVAL/E2BIG/EFAULT,
// info_len written back as min(len, our 88-byte struct)), and BPF_OBJ_PIN / BPF_OBJ_GET on the
// library's "bpffs", the folder bpfmap_root() (EEXIST, ENOENT, EPERM outside the root, EINVAL
// for a bad fd or flags, EFAULT for a NULL path; GET flags, ENOENT, EACCES; a pin keeps the
// map alive). GET_INFO and GET_FD_BY_ID rows also run against the kernel where bpf() is
// permitted; id-order and pin rows are library-only (the kernel's ids cover the whole host,
// its pins need bpffs).
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

const Backend kLib{"library", false};
constexpr unsigned kInfoSize = sizeof(struct bpf_map_info);  // 88 with our header

// The bpf_map_info size a backend fills: ours for the library; for the kernel, what it writes
// back for info_len 4096 (104 on 6.18).
unsigned info_size(const Backend& b, int map_fd) {
    if (!b.kernel) return kInfoSize;
    static unsigned size = 0;
    if (size == 0) {
        static unsigned char buf[4096];
        std::memset(buf, 0, sizeof buf);
        AttrBuf u;
        std::memset(&u, 0, sizeof u);
        u.a.info.bpf_fd = static_cast<__u32>(map_fd);
        u.a.info.info_len = sizeof buf;
        u.a.info.info = ptr(buf);
        if (raw(b, BPF_OBJ_GET_INFO_BY_FD, &u, kAttrSize).ret == 0) size = u.a.info.info_len;
    }
    return size;
}

struct InfoCall {
    Res r;
    unsigned len_back;  // info.info_len after the call
};
InfoCall info_call(const Backend& b, int fd, void* buf, unsigned len) {
    AttrBuf u;
    std::memset(&u, 0, sizeof u);
    u.a.info.bpf_fd = static_cast<__u32>(fd);
    u.a.info.info_len = len;
    u.a.info.info = ptr(buf);
    Res r = raw(b, BPF_OBJ_GET_INFO_BY_FD, &u, kAttrSize);
    return {r, u.a.info.info_len};
}

Res next_id(const Backend& b, __u32 start, __u32* out, __u32 open_flags = 0) {
    AttrBuf u;
    std::memset(&u, 0, sizeof u);
    u.a.start_id = start;
    u.a.open_flags = open_flags;
    Res r = raw(b, BPF_MAP_GET_NEXT_ID, &u, kAttrSize);
    if (out) *out = u.a.next_id;
    return r;
}

std::string L(const Backend& b, const std::string& row) {
    return std::string("[") + b.name + "] " + row;
}

}  // namespace

// §11 MAP_GET_NEXT_ID over the library's maps (this binary's store holds only these; other
// test cases close their maps). Runs first.
BOOST_AUTO_TEST_CASE(get_next_id_order) {
    const Backend& b = kLib;
    Res ra = create(b, BPF_MAP_TYPE_HASH, 4, 8, 4), rb = create(b, BPF_MAP_TYPE_ARRAY, 4, 8, 4),
        rc = create(b, BPF_MAP_TYPE_HASH, 4, 8, 4, BPF_F_NO_PREALLOC);
    Fd a = own(ra), bb = own(rb), c = own(rc);
    BOOST_REQUIRE_MESSAGE(
        a.ok() && bb.ok() && c.ok(),
        "[library] setup: create three maps: " << show(ra) << " " << show(rb) << " " << show(rc));
    const __u32 ia = map_id(b, a.get()), ib = map_id(b, bb.get()), ic = map_id(b, c.get());
    BOOST_REQUIRE_MESSAGE(ia && ib && ic, "[library] setup: ids " << ia << " " << ib << " " << ic);
    expect_true(L(b, "ids of three creates"), ia < ib && ib < ic,
                "ids not increasing: " + std::to_string(ia) + " " + std::to_string(ib) + " " +
                    std::to_string(ic));
    // A walk from 0 is strictly increasing and contains the three ids.
    std::vector<__u32> walk;
    __u32 cur = 0;
    for (int i = 0; i < 1000; ++i) {
        __u32 nid = 0;
        Res r = next_id(b, cur, &nid);
        if (r.ret != 0) {
            expect(L(b, "GET_NEXT_ID walk ends"), r, ENOENT);
            break;
        }
        if (!expect_true(
                L(b, "GET_NEXT_ID walk"), nid > cur,
                "next_id " + std::to_string(nid) + " not above start_id " + std::to_string(cur)))
            break;
        walk.push_back(nid);
        cur = nid;
    }
    expect_true(L(b, "GET_NEXT_ID walk from 0"), walk == std::vector<__u32>({ia, ib, ic}),
                "walk is not exactly the three live ids (" + std::to_string(walk.size()) + " ids)");
    __u32 nid = 0;
    expect(L(b, "GET_NEXT_ID(id a) → id b"), next_id(b, ia, &nid), kOK);
    expect_true(L(b, "GET_NEXT_ID(id a)"), nid == ib, "got " + std::to_string(nid));
    expect(L(b, "GET_NEXT_ID(id b - 1) → id b"), next_id(b, ib - 1, &nid), kOK);
    expect_true(L(b, "GET_NEXT_ID(id b - 1)"), nid == ib, "got " + std::to_string(nid));
    expect(L(b, "GET_NEXT_ID(last id) → ENOENT"), next_id(b, ic, &nid), ENOENT);
    expect(L(b, "GET_NEXT_ID(INT_MAX - 1) → ENOENT"), next_id(b, INT_MAX - 1, &nid), ENOENT);
    // The id of a closed map is gone at once.
    bb.reset();
    expect(L(b, "after closing map b: GET_NEXT_ID(id a) → id c"), next_id(b, ia, &nid), kOK);
    expect_true(L(b, "after closing map b: GET_NEXT_ID(id a)"), nid == ic,
                "got " + std::to_string(nid));
    expect(L(b, "after closing map b: GET_FD_BY_ID(id b)"), fd_by_id(b, ib), ENOENT);
    // Ids are not reused at once.
    Res rd = create(b, BPF_MAP_TYPE_ARRAY, 4, 8, 4);
    Fd d = own(rd);
    if (expect(L(b, "create map d"), rd, kNewFd)) {
        __u32 id_d = map_id(b, d.get());
        expect_true(L(b, "id of a map created after closing b"), id_d > ic,
                    "id " + std::to_string(id_d) + " reused or lower than " + std::to_string(ic));
    }
}

// §11 GET_NEXT_ID argument errors (kernel too: they do not depend on the host's maps).
BOOST_DATA_TEST_CASE(get_next_id_errors, bdata::make(kBackends), backend) {
    if (!usable(backend)) return;
    __u32 nid = 0;
    expect(L(backend, "GET_NEXT_ID start_id INT_MAX"), next_id(backend, INT_MAX, &nid), EINVAL);
    expect(L(backend, "GET_NEXT_ID start_id INT_MAX + 1"), next_id(backend, 0x80000000u, &nid),
           EINVAL);
    expect(L(backend, "GET_NEXT_ID start_id UINT_MAX"), next_id(backend, UINT_MAX, &nid), EINVAL);
    expect(L(backend, "GET_NEXT_ID open_flags RDONLY (≠ 0)"),
           next_id(backend, 0, &nid, BPF_F_RDONLY), EINVAL);
    expect(L(backend, "GET_NEXT_ID open_flags 1"), next_id(backend, 0, &nid, 1), EINVAL);
}

// §11 MAP_GET_FD_BY_ID.
BOOST_DATA_TEST_CASE(get_fd_by_id_table, bdata::make(kBackends), backend) {
    if (!usable(backend)) return;
    Res cr = create(backend, BPF_MAP_TYPE_HASH, 4, 8, 4);
    Fd map = own(cr);
    if (!expect(L(backend, "setup: create"), cr, kNewFd)) return;
    const __u32 id = map_id(backend, map.get());
    if (!expect_true(L(backend, "setup: id"), id != 0, "no id")) return;

    expect(L(backend, "GET_FD_BY_ID id 0"), fd_by_id(backend, 0), ENOENT);
    expect(L(backend, "GET_FD_BY_ID id 0, open_flags RDONLY"), fd_by_id(backend, 0, BPF_F_RDONLY),
           ENOENT);
    if (!backend.kernel)
        expect(L(backend, "GET_FD_BY_ID unknown id 0x7ffffff0"), fd_by_id(backend, 0x7ffffff0u),
               ENOENT);
    if (!backend.kernel)
        expect(L(backend, "GET_FD_BY_ID unknown id id+1000"), fd_by_id(backend, id + 1000), ENOENT);
    const std::pair<const char*, __u32> bad_flags[] = {
        {"RDONLY|WRONLY", BPF_F_RDONLY | BPF_F_WRONLY},
        {"1 (NO_PREALLOC bit)", 1},
        {"ZERO_SEED", BPF_F_ZERO_SEED},
        {"1<<20", 1u << 20},
        {"RDONLY|1<<20", BPF_F_RDONLY | (1u << 20)},
    };
    for (const auto& [name, flags] : bad_flags) {
        Res r = fd_by_id(backend, id, flags);
        Fd leaked = own(r);
        expect(L(backend, std::string("GET_FD_BY_ID open_flags ") + name), r, EINVAL);
    }
    // A new fd to the same map, O_CLOEXEC.
    {
        Res r = fd_by_id(backend, id);
        Fd f = own(r);
        if (expect(L(backend, "GET_FD_BY_ID open_flags 0"), r, kNewFd)) {
            expect_true(L(backend, "GET_FD_BY_ID"), f.get() != map.get(), "same fd number");
            int fl = fcntl(f.get(), F_GETFD);
            expect_true(L(backend, "GET_FD_BY_ID"), fl >= 0 && (fl & FD_CLOEXEC),
                        "new fd is not O_CLOEXEC");
            expect_true(L(backend, "GET_FD_BY_ID"), map_id(backend, f.get()) == id,
                        "GET_INFO through the new fd gives another id");
            __u32 k = 5;
            __u64 v = 55, out = 0;
            expect(L(backend, "UPDATE through the GET_FD_BY_ID fd"),
                   update(backend, f.get(), &k, &v), kOK);
            expect(L(backend, "LOOKUP through the creating fd"),
                   lookup(backend, map.get(), &k, &out), kOK);
            expect_true(L(backend, "shared map"), out == 55,
                        "value not visible through the other fd");
        }
    }
    {
        Res r = fd_by_id(backend, id, BPF_F_RDONLY);
        Fd f = own(r);
        if (expect(L(backend, "GET_FD_BY_ID open_flags RDONLY"), r, kNewFd)) {
            expect_true(L(backend, "GET_FD_BY_ID RDONLY"),
                        (fcntl(f.get(), F_GETFL) & O_ACCMODE) == O_RDONLY,
                        "F_GETFL access mode is not O_RDONLY");
            __u32 k = 5;
            __u64 v = 1;
            expect(L(backend, "UPDATE through the RDONLY fd"), update(backend, f.get(), &k, &v),
                   EPERM);
            struct bpf_map_info info;
            std::memset(&info, 0, sizeof info);
            expect(L(backend, "GET_INFO through the RDONLY fd"),
                   get_info(backend, f.get(), &info, sizeof info), kOK);
        }
    }
    {
        Res r = fd_by_id(backend, id, BPF_F_WRONLY);
        Fd f = own(r);
        if (expect(L(backend, "GET_FD_BY_ID open_flags WRONLY"), r, kNewFd)) {
            expect_true(L(backend, "GET_FD_BY_ID WRONLY"),
                        (fcntl(f.get(), F_GETFL) & O_ACCMODE) == O_WRONLY,
                        "F_GETFL access mode is not O_WRONLY");
            __u32 k = 5;
            __u64 v = 1;
            expect(L(backend, "LOOKUP through the WRONLY fd"), lookup(backend, f.get(), &k, &v),
                   EPERM);
            struct bpf_map_info info;
            std::memset(&info, 0, sizeof info);
            expect(L(backend, "GET_INFO through the WRONLY fd"),
                   get_info(backend, f.get(), &info, sizeof info), kOK);
        }
    }
    // A GET_FD_BY_ID fd keeps the map alive after the creating fd is closed; the id goes away
    // synchronously with the last close.
    {
        Res r = fd_by_id(backend, id);
        Fd f = own(r);
        if (expect(L(backend, "GET_FD_BY_ID (second fd)"), r, kNewFd)) {
            map.reset();
            __u32 k = 5;
            __u64 out = 0;
            expect(L(backend, "LOOKUP through the second fd after closing the first"),
                   lookup(backend, f.get(), &k, &out), kOK);
            Res again = fd_by_id(backend, id);
            Fd g = own(again);
            expect(L(backend, "GET_FD_BY_ID while one fd is open"), again, kNewFd);
            g.reset();
            f.reset();
            expect(L(backend, "GET_FD_BY_ID right after the last close"), fd_by_id(backend, id),
                   ENOENT);
        }
    }
}

// §11 OBJ_GET_INFO_BY_FD.
BOOST_DATA_TEST_CASE(get_info_table, bdata::make(kBackends), backend) {
    if (!usable(backend)) return;
    Res cr = create(backend, BPF_MAP_TYPE_HASH, 4, 8, 4, BPF_F_NO_PREALLOC);
    Fd map = own(cr);
    if (!expect(L(backend, "setup: create"), cr, kNewFd)) return;
    const int fd = map.get();
    const unsigned isz = info_size(backend, fd);
    BOOST_TEST_MESSAGE(backend.name << ": bpf_map_info size " << isz);
    static unsigned char buf[8192];
    const auto fill = [](unsigned char v) { std::memset(buf, v, sizeof buf); };

    fill(0);
    expect(L(backend, "GET_INFO closed fd"), info_call(backend, closed_fd(), buf, kInfoSize).r,
           EBADFD);
    expect(L(backend, "GET_INFO fd -1"), info_call(backend, -1, buf, kInfoSize).r, EBADFD);
    {
        Fd n(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        expect(L(backend, "GET_INFO /dev/null"), info_call(backend, n.get(), buf, kInfoSize).r,
               EINVAL);
        Fd d(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        expect(L(backend, "GET_INFO directory fd"), info_call(backend, d.get(), buf, kInfoSize).r,
               EINVAL);
    }
    fill(0);
    expect(L(backend, "GET_INFO info_len 4097"), info_call(backend, fd, buf, 4097).r, E2BIG);
    expect(L(backend, "GET_INFO info_len 8192"), info_call(backend, fd, buf, 8192).r, E2BIG);
    expect(L(backend, "GET_INFO info_len UINT_MAX"), info_call(backend, fd, buf, UINT_MAX).r,
           E2BIG);
    {
        fill(0);
        InfoCall c = info_call(backend, fd, buf, 4096);
        expect(L(backend, "GET_INFO info_len 4096, zero tail"), c.r, kOK);
        expect_true(L(backend, "GET_INFO info_len 4096"), c.len_back == isz,
                    "info_len written back " + std::to_string(c.len_back) + ", expected " +
                        std::to_string(isz));
        fill(0);
        buf[isz] = 1;
        expect(L(backend, "GET_INFO info_len 4096, nonzero byte at the struct size (" +
                              std::to_string(isz) + ")"),
               info_call(backend, fd, buf, 4096).r, E2BIG);
        fill(0);
        buf[4095] = 1;
        expect(L(backend, "GET_INFO info_len 4096, nonzero byte 4095"),
               info_call(backend, fd, buf, 4096).r, E2BIG);
        fill(0);
        buf[isz + 7] = 0x80;
        expect(L(backend, "GET_INFO info_len struct+8, nonzero last byte"),
               info_call(backend, fd, buf, isz + 8).r, E2BIG);
        fill(0);
        buf[isz + 7] = 0x80;
        InfoCall exact = info_call(backend, fd, buf, isz + 7);
        expect(L(backend, "GET_INFO info_len struct+7, the nonzero byte just outside"), exact.r,
               kOK);
    }
    if (!backend.kernel) {
        fill(0);
        buf[kInfoSize] = 1;
        expect(L(backend, "GET_INFO info_len 96, nonzero byte 88 (past our struct)"),
               info_call(backend, fd, buf, 96).r, E2BIG);
    }
    // info_len written back as min(len, size); bytes past it untouched.
    const unsigned lens[] = {0, 4, 8, 50, kInfoSize - 1, kInfoSize, kInfoSize + 16};
    for (unsigned len : lens) {
        if (len > isz && backend.kernel) continue;
        const std::string row = "GET_INFO info_len " + std::to_string(len);
        fill(0xAA);
        if (len > kInfoSize) std::memset(buf + kInfoSize, 0, len - kInfoSize);  // zero tail
        InfoCall c = info_call(backend, fd, buf, len);
        expect(L(backend, row), c.r, kOK);
        unsigned want_len = std::min(len, isz);
        expect_true(L(backend, row), c.len_back == want_len,
                    "info_len written back " + std::to_string(c.len_back) + ", expected " +
                        std::to_string(want_len));
        bool tail_ok = true;
        for (size_t i = want_len; i < 1024; ++i) {
            // Bytes we zeroed (past our struct, inside info_len) stay zero; the rest stay 0xAA.
            unsigned char orig = (len > kInfoSize && i >= kInfoSize && i < len) ? 0 : 0xAA;
            if (buf[i] != orig) tail_ok = false;
        }
        expect_true(L(backend, row), tail_ok, "bytes past min(info_len, struct size) were written");
        if (len >= 8) {
            __u32 type = 0, id = 0;
            std::memcpy(&type, buf, 4);
            std::memcpy(&id, buf + 4, 4);
            expect_true(L(backend, row), type == BPF_MAP_TYPE_HASH, "type " + std::to_string(type));
            expect_true(L(backend, row), id == map_id(backend, fd), "id " + std::to_string(id));
        }
    }
    expect(L(backend, "GET_INFO NULL buffer, info_len 88"),
           info_call(backend, fd, nullptr, kInfoSize).r, EFAULT);
    // The fields.
    {
        struct bpf_map_info info;
        std::memset(&info, 0, sizeof info);
        InfoCall c = info_call(backend, fd, &info, sizeof info);
        expect(L(backend, "GET_INFO fields"), c.r, kOK);
        expect_true(L(backend, "GET_INFO fields"),
                    info.type == BPF_MAP_TYPE_HASH && info.key_size == 4 && info.value_size == 8 &&
                        info.max_entries == 4 && info.map_flags == BPF_F_NO_PREALLOC &&
                        info.name[0] == 0 && info.map_extra == 0 && info.ifindex == 0 &&
                        info.btf_id == 0 && info.btf_key_type_id == 0 &&
                        info.btf_value_type_id == 0,
                    "type/key_size/value_size/max_entries/map_flags/name/map_extra/btf/ifindex "
                    "not as created");
    }
}

// §11/§12: the id lives exactly as long as some fd (dup counts); read()/write() on a map fd
// → EINVAL.
BOOST_DATA_TEST_CASE(fd_lifetime_and_io, bdata::make(kBackends), backend) {
    if (!usable(backend)) return;
    // read() and write(), each on its own map; the map must still work afterwards.
    for (bool do_write : {false, true}) {
        const std::string row = do_write ? "write() on a map fd" : "read() on a map fd";
        Res cr = create(backend, BPF_MAP_TYPE_ARRAY, 4, 8, 4);
        Fd map = own(cr);
        if (!expect(L(backend, row + " (setup: create)"), cr, kNewFd)) continue;
        unsigned char buf[64];
        std::memset(buf, 0, sizeof buf);
        errno = 0;
        ssize_t n =
            do_write ? ::write(map.get(), buf, sizeof buf) : ::read(map.get(), buf, sizeof buf);
        const int err = errno;
        BOOST_CHECK_MESSAGE(n == -1 && err == EINVAL,
                            L(backend, row) + ": expected -1/EINVAL, got " +
                                (n == -1 ? "-1/" + errname(err) : std::to_string(n) + " bytes"));
        __u32 k = 1;
        __u64 v = 0;
        Res lk = lookup(backend, map.get(), &k, &v);
        BOOST_CHECK_MESSAGE(lk.ret == 0,
                            L(backend, row) + " → the map still works (LOOKUP): got " + show(lk));
        Res again = fd_by_id(backend, map_id(backend, map.get()));
        Fd f = own(again);
        BOOST_CHECK_MESSAGE(again.ret >= 0,
                            L(backend, row) + " → GET_FD_BY_ID afterwards: got " + show(again));
        if (f.ok()) {
            Res lk2 = lookup(backend, f.get(), &k, &v);
            BOOST_CHECK_MESSAGE(
                lk2.ret == 0,
                L(backend, row) + " → LOOKUP through a new fd afterwards: got " + show(lk2));
        }
    }
    Res cr = create(backend, BPF_MAP_TYPE_ARRAY, 4, 8, 4);
    Fd map = own(cr);
    if (!expect(L(backend, "dup lifetime (setup: create)"), cr, kNewFd)) return;
    const __u32 id = map_id(backend, map.get());
    Fd d(::dup(map.get()));
    map.reset();
    {
        Res r = fd_by_id(backend, id);
        Fd f = own(r);
        expect(L(backend, "creating fd closed, a dup open: GET_FD_BY_ID"), r, kNewFd);
    }
    __u32 k = 1;
    __u64 v = 0;
    expect(L(backend, "LOOKUP through the dup"), lookup(backend, d.get(), &k, &v), kOK);
    d.reset();
    expect(L(backend, "dup closed too: GET_FD_BY_ID right away"), fd_by_id(backend, id), ENOENT);
}

// The "unwritable info buffer" row: library in a child process.
namespace {

int info_ro_status(const Backend& b) {
    Res cr = create(b, BPF_MAP_TYPE_ARRAY, 4, 8, 4);
    Fd map = own(cr);
    Page ro(PROT_READ);
    if (!map.ok() || !ro.get()) return kChildSetup;
    Res r = get_info(b, map.get(), ro.get(), kInfoSize);
    return r.ret == 0 ? kChildOk : child_code(r.err);
}

}  // namespace

BPFMAP_CHILD(info_ro) {
    return info_ro_status(kLib);
}

BOOST_DATA_TEST_CASE(get_info_unwritable_buffer, bdata::make(kBackends), backend) {
    if (!usable(backend)) return;
    int st = backend.kernel ? info_ro_status(backend) : bt::spawn_child("info_ro").wait();
    BOOST_CHECK_MESSAGE(st == EFAULT, L(backend, "GET_INFO buffer in a read-only page") +
                                          ": expected -1/" + errname(EFAULT) + ", got " +
                                          child_status_str(st));
}

// §10 OBJ_PIN / OBJ_GET on the library's bpffs (bpfmap_root()).
namespace {

// A path outside the store root that this test owns (removed at the end if it was created).
struct OutsidePath {
    std::string path;
    explicit OutsidePath(const std::string& p) : path(p) {}
    ~OutsidePath() { ::unlink(path.c_str()); }
};

bool exists(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0;
}

}  // namespace

BOOST_AUTO_TEST_CASE(obj_pin_table) {
    const Backend& b = kLib;
    const std::string root = bpfmap_root();
    Res cr = create(b, BPF_MAP_TYPE_HASH, 4, 8, 4);
    Fd map = own(cr);
    BOOST_REQUIRE_MESSAGE(map.ok(), L(b, "setup: create: ") << show(cr));
    Res cr2 = create(b, BPF_MAP_TYPE_ARRAY, 4, 8, 4);
    Fd map2 = own(cr2);
    BOOST_REQUIRE_MESSAGE(map2.ok(), L(b, "setup: create: ") << show(cr2));

    const std::string p = pin_path("pin");
    if (expect(L(b, "OBJ_PIN to a new path under the root"), pin(b, map.get(), p.c_str()), kOK))
        expect_true(L(b, "OBJ_PIN"), exists(p), "the pin path does not exist");
    expect(L(b, "OBJ_PIN same map, same path"), pin(b, map.get(), p.c_str()), EEXIST);
    expect(L(b, "OBJ_PIN another map, same path"), pin(b, map2.get(), p.c_str()), EEXIST);
    expect(L(b, "OBJ_PIN to the root folder itself (exists)"), pin(b, map.get(), root.c_str()),
           EEXIST);
    const std::string p2 = pin_path("pin-second");
    expect(L(b, "OBJ_PIN the same map at a second path"), pin(b, map.get(), p2.c_str()), kOK);
    expect(L(b, "OBJ_PIN missing parent directory"),
           pin(b, map.get(), (root + "/no-such-dir/x").c_str()), ENOENT);
    const std::string sub = root + "/sub-" + std::to_string(getpid());
    if (expect_true(L(b, "setup: mkdir under the root"), ::mkdir(sub.c_str(), 0700) == 0,
                    "mkdir failed"))
        expect(L(b, "OBJ_PIN into a subdirectory of the root"),
               pin(b, map.get(), (sub + "/m").c_str()), kOK);
    {
        OutsidePath out("/tmp/bpfmap-errno-outside-" + std::to_string(getpid()));
        expect(L(b, "OBJ_PIN to /tmp (outside the root)"), pin(b, map.get(), out.path.c_str()),
               EPERM);
        expect_true(L(b, "OBJ_PIN to /tmp"), !exists(out.path), "a file was created outside");
    }
    {
        OutsidePath out(root + "/../bpfmap-errno-dotdot-" + std::to_string(getpid()));
        expect(L(b, "OBJ_PIN to root/../x (outside the root)"), pin(b, map.get(), out.path.c_str()),
               EPERM);
        expect_true(L(b, "OBJ_PIN to root/../x"), !exists(out.path), "a file was created outside");
    }
    {
        OutsidePath out("bpfmap-errno-relative-" + std::to_string(getpid()));
        expect(L(b, "OBJ_PIN to a relative path (cwd is outside the root)"),
               pin(b, map.get(), out.path.c_str()), EPERM);
    }
    const std::string fresh = pin_path("never");
    expect(L(b, "OBJ_PIN closed fd"), pin(b, closed_fd(), fresh.c_str()), EINVAL);
    expect(L(b, "OBJ_PIN fd -1"), pin(b, -1, fresh.c_str()), EINVAL);
    {
        Fd n(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        expect(L(b, "OBJ_PIN /dev/null fd"), pin(b, n.get(), fresh.c_str()), EINVAL);
    }
    expect(L(b, "OBJ_PIN file_flags 1"), pin(b, map.get(), fresh.c_str(), 1), EINVAL);
    expect(L(b, "OBJ_PIN file_flags RDONLY"), pin(b, map.get(), fresh.c_str(), BPF_F_RDONLY),
           EINVAL);
    expect(L(b, "OBJ_PIN file_flags 1<<20"), pin(b, map.get(), fresh.c_str(), 1u << 20), EINVAL);
    expect_true(L(b, "failed OBJ_PINs"), !exists(fresh), "a pin file was created");
    expect(L(b, "OBJ_PIN NULL path"), pin(b, map.get(), nullptr), EFAULT);

    // OBJ_GET.
    {
        Res r = obj_get(b, p.c_str());
        Fd g = own(r);
        if (expect(L(b, "OBJ_GET of the pin"), r, kNewFd)) {
            int fl = fcntl(g.get(), F_GETFD);
            expect_true(L(b, "OBJ_GET"), fl >= 0 && (fl & FD_CLOEXEC), "new fd is not O_CLOEXEC");
            expect_true(L(b, "OBJ_GET"), map_id(b, g.get()) == map_id(b, map.get()), "another map");
            Res r2 = obj_get(b, p.c_str());
            Fd g2 = own(r2);
            expect(L(b, "OBJ_GET twice"), r2, kNewFd);
            expect_true(L(b, "OBJ_GET twice"), g2.get() != g.get(), "same fd");
        }
    }
    {
        Res r = obj_get(b, p.c_str(), BPF_F_RDONLY);
        Fd g = own(r);
        if (expect(L(b, "OBJ_GET RDONLY"), r, kNewFd))
            expect_true(L(b, "OBJ_GET RDONLY"), (fcntl(g.get(), F_GETFL) & O_ACCMODE) == O_RDONLY,
                        "F_GETFL access mode is not O_RDONLY");
    }
    {
        Res r = obj_get(b, p.c_str(), BPF_F_WRONLY);
        Fd g = own(r);
        if (expect(L(b, "OBJ_GET WRONLY"), r, kNewFd))
            expect_true(L(b, "OBJ_GET WRONLY"), (fcntl(g.get(), F_GETFL) & O_ACCMODE) == O_WRONLY,
                        "F_GETFL access mode is not O_WRONLY");
    }
    const std::pair<const char*, __u32> bad_get_flags[] = {
        {"RDONLY|WRONLY", BPF_F_RDONLY | BPF_F_WRONLY},
        {"1", 1},
        {"1<<20", 1u << 20},
        {"RDONLY|1<<20", BPF_F_RDONLY | (1u << 20)},
    };
    for (const auto& [name, flags] : bad_get_flags) {
        Res r = obj_get(b, p.c_str(), flags);
        Fd leaked = own(r);
        expect(L(b, std::string("OBJ_GET file_flags ") + name), r, EINVAL);
    }
    {
        Res r = obj_get(b, p.c_str(), 0, static_cast<__u32>(map.get()));
        Fd leaked = own(r);
        expect(L(b, "OBJ_GET bpf_fd ≠ 0"), r, EINVAL);
    }
    expect(L(b, "OBJ_GET missing path under the root"), obj_get(b, (root + "/missing").c_str()),
           ENOENT);
    expect(L(b, "OBJ_GET missing parent under the root"),
           obj_get(b, (root + "/no-such-dir/x").c_str()), ENOENT);
    {
        OutsidePath out("/tmp/bpfmap-errno-file-" + std::to_string(getpid()));
        Fd f(::open(out.path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
        if (expect_true(L(b, "setup: a regular file outside the root"), f.ok(), "open failed")) {
            Res r = obj_get(b, out.path.c_str());
            Fd leaked = own(r);
            expect(L(b, "OBJ_GET a regular file outside the root"), r, EACCES);
        }
    }
    {
        Res r = obj_get(b, "/");
        Fd leaked = own(r);
        expect(L(b, "OBJ_GET a directory outside the root (/)"), r, EACCES);
    }
    for (const std::string& path : {p, p2, sub + "/m"}) bpfmap_unpin(path.c_str());
    ::rmdir(sub.c_str());
}

// §10: a pin keeps the map alive with no fd open; unpinning it (with no fds) destroys it at
// once; unpinning with an fd open leaves the fd valid.
BOOST_AUTO_TEST_CASE(pin_keeps_map_alive) {
    const Backend& b = kLib;
    const std::string p = pin_path("alive");
    __u32 id = 0;
    {
        Res cr = create(b, BPF_MAP_TYPE_HASH, 4, 8, 4);
        Fd map = own(cr);
        BOOST_REQUIRE_MESSAGE(map.ok(), L(b, "setup: create: ") << show(cr));
        __u32 k = 3;
        __u64 v = 33;
        expect(L(b, "setup: insert"), update(b, map.get(), &k, &v), kOK);
        id = map_id(b, map.get());
        BOOST_REQUIRE_MESSAGE(pin(b, map.get(), p.c_str()).ret == 0, L(b, "setup: OBJ_PIN"));
    }  // the only fd is closed here
    {
        Res r = fd_by_id(b, id);
        Fd f = own(r);
        expect(L(b, "pinned, no fds: GET_FD_BY_ID(id)"), r, kNewFd);
    }
    {
        __u32 nid = 0;
        expect(L(b, "pinned, no fds: GET_NEXT_ID(id - 1) → id"), next_id(b, id - 1, &nid), kOK);
        expect_true(L(b, "pinned, no fds: GET_NEXT_ID(id - 1)"), nid == id,
                    "got " + std::to_string(nid));
    }
    {
        Res r = obj_get(b, p.c_str());
        Fd f = own(r);
        if (expect(L(b, "pinned, no fds: OBJ_GET"), r, kNewFd)) {
            __u32 k = 3;
            __u64 v = 0;
            expect(L(b, "pinned, no fds: LOOKUP through OBJ_GET fd"), lookup(b, f.get(), &k, &v),
                   kOK);
            expect_true(L(b, "pinned, no fds: LOOKUP"), v == 33, "contents lost");
            // Unpin with this fd open: the fd stays valid, the path is gone.
            expect_true(L(b, "bpfmap_unpin with an fd open"), bpfmap_unpin(p.c_str()) == 0,
                        "bpfmap_unpin failed: " + errname(errno));
            expect(L(b, "after unpin: OBJ_GET"), obj_get(b, p.c_str()), ENOENT);
            expect(L(b, "after unpin: LOOKUP through the open fd"), lookup(b, f.get(), &k, &v),
                   kOK);
            Res again = fd_by_id(b, id);
            Fd g = own(again);
            expect(L(b, "after unpin, fd open: GET_FD_BY_ID(id)"), again, kNewFd);
        }
    }
    expect(L(b, "unpinned and all fds closed: GET_FD_BY_ID(id) right away"), fd_by_id(b, id),
           ENOENT);
    // Pin, close, unpin: destroyed at the unpin.
    {
        const std::string q = pin_path("alive2");
        Res cr = create(b, BPF_MAP_TYPE_ARRAY, 4, 8, 4);
        Fd map = own(cr);
        BOOST_REQUIRE_MESSAGE(map.ok(), L(b, "setup: create: ") << show(cr));
        __u32 id2 = map_id(b, map.get());
        BOOST_REQUIRE_MESSAGE(pin(b, map.get(), q.c_str()).ret == 0, L(b, "setup: OBJ_PIN"));
        map.reset();
        {
            Res r = fd_by_id(b, id2);
            Fd f = own(r);
            expect(L(b, "pinned ARRAY, no fds: GET_FD_BY_ID"), r, kNewFd);
        }
        expect_true(L(b, "bpfmap_unpin with no fds"), bpfmap_unpin(q.c_str()) == 0,
                    "bpfmap_unpin failed: " + errname(errno));
        expect(L(b, "after the last unpin: GET_FD_BY_ID right away"), fd_by_id(b, id2), ENOENT);
    }
}

// §10/§11 across processes: a map created and pinned by another process (which then exits)
// is reachable by its pin and its id; its id is in the GET_NEXT_ID walk; unpinning it (no fds
// left) removes it at once.
BPFMAP_CHILD(create_and_pin) {
    if (args.size() != 1) return kChildSetup;
    const Backend& b = kLib;
    Res cr = create(b, BPF_MAP_TYPE_HASH, 4, 8, 4);
    Fd map = own(cr);
    if (!map.ok()) return kChildSetup;
    __u32 k = 42;
    __u64 v = 4242;
    if (update(b, map.get(), &k, &v).ret != 0) return kChildSetup;
    Res p = pin(b, map.get(), args[0].c_str());
    return p.ret == 0 ? kChildOk : child_code(p.err);
}

BOOST_AUTO_TEST_CASE(pin_from_another_process) {
    const Backend& b = kLib;
    const std::string p = pin_path("child");
    int st = bt::spawn_child("create_and_pin", {p}).wait();
    BOOST_REQUIRE_MESSAGE(st == kChildOk, L(b, "child: create + OBJ_PIN, then exit: ")
                                              << child_status_str(st));
    __u32 id = 0;
    {
        Res r = obj_get(b, p.c_str());
        Fd f = own(r);
        if (!expect(L(b, "OBJ_GET of another process's pin"), r, kNewFd)) return;
        __u32 k = 42;
        __u64 v = 0;
        expect(L(b, "LOOKUP through it"), lookup(b, f.get(), &k, &v), kOK);
        expect_true(L(b, "LOOKUP through it"), v == 4242, "wrong value");
        id = map_id(b, f.get());
    }
    bool found = false;
    __u32 cur = 0, nid = 0;
    for (int i = 0; i < 1000 && next_id(b, cur, &nid).ret == 0; ++i) {
        found = found || nid == id;
        cur = nid;
    }
    expect_true(L(b, "GET_NEXT_ID walk"), found, "the other process's map id is not listed");
    {
        Res r = fd_by_id(b, id);
        Fd f = own(r);
        expect(L(b, "GET_FD_BY_ID of the other process's map"), r, kNewFd);
    }
    expect_true(L(b, "bpfmap_unpin"), bpfmap_unpin(p.c_str()) == 0,
                "bpfmap_unpin failed: " + errname(errno));
    expect(L(b, "after unpin (no fds anywhere): GET_FD_BY_ID right away"), fd_by_id(b, id), ENOENT);
    expect(L(b, "after unpin: OBJ_GET"), obj_get(b, p.c_str()), ENOENT);
}
