// BPF_MAP_TYPE_BLOOM_FILTER through the library's bpf() (kernel-map-semantics.md §3, §4, §5):
//  * create_errnos: key_size must be 0, value_size 0 / max_entries 0 / map_extra > 15 or with
//    other bits / NO_PREALLOC, MMAPABLE, RDONLY_PROG|WRONLY_PROG / a map_ifindex / a bad name
//    -> EINVAL; value_size > 4 MiB -> E2BIG even when other fields are bad too (the kernel's
//    map_alloc_check runs first); every accepted flag; a 64 MiB bit array (2^28 entries, k=1).
//    Every expected errno was measured on the live 6.18 kernel (kernel_diff_bloom_filter_test
//    compares them directly).
//  * info_reports_map_extra: GET_INFO shows map_extra as passed (0 stays 0 although 0 means 5
//    hash functions), map_flags without RDONLY/WRONLY, key_size 0.
//  * element_errnos: LOOKUP's value is input (0 / ENOENT, the buffer is never written), NULL
//    value -> EFAULT, a key -> EINVAL, flags; UPDATE flags other than BPF_ANY -> EINVAL;
//    DELETE / GET_NEXT_KEY -> EOPNOTSUPP; LOOKUP_AND_DELETE -> ENOTSUPP (524); FREEZE; RDONLY
//    and WRONLY fds -> EPERM.
//  * no_false_negatives_100k: 100,000 distinct pushed values are all found.
//  * odd_value_sizes: value sizes 1 .. 4 MiB: pushed values found, values differing in one byte
//    (first, middle or last) absent: the whole value is hashed.
//  * false_positive_rate: the measured false-positive rate of never-pushed values matches
//    (1 - (1 - 1/m)^(k n))^k for several (max_entries, k, n), m being the kernel's bit count. A
//    wrong bit count (not rounded up to a power of two, or not k * 7/5 bits per entry) or
//    correlated hash functions would show as a rate far off.
//  * seeds: with BPF_F_ZERO_SEED two maps answer identically for every value; with random seeds
//    two maps' false positives differ.
#include <bpfmap/bpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "owned_fd.hpp"
#include "test_support.hpp"

namespace {

namespace bt = bpfmap::test;
using bt::Fd;
using bt::uptr;

constexpr int kENOTSUPP = 524;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

struct Res {
    int ret;
    int err;
};

Res call(int cmd, union bpf_attr& a) {
    errno = 0;
    const int r = ::bpf(cmd, &a, sizeof a);
    return {r, r < 0 ? errno : 0};
}

std::string show(Res r) {
    if (r.ret >= 0) return "ret=" + std::to_string(r.ret);
    const char* n = r.err == kENOTSUPP ? "ENOTSUPP" : strerrorname_np(r.err);
    return std::string(n ? n : "?") + "(" + std::to_string(r.err) + ")";
}

struct CreateArgs {
    uint32_t key_size = 0, value_size = 8, max_entries = 1000, flags = 0;
    uint64_t extra = 0;
    uint32_t ifindex = 0;
    const char* name = "bloom";
};

Res create(const CreateArgs& c) {
    bpfmap::test::CreateSpec spec;
    spec.type = BPF_MAP_TYPE_BLOOM_FILTER;
    spec.key_size = c.key_size;
    spec.value_size = c.value_size;
    spec.max_entries = c.max_entries;
    spec.flags = c.flags;
    spec.extra = c.extra;
    spec.ifindex = c.ifindex;
    spec.name = c.name;
    union bpf_attr a = bpfmap::test::create_attr(spec);
    return call(BPF_MAP_CREATE, a);
}

Fd make(uint32_t value_size, uint32_t max_entries, uint64_t extra = 0,
        uint32_t flags = BPF_F_ZERO_SEED) {
    CreateArgs c;
    c.value_size = value_size;
    c.max_entries = max_entries;
    c.extra = extra;
    c.flags = flags;
    Res r = create(c);
    BOOST_REQUIRE_MESSAGE(r.ret >= 0, "create bloom vs=" << value_size << " max=" << max_entries
                                                         << " extra=" << extra << ": " << show(r));
    return Fd(r.ret);
}

Res elem(int cmd, int fd, const void* key, const void* value, uint64_t flags = 0) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<uint32_t>(fd);
    a.key = uptr(key);
    a.value = uptr(value);
    a.flags = flags;
    return call(cmd, a);
}
Res push(int fd, const void* v, uint64_t flags = 0) {
    return elem(BPF_MAP_UPDATE_ELEM, fd, nullptr, v, flags);
}
Res peek(int fd, const void* v) {
    return elem(BPF_MAP_LOOKUP_ELEM, fd, nullptr, v);
}

// A bijection on 64-bit numbers (splitmix64's finaliser): distinct i give distinct values.
uint64_t value_of(uint64_t i) {
    uint64_t z = i + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// The kernel's bit count (bloom_map_alloc).
uint64_t kernel_bits(uint32_t max_entries, uint32_t k) {
    uint32_t n;
    if (__builtin_mul_overflow(max_entries, k, &n) || __builtin_mul_overflow(n / 5, 7u, &n) ||
        n > (1u << 31))
        return uint64_t{1} << 32;
    if (n <= 64) return 64;
    uint64_t b = 1;
    while (b < n) b <<= 1;
    return b;
}

// want 0: success (a create returns an fd, so any ret >= 0).
void expect_res(const std::string& label, Res r, int want) {
    const bool ok = want == 0 ? r.ret >= 0 : (r.ret == -1 && r.err == want);
    BOOST_CHECK_MESSAGE(ok, label << ": got " << show(r) << ", want "
                                  << (want == 0 ? std::string("success") : show({-1, want})));
}
#define EXPECT_RES(label, r, want) expect_res(label, r, want)

}  // namespace

BOOST_AUTO_TEST_CASE(create_errnos) {
    struct Row {
        const char* name;
        CreateArgs c;
        int want;  // 0: success
    };
    auto args = [](uint32_t ks, uint32_t vs, uint32_t max, uint32_t flags = 0, uint64_t extra = 0,
                   uint32_t ifindex = 0, const char* name = "bloom") {
        CreateArgs c;
        c.key_size = ks;
        c.value_size = vs;
        c.max_entries = max;
        c.flags = flags;
        c.extra = extra;
        c.ifindex = ifindex;
        c.name = name;
        return c;
    };
    const uint32_t k4M = 4u << 20;
    const Row rows[] = {
        {"basic", args(0, 4, 100), 0},
        {"value_size 1", args(0, 1, 1), 0},
        {"key_size 4", args(4, 4, 100), EINVAL},
        {"key_size 1", args(1, 4, 100), EINVAL},
        {"value_size 0", args(0, 0, 100), EINVAL},
        {"max_entries 0", args(0, 4, 0), EINVAL},
        {"map_extra 1", args(0, 4, 100, 0, 1), 0},
        {"map_extra 15", args(0, 4, 100, 0, 15), 0},
        {"map_extra 16", args(0, 4, 100, 0, 16), EINVAL},
        {"map_extra 0x1f", args(0, 4, 100, 0, 0x1f), EINVAL},
        {"map_extra 1<<32", args(0, 4, 100, 0, 1ULL << 32), EINVAL},
        {"map_extra 1<<63 | 3", args(0, 4, 100, 0, (1ULL << 63) | 3), EINVAL},
        {"NO_PREALLOC", args(0, 4, 100, BPF_F_NO_PREALLOC), EINVAL},
        {"MMAPABLE", args(0, 4, 100, BPF_F_MMAPABLE), EINVAL},
        {"INNER_MAP", args(0, 4, 100, BPF_F_INNER_MAP), EINVAL},
        {"NO_COMMON_LRU", args(0, 4, 100, BPF_F_NO_COMMON_LRU), EINVAL},
        {"flag 1<<20", args(0, 4, 100, 1u << 20), EINVAL},
        {"ZERO_SEED", args(0, 4, 100, BPF_F_ZERO_SEED), 0},
        {"NUMA_NODE (node 0)", args(0, 4, 100, BPF_F_NUMA_NODE), 0},
        {"RDONLY", args(0, 4, 100, BPF_F_RDONLY), 0},
        {"WRONLY", args(0, 4, 100, BPF_F_WRONLY), 0},
        {"RDONLY|WRONLY", args(0, 4, 100, BPF_F_RDONLY | BPF_F_WRONLY), EINVAL},
        {"RDONLY_PROG", args(0, 4, 100, BPF_F_RDONLY_PROG), 0},
        {"WRONLY_PROG", args(0, 4, 100, BPF_F_WRONLY_PROG), 0},
        {"RDONLY_PROG|WRONLY_PROG", args(0, 4, 100, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG), EINVAL},
        {"value_size 4 MiB", args(0, k4M, 10), 0},
        {"value_size 4 MiB + 1", args(0, k4M + 1, 10), E2BIG},
        {"value_size 4 MiB + 1, key_size 4", args(4, k4M + 1, 10), E2BIG},
        {"value_size 4 MiB + 1, max_entries 0", args(0, k4M + 1, 0), E2BIG},
        {"value_size 4 MiB + 1, map_extra 16", args(0, k4M + 1, 10, 0, 16), E2BIG},
        {"value_size UINT32_MAX", args(0, 0xffffffffu, 1), E2BIG},
        {"max_entries 2^28, k 1 (2^29 bits)", args(0, 4, 1u << 28, 0, 1), 0},
        {"map_ifindex 1", args(0, 4, 100, 0, 0, 1), EINVAL},
        {"map_ifindex 1, key_size 4", args(4, 4, 100, 0, 0, 1), EINVAL},
        {"map_ifindex 999999", args(0, 4, 100, 0, 0, 999999), EINVAL},
        {"bad name", args(0, 4, 100, 0, 0, 0, "bad-name"), EINVAL},
        {"name of 16 chars", args(0, 4, 100, 0, 0, 0, "0123456789abcdef"), EINVAL},
    };
    for (const Row& row : rows) {
        Res r = create(row.c);
        EXPECT_RES(row.name, r, row.want);
        if (r.ret >= 0) {
            BOOST_CHECK_MESSAGE(fcntl(r.ret, F_GETFD) == FD_CLOEXEC, row.name << ": not CLOEXEC");
            ::close(r.ret);
        }
    }
}

BOOST_AUTO_TEST_CASE(info_reports_map_extra) {
    struct Row {
        uint64_t extra;
        uint32_t flags, want_flags;
    };
    const Row rows[] = {
        {0, 0, 0},
        {1, BPF_F_ZERO_SEED, BPF_F_ZERO_SEED},
        {5, BPF_F_RDONLY | BPF_F_NUMA_NODE, BPF_F_NUMA_NODE},
        {15, BPF_F_WRONLY | BPF_F_RDONLY_PROG, BPF_F_RDONLY_PROG},
        {7, BPF_F_WRONLY_PROG, BPF_F_WRONLY_PROG},
    };
    for (const Row& row : rows) {
        CreateArgs c;
        c.value_size = 13;
        c.max_entries = 77;
        c.extra = row.extra;
        c.flags = row.flags;
        c.name = "bf.info_1";
        Res r = create(c);
        BOOST_REQUIRE_MESSAGE(r.ret >= 0, "create extra " << row.extra << ": " << show(r));
        Fd fd(r.ret);
        struct bpf_map_info info;
        std::memset(&info, 0xA5, sizeof info);
        union bpf_attr a;
        std::memset(&a, 0, sizeof a);
        a.info.bpf_fd = static_cast<uint32_t>(fd.get());
        a.info.info_len = sizeof info;
        a.info.info = uptr(&info);
        Res g = call(BPF_OBJ_GET_INFO_BY_FD, a);
        BOOST_REQUIRE_MESSAGE(g.ret == 0, "GET_INFO: " << show(g));
        const std::string l = "map_extra " + std::to_string(row.extra);
        BOOST_CHECK_MESSAGE(info.type == BPF_MAP_TYPE_BLOOM_FILTER, l << ": type " << info.type);
        BOOST_CHECK_MESSAGE(info.map_extra == row.extra,
                            l << ": GET_INFO map_extra " << info.map_extra);
        BOOST_CHECK_MESSAGE(info.map_flags == row.want_flags,
                            l << ": map_flags " << info.map_flags << ", want " << row.want_flags);
        BOOST_CHECK_MESSAGE(
            info.key_size == 0 && info.value_size == 13 && info.max_entries == 77,
            l << ": sizes " << info.key_size << "/" << info.value_size << "/" << info.max_entries);
        BOOST_CHECK_MESSAGE(std::string(info.name) == "bf.info_1", l << ": name " << info.name);
        BOOST_CHECK_MESSAGE(a.info.info_len == sizeof info, l << ": info_len " << a.info.info_len);
    }
}

BOOST_AUTO_TEST_CASE(element_errnos) {
    Fd fd = make(8, 100);
    const int m = fd.get();
    uint64_t v = 0x1122334455667788ULL, other = 42, key = 7;

    EXPECT_RES("peek of a value never pushed", peek(m, &v), ENOENT);
    EXPECT_RES("push with BPF_NOEXIST", push(m, &v, BPF_NOEXIST), EINVAL);
    EXPECT_RES("push with BPF_EXIST", push(m, &v, BPF_EXIST), EINVAL);
    EXPECT_RES("push with flags 3", push(m, &v, 3), EINVAL);
    EXPECT_RES("push with flags 4", push(m, &v, 4), EINVAL);
    EXPECT_RES("push with F_LOCK", push(m, &v, BPF_F_LOCK), EINVAL);
    EXPECT_RES("push with flags 1<<32", push(m, &v, 1ULL << 32), EINVAL);
    EXPECT_RES("peek after the failed pushes", peek(m, &v), ENOENT);
    EXPECT_RES("push with a key", elem(BPF_MAP_UPDATE_ELEM, m, &key, &v), EINVAL);
    EXPECT_RES("push of a NULL value", push(m, nullptr), EFAULT);
    EXPECT_RES("push", push(m, &v), 0);
    EXPECT_RES("push of the same value again", push(m, &v), 0);

    const uint64_t before = v;
    EXPECT_RES("peek of the pushed value", peek(m, &v), 0);
    BOOST_CHECK_MESSAGE(v == before, "peek wrote to the value buffer");
    EXPECT_RES("peek of another value", peek(m, &other), ENOENT);
    BOOST_CHECK_MESSAGE(other == 42, "a failed peek wrote to the value buffer");
    EXPECT_RES("peek of a NULL value", peek(m, nullptr), EFAULT);
    EXPECT_RES("peek with a key", elem(BPF_MAP_LOOKUP_ELEM, m, &key, &v), EINVAL);
    EXPECT_RES("peek with flags 1", elem(BPF_MAP_LOOKUP_ELEM, m, nullptr, &v, 1), EINVAL);
    EXPECT_RES("peek with F_LOCK", elem(BPF_MAP_LOOKUP_ELEM, m, nullptr, &v, BPF_F_LOCK), EINVAL);

    EXPECT_RES("delete", elem(BPF_MAP_DELETE_ELEM, m, nullptr, nullptr), EOPNOTSUPP);
    EXPECT_RES("delete with a key", elem(BPF_MAP_DELETE_ELEM, m, &key, nullptr), EINVAL);
    {
        union bpf_attr a;
        std::memset(&a, 0, sizeof a);
        a.map_fd = static_cast<uint32_t>(m);
        EXPECT_RES("GET_NEXT_KEY (NULL key, NULL next_key)", call(BPF_MAP_GET_NEXT_KEY, a),
                   EOPNOTSUPP);
        a.next_key = uptr(&other);
        EXPECT_RES("GET_NEXT_KEY (NULL key)", call(BPF_MAP_GET_NEXT_KEY, a), EOPNOTSUPP);
        a.key = uptr(&key);
        EXPECT_RES("GET_NEXT_KEY with a key", call(BPF_MAP_GET_NEXT_KEY, a), EINVAL);
    }
    EXPECT_RES("LOOKUP_AND_DELETE", elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, m, nullptr, &v),
               kENOTSUPP);
    EXPECT_RES("LOOKUP_AND_DELETE of a NULL value",
               elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, m, nullptr, nullptr), kENOTSUPP);
    EXPECT_RES("LOOKUP_AND_DELETE with F_LOCK",
               elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, m, nullptr, &v, BPF_F_LOCK), EINVAL);
    EXPECT_RES("LOOKUP_AND_DELETE with flags 1",
               elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, m, nullptr, &v, 1), EINVAL);
    EXPECT_RES("LOOKUP_AND_DELETE with a key", elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, m, &key, &v),
               EINVAL);
    EXPECT_RES("peek still finds the value", peek(m, &v), 0);

    // Access modes.
    {
        CreateArgs c;
        c.flags = BPF_F_RDONLY | BPF_F_ZERO_SEED;
        Res r = create(c);
        BOOST_REQUIRE(r.ret >= 0);
        Fd ro(r.ret);
        EXPECT_RES("push through a RDONLY fd", push(ro.get(), &v), EPERM);
        EXPECT_RES("push with bad flags through a RDONLY fd", push(ro.get(), &v, 9), EPERM);
        EXPECT_RES("peek through a RDONLY fd", peek(ro.get(), &v), ENOENT);
        c.flags = BPF_F_WRONLY;
        r = create(c);
        BOOST_REQUIRE(r.ret >= 0);
        Fd wo(r.ret);
        EXPECT_RES("push through a WRONLY fd", push(wo.get(), &v), 0);
        EXPECT_RES("peek through a WRONLY fd", peek(wo.get(), &v), EPERM);
        EXPECT_RES("LOOKUP_AND_DELETE through a WRONLY fd",
                   elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, wo.get(), nullptr, &v), EPERM);
    }

    // FREEZE: pushes refused, peeks still answer.
    EXPECT_RES("freeze", elem(BPF_MAP_FREEZE, m, nullptr, nullptr), 0);
    EXPECT_RES("push after freeze", push(m, &other), EPERM);
    EXPECT_RES("peek after freeze", peek(m, &v), 0);
    EXPECT_RES("peek of the refused value after freeze", peek(m, &other), ENOENT);
    EXPECT_RES("second freeze", elem(BPF_MAP_FREEZE, m, nullptr, nullptr), EPERM);
}

BOOST_AUTO_TEST_CASE(no_false_negatives_100k) {
    const uint32_t n = 100000;
    for (uint32_t flags : {uint32_t{BPF_F_ZERO_SEED}, uint32_t{0}}) {
        Fd fd = make(8, n, 0, flags);
        for (uint32_t i = 0; i < n; ++i) {
            const uint64_t v = value_of(i);
            Res r = push(fd.get(), &v);
            if (r.ret != 0) BOOST_FAIL("push " << i << ": " << show(r));
        }
        uint32_t missing = 0;
        for (uint32_t i = 0; i < n; ++i) {
            const uint64_t v = value_of(i);
            Res r = peek(fd.get(), &v);
            if (r.ret != 0 && missing++ < 5)
                BOOST_ERROR("value " << i << " pushed but peek says " << show(r));
        }
        BOOST_CHECK_MESSAGE(missing == 0, missing << " of " << n << " pushed values not found"
                                                  << " (flags " << flags << ")");
    }
}

BOOST_AUTO_TEST_CASE(odd_value_sizes) {
    for (uint32_t vs : {1u, 2u, 3u, 5u, 7u, 9u, 12u, 13u, 31u, 100u, 4095u, 4u << 20}) {
        const std::string l = "value_size " + std::to_string(vs);
        Fd fd = make(vs, 10000, 3);
        // Distinct pushed values: a counter in the first bytes, a pattern elsewhere.
        const uint32_t count = vs == 1 ? 128 : vs >= 4096 ? 4 : 500;
        auto make_value = [vs](uint32_t i) {
            std::vector<unsigned char> b(vs);
            for (uint32_t j = 0; j < vs; ++j) b[j] = static_cast<unsigned char>(j * 7 + 3);
            for (uint32_t j = 0; j < 4 && j < vs; ++j)
                b[j] = static_cast<unsigned char>((i * 2) >> (8 * j));  // even numbers only
            return b;
        };
        for (uint32_t i = 0; i < count; ++i) {
            Res r = push(fd.get(), make_value(i).data());
            if (r.ret != 0) BOOST_FAIL(l << ": push " << i << ": " << show(r));
        }
        uint32_t missing = 0, fps = 0;
        for (uint32_t i = 0; i < count; ++i) {
            if (peek(fd.get(), make_value(i).data()).ret != 0) ++missing;
            // Never pushed: the same counter, odd (first byte changed).
            auto odd = make_value(i);
            odd[0] ^= 1;
            if (peek(fd.get(), odd.data()).ret == 0) ++fps;
        }
        BOOST_CHECK_MESSAGE(missing == 0, l << ": " << missing << " pushed values not found");
        // 10000 entries, k 3: 65536 bits, at most 500 values -> a false-positive rate below
        // (1 - e^(-1500/65536))^3 = 1.1e-5: none expected among 500 probes.
        BOOST_CHECK_MESSAGE(fps == 0, l << ": " << fps << " never-pushed values found");
        // A change in the middle or the last byte only makes a different value.
        if (vs > 4) {
            for (uint32_t where : {vs / 2, vs - 1}) {
                auto b = make_value(0);
                b[where] ^= 0x40;
                Res r = peek(fd.get(), b.data());
                BOOST_CHECK_MESSAGE(
                    r.ret == -1 && r.err == ENOENT,
                    l << ": value 0 with byte " << where << " changed: peek says " << show(r));
            }
        }
    }
}

// The measured false-positive rate against theory.
//
// After n distinct pushes into m bits with k hash positions each, a given bit is still clear
// with probability (1 - 1/m)^(k n), so a never-pushed value is a false positive with
// probability p = (1 - (1 - 1/m)^(k n))^k, if its k positions behave like independent uniform
// draws (what a good hash gives). We measure T never-pushed values (from a disjoint range of a
// bijection, so none was pushed). Two sources of deviation from p:
//  * sampling: the count of false positives is binomial, sd_b = sqrt(p (1 - p) / T);
//  * the filter itself: the fraction q of set bits varies around its mean with sd at most
//    sqrt(q (1 - q) / m) (occupancy has less variance than a binomial), and p = q^k, so
//    sd_f = k p sqrt(q (1 - q) / m) / q.
// We accept |measured - p| <= 5 sqrt(sd_b^2 + sd_f^2) + 0.02 p (the 2% covering the error of
// treating the k positions as independent: two of a value's positions coincide with
// probability about k^2 / (2 m), < 0.2% here). A correct implementation fails this with
// probability below 1e-6; and the maps use BPF_F_ZERO_SEED, so the run is deterministic anyway
// (it cannot flake). What it catches: a bit array not sized as the kernel's (1000 entries with
// k 5 unrounded, 7000 bits instead of 8192, gives p = 0.035 instead of 0.020), positions
// correlated between hash functions or between values (rates far above p), a hash ignoring
// some bytes.
BOOST_AUTO_TEST_CASE(false_positive_rate) {
    struct Case {
        uint32_t max_entries, extra, n, probes;
    };
    const uint32_t t = kSanitized ? 1 : 2;
    const Case cases[] = {
        {1000, 5, 1000, 100000 * t},      // 8192 bits, p ~ 0.020
        {1000, 0, 1000, 100000 * t},      // map_extra 0 = 5 hash functions, the same
        {10000, 3, 20000, 50000 * t},     // 65536 bits, overfilled: p ~ 0.22
        {50000, 1, 50000, 50000 * t},     // 131072 bits, k 1: p ~ 0.32
        {20000, 7, 20000, 200000 * t},    // 262144 bits, p ~ 0.0021
        {4096, 15, 12288, 100000 * t},    // 131072 bits, k 15, overfilled: p ~ 0.015
        {100000, 2, 100000, 100000 * t},  // 524288 bits, p ~ 0.11
    };
    for (const Case& c : cases) {
        const uint32_t k = c.extra ? c.extra : 5;
        const double m = static_cast<double>(kernel_bits(c.max_entries, k));
        Fd fd = make(8, c.max_entries, c.extra);
        for (uint32_t i = 0; i < c.n; ++i) {
            const uint64_t v = value_of(i);
            Res r = push(fd.get(), &v);
            if (r.ret != 0) BOOST_FAIL("push: " << show(r));
        }
        uint32_t fps = 0;
        for (uint32_t i = 0; i < c.probes; ++i) {
            const uint64_t v = value_of(uint64_t{1} << 40 | i);
            Res r = peek(fd.get(), &v);
            if (r.ret == 0)
                ++fps;
            else if (r.err != ENOENT)
                BOOST_FAIL("peek: " << show(r));
        }
        const double q = 1.0 - std::pow(1.0 - 1.0 / m, static_cast<double>(k) * c.n);
        const double p = std::pow(q, k);
        const double sd_b = std::sqrt(p * (1 - p) / c.probes);
        const double sd_f = k * p * std::sqrt(q * (1 - q) / m) / q;
        const double tol = 5 * std::sqrt(sd_b * sd_b + sd_f * sd_f) + 0.02 * p;
        const double measured = static_cast<double>(fps) / c.probes;
        BOOST_TEST_MESSAGE("max_entries " << c.max_entries << " k " << k << " n " << c.n << " m "
                                          << m << ": false positives " << measured << ", theory "
                                          << p << " +- " << tol);
        BOOST_CHECK_MESSAGE(std::fabs(measured - p) <= tol,
                            "max_entries " << c.max_entries << " k " << k << " n " << c.n << " (m "
                                           << m << "): false-positive rate " << measured
                                           << ", theory " << p << " +- " << tol);
    }
}

BOOST_AUTO_TEST_CASE(seeds) {
    // Overfilled maps (p ~ 0.3) make false positives frequent enough to compare.
    auto fp_pattern = [](int fd) {
        for (uint32_t i = 0; i < 4000; ++i) {
            const uint64_t v = value_of(i);
            BOOST_REQUIRE(push(fd, &v).ret == 0);
        }
        std::vector<bool> pat;
        for (uint32_t i = 0; i < 4000; ++i) {
            const uint64_t v = value_of(uint64_t{1} << 41 | i);
            pat.push_back(peek(fd, &v).ret == 0);
        }
        return pat;
    };
    Fd z1 = make(8, 1000, 2, BPF_F_ZERO_SEED), z2 = make(8, 1000, 2, BPF_F_ZERO_SEED);
    Fd r1 = make(8, 1000, 2, 0), r2 = make(8, 1000, 2, 0);
    const auto pz1 = fp_pattern(z1.get()), pz2 = fp_pattern(z2.get());
    const auto pr1 = fp_pattern(r1.get()), pr2 = fp_pattern(r2.get());
    size_t n_fp = 0;
    for (bool b : pz1) n_fp += b;
    BOOST_CHECK_MESSAGE(n_fp > 400, "expected many false positives, got " << n_fp);
    BOOST_CHECK_MESSAGE(pz1 == pz2, "two ZERO_SEED maps answer differently for the same values");
    BOOST_CHECK_MESSAGE(pr1 != pr2, "two randomly seeded maps have the same false positives");
    BOOST_CHECK_MESSAGE(pr1 != pz1, "a randomly seeded map has the ZERO_SEED false positives");
}
