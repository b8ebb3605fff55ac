// Differential test for BPF_MAP_TYPE_BLOOM_FILTER: the same bpf(2) calls against the real
// kernel (kernel_bpf) and against bpfmap's bpf() must give the same return value and errno.
//
//  * create_parameters: MAP_CREATE rows (sizes, every flag, map_extra values, E2BIG before
//    EINVAL, map_ifindex, names, the 2^32-bit array of max_entries UINT32_MAX with k 15); on
//    success GET_INFO is compared field by field (map ids excepted).
//  * create_fuzz: seeded random MAP_CREATE attrs with several fields wrong at once (the order of
//    the checks).
//  * sequences: seeded random sequences (seed printed) of push (all flags, a key, NULL value,
//    short attr sizes), peek (pushed and never-pushed values, NULL value, a key, flags), DELETE,
//    GET_NEXT_KEY, LOOKUP_AND_DELETE, GET_INFO, FREEZE, through the map fd and a dup(), on maps
//    of value sizes 1..64, k 1..15, with and without ZERO_SEED.
//  * false_positive_rate_vs_kernel: the same pushes into same-sized maps on both sides; the
//    false-positive rates of never-pushed values agree within statistical tolerance.
//
// What is compared, and what is not:
//  * every return value and errno is compared exactly, except the result of peeking a value
//    that was never pushed. A bloom filter answers "maybe present" (0) for such a value when
//    all its bits happen to be set by other values: a false positive. The bit positions depend
//    on the hash, and ours is not the kernel's jhash (nor, without ZERO_SEED, the same seed),
//    so the two sides have different false positives. For a never-pushed value each side must
//    answer 0 or ENOENT, and a 0 on either side is accepted only as a false positive (the value
//    was never pushed); the rates are compared statistically instead. A pushed value must give
//    0 on BOTH sides (no false negatives, ever);
//  * fd numbers returned by MAP_CREATE, and map ids.
#include <bpfmap/bpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "diff_support.hpp"
#include "test_support.hpp"

BPFMAP_REQUIRES_KERNEL();

namespace {

using namespace bpfmap::test::diff;
using bpfmap::test::uptr;

constexpr unsigned kAttrSize = sizeof(union bpf_attr);

struct CreateAttr {
    uint32_t key_size = 0, value_size = 8, max_entries = 100, flags = 0, ifindex = 0, numa_node = 0;
    uint64_t extra = 0;
    std::string name = "bloom";
};

std::string describe(const CreateAttr& c) {
    return "bloom(ks " + std::to_string(c.key_size) + ", vs " + std::to_string(c.value_size) +
           ", max " + std::to_string(c.max_entries) + ", flags " + std::to_string(c.flags) +
           ", extra " + std::to_string(c.extra) + ", ifindex " + std::to_string(c.ifindex) +
           ", numa " + std::to_string(c.numa_node) + ", name '" + c.name + "')";
}

union bpf_attr to_attr(const CreateAttr& c) {
    bpfmap::test::CreateSpec spec;
    spec.type = BPF_MAP_TYPE_BLOOM_FILTER;
    spec.key_size = c.key_size;
    spec.value_size = c.value_size;
    spec.max_entries = c.max_entries;
    spec.flags = c.flags;
    spec.extra = c.extra;
    spec.ifindex = c.ifindex;
    spec.numa_node = c.numa_node;
    spec.name = c.name;
    return bpfmap::test::create_attr(spec);
}

struct InfoRes {
    Res r;
    bpf_map_info info;
};

InfoRes get_info(BpfFn fn, int fd) {
    InfoRes out{};
    out.r = get_map_info(fn, fd, out.info);
    return out;
}

void compare_info(int kfd, int lfd, const std::string& ctx) {
    InfoRes k = get_info(kKernel, kfd), l = get_info(kLibrary, lfd);
    BOOST_TEST((k.r == l.r), ctx << ": GET_INFO library " << show(l.r) << " kernel " << show(k.r));
    if (k.r.ret != 0 || l.r.ret != 0) return;
    const bpf_map_info &ki = k.info, &li = l.info;
    BOOST_TEST(li.type == ki.type, ctx << ": type");
    BOOST_TEST(li.key_size == ki.key_size, ctx << ": key_size");
    BOOST_TEST(li.value_size == ki.value_size, ctx << ": value_size");
    BOOST_TEST(li.max_entries == ki.max_entries, ctx << ": max_entries");
    BOOST_TEST(li.map_flags == ki.map_flags,
               ctx << ": map_flags library " << li.map_flags << " kernel " << ki.map_flags);
    BOOST_TEST(std::memcmp(li.name, ki.name, sizeof ki.name) == 0, ctx << ": name");
    BOOST_TEST(li.map_extra == ki.map_extra,
               ctx << ": map_extra library " << li.map_extra << " kernel " << ki.map_extra);
    BOOST_TEST(li.ifindex == ki.ifindex,
               ctx << ": ifindex library " << li.ifindex << " kernel " << ki.ifindex);
    BOOST_TEST(li.btf_id == ki.btf_id, ctx << ": btf_id");
}

using Pair = FdPair;

// Creates on both sides and compares; on success both fds are kept in `p` (closed by it).
bool create_both(const CreateAttr& c, Pair& p, const std::string& ctx) {
    union bpf_attr ka = to_attr(c), la = to_attr(c);
    Res k = invoke(kKernel, BPF_MAP_CREATE, &ka, kAttrSize);
    Res l = invoke(kLibrary, BPF_MAP_CREATE, &la, kAttrSize);
    if (k.ret >= 0) p.kfd = k.ret;
    if (l.ret >= 0) p.lfd = l.ret;
    const bool same = (k.ret >= 0) == (l.ret >= 0) && k.err == l.err;
    BOOST_TEST(same, ctx << " " << describe(c) << ": library " << show(l) << " kernel " << show(k));
    if (k.ret >= 0 && l.ret >= 0) {
        compare_info(k.ret, l.ret, ctx + " " + describe(c));
        const int lfl = fcntl(l.ret, F_GETFD), kfl = fcntl(k.ret, F_GETFD);
        BOOST_TEST(lfl == kfl, ctx << ": FD_CLOEXEC");
        const int lacc = fcntl(l.ret, F_GETFL) & O_ACCMODE,
                  kacc = fcntl(k.ret, F_GETFL) & O_ACCMODE;
        BOOST_TEST(lacc == kacc, ctx << ": access mode library " << lacc << " kernel " << kacc);
    }
    return k.ret >= 0 && l.ret >= 0;
}

}  // namespace

BOOST_AUTO_TEST_CASE(create_parameters) {
    std::vector<CreateAttr> rows;
    auto row = [&rows](uint32_t ks, uint32_t vs, uint32_t max, uint32_t flags = 0,
                       uint64_t extra = 0) {
        CreateAttr c;
        c.key_size = ks;
        c.value_size = vs;
        c.max_entries = max;
        c.flags = flags;
        c.extra = extra;
        rows.push_back(c);
        return &rows.back();
    };
    const uint32_t k4M = 4u << 20;
    for (uint32_t ks : {0u, 1u, 4u, 8u, 0xffffffffu}) row(ks, 4, 100);
    for (uint32_t vs : {0u, 1u, 2u, 3u, 5u, 4096u, k4M - 1, k4M, k4M + 1, 0x80000000u, 0xffffffffu})
        row(0, vs, 10);
    for (uint32_t max : {0u, 1u, 2u, 9u, 10u, 13u, 64u, 1000u, 1u << 20})
        for (uint64_t extra : {0ULL, 1ULL, 5ULL, 15ULL}) row(0, 4, max, 0, extra);
    for (uint64_t extra : {16ULL, 17ULL, 0x1fULL, 0xf0ULL, 0x100ULL, 1ULL << 32, 1ULL << 63, ~0ULL,
                           (1ULL << 40) | 3})
        row(0, 4, 100, 0, extra);
    for (uint32_t bit = 0; bit < 32; ++bit) row(0, 4, 100, 1u << bit);
    row(0, 4, 100, BPF_F_RDONLY | BPF_F_WRONLY);
    row(0, 4, 100, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG);
    row(0, 4, 100, BPF_F_ZERO_SEED | BPF_F_NUMA_NODE | BPF_F_RDONLY_PROG | BPF_F_WRONLY);
    // Several wrong at once: value_size > 4 MiB (E2BIG, map_alloc_check) wins over the others.
    row(4, k4M + 1, 0, BPF_F_NO_PREALLOC, 16);
    row(0, k4M + 1, 0);
    row(4, 0, 0, BPF_F_MMAPABLE, 99);
    row(0, 0, 100, 0, 16);
    // The largest bit arrays: max_entries * k overflowing u32, or above 2^31 bits -> 2^32 bits
    // (512 MiB on both sides).
    row(0, 4, 0xffffffffu, 0, 15);
    row(0, 8, 306783379u, 0, 1);  // 306783379 / 5 * 7 = 429496730 bits -> 2^29
    {
        CreateAttr* c = row(0, 4, 100);
        c->ifindex = 1;
        c = row(4, 4, 100);
        c->ifindex = 1;
        c = row(0, 4, 100);
        c->ifindex = 999999;
        c = row(0, k4M + 1, 100);
        c->ifindex = 1;
        c = row(0, 4, 100, BPF_F_NUMA_NODE);
        c->numa_node = 999;
        c = row(0, 4, 100);
        c->numa_node = 999;  // ignored without BPF_F_NUMA_NODE
        for (const char* n : {"", "ok.name_1", "bad-name", "a b", "0123456789abcdef"}) {
            c = row(0, 4, 100);
            c->name = n;
        }
    }
    for (size_t i = 0; i < rows.size(); ++i) {
        Pair p;
        create_both(rows[i], p, "row " + std::to_string(i));
    }
}

BOOST_AUTO_TEST_CASE(create_fuzz) {
    const unsigned seed = 20261207;
    BOOST_TEST_MESSAGE("create_fuzz seed " << seed);
    std::mt19937 rng(seed);
    auto pick = [&rng](std::initializer_list<uint64_t> v) {
        return *(v.begin() + std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng));
    };
    auto pct = [&rng] { return std::uniform_int_distribution<unsigned>(0, 99)(rng); };
    const uint32_t flag_bits[] = {
        BPF_F_NO_PREALLOC, BPF_F_NO_COMMON_LRU, BPF_F_NUMA_NODE,   BPF_F_RDONLY,
        BPF_F_WRONLY,      BPF_F_ZERO_SEED,     BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG,
        BPF_F_MMAPABLE,    BPF_F_INNER_MAP,     1u << 20};
    unsigned successes = 0;
    for (unsigned n = 0; n < 400; ++n) {
        CreateAttr c;
        c.key_size = static_cast<uint32_t>(pct() < 75 ? 0 : pick({1, 4, 0xffffffffULL}));
        c.value_size = static_cast<uint32_t>(
            pct() < 75 ? pick({1, 3, 4, 8, 100})
                       : pick({0, (4u << 20), (4u << 20) + 1, 0xffffffffULL}));
        c.max_entries = static_cast<uint32_t>(pct() < 80 ? pick({1, 2, 16, 1000, 12345}) : 0);
        for (uint32_t bit : flag_bits)
            if (pct() < 10) c.flags |= bit;
        c.extra = pct() < 70 ? pick({0, 1, 3, 5, 15}) : pick({16, 0x1f, 1ULL << 33});
        if (pct() < 5) c.ifindex = static_cast<uint32_t>(pick({1, 999999}));
        if (pct() < 10) c.numa_node = static_cast<uint32_t>(pick({1, 999}));
        if (pct() < 10) c.name = pct() < 50 ? "bad-name" : "0123456789abcdef";
        Pair p;
        if (create_both(c, p, "fuzz " + std::to_string(n))) ++successes;
    }
    BOOST_TEST_MESSAGE("create_fuzz: " << successes << " of 400 created");
    BOOST_TEST(successes > 20);
}

namespace {

// One element command on one side: attr built from the fields, `size` bytes passed.
Res elem_call(BpfFn fn, int cmd, int fd, const void* key, const void* value, uint64_t flags,
              unsigned size = kAttrSize, const void* next_key = nullptr) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<uint32_t>(fd);
    a.key = uptr(key);
    if (cmd == BPF_MAP_GET_NEXT_KEY)
        a.next_key = uptr(next_key);
    else
        a.value = uptr(value);
    a.flags = flags;
    return invoke(fn, cmd, &a, size);
}

struct SeqStats {
    unsigned ops = 0, fp_kernel = 0, fp_library = 0, never_pushed_peeks = 0;
};

void run_sequence(unsigned seed, SeqStats& st) {
    std::mt19937_64 rng(seed);
    auto below = [&rng](uint64_t n) {
        return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng);
    };
    CreateAttr c;
    const uint32_t sizes[] = {1, 2, 3, 4, 7, 8, 13, 64};
    c.value_size = sizes[below(8)];
    const uint32_t maxes[] = {1, 10, 100, 1000};
    c.max_entries = maxes[below(4)];
    const uint64_t extras[] = {0, 1, 3, 15};
    c.extra = extras[below(4)];
    c.flags = below(2) ? BPF_F_ZERO_SEED : 0;
    const std::string ctx0 = "seed " + std::to_string(seed) + " " + describe(c);
    Pair p;
    if (!create_both(c, p, ctx0)) return;
    BOOST_TEST_MESSAGE("sequence " << ctx0);
    Pair dups;
    dups.kfd = fcntl(p.kfd, F_DUPFD_CLOEXEC, 0);
    dups.lfd = fcntl(p.lfd, F_DUPFD_CLOEXEC, 0);
    BOOST_REQUIRE(dups.kfd >= 0 && dups.lfd >= 0);

    // The value pool: 1-byte values have only 256; others random.
    const size_t pool_n = c.value_size == 1 ? 256 : 400;
    std::vector<Bytes> pool(pool_n, Bytes(c.value_size));
    for (size_t i = 0; i < pool_n; ++i) {
        if (c.value_size == 1)
            pool[i][0] = static_cast<unsigned char>(i);
        else
            for (auto& b : pool[i]) b = static_cast<unsigned char>(below(256));
    }
    std::vector<bool> pushed(pool_n, false);
    bool frozen = false;
    const unsigned n_ops = 1500;
    uint64_t key = 5;
    const uint64_t bad_flags[] = {BPF_NOEXIST, BPF_EXIST, 3, 4, BPF_F_LOCK, 1ULL << 32, ~0ULL};
    for (unsigned op = 0; op < n_ops; ++op) {
        const bool via_dup = below(4) == 0;
        const int kfd = via_dup ? dups.kfd : p.kfd, lfd = via_dup ? dups.lfd : p.lfd;
        const size_t vi = below(pool_n);
        Bytes kv = pool[vi], lv = pool[vi];  // separate buffers: each side may (not) write
        const unsigned what = static_cast<unsigned>(below(100));
        std::string desc;
        Res k, l;
        bool exact = true;
        if (what < 35) {  // push
            uint64_t flags = 0;
            const void* kk = nullptr;
            const unsigned v = static_cast<unsigned>(below(20));
            bool null_value = false;
            unsigned size = kAttrSize;
            if (v == 0) flags = bad_flags[below(std::size(bad_flags))];
            if (v == 1) kk = &key;
            if (v == 2) null_value = true;
            if (v == 3) size = offsetof(union bpf_attr, value);  // value truncated: NULL
            if (v == 4) size = offsetof(union bpf_attr, flags);  // flags truncated: 0
            if (v == 4 && below(2)) flags = 3;
            desc = "push value " + std::to_string(vi) + " flags " + std::to_string(flags) +
                   (kk ? " with key" : "") + (null_value ? " NULL value" : "") + " size " +
                   std::to_string(size);
            k = elem_call(kKernel, BPF_MAP_UPDATE_ELEM, kfd, kk, null_value ? nullptr : kv.data(),
                          flags, size);
            l = elem_call(kLibrary, BPF_MAP_UPDATE_ELEM, lfd, kk, null_value ? nullptr : lv.data(),
                          flags, size);
            if (k.ret == 0 && l.ret == 0) pushed[vi] = true;
        } else if (what < 75) {  // peek
            const unsigned v = static_cast<unsigned>(below(20));
            uint64_t flags = 0;
            const void* kk = nullptr;
            bool null_value = false;
            unsigned size = kAttrSize;
            if (v == 0)
                flags = below(2) ? uint64_t{BPF_F_LOCK} : bad_flags[below(std::size(bad_flags))];
            if (v == 1) kk = &key;
            if (v == 2) null_value = true;
            if (v == 3) size = offsetof(union bpf_attr, value);
            desc = "peek value " + std::to_string(vi) +
                   (pushed[vi] ? " (pushed)" : " (never pushed)") + " flags " +
                   std::to_string(flags) + (kk ? " with key" : "") +
                   (null_value ? " NULL value" : "") + " size " + std::to_string(size);
            k = elem_call(kKernel, BPF_MAP_LOOKUP_ELEM, kfd, kk, null_value ? nullptr : kv.data(),
                          flags, size);
            l = elem_call(kLibrary, BPF_MAP_LOOKUP_ELEM, lfd, kk, null_value ? nullptr : lv.data(),
                          flags, size);
            const bool plain = v > 3;
            if (plain && !pushed[vi]) {
                // Never pushed: 0 (false positive) or ENOENT on each side, independently.
                exact = false;
                ++st.never_pushed_peeks;
                auto valid = [](Res r) { return r.ret == 0 || (r.ret == -1 && r.err == ENOENT); };
                BOOST_TEST((valid(k) && valid(l)), ctx0 << " op " << op << " " << desc
                                                        << ": library " << show(l) << " kernel "
                                                        << show(k));
                st.fp_kernel += k.ret == 0;
                st.fp_library += l.ret == 0;
            }
            BOOST_TEST((kv == pool[vi] && lv == pool[vi]),
                       ctx0 << " op " << op << " " << desc << ": a peek wrote to the value");
        } else if (what < 80) {
            const void* kk = below(4) == 0 ? &key : nullptr;
            desc = std::string("delete") + (kk ? " with key" : "");
            k = elem_call(kKernel, BPF_MAP_DELETE_ELEM, kfd, kk, nullptr, 0);
            l = elem_call(kLibrary, BPF_MAP_DELETE_ELEM, lfd, kk, nullptr, 0);
        } else if (what < 85) {
            const void* kk = below(4) == 0 ? &key : nullptr;
            uint64_t nk_k = 0, nk_l = 0;
            const bool null_next = below(3) == 0;
            desc = std::string("GET_NEXT_KEY") + (kk ? " with key" : "") +
                   (null_next ? " NULL next_key" : "");
            k = elem_call(kKernel, BPF_MAP_GET_NEXT_KEY, kfd, kk, nullptr, 0, kAttrSize,
                          null_next ? nullptr : &nk_k);
            l = elem_call(kLibrary, BPF_MAP_GET_NEXT_KEY, lfd, kk, nullptr, 0, kAttrSize,
                          null_next ? nullptr : &nk_l);
        } else if (what < 92) {
            const unsigned v = static_cast<unsigned>(below(6));
            const uint64_t flags = v == 0 ? BPF_F_LOCK : v == 1 ? 1 : 0;
            const void* kk = v == 2 ? &key : nullptr;
            const bool null_value = v == 3;
            desc = "LOOKUP_AND_DELETE flags " + std::to_string(flags) + (kk ? " with key" : "") +
                   (null_value ? " NULL value" : "");
            k = elem_call(kKernel, BPF_MAP_LOOKUP_AND_DELETE_ELEM, kfd, kk,
                          null_value ? nullptr : kv.data(), flags);
            l = elem_call(kLibrary, BPF_MAP_LOOKUP_AND_DELETE_ELEM, lfd, kk,
                          null_value ? nullptr : lv.data(), flags);
        } else if (what < 97) {
            compare_info(kfd, lfd, ctx0 + " op " + std::to_string(op));
            continue;
        } else {
            // FREEZE, rarely and late: afterwards pushes are EPERM on both sides.
            if (frozen || op < n_ops / 2 || below(4) != 0) continue;
            desc = "freeze";
            k = elem_call(kKernel, BPF_MAP_FREEZE, kfd, nullptr, nullptr, 0);
            l = elem_call(kLibrary, BPF_MAP_FREEZE, lfd, nullptr, nullptr, 0);
            frozen = k.ret == 0;
        }
        ++st.ops;
        if (exact)
            BOOST_TEST((k == l), ctx0 << " op " << op << " " << desc << ": library " << show(l)
                                      << " kernel " << show(k));
    }
    // No false negatives on either side, and a final GET_INFO.
    for (size_t i = 0; i < pool_n; ++i) {
        if (!pushed[i]) continue;
        Res k = elem_call(kKernel, BPF_MAP_LOOKUP_ELEM, p.kfd, nullptr, pool[i].data(), 0);
        Res l = elem_call(kLibrary, BPF_MAP_LOOKUP_ELEM, p.lfd, nullptr, pool[i].data(), 0);
        BOOST_TEST((k.ret == 0 && l.ret == 0), ctx0 << ": pushed value " << i << ": library "
                                                    << show(l) << " kernel " << show(k));
    }
    compare_info(p.kfd, p.lfd, ctx0 + " at the end");
}

}  // namespace

BOOST_AUTO_TEST_CASE(sequences) {
    SeqStats st;
    for (unsigned seed = 1; seed <= 24; ++seed) run_sequence(seed, st);
    BOOST_TEST_MESSAGE("sequences: " << st.ops << " ops compared; " << st.never_pushed_peeks
                                     << " peeks of never-pushed values: false positives kernel "
                                     << st.fp_kernel << ", library " << st.fp_library);
    BOOST_TEST(st.ops > 20000);
}

// Same maps, same values on both sides (ZERO_SEED, so the kernel side is deterministic too): the
// false-positive rates over never-pushed values must agree. Each measured rate is within
// 5 sd of its own filter's true rate except with probability < 1e-6 (see bloom_filter_test's
// false_positive_rate for the model: binomial sampling plus the spread of the filter's fill);
// both true rates are within the filter spread of the same theoretical p, so we accept
// |r_library - r_kernel| <= 5 sqrt(2 sd_b^2 + 2 sd_f^2) + 0.04 p.
BOOST_AUTO_TEST_CASE(false_positive_rate_vs_kernel) {
    struct Case {
        uint32_t value_size, max_entries, extra, n, probes;
    };
    const Case cases[] = {
        {8, 1000, 5, 1000, 60000},
        {4, 10000, 3, 20000, 40000},
        {13, 5000, 1, 5000, 40000},
        {3, 2000, 15, 4000, 40000},
    };
    for (const Case& cs : cases) {
        CreateAttr c;
        c.value_size = cs.value_size;
        c.max_entries = cs.max_entries;
        c.extra = cs.extra;
        c.flags = BPF_F_ZERO_SEED;
        Pair p;
        BOOST_REQUIRE(create_both(c, p, "fp"));
        std::mt19937_64 rng(cs.max_entries * 31 + cs.extra);
        std::set<Bytes> pushed;
        auto random_value = [&] {
            Bytes b(cs.value_size);
            for (auto& x : b) x = static_cast<unsigned char>(rng());
            return b;
        };
        for (uint32_t i = 0; i < cs.n; ++i) {
            Bytes v = random_value();
            Res k = elem_call(kKernel, BPF_MAP_UPDATE_ELEM, p.kfd, nullptr, v.data(), 0);
            Res l = elem_call(kLibrary, BPF_MAP_UPDATE_ELEM, p.lfd, nullptr, v.data(), 0);
            BOOST_REQUIRE(k.ret == 0 && l.ret == 0);
            pushed.insert(v);
        }
        unsigned fk = 0, fl = 0, probes = 0;
        while (probes < cs.probes) {
            Bytes v = random_value();
            if (pushed.count(v)) continue;  // 3-byte values: some repeat
            ++probes;
            Res k = elem_call(kKernel, BPF_MAP_LOOKUP_ELEM, p.kfd, nullptr, v.data(), 0);
            Res l = elem_call(kLibrary, BPF_MAP_LOOKUP_ELEM, p.lfd, nullptr, v.data(), 0);
            fk += k.ret == 0;
            fl += l.ret == 0;
        }
        const uint32_t kk = cs.extra ? cs.extra : 5;
        // The kernel's bit count for these sizes (none overflows).
        uint64_t m = 1;
        while (m < uint64_t{cs.max_entries} * kk / 5 * 7) m <<= 1;
        if (m < 64) m = 64;
        const double md = static_cast<double>(m), nd = static_cast<double>(pushed.size());
        const double q = 1.0 - std::pow(1.0 - 1.0 / md, kk * nd);
        const double pth = std::pow(q, kk);
        const double sd_b = std::sqrt(pth * (1 - pth) / probes);
        const double sd_f = kk * pth * std::sqrt(q * (1 - q) / md) / q;
        const double tol = 5 * std::sqrt(2 * sd_b * sd_b + 2 * sd_f * sd_f) + 0.04 * pth;
        const double rk = static_cast<double>(fk) / probes, rl = static_cast<double>(fl) / probes;
        BOOST_TEST_MESSAGE(describe(c) << " n " << pushed.size() << ": false positives kernel "
                                       << rk << " library " << rl << " theory " << pth);
        BOOST_TEST(std::fabs(rl - rk) <= tol, describe(c) << ": false-positive rate library " << rl
                                                          << " kernel " << rk << " (tolerance "
                                                          << tol << ", theory " << pth << ")");
    }
}

// RDONLY / WRONLY fds from MAP_CREATE: every element command through each, compared.
BOOST_AUTO_TEST_CASE(access_modes) {
    for (uint32_t mode : {uint32_t{BPF_F_RDONLY}, uint32_t{BPF_F_WRONLY}}) {
        CreateAttr c;
        c.flags = mode | BPF_F_ZERO_SEED;
        Pair p;
        if (!create_both(c, p, "access")) continue;
        uint64_t v = 77, key = 1, nk = 0;
        const std::string ctx = mode == BPF_F_RDONLY ? "RDONLY fd" : "WRONLY fd";
        struct Op {
            const char* name;
            int cmd;
            const void* key;
            const void* value;
            uint64_t flags;
        };
        const Op ops[] = {
            {"push", BPF_MAP_UPDATE_ELEM, nullptr, &v, 0},
            {"push bad flags", BPF_MAP_UPDATE_ELEM, nullptr, &v, 5},
            {"push with key", BPF_MAP_UPDATE_ELEM, &key, &v, 0},
            {"peek", BPF_MAP_LOOKUP_ELEM, nullptr, &v, 0},
            {"peek NULL value", BPF_MAP_LOOKUP_ELEM, nullptr, nullptr, 0},
            {"delete", BPF_MAP_DELETE_ELEM, nullptr, nullptr, 0},
            {"GET_NEXT_KEY", BPF_MAP_GET_NEXT_KEY, nullptr, nullptr, 0},
            {"LOOKUP_AND_DELETE", BPF_MAP_LOOKUP_AND_DELETE_ELEM, nullptr, &v, 0},
            {"freeze", BPF_MAP_FREEZE, nullptr, nullptr, 0},
        };
        for (const Op& o : ops) {
            Res k = elem_call(kKernel, o.cmd, p.kfd, o.key, o.value, o.flags, kAttrSize, &nk);
            Res l = elem_call(kLibrary, o.cmd, p.lfd, o.key, o.value, o.flags, kAttrSize, &nk);
            BOOST_TEST((k == l),
                       ctx << " " << o.name << ": library " << show(l) << " kernel " << show(k));
        }
    }
}
