// Differential test: the same bpf(2) map operations, run against the real kernel
// (bpfmap::test::kernel_bpf) and against bpfmap's bpf(), must give the same return values, the
// same errno and the same bytes written back (every output buffer is pre-filled and followed by
// guard bytes, so bytes written too far or on failure are caught as well).
//
// Scope: BPF_MAP_TYPE_HASH (with and without BPF_F_NO_PREALLOC) and BPF_MAP_TYPE_ARRAY.
//  * create_parameters: ~200 MAP_CREATE cases: zero/huge sizes (E2BIG, ENOMEM), ARRAY
//    key_size != 4, every map flag, NUMA node, map_extra, btf ids, map_ifindex, unknown types,
//    map_name rules, the order of checks when several are wrong, short/oversized attr `size`,
//    nonzero trailing bytes, NULL attr; on success GET_INFO, FD_CLOEXEC and the access mode.
//  * sequences_*: seeded pseudo-random sequences (seed printed; a few thousand ops each, small
//    key spaces, fill bursts up to E2BIG and alternating fill/drain phases, so that full maps
//    and missing keys are frequent) of UPDATE (all flags, bad flags, F_LOCK), LOOKUP, DELETE,
//    LOOKUP_AND_DELETE, GET_NEXT_KEY, full walks, GET_INFO, FREEZE and bad fds, with NULL
//    pointers, short attr sizes and stray attr bytes mixed in, through the map fd and a dup().
//    A model of the map, driven by the kernel's results, checks walks and values.
//  * hash_fill_to_capacity, freeze_semantics, rdonly_wronly_fds, bad_fds_and_null_pointers,
//    array_edges, unknown_commands_and_null_attr: the same, deterministic and exhaustive.
//  * many_maps_interleaved: 48 maps open at once, ops interleaved, maps closed in random order.
//  * fd_number_reuse: a closed fd number, then /dev/null, then another map under that number.
//  * create_fuzz: random MAP_CREATE attrs with several wrong parameters (order of the checks).
//  * guard_pages_exact_sizes / unreadable_pointers: keys, values, attr and info placed right
//    before a PROT_NONE page (the kernel reads and writes exactly key_size/value_size/size
//    bytes), and unreadable or half-readable pointers (EFAULT). They run in a child process,
//    each library call in its own fork, so a library crash is reported per case.
//  * no_map_fds_left_open (last): every kernel and library map fd was closed again.
//
// What is deliberately NOT compared (legitimate differences, see
// /work/shared/docs/kernel-map-semantics.md):
//  * fd numbers returned by BPF_MAP_CREATE (only success/failure and errno are compared);
//  * map ids (bpf_map_info.id);
//  * nonzero attr bytes at offsets 144..167: the running kernel (6.18) knows a 168-byte
//    union bpf_attr and treats them as fields (EINVAL or a meaning), while the library's known
//    size is our header's 144 bytes ("Library rule: known size = 144", an older kernel's
//    behaviour) and says E2BIG. Nonzero bytes at 168 and beyond are E2BIG on both sides and are
//    compared. For the same reason MAP_CREATE fields that exist only in the newer kernel
//    (offsets 72..91: value_type_btf_obj_fd, map_token_fd, excl_prog_hash*) are not poked;
//  * bpf_map_info is 88 bytes with our headers but 104 for the kernel: GET_INFO with
//    info_len > 88 gets a different info_len written back, so only info_len <= 88 is compared
//    byte for byte (larger lengths only for success/errno);
//  * HASH iteration order (it depends on a per-map random seed): walks compare the SET of keys
//    and that each key appears exactly once; GET_NEXT_KEY from a present key is only checked
//    for validity on each side; from a missing or NULL key only the result (and that the key
//    returned is present) is compared. ARRAY order is compared exactly. (So the documented
//    difference that an updated HASH key stays in place, where the kernel may revisit its
//    bucket during a walk, never shows.)
// Everything else is compared exactly, so every failure is a library/kernel discrepancy.
#include <bpfmap/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "diff_support.hpp"
#include "test_support.hpp"

BPFMAP_REQUIRES_KERNEL();

namespace {

using namespace bpfmap::test::diff;

constexpr unsigned kAttrSize = sizeof(union bpf_attr);       // 144 with our headers
constexpr unsigned kKernelAttrSize = 168;                    // the running 6.18 kernel's size
constexpr unsigned kInfoSize = sizeof(struct bpf_map_info);  // 88 with our headers
constexpr __u64 kLock = BPF_F_LOCK;
constexpr unsigned char kFill = 0xA5;  // pre-fill of every output buffer
constexpr size_t kGuard = 16;          // bytes after each output buffer that must stay untouched
static_assert(kAttrSize == 144, "the comparisons below assume the 6.1 uapi headers");
static_assert(kInfoSize == 88, "the comparisons below assume the 6.1 uapi headers");

// An attr buffer big enough for size > 4096 cases, 8-byte aligned.
struct AttrBuf {
    std::vector<std::uint64_t> words = std::vector<std::uint64_t>(1024, 0);
    unsigned char* bytes() { return reinterpret_cast<unsigned char*>(words.data()); }
    void set(const union bpf_attr& a) {
        std::fill(words.begin(), words.end(), 0);
        std::memcpy(bytes(), &a, sizeof a);
    }
};

using Pokes = std::vector<std::pair<unsigned, unsigned char>>;

// A descriptor that must not be open (EBADF): an unused high number, closed again.
int closed_fd_number() {
    int d = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    BOOST_REQUIRE(d >= 0);
    int n = ::fcntl(d, F_DUPFD_CLOEXEC, 900);
    BOOST_REQUIRE(n >= 0);
    ::close(n);
    ::close(d);
    return n;
}

struct DevNull {
    int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    ~DevNull() {
        if (fd >= 0) ::close(fd);
    }
};

__u64 ptr(const void* p) {
    return reinterpret_cast<__u64>(p);
}

// ---------------------------------------------------------------------------------------------
// Maps, one per side.

struct MapSpec {
    __u32 type = BPF_MAP_TYPE_HASH;
    __u32 ks = 4, vs = 8, max = 16, flags = 0;
    std::string name;
};

std::string describe(const MapSpec& s) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s ks=%u vs=%u max=%u flags=%#x name='%s'",
                  s.type == BPF_MAP_TYPE_HASH    ? "HASH"
                  : s.type == BPF_MAP_TYPE_ARRAY ? "ARRAY"
                                                 : "type?",
                  s.ks, s.vs, s.max, s.flags, s.name.c_str());
    return buf;
}

union bpf_attr create_attr(const MapSpec& s) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_type = s.type;
    a.key_size = s.ks;
    a.value_size = s.vs;
    a.max_entries = s.max;
    a.map_flags = s.flags;
    std::memcpy(a.map_name, s.name.data(), std::min(s.name.size(), sizeof a.map_name));
    return a;
}

struct MapPair : FdPair {
    MapSpec spec;
    int kdup = -1, ldup = -1;  // dup()s of kfd / lfd: the same map through another fd
    ~MapPair() {
        if (kdup >= 0) ::close(kdup);
        if (ldup >= 0) ::close(ldup);
    }
    int dup_fd(BpfFn side) const { return side == kKernel ? kdup : ldup; }
};

// Creates the same map on both sides; both must succeed.
void create_pair(MapPair& p, const MapSpec& s) {
    p.spec = s;
    union bpf_attr ka = create_attr(s), la = create_attr(s);
    Res k = invoke(kKernel, BPF_MAP_CREATE, &ka, kAttrSize);
    Res l = invoke(kLibrary, BPF_MAP_CREATE, &la, kAttrSize);
    p.kfd = k.ret;
    p.lfd = l.ret;
    BOOST_REQUIRE_MESSAGE(k.ret >= 0, "kernel MAP_CREATE " << describe(s) << ": " << show(k));
    BOOST_REQUIRE_MESSAGE(l.ret >= 0, "library MAP_CREATE " << describe(s) << ": " << show(l)
                                                            << " (kernel: success)");
}

// ---------------------------------------------------------------------------------------------
// GET_INFO

struct InfoRes {
    Res r;
    __u32 info_len_out = 0;
    Bytes buf;  // the info buffer after the call
};

InfoRes get_info(BpfFn side, int fd, __u32 info_len, bool null_buf = false, Pokes buf_pokes = {},
                 unsigned size = kAttrSize) {
    InfoRes out;
    out.buf.assign(4096 + kGuard, kFill);
    // Inside info_len: the struct's bytes hold a pattern (6.18 keeps the caller's bytes in the
    // fields it does not set: ifindex, netns, BTF ids), the bytes past it zero (else E2BIG).
    std::fill(out.buf.begin(), out.buf.begin() + std::min<size_t>(info_len, 4096), 0);
    std::fill(out.buf.begin(), out.buf.begin() + std::min<size_t>(info_len, kInfoSize), 0x5A);
    for (auto [off, v] : buf_pokes) out.buf[off] = v;
    AttrBuf ab;
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.info.bpf_fd = static_cast<__u32>(fd);
    a.info.info_len = info_len;
    a.info.info = null_buf ? 0 : ptr(out.buf.data());
    ab.set(a);
    out.r = invoke(side, BPF_OBJ_GET_INFO_BY_FD, ab.bytes(), size);
    union bpf_attr after;
    std::memcpy(&after, ab.bytes(), sizeof after);
    out.info_len_out = after.info.info_len;
    return out;
}

bpf_map_info as_info(const Bytes& b) {
    bpf_map_info i;
    std::memcpy(&i, b.data(), sizeof i);
    return i;
}

// Compares OBJ_GET_INFO_BY_FD (88 bytes) on both sides, and with the spec that created the map.
void compare_info(const MapPair& p, const std::string& ctx) {
    InfoRes k = get_info(kKernel, p.kfd, kInfoSize);
    InfoRes l = get_info(kLibrary, p.lfd, kInfoSize);
    BOOST_TEST(k.r.ret == 0, ctx << ": kernel GET_INFO " << show(k.r));
    BOOST_TEST(l.r.ret == k.r.ret,
               ctx << ": GET_INFO library " << show(l.r) << " kernel " << show(k.r));
    if (k.r.ret != 0 || l.r.ret != 0) return;
    BOOST_TEST(l.info_len_out == k.info_len_out, ctx << ": GET_INFO info_len written back");
    bpf_map_info ki = as_info(k.buf), li = as_info(l.buf);
    std::string c = ctx + " GET_INFO of " + describe(p.spec);
    BOOST_TEST(ki.type == p.spec.type, c << ": kernel type");
    BOOST_TEST(li.type == ki.type, c << ": type");
    BOOST_TEST(li.key_size == ki.key_size, c << ": key_size");
    BOOST_TEST(li.value_size == ki.value_size, c << ": value_size");
    BOOST_TEST(li.max_entries == ki.max_entries, c << ": max_entries");
    BOOST_TEST(li.map_flags == ki.map_flags,
               c << ": map_flags library " << li.map_flags << " kernel " << ki.map_flags);
    BOOST_TEST(std::memcmp(li.name, ki.name, sizeof ki.name) == 0,
               c << ": name library '" << std::string(li.name, strnlen(li.name, 16)) << "' kernel '"
                 << std::string(ki.name, strnlen(ki.name, 16)) << "'");
    BOOST_TEST(li.ifindex == ki.ifindex, c << ": ifindex");
    BOOST_TEST(li.btf_id == ki.btf_id, c << ": btf_id");
    BOOST_TEST(li.btf_key_type_id == ki.btf_key_type_id, c << ": btf_key_type_id");
    BOOST_TEST(li.btf_value_type_id == ki.btf_value_type_id, c << ": btf_value_type_id");
    BOOST_TEST(li.map_extra == ki.map_extra, c << ": map_extra");
    // Nothing past info_len may be written.
    BOOST_TEST(std::all_of(l.buf.begin() + kInfoSize, l.buf.begin() + kInfoSize + kGuard,
                           [](unsigned char ch) { return ch == kFill; }),
               c << ": library wrote past info_len");
}

// ---------------------------------------------------------------------------------------------
// Element commands (LOOKUP, UPDATE, DELETE, GET_NEXT_KEY, LOOKUP_AND_DELETE, FREEZE).

enum class FdKind { Map, Dup, Closed, DevNull, Minus1 };
enum class VMode { Null, In, Out };

struct ElemOp {
    int cmd = BPF_MAP_LOOKUP_ELEM;
    FdKind fd = FdKind::Map;
    std::optional<Bytes> key;  // nullopt: NULL pointer
    VMode vmode = VMode::Null;
    Bytes value_in;      // VMode::In
    size_t out_len = 0;  // VMode::Out: the size the kernel writes (value_size / key_size)
    __u64 flags = 0;
    unsigned size = kAttrSize;
    Pokes pokes;  // extra attr bytes set after the fields
};

std::string describe(const ElemOp& op) {
    std::string s = cmd_name(op.cmd);
    s += op.fd == FdKind::Map       ? " fd=map"
         : op.fd == FdKind::Dup     ? " fd=dup(map)"
         : op.fd == FdKind::Closed  ? " fd=closed"
         : op.fd == FdKind::DevNull ? " fd=/dev/null"
                                    : " fd=-1";
    s += " key=" + (op.key ? hex(*op.key) : std::string("NULL"));
    s += op.vmode == VMode::Null ? " value=NULL"
         : op.vmode == VMode::In ? " value=" + hex(op.value_in)
                                 : " value=<out " + std::to_string(op.out_len) + ">";
    char buf[64];
    std::snprintf(buf, sizeof buf, " flags=%#llx size=%u",
                  static_cast<unsigned long long>(op.flags), op.size);
    s += buf;
    for (auto [off, v] : op.pokes) s += " attr[" + std::to_string(off) + "]=" + std::to_string(v);
    return s;
}

struct SideOut {
    Res r;
    Bytes out;  // output buffer after the call (out_len + kGuard bytes), empty if none
};

struct Env {
    int closed_fd = -1;
    int devnull_fd = -1;
};

SideOut run_side(BpfFn side, const MapPair& p, const ElemOp& op, const Env& env) {
    SideOut so;
    Bytes key = op.key ? *op.key : Bytes{};
    Bytes vin = op.value_in;
    if (op.vmode == VMode::Out) so.out.assign(op.out_len + kGuard, kFill);
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    int fd = op.fd == FdKind::Map       ? p.fd(side)
             : op.fd == FdKind::Dup     ? p.dup_fd(side)
             : op.fd == FdKind::Closed  ? env.closed_fd
             : op.fd == FdKind::DevNull ? env.devnull_fd
                                        : -1;
    a.map_fd = static_cast<__u32>(fd);
    if (op.cmd != BPF_MAP_FREEZE) {
        // A zero-length key buffer still needs a non-NULL address.
        static unsigned char empty_key[1];
        a.key = op.key ? ptr(key.empty() ? empty_key : key.data()) : 0;
        a.value = op.vmode == VMode::Null ? 0
                  : op.vmode == VMode::In ? ptr(vin.data())
                                          : ptr(so.out.data());
        a.flags = op.flags;
    }
    AttrBuf ab;
    ab.set(a);
    for (auto [off, v] : op.pokes) ab.bytes()[off] = v;
    Bytes before(ab.bytes(), ab.bytes() + 4200);
    so.r = invoke(side, op.cmd, ab.bytes(), op.size);
    // Element commands never write into attr.
    BOOST_TEST(std::memcmp(before.data(), ab.bytes(), before.size()) == 0,
               (side == kKernel ? "kernel" : "library") << " modified attr: " << describe(op));
    return so;
}

struct Compare {
    bool ret = true;  // compare return value and errno
    bool out = true;  // compare the output buffer byte for byte
};

std::pair<SideOut, SideOut> run_both(const MapPair& p, const ElemOp& op, const Env& env,
                                     const std::string& ctx, Compare cmp = {}) {
    SideOut k = run_side(kKernel, p, op, env);
    SideOut l = run_side(kLibrary, p, op, env);
    if (cmp.ret) {
        BOOST_TEST((l.r.ret == k.r.ret && l.r.err == k.r.err),
                   ctx << ": " << describe(op) << " on " << describe(p.spec) << ": library "
                       << show(l.r) << ", kernel " << show(k.r));
    }
    if (cmp.out && op.vmode == VMode::Out) {
        BOOST_TEST(l.out == k.out, ctx << ": " << describe(op) << " on " << describe(p.spec)
                                       << ": buffer written back: library " << hex(l.out)
                                       << ", kernel " << hex(k.out) << " (library " << show(l.r)
                                       << ", kernel " << show(k.r) << ")");
    }
    return {std::move(k), std::move(l)};
}

// ---------------------------------------------------------------------------------------------
// Keys and the reference model (kept in step with the kernel's results).

Bytes make_key(std::uint64_t idx, unsigned ks) {
    Bytes k(ks);
    for (unsigned i = 0; i < ks; ++i)
        k[i] = i < 4 ? static_cast<unsigned char>(idx >> (8 * i))
                     : static_cast<unsigned char>(idx * 31 + i * 7);
    return k;
}

using Model = std::map<Bytes, Bytes>;

struct Walk {
    std::vector<Bytes> keys;
    Res end;
    bool runaway = false;
};

Walk walk(BpfFn side, int fd, unsigned ks, size_t limit) {
    Walk w;
    Bytes cur, next(ks);
    bool first = true;
    for (;;) {
        if (w.keys.size() > limit) {
            w.runaway = true;
            break;
        }
        union bpf_attr a;
        std::memset(&a, 0, sizeof a);
        a.map_fd = static_cast<__u32>(fd);
        a.key = first ? 0 : ptr(cur.data());
        a.next_key = ptr(next.data());
        Res r = invoke(side, BPF_MAP_GET_NEXT_KEY, &a, kAttrSize);
        if (r.ret != 0) {
            w.end = r;
            break;
        }
        w.keys.push_back(next);
        cur = next;
        first = false;
    }
    return w;
}

Bytes lookup_value(BpfFn side, int fd, const Bytes& key, unsigned vs, Res& r) {
    Bytes v(vs + kGuard, kFill);
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<__u32>(fd);
    a.key = ptr(key.data());
    a.value = ptr(v.data());
    r = invoke(side, BPF_MAP_LOOKUP_ELEM, &a, kAttrSize);
    return v;
}

// Full GET_NEXT_KEY walk on both sides plus a lookup of every key, against the model.
void compare_walks(const MapPair& p, const Model& model, const std::string& ctx) {
    const MapSpec& s = p.spec;
    bool is_array = s.type == BPF_MAP_TYPE_ARRAY;
    Walk k = walk(kKernel, p.kfd, s.ks, model.size() + 4);
    Walk l = walk(kLibrary, p.lfd, s.ks, model.size() + 4);
    std::string c = ctx + " walk of " + describe(s);
    BOOST_TEST(!k.runaway, c << ": kernel walk did not end");
    BOOST_TEST(!l.runaway, c << ": library walk did not end after " << l.keys.size() << " keys");
    BOOST_TEST((k.end.ret == -1 && k.end.err == ENOENT), c << ": kernel walk end " << show(k.end));
    BOOST_TEST((l.end.ret == k.end.ret && l.end.err == k.end.err),
               c << ": walk end library " << show(l.end) << " kernel " << show(k.end));
    std::vector<Bytes> expect;
    for (auto& [key, v] : model) expect.push_back(key);
    if (is_array) {
        // Index order, exactly.
        std::vector<Bytes> idx;
        for (__u32 i = 0; i < s.max; ++i) idx.push_back(make_key(i, 4));
        BOOST_TEST((k.keys == idx), c << ": kernel array walk not in index order");
        BOOST_TEST(l.keys.size() == k.keys.size(), c << ": array walk length");
        for (size_t i = 0; i < std::min(l.keys.size(), k.keys.size()); ++i)
            BOOST_TEST(l.keys[i] == k.keys[i], c << ": array walk step " << i << " library "
                                                 << hex(l.keys[i]) << " kernel " << hex(k.keys[i]));
    } else {
        for (const Walk* w : {&k, &l}) {
            const char* who = w == &k ? "kernel" : "library";
            std::vector<Bytes> sorted = w->keys;
            std::sort(sorted.begin(), sorted.end());
            auto dup = std::adjacent_find(sorted.begin(), sorted.end());
            BOOST_TEST((dup == sorted.end()), c << ": " << who << " walk returned key "
                                                << (dup == sorted.end() ? std::string() : hex(*dup))
                                                << " twice");
            sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
            BOOST_TEST((sorted == expect), c << ": " << who << " walk visited " << sorted.size()
                                             << " distinct keys (" << w->keys.size()
                                             << " steps), model has " << expect.size());
        }
    }
    // Every key's value.
    for (auto& [key, v] : model) {
        Res kr, lr;
        Bytes kv = lookup_value(kKernel, p.kfd, key, s.vs, kr);
        Bytes lv = lookup_value(kLibrary, p.lfd, key, s.vs, lr);
        Bytes want = v;
        want.resize(s.vs + kGuard, kFill);
        BOOST_TEST((kr.ret == 0 && kv == want), c << ": kernel value of " << hex(key) << " is "
                                                  << hex(kv) << " " << show(kr) << ", model "
                                                  << hex(want));
        BOOST_TEST((lr.ret == kr.ret && lv == kv), c << ": value of key " << hex(key)
                                                     << ": library " << hex(lv) << " " << show(lr)
                                                     << ", kernel " << hex(kv) << " " << show(kr));
    }
}

// ---------------------------------------------------------------------------------------------
// Random sequences.

struct SeqConfig {
    const char* name;
    MapSpec spec;
    unsigned keyspace;  // HASH: key indices 0..keyspace-1
    unsigned ops;
    std::uint32_t seed;
    bool freeze;  // freeze both maps at 3/4 of the sequence
};

void run_sequence(const SeqConfig& c) {
    BOOST_TEST_MESSAGE("sequence " << c.name << ": " << describe(c.spec) << " keyspace "
                                   << c.keyspace << " ops " << c.ops << " seed " << c.seed
                                   << (c.freeze ? " (freezes)" : ""));
    std::mt19937 rng(c.seed);
    auto pct = [&] { return static_cast<unsigned>(rng() % 100); };
    auto pick = [&](std::initializer_list<__u64> l) { return *(l.begin() + rng() % l.size()); };

    MapPair p;
    create_pair(p, c.spec);
    p.kdup = ::fcntl(p.kfd, F_DUPFD_CLOEXEC, 0);
    p.ldup = ::fcntl(p.lfd, F_DUPFD_CLOEXEC, 0);
    BOOST_REQUIRE(p.kdup >= 0);
    BOOST_REQUIRE(p.ldup >= 0);
    const MapSpec& s = p.spec;
    const bool is_array = s.type == BPF_MAP_TYPE_ARRAY;
    DevNull devnull;
    Env env{closed_fd_number(), devnull.fd};

    Model model;
    if (is_array)
        for (__u32 i = 0; i < s.max; ++i) model[make_key(i, 4)] = Bytes(s.vs, 0);

    auto random_key = [&]() -> Bytes {
        if (is_array) {
            unsigned r = pct();
            if (r < 85) return make_key(rng() % s.max, 4);
            if (r < 95) return make_key(s.max + rng() % 4, 4);
            return make_key(pick({0xffffffffULL, 0x80000000ULL, 0x7fffffffULL}), 4);
        }
        return make_key(rng() % c.keyspace, s.ks);
    };
    auto random_value = [&] {
        Bytes v(s.vs);
        for (auto& b : v) b = static_cast<unsigned char>(rng());
        return v;
    };
    auto maybe_null_key = [&](unsigned null_pct) -> std::optional<Bytes> {
        if (pct() < null_pct) return std::nullopt;
        return random_key();
    };

    const unsigned freeze_at = c.freeze ? c.ops * 3 / 4 : c.ops + 1;
    bool frozen = false;
    unsigned long stats_full = 0, stats_ok = 0;

    for (unsigned n = 0; n < c.ops; ++n) {
        std::string ctx = std::string(c.name) + " seed " + std::to_string(c.seed) + " op #" +
                          std::to_string(n) + (frozen ? " (frozen)" : "");
        if (n == freeze_at) {
            ElemOp op;
            op.cmd = BPF_MAP_FREEZE;
            auto [k, l] = run_both(p, op, env, ctx);
            BOOST_TEST(k.r.ret == 0, ctx << ": kernel FREEZE " << show(k.r));
            frozen = true;
            continue;
        }
        if (n % 500 == 100) {
            // A fill burst: insert keys in random order until the kernel says E2BIG, so that
            // every sequence runs with a full map for a while (ARRAY: every index written).
            std::vector<unsigned> order(is_array ? s.max : c.keyspace);
            for (unsigned i = 0; i < order.size(); ++i) order[i] = i;
            std::shuffle(order.begin(), order.end(), rng);
            for (unsigned i = 0; i < order.size(); ++i) {
                ElemOp op;
                op.cmd = BPF_MAP_UPDATE_ELEM;
                op.fd = i % 2 ? FdKind::Dup : FdKind::Map;
                op.key = make_key(order[i], is_array ? 4 : s.ks);
                op.vmode = VMode::In;
                op.value_in = random_value();
                op.flags = pick({BPF_ANY, BPF_NOEXIST});
                auto [k, l] = run_both(p, op, env, ctx + " fill burst #" + std::to_string(i));
                if (k.r.ret == 0) {
                    model[*op.key] = op.value_in;
                    ++stats_ok;
                }
                if (k.r.ret != 0 && k.r.err == E2BIG) {
                    ++stats_full;
                    break;
                }
            }
            compare_walks(p, model, ctx + " after fill burst");
        }
        // Alternate fill phases (update-heavy: the HASH maps reach max_entries and E2BIG) with
        // drain phases (delete-heavy: missing keys, near-empty maps).
        // Cumulative thresholds: UPDATE, LOOKUP, DELETE, LOOKUP_AND_DELETE, GET_NEXT_KEY, walk,
        // GET_INFO, second FREEZE; the rest: bad fds.
        static constexpr unsigned kFillPhase[8] = {50, 62, 66, 70, 86, 93, 95, 97};
        static constexpr unsigned kDrainPhase[8] = {20, 35, 57, 71, 86, 93, 95, 97};
        const unsigned* t = (n / 250) % 2 == 0 ? kFillPhase : kDrainPhase;
        unsigned r = pct();
        ElemOp op;
        if (pct() < 20) op.fd = FdKind::Dup;  // the same map through a dup()ed fd
        if (r < t[0]) {
            // UPDATE
            op.cmd = BPF_MAP_UPDATE_ELEM;
            op.key = maybe_null_key(3);
            op.vmode = pct() < 3 ? VMode::Null : VMode::In;
            op.value_in = random_value();
            unsigned fr = pct();
            op.flags = fr < 80 ? pick({BPF_ANY, BPF_NOEXIST, BPF_EXIST})
                               : pick({3ULL, 8ULL, 1ULL << 32, BPF_F_LOCK, BPF_F_LOCK | BPF_EXIST,
                                       ~0ULL, 16ULL});
            if (pct() < 2) op.pokes.push_back({32u + rng() % 112u, 1});  // CHECK_ATTR → EINVAL
            // A short attr: 8 drops key (EFAULT), 16 drops value, 24 drops flags (so a bad
            // flag is never seen).
            if (pct() < 3) op.size = static_cast<unsigned>(pick({8, 16, 24}));
            auto [k, l] = run_both(p, op, env, ctx);
            if (k.r.ret == 0) {
                model[*op.key] = op.value_in;
                ++stats_ok;
            } else if (k.r.err == E2BIG) {
                ++stats_full;
            }
        } else if (r < t[1]) {
            // LOOKUP, with the occasional short or oversized attr size
            op.cmd = BPF_MAP_LOOKUP_ELEM;
            op.key = maybe_null_key(3);
            op.vmode = pct() < 3 ? VMode::Null : VMode::Out;
            op.out_len = s.vs;
            if (pct() < 5) op.flags = pick({BPF_F_LOCK, 1ULL, 2ULL, 3ULL, 1ULL << 40});
            unsigned sr = pct();
            if (sr < 3) {
                op.size = static_cast<unsigned>(pick({8, 16, 24, 32}));
            } else if (sr < 6) {
                op.size = static_cast<unsigned>(pick({kAttrSize + 1, 4096, 4097, 8000}));
            } else if (sr < 8) {
                // A nonzero byte past the kernel's own attr (E2BIG on both sides) or inside our
                // 144 bytes after `flags` (EINVAL on both). 144..167 differ legitimately.
                op.size = 4096;
                op.pokes.push_back({pct() < 50 ? kKernelAttrSize + rng() % (4096 - kKernelAttrSize)
                                               : 32u + rng() % 112u,
                                    static_cast<unsigned char>(1 + rng() % 255)});
            }
            auto [k, l] = run_both(p, op, env, ctx);
            bool plain = op.key && op.vmode == VMode::Out && op.flags == 0 && op.size >= 32 &&
                         op.pokes.empty() && op.size <= 4096;
            if (plain) {
                auto it = model.find(*op.key);
                Bytes want = it == model.end() ? Bytes() : it->second;
                Bytes got = k.out;
                got.resize(s.vs);
                BOOST_TEST((it == model.end() ? (k.r.ret == -1 && k.r.err == ENOENT)
                                              : (k.r.ret == 0 && got == want)),
                           ctx << ": kernel disagrees with the test's model: " << describe(op)
                               << " " << show(k.r) << " got " << hex(got) << " model "
                               << hex(want));
            }
        } else if (r < t[2]) {
            // DELETE
            op.cmd = BPF_MAP_DELETE_ELEM;
            op.key = maybe_null_key(3);
            unsigned fr = pct();
            if (fr < 3)
                op.flags = pick({1ULL, 2ULL, 4ULL});  // past DELETE's last field
            else if (fr < 5)
                op.vmode = VMode::In, op.value_in = random_value();
            if (pct() < 3) op.size = static_cast<unsigned>(pick({8, 16}));
            auto [k, l] = run_both(p, op, env, ctx);
            if (k.r.ret == 0) model.erase(*op.key);
        } else if (r < t[3]) {
            // LOOKUP_AND_DELETE
            op.cmd = BPF_MAP_LOOKUP_AND_DELETE_ELEM;
            op.key = maybe_null_key(3);
            op.vmode = pct() < 5 ? VMode::Null : VMode::Out;
            op.out_len = s.vs;
            if (pct() < 6) op.flags = pick({BPF_F_LOCK, 1ULL, 2ULL, 8ULL});
            if (pct() < 3) op.size = static_cast<unsigned>(pick({8, 16, 24}));
            auto [k, l] = run_both(p, op, env, ctx);
            // The element is gone on success, and also when only the copy-out failed (a size of
            // 8 drops the key itself: nothing is deleted then).
            if (op.key && op.size >= 16 && (k.r.ret == 0 || k.r.err == EFAULT))
                model.erase(*op.key);
        } else if (r < t[4]) {
            // GET_NEXT_KEY
            op.cmd = BPF_MAP_GET_NEXT_KEY;
            op.key = maybe_null_key(12);
            op.vmode = pct() < 3 ? VMode::Null : VMode::Out;
            op.out_len = s.ks;
            if (pct() < 2) op.flags = pick({1ULL, 2ULL});  // past GET_NEXT_KEY's last field
            bool present = op.key && model.count(*op.key);
            if (is_array || !present || op.flags != 0) {
                // ARRAY: everything exact. HASH from NULL/missing: restart at "some" first key,
                // compare the result only.
                Compare cmp{true, is_array};
                auto [k, l] = run_both(p, op, env, ctx, cmp);
                if (!is_array && op.vmode == VMode::Out) {
                    for (const SideOut* so : {&k, &l}) {
                        const char* who = so == &k ? "kernel" : "library";
                        Bytes got(so->out.begin(), so->out.begin() + s.ks);
                        if (so->r.ret == 0)
                            BOOST_TEST(model.count(got) == 1, ctx << ": " << describe(op) << ": "
                                                                  << who << " returned key "
                                                                  << hex(got)
                                                                  << " that is not in the map");
                        else
                            BOOST_TEST(got == Bytes(s.ks, kFill),
                                       ctx << ": " << describe(op) << ": " << who
                                           << " wrote next_key on failure " << show(so->r));
                        BOOST_TEST(
                            std::all_of(so->out.begin() + s.ks, so->out.end(),
                                        [](unsigned char ch) { return ch == kFill; }),
                            ctx << ": " << describe(op) << ": " << who << " wrote past key_size");
                    }
                }
            } else {
                // HASH from a present key: the order is the map's own; check each side is
                // valid (another present key, or ENOENT at the end; EFAULT for a NULL next_key).
                auto [k, l] = run_both(p, op, env, ctx, Compare{false, false});
                for (const SideOut* so : {&k, &l}) {
                    const char* who = so == &k ? "kernel" : "library";
                    if (op.vmode == VMode::Null) {
                        BOOST_TEST(
                            (so->r.ret == -1 && (so->r.err == EFAULT || so->r.err == ENOENT) &&
                             (model.size() > 1 || so->r.err == ENOENT)),
                            ctx << ": " << describe(op) << ": " << who << " " << show(so->r)
                                << " (model has " << model.size() << " keys)");
                        continue;
                    }
                    Bytes got(so->out.begin(), so->out.begin() + s.ks);
                    bool ok = so->r.ret == 0 ? (model.count(got) == 1 && got != *op.key)
                                             : (so->r.ret == -1 && so->r.err == ENOENT &&
                                                got == Bytes(s.ks, kFill));
                    if (model.size() == 1) ok = ok && so->r.ret == -1;
                    BOOST_TEST(ok, ctx << ": " << describe(op) << ": " << who << " " << show(so->r)
                                       << " next_key " << hex(got) << " (model has " << model.size()
                                       << " keys)");
                    BOOST_TEST(
                        std::all_of(so->out.begin() + s.ks, so->out.end(),
                                    [](unsigned char ch) { return ch == kFill; }),
                        ctx << ": " << describe(op) << ": " << who << " wrote past key_size");
                }
            }
        } else if (r < t[5]) {
            compare_walks(p, model, ctx);
        } else if (r < t[6]) {
            compare_info(p, ctx);
        } else if (r < t[7] && frozen) {
            op.cmd = BPF_MAP_FREEZE;  // a second freeze: EPERM
            run_both(p, op, env, ctx);
        } else {
            // Bad descriptors with an otherwise valid op.
            op.cmd = static_cast<int>(
                pick({BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM,
                      BPF_MAP_GET_NEXT_KEY, BPF_MAP_LOOKUP_AND_DELETE_ELEM, BPF_MAP_FREEZE}));
            op.fd = pct() < 50 ? FdKind::Closed : pct() < 50 ? FdKind::DevNull : FdKind::Minus1;
            op.key = random_key();
            if (op.cmd == BPF_MAP_UPDATE_ELEM) {
                op.vmode = VMode::In;
                op.value_in = random_value();
            } else if (op.cmd != BPF_MAP_DELETE_ELEM) {
                op.vmode = VMode::Out;
                op.out_len = op.cmd == BPF_MAP_GET_NEXT_KEY ? s.ks : s.vs;
            }
            run_both(p, op, env, ctx);
        }
    }
    compare_walks(p, model, std::string(c.name) + " final");
    compare_info(p, std::string(c.name) + " final");
    BOOST_TEST_MESSAGE("sequence " << c.name << ": " << stats_ok << " successful updates, "
                                   << stats_full << " E2BIG, final size " << model.size());
}

// ---------------------------------------------------------------------------------------------
// MAP_CREATE cases.

struct CreateCase {
    std::string desc;
    union bpf_attr attr;
    unsigned size = kAttrSize;
    Pokes pokes;
    bool null_attr = false;
};

CreateCase cc(std::string desc, const MapSpec& s) {
    CreateCase c;
    c.desc = std::move(desc);
    c.attr = create_attr(s);
    return c;
}

// Returns true when both sides created a map.
bool run_create_case(const CreateCase& c) {
    std::string ctx = "MAP_CREATE " + c.desc;
    Res res[2];
    int fds[2] = {-1, -1};
    BpfFn sides[2] = {kKernel, kLibrary};
    for (int i = 0; i < 2; ++i) {
        AttrBuf ab;
        ab.set(c.attr);
        for (auto [off, v] : c.pokes) ab.bytes()[off] = v;
        res[i] = invoke(sides[i], BPF_MAP_CREATE, c.null_attr ? nullptr : ab.bytes(), c.size);
        fds[i] = res[i].ret;
    }
    BOOST_TEST(
        ((res[1].ret >= 0) == (res[0].ret >= 0) && res[1].err == res[0].err),
        ctx << " size=" << c.size << ": library " << show(res[1]) << ", kernel " << show(res[0]));
    if (fds[0] >= 0 && fds[1] >= 0) {
        MapPair p;
        p.kfd = fds[0];
        p.lfd = fds[1];
        p.spec.type = c.attr.map_type;
        p.spec.ks = c.attr.key_size;
        p.spec.vs = c.attr.value_size;
        p.spec.max = c.attr.max_entries;
        p.spec.flags = c.attr.map_flags;
        compare_info(p, ctx);
        // The fd is O_CLOEXEC on both sides.
        int kfl = ::fcntl(p.kfd, F_GETFD), lfl = ::fcntl(p.lfd, F_GETFD);
        BOOST_TEST((kfl & FD_CLOEXEC) == (lfl & FD_CLOEXEC), ctx << ": FD_CLOEXEC");
        int kacc = ::fcntl(p.kfd, F_GETFL) & O_ACCMODE, lacc = ::fcntl(p.lfd, F_GETFL) & O_ACCMODE;
        BOOST_TEST(kacc == lacc,
                   ctx << ": F_GETFL access mode library " << lacc << " kernel " << kacc);
        return true;
    }
    for (int fd : fds)
        if (fd >= 0) ::close(fd);
    return false;
}

MapSpec hash(__u32 ks, __u32 vs, __u32 max, __u32 flags = 0, std::string name = {}) {
    return MapSpec{BPF_MAP_TYPE_HASH, ks, vs, max, flags, std::move(name)};
}
MapSpec array(__u32 ks, __u32 vs, __u32 max, __u32 flags = 0, std::string name = {}) {
    return MapSpec{BPF_MAP_TYPE_ARRAY, ks, vs, max, flags, std::move(name)};
}

}  // namespace

// =============================================================================================

BOOST_AUTO_TEST_SUITE(kernel_diff)

BOOST_AUTO_TEST_CASE(create_parameters) {
    std::vector<CreateCase> cases;
    const __u32 NP = BPF_F_NO_PREALLOC;
    // Valid.
    cases.push_back(cc("HASH 4/8/16", hash(4, 8, 16)));
    cases.push_back(cc("HASH 1/1/1", hash(1, 1, 1)));
    cases.push_back(cc("HASH NO_PREALLOC 1/1/1", hash(1, 1, 1, NP)));
    cases.push_back(cc("HASH 7/3/5 NO_PREALLOC", hash(7, 3, 5, NP)));
    cases.push_back(cc("HASH 512/4096/4", hash(512, 4096, 4)));
    cases.push_back(cc("HASH 65536/65536/2", hash(65536, 65536, 2)));
    cases.push_back(cc("HASH max 2^20 NO_PREALLOC", hash(4, 4, 1u << 20, NP)));
    cases.push_back(cc("ARRAY 4/4/1", array(4, 4, 1)));
    cases.push_back(cc("ARRAY 4/1/1000", array(4, 1, 1000)));
    cases.push_back(cc("ARRAY 4/65536/3", array(4, 65536, 3)));
    // Zero sizes.
    cases.push_back(cc("HASH key_size 0", hash(0, 8, 16)));
    cases.push_back(cc("HASH value_size 0", hash(4, 0, 16)));
    cases.push_back(cc("HASH max_entries 0", hash(4, 8, 0)));
    cases.push_back(cc("HASH NO_PREALLOC max_entries 0", hash(4, 8, 0, NP)));
    cases.push_back(cc("HASH all 0", hash(0, 0, 0)));
    cases.push_back(cc("ARRAY value_size 0", array(4, 0, 4)));
    cases.push_back(cc("ARRAY max_entries 0", array(4, 4, 0)));
    // ARRAY key_size must be 4.
    for (__u32 ks : {0u, 1u, 2u, 3u, 5u, 8u, 64u})
        cases.push_back(cc("ARRAY key_size " + std::to_string(ks), array(ks, 4, 4)));
    // Huge sizes (each far beyond this machine's RAM where an allocation is involved).
    cases.push_back(cc("HASH key_size 4MiB", hash(4u << 20, 4, 1)));
    cases.push_back(cc("HASH value_size 4MiB", hash(4, 4u << 20, 1)));
    cases.push_back(cc("HASH ks+vs just under 4MiB-48", hash(2u << 20, (2u << 20) - 100, 1)));
    cases.push_back(cc("HASH ks 2^31 vs 2^31", hash(0x80000000u, 0x80000000u, 1)));
    cases.push_back(cc("HASH ks 0xffffffff", hash(0xffffffffu, 1, 1)));
    cases.push_back(cc("HASH max_entries 2^27+1", hash(4, 4, (1u << 27) + 1)));
    cases.push_back(cc("HASH max_entries 2^31", hash(4, 4, 1u << 31)));
    cases.push_back(cc("HASH max_entries 0xffffffff", hash(4, 4, 0xffffffffu)));
    cases.push_back(cc("HASH NO_PREALLOC max_entries 0xffffffff", hash(4, 4, 0xffffffffu, NP)));
    cases.push_back(
        cc("HASH prealloc 1MiB+1MiB x 2^20 (ENOMEM)", hash(1u << 20, 1u << 20, 1u << 20)));
    cases.push_back(cc("ARRAY value_size 2^31", array(4, 0x80000000u, 1)));
    cases.push_back(cc("ARRAY value_size 0xffffffff", array(4, 0xffffffffu, 1)));
    // (value_size INT_MAX with max 1 succeeds but allocates 2 GiB: too slow for this test.)
    cases.push_back(cc("ARRAY 1MiB x 2^20 (ENOMEM)", array(4, 1u << 20, 1u << 20)));
    cases.push_back(cc("ARRAY 4096 x 0xffffffff (ENOMEM)", array(4, 4096, 0xffffffffu)));
    // Flags.
    struct F {
        __u32 flags;
        const char* name;
    };
    const F flag_cases[] = {
        {BPF_F_NO_PREALLOC, "NO_PREALLOC"},
        {BPF_F_NO_COMMON_LRU, "NO_COMMON_LRU"},
        {BPF_F_NUMA_NODE, "NUMA_NODE"},
        {BPF_F_RDONLY, "RDONLY"},
        {BPF_F_WRONLY, "WRONLY"},
        {BPF_F_RDONLY | BPF_F_WRONLY, "RDONLY|WRONLY"},
        {BPF_F_STACK_BUILD_ID, "STACK_BUILD_ID"},
        {BPF_F_ZERO_SEED, "ZERO_SEED"},
        {BPF_F_RDONLY_PROG, "RDONLY_PROG"},
        {BPF_F_WRONLY_PROG, "WRONLY_PROG"},
        {BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG, "RDONLY_PROG|WRONLY_PROG"},
        {BPF_F_CLONE, "CLONE"},
        {BPF_F_MMAPABLE, "MMAPABLE"},
        {BPF_F_PRESERVE_ELEMS, "PRESERVE_ELEMS"},
        {BPF_F_INNER_MAP, "INNER_MAP"},
        {BPF_F_NO_PREALLOC | BPF_F_ZERO_SEED | BPF_F_RDONLY_PROG,
         "NO_PREALLOC|ZERO_SEED|RDONLY_PROG"},
        {1u << 20, "1<<20"},
        {1u << 31, "1<<31"},
        {0xffffffffu, "all"},
    };
    for (const F& f : flag_cases) {
        cases.push_back(cc(std::string("HASH flags ") + f.name, hash(4, 8, 4, f.flags)));
        cases.push_back(cc(std::string("ARRAY flags ") + f.name, array(4, 8, 4, f.flags)));
    }
    {
        CreateCase c = cc("HASH NUMA_NODE node 0", hash(4, 4, 4, BPF_F_NUMA_NODE));
        c.attr.numa_node = 0;
        cases.push_back(c);
        c = cc("HASH NUMA_NODE node 999", hash(4, 4, 4, BPF_F_NUMA_NODE));
        c.attr.numa_node = 999;
        cases.push_back(c);
        c = cc("ARRAY NUMA_NODE node 999", array(4, 4, 4, BPF_F_NUMA_NODE));
        c.attr.numa_node = 999;
        cases.push_back(c);
        c = cc("HASH numa_node 999 without NUMA_NODE (ignored)", hash(4, 4, 4));
        c.attr.numa_node = 999;
        cases.push_back(c);
        c = cc("HASH inner_map_fd garbage (ignored)", hash(4, 4, 4));
        c.attr.inner_map_fd = 12345;
        cases.push_back(c);
        c = cc("ARRAY inner_map_fd garbage (ignored)", array(4, 4, 4));
        c.attr.inner_map_fd = 0xffffffffu;
        cases.push_back(c);
        c = cc("HASH map_extra 1", hash(4, 4, 4));
        c.attr.map_extra = 1;
        cases.push_back(c);
        c = cc("ARRAY map_extra 1<<40", array(4, 4, 4));
        c.attr.map_extra = 1ULL << 40;
        cases.push_back(c);
        c = cc("HASH btf_key_type_id without btf_value_type_id", hash(4, 4, 4));
        c.attr.btf_key_type_id = 1;
        cases.push_back(c);
        // The cases below set map_ifindex (a device to offload the map to) on top of their spec.
        auto ifindex_case = [&cases](std::string desc, const MapSpec& s, __u32 ifindex) {
            CreateCase ic = cc(std::move(desc), s);
            ic.attr.map_ifindex = ifindex;
            cases.push_back(ic);
        };
        ifindex_case("HASH map_ifindex 1", hash(4, 4, 4), 1);
        ifindex_case("ARRAY map_ifindex 1", array(4, 4, 4), 1);
        // The kernel looks the device up: a missing one is EINVAL, an existing one (1 = lo)
        // that cannot offload maps is EOPNOTSUPP.
        ifindex_case("HASH map_ifindex 999999 (no such device)", hash(4, 4, 4), 999999);
        // map_ifindex is checked after the type's own checks, before the allocation.
        ifindex_case("HASH map_ifindex 1 + key_size 0", hash(0, 4, 4), 1);
        ifindex_case("ARRAY map_ifindex 1 + key_size 8", array(8, 4, 4), 1);
        ifindex_case("HASH map_ifindex 1 + flag MMAPABLE", hash(4, 4, 4, BPF_F_MMAPABLE), 1);
        ifindex_case("HASH map_ifindex 1 + max_entries 2^31 (E2BIG at allocation)",
                     hash(4, 4, 1u << 31), 1);
        ifindex_case("ARRAY map_ifindex 1 + ENOMEM size + bad name",
                     array(4, 1u << 20, 1u << 20, 0, "a-b"), 1);
        ifindex_case("HASH map_ifindex 1 + RDONLY|WRONLY",
                     hash(4, 4, 4, BPF_F_RDONLY | BPF_F_WRONLY), 1);
    }
    // Unknown types.
    for (__u32 t : {0u, 64u, 1000u, 0x80000000u, 0xffffffffu}) {
        MapSpec s = hash(4, 4, 4);
        s.type = t;
        cases.push_back(cc("type " + std::to_string(t), s));
    }
    // map_name.
    for (const char* nm : {"", "good_name.1", "A", "abcdefghijklmno", "bad-name", "a b", "x/y",
                           "tab\t", "\x80\x81", "ok?"})
        cases.push_back(cc(std::string("HASH name '") + nm + "'", hash(4, 4, 4, 0, nm)));
    cases.push_back(cc("ARRAY name 'bad-name'", array(4, 4, 4, 0, "bad-name")));
    cases.push_back(cc("ARRAY name 'arr.ok_9'", array(4, 4, 4, 0, "arr.ok_9")));
    {
        CreateCase c = cc("HASH name of 16 chars, no NUL", hash(4, 4, 4));
        std::memcpy(c.attr.map_name, "abcdefghijklmnop", 16);
        cases.push_back(c);
        c = cc("HASH name 'ok' NUL then junk", hash(4, 4, 4));
        std::memcpy(c.attr.map_name, "ok\0bad-name!!!!!", 16);
        cases.push_back(c);
        c = cc("ARRAY name of 16 chars, no NUL", array(4, 4, 4));
        std::memcpy(c.attr.map_name, "ABCDEFGHIJKLMNOP", 16);
        cases.push_back(c);
    }
    // Check order: several errors at once.
    cases.push_back(
        cc("HASH bad name + key_size 4MiB (E2BIG first)", hash(4u << 20, 4, 1, 0, "b-d")));
    cases.push_back(cc("ARRAY bad name + value_size 2^31", array(4, 0x80000000u, 1, 0, "b-d")));
    cases.push_back(cc("ARRAY bad name + ENOMEM size", array(4, 1u << 20, 1u << 20, 0, "b-d")));
    cases.push_back(cc("HASH bad flags + key_size 0", hash(0, 4, 4, BPF_F_MMAPABLE)));
    cases.push_back(cc("ARRAY key_size 8 + bad name", array(8, 4, 4, 0, "b d")));
    {
        MapSpec s = hash(0, 0, 0, 1u << 20, "b-d");
        s.type = 0;
        cases.push_back(cc("type 0 + everything else bad", s));
    }
    // attr size and trailing bytes.
    for (unsigned sz : {0u,   4u,   8u,   12u,  16u,  20u,  28u,  30u,  44u,   48u,   72u,
                        100u, 143u, 144u, 145u, 167u, 168u, 169u, 200u, 4096u, 4097u, 8192u}) {
        CreateCase c =
            cc("HASH 4/4/4 bad flags MMAPABLE, bad name", hash(4, 4, 4, BPF_F_MMAPABLE, "b-d"));
        c.size = sz;
        cases.push_back(c);
        c = cc("HASH 4/4/4", hash(4, 4, 4));
        c.size = sz;
        cases.push_back(c);
        c = cc("ARRAY 4/4/4 name 'x'", array(4, 4, 4, 0, "x"));
        c.size = sz;
        cases.push_back(c);
    }
    // Nonzero bytes after the last MAP_CREATE field inside 144 (EINVAL), and past the kernel's
    // 168 bytes (E2BIG). Offsets 72..91 (fields of the newer kernel) and 144..167 are skipped.
    for (unsigned off : {92u, 100u, 120u, 143u, 168u, 169u, 200u, 1000u, 4095u}) {
        CreateCase c = cc("HASH 4/4/4 nonzero attr[" + std::to_string(off) + "]", hash(4, 4, 4));
        c.size = 4096;
        c.pokes.push_back({off, 0x5a});
        cases.push_back(c);
    }
    {
        CreateCase c = cc("HASH nonzero attr[4096] beyond size 4096 (ignored)", hash(4, 4, 4));
        c.size = 4096;
        c.pokes.push_back({4096, 1});
        cases.push_back(c);
        c = cc("HASH nonzero attr[4100] with size 4097 (E2BIG anyway)", hash(4, 4, 4));
        c.size = 4097;
        cases.push_back(c);
        c = cc("HASH size 16: bad flags are truncated away", hash(4, 4, 4, 1u << 20));
        c.size = 16;
        cases.push_back(c);
        c = cc("HASH size 12: max_entries is truncated away", hash(4, 4, 4));
        c.size = 12;
        cases.push_back(c);
        c = cc("HASH size 30: name 'bad-name' truncated to 'ba'", hash(4, 4, 4, 0, "bad-name"));
        c.size = 30;
        cases.push_back(c);
        c = cc("HASH size 33: name 'ab-d' truncated to 'ab-d'[0..5)", hash(4, 4, 4, 0, "ab-d"));
        c.size = 33;
        cases.push_back(c);
    }
    // NULL attr.
    for (unsigned sz : {0u, 1u, 8u, 144u, 4096u, 4097u}) {
        CreateCase c = cc("NULL attr", hash(4, 4, 4));
        c.null_attr = true;
        c.size = sz;
        cases.push_back(c);
    }
    BOOST_TEST_MESSAGE("create_parameters: " << cases.size() << " cases");
    for (const CreateCase& c : cases) run_create_case(c);
}

// Random MAP_CREATE attrs: several parameters wrong at once, so the ORDER of the checks is
// compared too. Allocations between 64 MiB and 1 TiB are never requested (slow on the kernel
// side, and whether they succeed depends on the machine's RAM).
BOOST_AUTO_TEST_CASE(create_fuzz) {
    const std::uint32_t seed = 0xC0FFEE;
    const unsigned rounds = 1500;
    BOOST_TEST_MESSAGE("create_fuzz: seed " << seed << ", " << rounds << " creates");
    std::mt19937 rng(seed);
    auto pick = [&](std::initializer_list<std::uint64_t> l) {
        return *(l.begin() + rng() % l.size());
    };
    auto pct = [&] { return static_cast<unsigned>(rng() % 100); };
    const __u32 flag_bits[] = {BPF_F_NO_PREALLOC, BPF_F_NO_COMMON_LRU, BPF_F_NUMA_NODE,
                               BPF_F_RDONLY,      BPF_F_WRONLY,        BPF_F_ZERO_SEED,
                               BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG,   BPF_F_MMAPABLE,
                               BPF_F_INNER_MAP,   BPF_F_CLONE,         1u << 20};
    const char* names[] = {"", "ok", "ok.name_1", "bad-name", "a b", "0123456789abcde"};
    unsigned successes = 0;
    for (unsigned n = 0; n < rounds; ++n) {
        CreateCase c;
        std::memset(&c.attr, 0, sizeof c.attr);
        unsigned tr = pct();
        c.attr.map_type = tr < 45   ? static_cast<__u32>(BPF_MAP_TYPE_HASH)
                          : tr < 90 ? static_cast<__u32>(BPF_MAP_TYPE_ARRAY)
                                    : static_cast<__u32>(pick({0, 77, 0xffffffffULL}));
        bool arr = c.attr.map_type == BPF_MAP_TYPE_ARRAY;
        c.attr.key_size = static_cast<__u32>(pct() < 70 ? (arr ? 4 : pick({1, 4, 8, 33}))
                                                        : pick({0, 3, 5, 4u << 20, 0xffffffffULL}));
        c.attr.value_size = static_cast<__u32>(
            pct() < 75 ? pick({1, 4, 8, 100})
                       : pick({0, 4096, 1u << 20, 0x80000000ULL, 0xffffffffULL}));
        c.attr.max_entries = static_cast<__u32>(
            pct() < 75 ? pick({1, 2, 16, 1000})
                       : pick({0, (1u << 27) + 1, 1u << 31, 0xffffffffULL, 1u << 20}));
        for (__u32 bit : flag_bits)
            if (pct() < 12) c.attr.map_flags |= bit;
        if (pct() < 10) c.attr.numa_node = static_cast<__u32>(pick({1, 999}));
        if (pct() < 5) c.attr.map_extra = 1;
        if (pct() < 5) c.attr.btf_key_type_id = 1;
        if (pct() < 5) c.attr.map_ifindex = static_cast<__u32>(pick({1, 999999}));
        if (pct() < 10) c.attr.inner_map_fd = 4321;
        const char* nm = names[rng() % (sizeof names / sizeof names[0])];
        std::memcpy(c.attr.map_name, nm, std::strlen(nm));
        unsigned sr = pct();
        c.size =
            sr < 80 ? kAttrSize : static_cast<unsigned>(pick({16, 20, 28, 48, 72, 4096, 4097}));
        if (pct() < 5) {
            c.size = 4096;
            c.pokes.push_back({static_cast<unsigned>(pick({100, 143, 168, 3000})), 1});
        }
        // Estimated allocation (bytes) of a create that passes the parameter checks.
        std::uint64_t ks = c.attr.key_size, vs = c.attr.value_size, mx = c.attr.max_entries;
        std::uint64_t est = arr ? ((vs + 7) & ~7ULL) * mx : (ks + vs + 64) * mx;
        if (!arr && (c.attr.map_flags & BPF_F_NO_PREALLOC)) est = mx * 16;
        if (est > (64ULL << 20) && est < (1ULL << 40)) {
            --n;
            continue;
        }
        std::string stray =
            c.pokes.empty() ? "" : " attr[" + std::to_string(c.pokes[0].first) + "]=1";
        char d[240];
        std::snprintf(d, sizeof d,
                      "fuzz #%u type=%u ks=%u vs=%u max=%u flags=%#x numa=%u extra=%llu btfk=%u "
                      "ifindex=%u inner=%u name='%s'%s",
                      n, c.attr.map_type, c.attr.key_size, c.attr.value_size, c.attr.max_entries,
                      c.attr.map_flags, c.attr.numa_node,
                      static_cast<unsigned long long>(c.attr.map_extra), c.attr.btf_key_type_id,
                      c.attr.map_ifindex, c.attr.inner_map_fd, nm, stray.c_str());
        c.desc = d;
        // Count successes to show that the generator is not degenerate.
        successes += run_create_case(c) ? 1 : 0;
    }
    BOOST_TEST_MESSAGE("create_fuzz: " << successes << " creates succeeded on both sides");
    BOOST_TEST(successes > 50u, "create_fuzz generated too few valid creates: " << successes);
}

BOOST_AUTO_TEST_CASE(unknown_commands_and_null_attr) {
    // Unknown commands → EINVAL; size rules come first.
    struct C {
        int cmd;
        bool null_attr;
        unsigned size;
    };
    const C cases[] = {{999, false, kAttrSize},     {-1, false, kAttrSize}, {999, true, 0},
                       {999, true, 4097},           {-1, false, 4097},      {999, true, 16},
                       {BPF_MAP_FREEZE, true, 5000}};
    for (const C& c : cases) {
        AttrBuf kb, lb;
        Res k = invoke(kKernel, c.cmd, c.null_attr ? nullptr : kb.bytes(), c.size);
        Res l = invoke(kLibrary, c.cmd, c.null_attr ? nullptr : lb.bytes(), c.size);
        BOOST_TEST((l.ret == k.ret && l.err == k.err),
                   "cmd " << c.cmd << (c.null_attr ? " attr=NULL" : " attr=zeros") << " size "
                          << c.size << ": library " << show(l) << ", kernel " << show(k));
    }
}

BOOST_AUTO_TEST_CASE(sequences_hash_prealloc) {
    const SeqConfig cfgs[] = {
        {"hash-4/8/16", hash(4, 8, 16), 24, 3000, 0x1001, false},
        {"hash-4/8/16-freeze", hash(4, 8, 16), 24, 2000, 0x1002, true},
        {"hash-7/3/32", hash(7, 3, 32, 0, "odd.sizes"), 48, 3000, 0x1003, false},
        {"hash-64/100/40", hash(64, 100, 40), 64, 2000, 0x1004, false},
        {"hash-2/1/1", hash(2, 1, 1), 3, 1500, 0x1005, false},
        {"hash-zero-seed", hash(4, 4, 8, BPF_F_ZERO_SEED), 12, 1500, 0x1006, true},
        {"hash-big-values", hash(16, 5000, 8), 12, 1000, 0x1007, false},
        {"hash-300", hash(8, 16, 300), 360, 2500, 0x1008, false},
    };
    for (const SeqConfig& c : cfgs) run_sequence(c);
}

BOOST_AUTO_TEST_CASE(sequences_hash_no_prealloc) {
    const __u32 NP = BPF_F_NO_PREALLOC;
    const SeqConfig cfgs[] = {
        {"hashnp-4/8/16", hash(4, 8, 16, NP), 24, 3000, 0x2001, false},
        {"hashnp-4/8/16-freeze", hash(4, 8, 16, NP), 24, 2000, 0x2002, true},
        {"hashnp-1/1/8", hash(1, 1, 8, NP), 12, 3000, 0x2003, false},
        {"hashnp-13/33/50", hash(13, 33, 50, NP, "np"), 80, 2000, 0x2004, false},
        {"hashnp-big-values", hash(300, 4100, 6, NP), 9, 1000, 0x2005, true},
        {"hashnp-1000", hash(4, 4, 1000, NP), 1100, 1200, 0x2006, false},
    };
    for (const SeqConfig& c : cfgs) run_sequence(c);
}

BOOST_AUTO_TEST_CASE(sequences_array) {
    const SeqConfig cfgs[] = {
        {"array-8x16", array(4, 8, 16), 0, 3000, 0x3001, false},
        {"array-8x16-freeze", array(4, 8, 16), 0, 2000, 0x3002, true},
        {"array-1x1", array(4, 1, 1), 0, 1500, 0x3003, false},
        {"array-13x37", array(4, 13, 37, 0, "arr"), 0, 3000, 0x3004, false},
        {"array-mmapable", array(4, 4, 5, BPF_F_MMAPABLE), 0, 1000, 0x3005, true},
        {"array-big-values", array(4, 8192, 3), 0, 1000, 0x3006, false},
        {"array-500", array(4, 24, 500), 0, 1500, 0x3007, false},
    };
    for (const SeqConfig& c : cfgs) run_sequence(c);
}

// Many maps open at once, operated on in an interleaved order, closed in a random order: each
// op must reach the map its fd names (per-map models are checked by full walks).
BOOST_AUTO_TEST_CASE(many_maps_interleaved) {
    const std::uint32_t seed = 0x4D4D;
    BOOST_TEST_MESSAGE("many_maps_interleaved: seed " << seed);
    std::mt19937 rng(seed);
    DevNull devnull;
    Env env{closed_fd_number(), devnull.fd};
    struct Slot {
        std::unique_ptr<MapPair> p;
        Model model;
        unsigned keyspace = 0;
    };
    std::vector<Slot> slots(48);
    for (size_t i = 0; i < slots.size(); ++i) {
        Slot& sl = slots[i];
        sl.p = std::make_unique<MapPair>();
        __u32 max = 1 + static_cast<__u32>(rng() % 12);
        __u32 vs = 1 + static_cast<__u32>(rng() % 40);
        MapSpec spec = i % 3 == 0   ? array(4, vs, max)
                       : i % 3 == 1 ? hash(1 + static_cast<__u32>(rng() % 9), vs, max)
                                    : hash(4, vs, max, BPF_F_NO_PREALLOC);
        spec.name = "m" + std::to_string(i);
        create_pair(*sl.p, spec);
        sl.keyspace = spec.type == BPF_MAP_TYPE_ARRAY ? max + 2 : max + max / 2 + 1;
        if (spec.type == BPF_MAP_TYPE_ARRAY)
            for (__u32 k = 0; k < max; ++k) sl.model[make_key(k, 4)] = Bytes(vs, 0);
    }
    for (unsigned n = 0; n < 3000; ++n) {
        Slot& sl = slots[rng() % slots.size()];
        const MapSpec& s = sl.p->spec;
        ElemOp op;
        unsigned r = static_cast<unsigned>(rng() % 100);
        op.cmd = r < 45   ? BPF_MAP_UPDATE_ELEM
                 : r < 75 ? BPF_MAP_LOOKUP_ELEM
                 : r < 90 ? BPF_MAP_DELETE_ELEM
                          : BPF_MAP_LOOKUP_AND_DELETE_ELEM;
        op.key = make_key(rng() % sl.keyspace, s.ks);
        if (op.cmd == BPF_MAP_UPDATE_ELEM) {
            op.vmode = VMode::In;
            op.value_in.resize(s.vs);
            for (auto& b : op.value_in) b = static_cast<unsigned char>(rng());
            op.flags = rng() % 3;
        } else if (op.cmd != BPF_MAP_DELETE_ELEM) {
            op.vmode = VMode::Out;
            op.out_len = s.vs;
        }
        std::string ctx = "many maps seed " + std::to_string(seed) + " op #" + std::to_string(n) +
                          " on '" + s.name + "'";
        auto [k, l] = run_both(*sl.p, op, env, ctx);
        if (k.r.ret == 0) {
            if (op.cmd == BPF_MAP_UPDATE_ELEM) sl.model[*op.key] = op.value_in;
            if (op.cmd == BPF_MAP_DELETE_ELEM || op.cmd == BPF_MAP_LOOKUP_AND_DELETE_ELEM)
                sl.model.erase(*op.key);
        }
        if (n % 500 == 499) {
            // Close a few maps in a random order; the rest must be unaffected.
            for (int c = 0; c < 4 && slots.size() > 8; ++c) {
                size_t victim = rng() % slots.size();
                compare_walks(*slots[victim].p, slots[victim].model, ctx + " before close");
                slots.erase(slots.begin() + static_cast<std::ptrdiff_t>(victim));
            }
        }
    }
    for (Slot& sl : slots)
        compare_walks(*sl.p, sl.model, "many maps final '" + sl.p->spec.name + "'");
}

// Deterministic fill to capacity, then the flag semantics at the boundary.
BOOST_AUTO_TEST_CASE(hash_fill_to_capacity) {
    DevNull devnull;
    Env env{closed_fd_number(), devnull.fd};
    for (__u32 flags : {0u, static_cast<__u32>(BPF_F_NO_PREALLOC)}) {
        for (__u32 max : {1u, 5u, 64u}) {
            MapPair p;
            create_pair(p, hash(4, 8, max, flags));
            std::string base = "fill " + describe(p.spec);
            Model model;
            auto upd = [&](unsigned idx, __u64 f, const std::string& what) {
                ElemOp op;
                op.cmd = BPF_MAP_UPDATE_ELEM;
                op.key = make_key(idx, 4);
                op.vmode = VMode::In;
                op.value_in = make_key(idx * 7 + static_cast<unsigned>(f), 8);
                op.flags = f;
                auto [k, l] = run_both(p, op, env, base + " " + what);
                if (k.r.ret == 0) model[*op.key] = op.value_in;
                return k.r;
            };
            for (unsigned i = 0; i < max; ++i) {
                Res r = upd(i, i % 2 ? BPF_NOEXIST : BPF_ANY, "insert " + std::to_string(i));
                BOOST_TEST(r.ret == 0, base << ": kernel insert " << i << " " << show(r));
            }
            BOOST_TEST(upd(max, BPF_ANY, "new key when full ANY").err == E2BIG);
            BOOST_TEST(upd(max + 1, BPF_NOEXIST, "new key when full NOEXIST").err == E2BIG);
            BOOST_TEST(upd(max + 2, BPF_EXIST, "new key when full EXIST").err == ENOENT);
            BOOST_TEST(upd(0, BPF_ANY, "existing key when full ANY").ret == 0);
            BOOST_TEST(upd(0, BPF_EXIST, "existing key when full EXIST").ret == 0);
            BOOST_TEST(upd(0, BPF_NOEXIST, "existing key when full NOEXIST").err == EEXIST);
            BOOST_TEST(upd(max, 3, "new key when full, flags 3").err == EINVAL);
            compare_walks(p, model, base + " full");
            // Free one slot; one new key fits, the next does not.
            ElemOp del;
            del.cmd = BPF_MAP_DELETE_ELEM;
            del.key = make_key(0, 4);
            auto [k, l] = run_both(p, del, env, base + " delete key 0");
            if (k.r.ret == 0) model.erase(*del.key);
            BOOST_TEST(upd(max + 10, BPF_NOEXIST, "refill").ret == 0);
            BOOST_TEST(upd(max + 11, BPF_ANY, "over").err == E2BIG);
            // Replace every element while full, walking with fetch-then-update.
            for (unsigned i = 1; i < max; ++i) upd(i, BPF_EXIST, "replace " + std::to_string(i));
            compare_walks(p, model, base + " replaced");
            compare_info(p, base);
        }
    }
}

BOOST_AUTO_TEST_CASE(freeze_semantics) {
    DevNull devnull;
    Env env{closed_fd_number(), devnull.fd};
    for (const MapSpec& s : {hash(4, 4, 4), hash(4, 4, 4, BPF_F_NO_PREALLOC), array(4, 4, 4)}) {
        MapPair p;
        create_pair(p, s);
        std::string base = "freeze " + describe(s);
        auto op_of = [&](int cmd, unsigned idx, __u64 flags) {
            ElemOp op;
            op.cmd = cmd;
            op.key = make_key(idx, 4);
            op.flags = flags;
            if (cmd == BPF_MAP_UPDATE_ELEM) {
                op.vmode = VMode::In;
                op.value_in = make_key(idx + 100, 4);
            } else if (cmd != BPF_MAP_DELETE_ELEM && cmd != BPF_MAP_FREEZE) {
                op.vmode = VMode::Out;
                op.out_len = 4;
            }
            return op;
        };
        run_both(p, op_of(BPF_MAP_UPDATE_ELEM, 1, BPF_ANY), env, base + " before");
        run_both(p, op_of(BPF_MAP_UPDATE_ELEM, 2, BPF_ANY), env, base + " before");
        {
            ElemOp f = op_of(BPF_MAP_FREEZE, 0, 0);
            f.pokes.push_back({4, 1});  // a nonzero byte after map_fd → EINVAL, not frozen
            run_both(p, f, env, base + " FREEZE with attr[4]=1");
        }
        run_both(p, op_of(BPF_MAP_UPDATE_ELEM, 3, BPF_ANY), env, base + " still writable");
        auto [fk, fl] = run_both(p, op_of(BPF_MAP_FREEZE, 0, 0), env, base + " FREEZE");
        BOOST_TEST(fk.r.ret == 0, base << ": kernel FREEZE " << show(fk.r));
        struct W {
            int cmd;
            unsigned idx;
            __u64 flags;
        };
        const W after[] = {
            {BPF_MAP_FREEZE, 0, 0},                  // second freeze → EPERM
            {BPF_MAP_UPDATE_ELEM, 1, BPF_ANY},       // EPERM
            {BPF_MAP_UPDATE_ELEM, 9, BPF_NOEXIST},   // EPERM
            {BPF_MAP_UPDATE_ELEM, 1, 3},             // bad flags: still EPERM (access first)
            {BPF_MAP_UPDATE_ELEM, 1, BPF_F_LOCK},    // EPERM
            {BPF_MAP_DELETE_ELEM, 1, 0},             // EPERM
            {BPF_MAP_DELETE_ELEM, 77, 0},            // missing key: EPERM
            {BPF_MAP_LOOKUP_AND_DELETE_ELEM, 1, 0},  // EPERM
            {BPF_MAP_LOOKUP_AND_DELETE_ELEM, 1, 1},  // bad flags first → EINVAL
            {BPF_MAP_LOOKUP_ELEM, 1, 0},             // works
            {BPF_MAP_LOOKUP_ELEM, 77, 0},            // ENOENT
            {BPF_MAP_GET_NEXT_KEY, 77, 0},           // works
        };
        for (const W& w : after)
            run_both(p, op_of(w.cmd, w.idx, w.flags), env, base + " after FREEZE",
                     Compare{true, s.type == BPF_MAP_TYPE_ARRAY || w.cmd != BPF_MAP_GET_NEXT_KEY});
        {
            ElemOp d = op_of(BPF_MAP_DELETE_ELEM, 1, 0);
            d.key.reset();  // NULL key on a frozen map: EPERM before the key copy
            run_both(p, d, env, base + " after FREEZE, NULL key");
            d.flags = 5;  // past DELETE's last field: CHECK_ATTR first → EINVAL
            run_both(p, d, env, base + " after FREEZE, delete with flags");
        }
        Model model;
        if (s.type == BPF_MAP_TYPE_ARRAY)
            for (unsigned i = 0; i < 4; ++i) model[make_key(i, 4)] = Bytes(4, 0);
        for (unsigned i : {1u, 2u, 3u}) model[make_key(i, 4)] = make_key(i + 100, 4);
        compare_walks(p, model, base + " frozen");
        compare_info(p, base + " frozen");
    }
}

// Access-restricted fds from BPF_F_RDONLY / BPF_F_WRONLY at create time.
BOOST_AUTO_TEST_CASE(rdonly_wronly_fds) {
    DevNull devnull;
    Env env{closed_fd_number(), devnull.fd};
    for (__u32 type :
         {static_cast<__u32>(BPF_MAP_TYPE_HASH), static_cast<__u32>(BPF_MAP_TYPE_ARRAY)}) {
        for (__u32 acc :
             {static_cast<__u32>(BPF_F_RDONLY), static_cast<__u32>(BPF_F_WRONLY),
              static_cast<__u32>(BPF_F_RDONLY_PROG), static_cast<__u32>(BPF_F_WRONLY_PROG)}) {
            MapPair p;
            create_pair(p, MapSpec{type, 4, 4, 4, acc, "acc"});
            std::string base = "access " + describe(p.spec);
            for (int cmd : {BPF_MAP_UPDATE_ELEM, BPF_MAP_LOOKUP_ELEM, BPF_MAP_GET_NEXT_KEY,
                            BPF_MAP_LOOKUP_AND_DELETE_ELEM, BPF_MAP_DELETE_ELEM, BPF_MAP_FREEZE}) {
                for (__u64 flags : {0ULL, 3ULL}) {
                    ElemOp op;
                    op.cmd = cmd;
                    op.key = make_key(1, 4);
                    op.flags = cmd == BPF_MAP_DELETE_ELEM || cmd == BPF_MAP_GET_NEXT_KEY ||
                                       cmd == BPF_MAP_FREEZE
                                   ? 0
                                   : flags;
                    if (cmd == BPF_MAP_UPDATE_ELEM) {
                        op.vmode = VMode::In;
                        op.value_in = make_key(7, 4);
                    } else if (cmd != BPF_MAP_DELETE_ELEM && cmd != BPF_MAP_FREEZE) {
                        op.vmode = VMode::Out;
                        op.out_len = 4;
                    }
                    // A HASH walk from a present key is order dependent; with at most one
                    // element here the result is exact.
                    run_both(p, op, env, base);
                }
            }
            compare_info(p, base);
        }
    }
}

// Bad descriptors and NULL pointers for every element command.
BOOST_AUTO_TEST_CASE(bad_fds_and_null_pointers) {
    DevNull devnull;
    Env env{closed_fd_number(), devnull.fd};
    for (const MapSpec& s : {hash(4, 8, 4), hash(4, 8, 4, BPF_F_NO_PREALLOC), array(4, 8, 4)}) {
        MapPair p;
        create_pair(p, s);
        std::string base = "badfd/null " + describe(s);
        {
            ElemOp u;
            u.cmd = BPF_MAP_UPDATE_ELEM;
            u.key = make_key(2, 4);
            u.vmode = VMode::In;
            u.value_in = Bytes(8, 0x42);
            run_both(p, u, env, base + " setup");
        }
        for (int cmd : {BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM,
                        BPF_MAP_GET_NEXT_KEY, BPF_MAP_LOOKUP_AND_DELETE_ELEM, BPF_MAP_FREEZE}) {
            for (FdKind fk : {FdKind::Closed, FdKind::DevNull, FdKind::Minus1}) {
                for (__u64 flags : {0ULL, 1ULL, 3ULL, kLock}) {
                    ElemOp op;
                    op.cmd = cmd;
                    op.fd = fk;
                    op.key = make_key(2, 4);
                    op.flags = flags;
                    if (cmd == BPF_MAP_UPDATE_ELEM) {
                        op.vmode = VMode::In;
                        op.value_in = Bytes(8, 1);
                    } else if (cmd != BPF_MAP_DELETE_ELEM && cmd != BPF_MAP_FREEZE) {
                        op.vmode = VMode::Out;
                        op.out_len = cmd == BPF_MAP_GET_NEXT_KEY ? 4 : 8;
                    }
                    run_both(p, op, env, base);
                }
            }
            // NULL key / NULL value on the real map, for present (2) and absent (3) keys.
            for (int variant = 0; variant < 6; ++variant) {
                if (cmd == BPF_MAP_FREEZE) break;
                ElemOp op;
                op.cmd = cmd;
                op.key = make_key(variant % 2 ? 3 : 2, 4);
                if (variant >= 2) op.key.reset();
                if (cmd == BPF_MAP_UPDATE_ELEM) {
                    op.vmode = variant == 1 || variant == 5 ? VMode::Null : VMode::In;
                    op.value_in = Bytes(8, 9);
                    op.flags = variant == 4 ? 3 : variant == 5 ? BPF_F_LOCK : 0;
                } else if (cmd != BPF_MAP_DELETE_ELEM) {
                    op.vmode = variant == 0 || variant == 3 ? VMode::Null : VMode::Out;
                    op.out_len = cmd == BPF_MAP_GET_NEXT_KEY ? 4 : 8;
                }
                // Exact comparison is safe: the HASH maps hold a single key.
                run_both(p, op, env, base + " NULL variant " + std::to_string(variant));
                if (cmd == BPF_MAP_LOOKUP_AND_DELETE_ELEM || cmd == BPF_MAP_DELETE_ELEM) {
                    // Put key 2 back (LOOKUP_AND_DELETE deletes even when the copy-out fails).
                    ElemOp u;
                    u.cmd = BPF_MAP_UPDATE_ELEM;
                    u.key = make_key(2, 4);
                    u.vmode = VMode::In;
                    u.value_in = Bytes(8, 0x42);
                    run_both(p, u, env, base + " restore");
                }
            }
        }
        // GET_INFO: bad fds, NULL buffer, lengths.
        struct G {
            const char* what;
            FdKind fd;
            __u32 len;
            bool null_buf;
            Pokes buf_pokes;
            unsigned size;
        };
        const G gs[] = {
            {"closed fd", FdKind::Closed, kInfoSize, false, {}, kAttrSize},
            {"/dev/null", FdKind::DevNull, kInfoSize, false, {}, kAttrSize},
            {"fd -1", FdKind::Minus1, kInfoSize, false, {}, kAttrSize},
            {"NULL info", FdKind::Map, kInfoSize, true, {}, kAttrSize},
            {"NULL info, len 0", FdKind::Map, 0, true, {}, kAttrSize},
            {"len 0", FdKind::Map, 0, false, {}, kAttrSize},
            {"len 4", FdKind::Map, 4, false, {}, kAttrSize},
            {"len 8", FdKind::Map, 8, false, {}, kAttrSize},
            {"len 40", FdKind::Map, 40, false, {}, kAttrSize},
            {"len 87", FdKind::Map, 87, false, {}, kAttrSize},
            {"len 88", FdKind::Map, 88, false, {}, kAttrSize},
            {"len 4097", FdKind::Map, 4097, false, {}, kAttrSize},
            {"len 200, byte 150 nonzero", FdKind::Map, 200, false, {{150, 1}}, kAttrSize},
            {"len 4096, byte 4095 nonzero", FdKind::Map, 4096, false, {{4095, 1}}, kAttrSize},
            // (attr size 12 would keep only the low half of the info pointer: an unwritable
            // address, EFAULT from the kernel; the guard-page child covers that class.)
            {"attr size 16", FdKind::Map, kInfoSize, false, {}, 16},
            {"attr size 8 (len 0)", FdKind::Map, kInfoSize, false, {}, 8},
        };
        for (const G& g : gs) {
            int fds[2];
            for (int i = 0; i < 2; ++i) {
                BpfFn side = i == 0 ? kKernel : kLibrary;
                fds[i] = g.fd == FdKind::Map       ? p.fd(side)
                         : g.fd == FdKind::Closed  ? env.closed_fd
                         : g.fd == FdKind::DevNull ? env.devnull_fd
                                                   : -1;
            }
            InfoRes k = get_info(kKernel, fds[0], g.len, g.null_buf, g.buf_pokes, g.size);
            InfoRes l = get_info(kLibrary, fds[1], g.len, g.null_buf, g.buf_pokes, g.size);
            std::string ctx = base + " GET_INFO " + g.what;
            BOOST_TEST((l.r.ret == k.r.ret && l.r.err == k.r.err),
                       ctx << ": library " << show(l.r) << ", kernel " << show(k.r));
            if (k.r.ret == 0 && l.r.ret == 0 && g.len <= kInfoSize) {
                BOOST_TEST(l.info_len_out == k.info_len_out,
                           ctx << ": info_len written back: library " << l.info_len_out
                               << ", kernel " << k.info_len_out);
                // Everything but the id (bytes 4..7) must match, including untouched bytes.
                Bytes kb = k.buf, lb = l.buf;
                for (unsigned i = 4; i < 8; ++i) kb[i] = lb[i] = 0;
                kb.resize(kInfoSize + kGuard);
                lb.resize(kInfoSize + kGuard);
                BOOST_TEST((kb == lb),
                           ctx << ": info bytes library " << hex(lb) << ", kernel " << hex(kb));
            }
        }
        // GET_INFO with a nonzero byte after `info` (CHECK_ATTR → EINVAL).
        {
            InfoRes k, l;
            for (int i = 0; i < 2; ++i) {
                BpfFn side = i == 0 ? kKernel : kLibrary;
                InfoRes& out = i == 0 ? k : l;
                out.buf.assign(kInfoSize, 0);
                AttrBuf ab;
                union bpf_attr a;
                std::memset(&a, 0, sizeof a);
                a.info.bpf_fd = static_cast<__u32>(p.fd(side));
                a.info.info_len = kInfoSize;
                a.info.info = ptr(out.buf.data());
                ab.set(a);
                ab.bytes()[16] = 1;
                out.r = invoke(side, BPF_OBJ_GET_INFO_BY_FD, ab.bytes(), kAttrSize);
            }
            BOOST_TEST(
                (l.r.ret == k.r.ret && l.r.err == k.r.err),
                base << " GET_INFO attr[16]=1: library " << show(l.r) << ", kernel " << show(k.r));
        }
    }
}

// An fd number is only a number: after close() it may name /dev/null, then another map. Each
// side replays the same story with its own fds (dup2() pins the numbers), and every step's
// result is compared.
BOOST_AUTO_TEST_CASE(fd_number_reuse) {
    struct Step {
        std::string what;
        Res r;
        Bytes out;
    };
    auto story = [](BpfFn side) {
        std::vector<Step> steps;
        auto elem = [&](const std::string& what, int cmd, int fd, unsigned idx, unsigned ks,
                        size_t out_len) {
            Bytes key = make_key(idx, ks), out(out_len + kGuard, kFill), val = make_key(idx, 8);
            union bpf_attr a;
            std::memset(&a, 0, sizeof a);
            a.map_fd = static_cast<__u32>(fd);
            a.key = ptr(key.data());
            a.value = cmd == BPF_MAP_UPDATE_ELEM ? ptr(val.data()) : ptr(out.data());
            Res r = invoke(side, cmd, &a, kAttrSize);
            steps.push_back({what, r, cmd == BPF_MAP_UPDATE_ELEM ? Bytes{} : out});
        };
        auto info = [&](const std::string& what, int fd) {
            InfoRes ir = get_info(side, fd, kInfoSize);
            Bytes b(ir.buf.begin(), ir.buf.begin() + kInfoSize + kGuard);
            std::fill(b.begin() + 4, b.begin() + 8, 0);  // the id differs
            steps.push_back({what, ir.r, b});
        };
        auto create = [&](const MapSpec& s) {
            union bpf_attr a = create_attr(s);
            return side(BPF_MAP_CREATE, &a, kAttrSize);
        };
        int fd = create(hash(4, 8, 4));
        if (fd < 0) return steps;
        const int num = ::fcntl(fd, F_DUPFD_CLOEXEC, 700);  // a number nothing else uses
        ::close(fd);
        elem("UPDATE on the map", BPF_MAP_UPDATE_ELEM, num, 1, 4, 0);
        elem("LOOKUP on the map", BPF_MAP_LOOKUP_ELEM, num, 1, 4, 8);
        ::close(num);
        elem("LOOKUP after close", BPF_MAP_LOOKUP_ELEM, num, 1, 4, 8);
        info("GET_INFO after close", num);
        int dn = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        ::dup2(dn, num);
        ::close(dn);
        elem("LOOKUP when the number is /dev/null", BPF_MAP_LOOKUP_ELEM, num, 1, 4, 8);
        elem("UPDATE when the number is /dev/null", BPF_MAP_UPDATE_ELEM, num, 1, 4, 0);
        info("GET_INFO when the number is /dev/null", num);
        int fd2 = create(array(4, 16, 3, 0, "second"));
        if (fd2 >= 0) {
            ::dup2(fd2, num);  // replaces /dev/null
            ::close(fd2);
            info("GET_INFO of the second map through the reused number", num);
            elem("LOOKUP idx 1 in the second map", BPF_MAP_LOOKUP_ELEM, num, 1, 4, 16);
            elem("GET_NEXT_KEY idx 1 in the second map", BPF_MAP_GET_NEXT_KEY, num, 1, 4, 4);
            elem("UPDATE idx 1 in the second map", BPF_MAP_UPDATE_ELEM, num, 1, 4, 0);
            ::close(num);
        }
        int fd3 = create(hash(4, 8, 4, BPF_F_NO_PREALLOC, "third"));
        if (fd3 >= 0) {
            ::dup2(fd3, num);
            ::close(fd3);
            elem("LOOKUP key 1 in a fresh third map (the first map's key)", BPF_MAP_LOOKUP_ELEM,
                 num, 1, 4, 8);
            info("GET_INFO of the third map", num);
            ::close(num);
        }
        return steps;
    };
    std::vector<Step> k = story(kKernel), l = story(kLibrary);
    BOOST_TEST(k.size() == 13u, "kernel story ran " << k.size() << " steps");
    BOOST_TEST(l.size() == k.size(), "library story ran " << l.size() << " steps");
    for (size_t i = 0; i < std::min(k.size(), l.size()); ++i) {
        BOOST_TEST((l[i].r.ret == k[i].r.ret && l[i].r.err == k[i].r.err),
                   "fd reuse step " << i << " " << k[i].what << ": library " << show(l[i].r)
                                    << ", kernel " << show(k[i].r));
        BOOST_TEST(l[i].out == k[i].out,
                   "fd reuse step " << i << " " << k[i].what << ": bytes written back: library "
                                    << hex(l[i].out) << ", kernel " << hex(k[i].out));
    }
}

// ARRAY specifics, exactly: LOOKUP_AND_DELETE → ENOTSUPP, DELETE → EINVAL, GET_NEXT_KEY edges.
BOOST_AUTO_TEST_CASE(array_edges) {
    DevNull devnull;
    Env env{closed_fd_number(), devnull.fd};
    MapPair p;
    create_pair(p, array(4, 8, 5));
    std::string base = "array edges";
    const std::uint64_t idxs[] = {0, 1, 3, 4, 5, 6, 100, 0x7fffffff, 0x80000000, 0xffffffff};
    for (std::uint64_t idx : idxs) {
        for (int cmd : {BPF_MAP_LOOKUP_ELEM, BPF_MAP_DELETE_ELEM, BPF_MAP_GET_NEXT_KEY,
                        BPF_MAP_LOOKUP_AND_DELETE_ELEM, BPF_MAP_UPDATE_ELEM}) {
            for (__u64 flags : {0ULL, 1ULL, 2ULL, 3ULL, kLock}) {
                ElemOp op;
                op.cmd = cmd;
                op.key = make_key(idx, 4);
                op.flags = (cmd == BPF_MAP_DELETE_ELEM || cmd == BPF_MAP_GET_NEXT_KEY) && flags
                               ? 0
                               : flags;
                if (cmd == BPF_MAP_UPDATE_ELEM) {
                    op.vmode = VMode::In;
                    op.value_in = make_key(idx * 3 + flags, 8);
                } else if (cmd != BPF_MAP_DELETE_ELEM) {
                    op.vmode = VMode::Out;
                    op.out_len = cmd == BPF_MAP_GET_NEXT_KEY ? 4 : 8;
                }
                auto [k, l] = run_both(p, op, env, base);
                if (cmd == BPF_MAP_LOOKUP_AND_DELETE_ELEM && flags == 0)
                    BOOST_TEST((k.r.ret == -1 && k.r.err == kENOTSUPP),
                               base << ": kernel ARRAY LOOKUP_AND_DELETE " << show(k.r));
            }
        }
    }
    // GET_NEXT_KEY with NULL key → index 0.
    ElemOp op;
    op.cmd = BPF_MAP_GET_NEXT_KEY;
    op.vmode = VMode::Out;
    op.out_len = 4;
    run_both(p, op, env, base + " NULL key");
}

// ---------------------------------------------------------------------------------------------
// Guard pages: user buffers placed right before a PROT_NONE page, and unreadable pointers. The
// kernel reads exactly key_size / value_size / `size` bytes and fails with EFAULT on memory it
// cannot read or write; the library must do the same (and must not crash). This runs in a child
// process so that a library crash is reported instead of killing the whole test binary.

namespace {

struct Guarded {
    size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    unsigned char* base = nullptr;
    Guarded() {
        void* m =
            ::mmap(nullptr, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return;
        base = static_cast<unsigned char*>(m);
        ::mprotect(base + 2 * page, page, PROT_NONE);
        std::memset(base, kFill, 2 * page);
    }
    Guarded(const Guarded&) = delete;
    Guarded& operator=(const Guarded&) = delete;
    ~Guarded() {
        if (base) ::munmap(base, 3 * page);
    }
    unsigned char* at_end(size_t n) { return base + 2 * page - n; }
    unsigned char* bad() { return base + 2 * page; }
};

// How a pointer argument is passed.
enum class P { Null, AtEnd, Unreadable, Straddle };
const char* pname(P p) {
    return p == P::Null         ? "NULL"
           : p == P::AtEnd      ? "at-page-end"
           : p == P::Unreadable ? "unreadable"
                                : "straddling";
}

unsigned char* place(Guarded& g, P p, size_t n, const Bytes& content) {
    switch (p) {
        case P::Null:
            return nullptr;
        case P::Unreadable:
            return g.bad();
        case P::AtEnd: {
            unsigned char* at = g.at_end(n);
            if (!content.empty()) std::memcpy(at, content.data(), n);
            return at;
        }
        case P::Straddle: {
            // The first half readable, the rest in the PROT_NONE page (n == 1: unreadable).
            unsigned char* at = g.at_end(n / 2);
            if (!content.empty()) std::memcpy(at, content.data(), n / 2);
            return at;
        }
    }
    return nullptr;
}

// Runs fn(res, out) in a forked process, so that a crash is reported for this case only and
// the remaining cases still run. Map state lives in the kernel / in shared memory, so the
// effects of the call are visible afterwards either way.
struct Isolated {
    int sig = 0;  // nonzero: the process died with this signal
    Res r;
    Bytes out;
};

template <class Fn>
Isolated isolated(Fn fn) {
    Isolated iso;
    int p[2];
    if (::pipe(p) != 0) {
        iso.sig = -1;
        return iso;
    }
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(p[0]);
        Res r;
        Bytes out;
        fn(r, out);
        int hdr[3] = {r.ret, r.err, static_cast<int>(out.size())};
        ssize_t w = ::write(p[1], hdr, sizeof hdr);
        if (!out.empty()) w = ::write(p[1], out.data(), out.size());
        (void)w;
        ::_exit(0);
    }
    ::close(p[1]);
    Bytes msg;
    unsigned char buf[4096];
    for (;;) {
        ssize_t n = ::read(p[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        msg.insert(msg.end(), buf, buf + n);
    }
    ::close(p[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status)) {
        iso.sig = WTERMSIG(status);
    } else if (msg.size() >= 3 * sizeof(int)) {
        int hdr[3];
        std::memcpy(hdr, msg.data(), sizeof hdr);
        iso.r = {hdr[0], hdr[1]};
        iso.out.assign(msg.begin() + sizeof hdr, msg.end());
    } else {
        iso.sig = -1;
    }
    return iso;
}

std::string show_iso(const Isolated& iso) {
    if (iso.sig > 0) return "CRASHED with signal " + std::to_string(iso.sig);
    if (iso.sig < 0) return "no result from the forked process";
    return show(iso.r);
}

// bad == false: every pointer valid, buffers ending right at a PROT_NONE page (exact sizes).
// bad == true: at least one pointer unreadable or only half readable (EFAULT from the kernel).
int pointer_child_run(bool bad) {
    auto is_bad = [](P p) { return p == P::Unreadable || p == P::Straddle; };
    int mismatches = 0, crashes = 0;
    const MapSpec specs[] = {hash(4, 8, 4), hash(4, 8, 4, BPF_F_NO_PREALLOC), array(4, 8, 4)};
    for (const MapSpec& spec : specs) {
        int fds[2] = {-1, -1};
        BpfFn sides[2] = {kKernel, kLibrary};
        for (int i = 0; i < 2; ++i) {
            union bpf_attr a = create_attr(spec);
            fds[i] = sides[i](BPF_MAP_CREATE, &a, kAttrSize);
            if (fds[i] < 0) {
                std::fprintf(stderr, "pointer child: %s MAP_CREATE %s failed: errno %d\n",
                             i ? "library" : "kernel", describe(spec).c_str(), errno);
                return 2;
            }
        }
        auto put_key1 = [&] {  // key 1 present ...
            for (int i = 0; i < 2; ++i) {
                Bytes k = make_key(1, 4), v = make_key(0x11223344, 8);
                union bpf_attr a;
                std::memset(&a, 0, sizeof a);
                a.map_fd = static_cast<__u32>(fds[i]);
                a.key = ptr(k.data());
                a.value = ptr(v.data());
                sides[i](BPF_MAP_UPDATE_ELEM, &a, kAttrSize);
                // ... and only key 1, so that a HASH walk is exact.
                Bytes k2 = make_key(2, 4);
                std::memset(&a, 0, sizeof a);
                a.map_fd = static_cast<__u32>(fds[i]);
                a.key = ptr(k2.data());
                sides[i](BPF_MAP_DELETE_ELEM, &a, kAttrSize);
            }
        };
        // Compares one case; the library side runs in a forked process.
        auto compare = [&](const std::string& what, auto&& side_fn, bool create) {
            Isolated k;
            side_fn(0, k.r, k.out);
            Isolated l = isolated([&](Res& r, Bytes& out) { side_fn(1, r, out); });
            bool same = l.sig == 0 &&
                        (create ? (l.r.ret >= 0) == (k.r.ret >= 0) : l.r.ret == k.r.ret) &&
                        l.r.err == k.r.err && l.out == k.out;
            if (!same) {
                ++mismatches;
                if (l.sig) ++crashes;
                if (mismatches > 60) return;  // counted, not printed
                std::fprintf(stderr, "MISMATCH %s %s: library %s out=%s, kernel %s out=%s\n",
                             describe(spec).c_str(), what.c_str(), show_iso(l).c_str(),
                             hex(l.out).c_str(), show(k.r).c_str(), hex(k.out).c_str());
            }
        };
        put_key1();
        const P kinds[] = {P::AtEnd, P::Unreadable, P::Straddle};
        const int cmds[] = {BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM,
                            BPF_MAP_GET_NEXT_KEY, BPF_MAP_LOOKUP_AND_DELETE_ELEM};
        struct AttrMode {
            P where;
            unsigned size;
        };
        const AttrMode attr_modes[] = {{P::Null, kAttrSize},     {P::AtEnd, kAttrSize},
                                       {P::AtEnd, 32},           {P::AtEnd, 24},
                                       {P::AtEnd, 16},           {P::Unreadable, kAttrSize},
                                       {P::Straddle, kAttrSize}, {P::Unreadable, 1}};
        for (int cmd : cmds) {
            for (unsigned key_idx : {1u, 2u}) {
                for (P kp : kinds) {
                    for (P vp : {P::Null, P::AtEnd, P::Unreadable, P::Straddle}) {
                        if (cmd == BPF_MAP_DELETE_ELEM && vp != P::Null) continue;
                        for (const AttrMode& am : attr_modes) {
                            // Vary the attr placement only for the plain pointer combination.
                            if (am.where != P::Null && !(kp == P::AtEnd && vp == P::AtEnd))
                                continue;
                            if (bad != (is_bad(kp) || is_bad(vp) || is_bad(am.where))) continue;
                            const size_t vlen = cmd == BPF_MAP_GET_NEXT_KEY ? 4 : 8;
                            auto side_fn = [&](int i, Res& r, Bytes& out) {
                                Guarded gk, gv, ga;
                                unsigned char* k = place(gk, kp, 4, make_key(key_idx, 4));
                                Bytes vin =
                                    cmd == BPF_MAP_UPDATE_ELEM ? make_key(0x55667788, 8) : Bytes{};
                                unsigned char* v = place(gv, vp, vlen, vin);
                                union bpf_attr a;
                                std::memset(&a, 0, sizeof a);
                                a.map_fd = static_cast<__u32>(fds[i]);
                                a.key = ptr(k);
                                a.value = ptr(v);
                                unsigned char* ap = reinterpret_cast<unsigned char*>(&a);
                                if (am.where == P::AtEnd) {
                                    ap = ga.at_end(am.size);
                                    std::memcpy(ap, &a, std::min<size_t>(am.size, sizeof a));
                                } else if (am.where == P::Unreadable) {
                                    ap = ga.bad();
                                } else if (am.where == P::Straddle) {
                                    ap = ga.at_end(am.size / 2);
                                    std::memcpy(ap, &a, am.size / 2);
                                }
                                r = invoke(sides[i], cmd, ap, am.size);
                                if (vp == P::AtEnd) out.assign(v, v + vlen);
                                if (vp == P::Straddle) out.assign(v, gv.at_end(0));
                            };
                            char what[200];
                            std::snprintf(what, sizeof what,
                                          "%s key#%u key=%s value=%s attr=%s size=%u",
                                          cmd_name(cmd), key_idx, pname(kp), pname(vp),
                                          am.where == P::Null ? "stack" : pname(am.where), am.size);
                            // HASH GET_NEXT_KEY from a present key is order dependent, but these
                            // maps hold one key, so everything is compared exactly.
                            compare(what, side_fn, false);
                            put_key1();
                        }
                    }
                }
            }
        }
        // GET_INFO into a buffer that ends at a guard page / an unwritable buffer.
        for (P ip : {P::AtEnd, P::Unreadable, P::Straddle}) {
            auto side_fn = [&](int i, Res& r, Bytes& out) {
                Guarded g;
                unsigned char* buf = place(g, ip, kInfoSize, Bytes(kInfoSize, 0));
                union bpf_attr a;
                std::memset(&a, 0, sizeof a);
                a.info.bpf_fd = static_cast<__u32>(fds[i]);
                a.info.info_len = kInfoSize;
                a.info.info = ptr(buf);
                r = invoke(sides[i], BPF_OBJ_GET_INFO_BY_FD, &a, kAttrSize);
                if (ip == P::AtEnd) {
                    out.assign(buf, buf + kInfoSize);
                    std::fill(out.begin() + 4, out.begin() + 8, 0);  // the id differs
                }
            };
            if (bad == is_bad(ip))
                compare(std::string("GET_INFO info=") + pname(ip), side_fn, false);
        }
        // MAP_CREATE with the attr at a page end / unreadable.
        for (AttrMode am : {AttrMode{P::AtEnd, kAttrSize}, AttrMode{P::AtEnd, 16},
                            AttrMode{P::Unreadable, kAttrSize}, AttrMode{P::Straddle, kAttrSize}}) {
            auto side_fn = [&](int i, Res& r, Bytes&) {
                Guarded g;
                union bpf_attr a = create_attr(spec);
                unsigned char* ap = place(g, am.where, am.size, Bytes());
                if (am.where == P::AtEnd) std::memcpy(ap, &a, am.size);
                if (am.where == P::Straddle) std::memcpy(ap, &a, am.size / 2);
                r = invoke(sides[i], BPF_MAP_CREATE, ap, am.size);
                if (r.ret >= 0) ::close(r.ret);
            };
            char what[100];
            std::snprintf(what, sizeof what, "MAP_CREATE attr=%s size=%u", pname(am.where),
                          am.size);
            if (bad == is_bad(am.where)) compare(what, side_fn, true);
        }
        ::close(fds[0]);
        ::close(fds[1]);
    }
    std::fprintf(stderr,
                 "guard-page child: %d mismatches (%d library crashes; the first 60 printed)\n",
                 mismatches, crashes);
    return mismatches ? 1 : 0;
}

}  // namespace

BPFMAP_CHILD(kernel_diff_pointers) {
    return pointer_child_run(!args.empty() && args[0] == "bad");
}

void run_pointer_child(const char* mode) {
    bpfmap::test::Child child = bpfmap::test::spawn_child("kernel_diff_pointers", {mode});
    int status = child.wait();
    BOOST_TEST(status == 0,
               "guard-page child ("
                   << mode << ") exited with " << status
                   << " (1: library/kernel mismatches, each printed as MISMATCH on stderr, a "
                      "library CRASHED with signal 11 means it touched memory beyond "
                      "key_size/value_size/size or dereferenced a pointer the kernel rejects "
                      "with EFAULT; 2: setup failed)");
}

// Keys, values, attr and info buffers that end exactly at a PROT_NONE page: the library must
// read and write exactly key_size / value_size / size / info_len bytes, like the kernel.
BOOST_AUTO_TEST_CASE(guard_pages_exact_sizes) {
    run_pointer_child("exact");
}

// Unreadable and half-readable (page-straddling) key, value, attr and info pointers: the kernel
// fails with EFAULT (and, for ARRAY DELETE / LOOKUP_AND_DELETE, copies the key before deciding
// EINVAL / ENOTSUPP).
BOOST_AUTO_TEST_CASE(unreadable_pointers) {
    run_pointer_child("bad");
}

// Last: every map this binary created, kernel or library, has been closed again (the library's
// maps are segment files under <store root>/maps/).
BOOST_AUTO_TEST_CASE(no_map_fds_left_open) {
    DIR* d = ::opendir("/proc/self/fd");
    BOOST_REQUIRE(d != nullptr);
    const std::string lib_maps = bpfmap::test::test_root() + "/maps/";
    std::vector<std::string> left;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::string path = std::string("/proc/self/fd/") + e->d_name;
        char target[512] = {0};
        if (::readlink(path.c_str(), target, sizeof target - 1) < 0) continue;
        std::string t = target;
        if (t == "anon_inode:bpf-map" || t.rfind(lib_maps, 0) == 0)
            left.push_back(std::string(e->d_name) + " -> " + t);
    }
    ::closedir(d);
    std::string all;
    for (const auto& x : left) all += " [" + x + "]";
    BOOST_TEST(left.empty(), "map fds still open:" << all);
}

BOOST_AUTO_TEST_SUITE_END()
