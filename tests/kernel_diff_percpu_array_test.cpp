// Differential test for BPF_MAP_TYPE_PERCPU_ARRAY: the same bpf(2) calls against the real
// kernel and against bpfmap's bpf() must give the same return values, the same errno and the
// same bytes written back (output buffers are pre-filled and followed by guard bytes, so bytes
// written too far, or written on failure, are caught too).
//  * create_errnos: MAP_CREATE with every map flag, key/value/max_entries edges (value_size
//    around PCPU_MIN_UNIT_SIZE = 32768 and INT_MAX, huge max_entries: ENOMEM), NUMA node,
//    map_ifindex, several wrong parameters at once (order of the checks); on success GET_INFO
//    (every field but the id) is compared.
//  * create_fuzz: random MAP_CREATE attrs from the same edges, combined.
//  * sequences: seeded pseudo-random sequences (seeds printed) of UPDATE (every flag, bad
//    flags, F_LOCK, indices in and out of range, random bytes in every slot including the
//    padding), LOOKUP (flags too), DELETE, LOOKUP_AND_DELETE, GET_NEXT_KEY (NULL, in range, out
//    of range), NULL key/value pointers, a read-only dup and, near the end, FREEZE. Every
//    LOOKUP compares the full per-CPU value bytes (round_up(value_size, 8) * possible CPUs).
//  * full_compare: after each sequence every index is looked up on both sides.
// Not compared: fd numbers and map ids (legitimately different).
#include <bpfmap/bpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <unistd.h>
#include <bpfmap/percpu.hpp>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "diff_support.hpp"
#include "test_support.hpp"

BPFMAP_REQUIRES_KERNEL();

namespace {

using namespace bpfmap::test::diff;

constexpr unsigned char kFill = 0xA5;
constexpr size_t kGuard = 16;

struct Spec {
    __u32 ks = 4, vs = 8, max = 4, flags = 0, numa = 0, ifindex = 0;
};

std::string describe(const Spec& s) {
    char b[128];
    std::snprintf(b, sizeof b, "PERCPU_ARRAY ks=%u vs=%u max=%u flags=%#x numa=%u ifindex=%u", s.ks,
                  s.vs, s.max, s.flags, s.numa, s.ifindex);
    return b;
}

union bpf_attr create_attr(const Spec& s) {
    bpfmap::test::CreateSpec spec;
    spec.type = BPF_MAP_TYPE_PERCPU_ARRAY;
    spec.key_size = s.ks;
    spec.value_size = s.vs;
    spec.max_entries = s.max;
    spec.flags = s.flags;
    spec.ifindex = s.ifindex;
    spec.numa_node = s.numa;
    return bpfmap::test::create_attr(spec);
}

// GET_INFO's fields (the id excluded: ids differ legitimately), as text.
std::string info_of(BpfFn side, int fd) {
    struct bpf_map_info info;
    __u32 info_len = 0;
    Res r = get_map_info(side, fd, info, &info_len);
    if (r.ret != 0) return show(r);
    char b[200];
    std::snprintf(b, sizeof b,
                  "type %u ks %u vs %u max %u flags %#x name '%.16s' extra %llu btf %u/%u/%u "
                  "ifindex %u len %u",
                  info.type, info.key_size, info.value_size, info.max_entries, info.map_flags,
                  info.name, static_cast<unsigned long long>(info.map_extra), info.btf_id,
                  info.btf_key_type_id, info.btf_value_type_id, info.ifindex, info_len);
    return b;
}

// Creates on both sides, compares; closes the fds. False if the results differ.
bool compare_create(const Spec& s) {
    union bpf_attr ka = create_attr(s), la = create_attr(s);
    Res k = invoke(kKernel, BPF_MAP_CREATE, &ka, sizeof ka);
    Res l = invoke(kLibrary, BPF_MAP_CREATE, &la, sizeof la);
    const bool same = (k.ret >= 0) == (l.ret >= 0) && k.err == l.err;
    BOOST_CHECK_MESSAGE(same, describe(s) << ": kernel " << show(k) << ", library " << show(l));
    if (same && k.ret >= 0) {
        const std::string ki = info_of(kKernel, k.ret), li = info_of(kLibrary, l.ret);
        BOOST_CHECK_MESSAGE(ki == li, describe(s)
                                          << ": GET_INFO kernel " << ki << ", library " << li);
    }
    if (k.ret >= 0) ::close(k.ret);
    if (l.ret >= 0) ::close(l.ret);
    return same;
}

// The sizes that are safe to create on the kernel: at most a few MiB of per-CPU memory, or
// max_entries 2^32-1, whose pointer array (32 GiB) the kernel refuses at once (ENOMEM). Other
// huge sizes are left out: 2^31 entries take the kernel seconds to fail (a 16 GiB vmalloc).
bool kernel_safe(const Spec& s) {
    const uint64_t slot = (uint64_t{s.vs} + 7) & ~uint64_t{7};
    return uint64_t{s.max} * slot <= (uint64_t{4} << 20) || s.max == 0xffffffffu || slot > 32768 ||
           s.vs == 0 || s.max == 0 || s.ks != 4;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(kernel_diff_percpu_array)

BOOST_AUTO_TEST_CASE(create_errnos) {
    std::vector<Spec> cases;
    const __u32 all_flags[] = {0,
                               BPF_F_NO_PREALLOC,
                               BPF_F_NO_COMMON_LRU,
                               BPF_F_NUMA_NODE,
                               BPF_F_RDONLY,
                               BPF_F_WRONLY,
                               BPF_F_STACK_BUILD_ID,
                               BPF_F_ZERO_SEED,
                               BPF_F_RDONLY_PROG,
                               BPF_F_WRONLY_PROG,
                               BPF_F_CLONE,
                               BPF_F_MMAPABLE,
                               BPF_F_PRESERVE_ELEMS,
                               BPF_F_INNER_MAP,
                               1u << 14,
                               1u << 15,
                               1u << 16,
                               1u << 20,
                               1u << 31,
                               BPF_F_RDONLY | BPF_F_WRONLY,
                               BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG,
                               BPF_F_RDONLY | BPF_F_RDONLY_PROG};
    for (__u32 f : all_flags) cases.push_back({4, 8, 4, f, 0, 0});
    for (__u32 vs : {0u, 1u, 4u, 7u, 8u, 9u, 32760u, 32761u, 32767u, 32768u, 32769u, 32776u, 65536u,
                     0x7fffffffu, 0x80000000u, 0xffffffffu})
        cases.push_back({4, vs, 2, 0, 0, 0});
    for (__u32 ks : {0u, 1u, 2u, 3u, 5u, 8u, 0xffffffffu}) cases.push_back({ks, 8, 2, 0, 0, 0});
    for (__u32 max : {0u, 1u, 2u, 1000u, 0xffffffffu}) cases.push_back({4, 8, max});
    // NUMA node: a per-CPU array refuses BPF_F_NUMA_NODE even for node 0; an impossible node is
    // caught earlier (generic check), also EINVAL.
    cases.push_back({4, 8, 2, BPF_F_NUMA_NODE, 0, 0});
    cases.push_back({4, 8, 2, BPF_F_NUMA_NODE, 1, 0});
    cases.push_back({4, 8, 2, BPF_F_NUMA_NODE, 1000, 0});
    cases.push_back({4, 8, 2, 0, 1000, 0});  // numa_node ignored without the flag
    // Device offload: not for per-CPU arrays.
    cases.push_back({4, 8, 2, 0, 0, 1});
    cases.push_back({4, 8, 2, 0, 0, 999999});
    // Several wrong at once.
    cases.push_back({8, 32769, 2, 0, 0, 0});
    cases.push_back({4, 32769, 0, 0, 0, 0});
    cases.push_back({4, 32769, 2, BPF_F_MMAPABLE, 0, 0});
    cases.push_back({4, 0x80000000u, 2, BPF_F_INNER_MAP, 0, 0});
    cases.push_back({4, 32769, 2, BPF_F_NUMA_NODE, 0, 0});
    cases.push_back({4, 32769, 2, 0, 0, 1});
    cases.push_back({4, 8, 0xffffffffu, 0, 0, 1});
    cases.push_back({4, 32768, 0xffffffffu, BPF_F_RDONLY_PROG, 0, 0});
    cases.push_back({4, 8, 0xffffffffu, BPF_F_MMAPABLE, 0, 0});
    int failures = 0;
    for (const Spec& s : cases) {
        BOOST_REQUIRE_MESSAGE(kernel_safe(s), describe(s));
        if (!compare_create(s)) ++failures;
    }
    BOOST_TEST_MESSAGE(cases.size() << " MAP_CREATE cases, " << failures << " differences");
}

BOOST_AUTO_TEST_CASE(create_fuzz) {
    const unsigned seed = 20261207u;
    std::mt19937 rng(seed);
    BOOST_TEST_MESSAGE("create_fuzz seed " << seed);
    const __u32 ks_pool[] = {0, 4, 4, 4, 8};
    const __u32 vs_pool[] = {0, 1, 8, 32768, 32769, 0x7fffffffu, 0x80000000u};
    const __u32 max_pool[] = {0, 1, 16, 0xffffffffu};
    const __u32 flag_bits[] = {BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE, BPF_F_RDONLY,
                               BPF_F_WRONLY,      BPF_F_ZERO_SEED, BPF_F_RDONLY_PROG,
                               BPF_F_WRONLY_PROG, BPF_F_MMAPABLE,  BPF_F_INNER_MAP};
    int n = 0, diffs = 0;
    for (int i = 0; i < 400; ++i) {
        Spec s;
        s.ks = ks_pool[rng() % std::size(ks_pool)];
        s.vs = vs_pool[rng() % std::size(vs_pool)];
        s.max = max_pool[rng() % std::size(max_pool)];
        for (__u32 b : flag_bits)
            if (rng() % 6 == 0) s.flags |= b;
        if (rng() % 8 == 0) s.numa = static_cast<__u32>(rng() % 3);
        if (rng() % 10 == 0) s.ifindex = 1;
        if (!kernel_safe(s)) continue;
        ++n;
        if (!compare_create(s)) ++diffs;
    }
    BOOST_TEST_MESSAGE(n << " random MAP_CREATE cases, " << diffs << " differences");
}

namespace {

struct Pair : FdPair {
    int kro = -1, lro = -1;  // read-only fds to the same maps
    ~Pair() {
        for (int fd : {kro, lro})
            if (fd >= 0) ::close(fd);
    }
    int fd(BpfFn side, bool ro) const {
        return side == kKernel ? (ro ? kro : kfd) : (ro ? lro : lfd);
    }
};

// A read-only fd to the same map: the kernel through GET_FD_BY_ID, the library the same way.
int rdonly(BpfFn side, int fd) {
    struct bpf_map_info info;
    if (get_map_info(side, fd, info).ret != 0) return -1;
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_id = info.id;
    a.open_flags = BPF_F_RDONLY;
    return invoke(side, BPF_MAP_GET_FD_BY_ID, &a, sizeof a).ret;
}

struct Sequence {
    std::mt19937_64 rng;
    Spec spec;
    size_t value_bytes;
    Pair p;
    int differences = 0;
    std::string log_prefix;

    Sequence(uint64_t seed, const Spec& s)
        : rng(seed),
          spec(s),
          value_bytes(bpfmap::test::percpu_value_bytes(s.vs)),
          log_prefix("seed " + std::to_string(seed) + " " + describe(s)) {}

    bool create() {
        union bpf_attr ka = create_attr(spec), la = create_attr(spec);
        p.kfd = invoke(kKernel, BPF_MAP_CREATE, &ka, sizeof ka).ret;
        p.lfd = invoke(kLibrary, BPF_MAP_CREATE, &la, sizeof la).ret;
        if (p.kfd < 0 || p.lfd < 0) return false;
        p.kro = rdonly(kKernel, p.kfd);
        p.lro = rdonly(kLibrary, p.lfd);
        return p.kro >= 0 && p.lro >= 0;
    }

    __u32 random_key() {
        switch (rng() % 10) {
            case 0:
                return spec.max + static_cast<__u32>(rng() % 3);
            case 1:
                return 0xffffffffu;
            default:
                return static_cast<__u32>(rng() % spec.max);
        }
    }
    __u64 random_flags() {
        static const __u64 pool[] = {0, 0, 0, 0, 1, 2, 2, 3, 4, 5, 8, 16, __u64{1} << 32};
        return pool[rng() % std::size(pool)];
    }

    void expect(const std::string& what, Res k, Res l, const Bytes& kb = {}, const Bytes& lb = {}) {
        if (k == l && kb == lb) return;
        ++differences;
        BOOST_ERROR(log_prefix << ": " << what << ": kernel " << show(k) << " " << hex(kb)
                               << ", library " << show(l) << " " << hex(lb));
    }

    // One element command on both sides, with the same attr, key and value bytes.
    void elem(int cmd, bool ro, bool key_null, bool value_null, __u32 key, __u64 flags,
              const Bytes* in, const std::string& what) {
        Bytes kv = in ? *in : Bytes(value_bytes, kFill), lv = kv;
        kv.resize(value_bytes + kGuard, kFill);
        lv.resize(value_bytes + kGuard, kFill);
        __u32 kkey = key, lkey = key;
        __u32 knext = 0xA5A5A5A5, lnext = 0xA5A5A5A5;
        auto run = [&](BpfFn side, __u32* k, Bytes& v, __u32* next) {
            union bpf_attr a;
            std::memset(&a, 0, sizeof a);
            a.map_fd = static_cast<__u32>(p.fd(side, ro));
            a.key = key_null ? 0 : reinterpret_cast<__u64>(k);
            if (cmd == BPF_MAP_GET_NEXT_KEY) {
                a.next_key = value_null ? 0 : reinterpret_cast<__u64>(next);
            } else if (cmd != BPF_MAP_DELETE_ELEM) {
                a.value = value_null ? 0 : reinterpret_cast<__u64>(v.data());
                a.flags = flags;
            }
            return invoke(side, cmd, &a, sizeof a);
        };
        Res k = run(kKernel, &kkey, kv, &knext);
        Res l = run(kLibrary, &lkey, lv, &lnext);
        const std::string w = what + " key " + std::to_string(key) + " flags " +
                              std::to_string(flags) + (ro ? " (rdonly fd)" : "") +
                              (key_null ? " NULL key" : "") + (value_null ? " NULL value" : "");
        if (cmd == BPF_MAP_GET_NEXT_KEY) {
            auto b = [](__u32 x) {
                const auto* q = reinterpret_cast<const unsigned char*>(&x);
                return Bytes(q, q + 4);
            };
            expect(w, k, l, b(knext), b(lnext));
        } else {
            expect(w, k, l, kv, lv);
        }
    }

    void step(bool allow_freeze) {
        const unsigned op = static_cast<unsigned>(rng() % 100);
        const bool ro = rng() % 20 == 0;
        const bool key_null = rng() % 40 == 0;
        const bool value_null = rng() % 40 == 0;
        const __u32 key = random_key();
        if (op < 40) {
            Bytes v(value_bytes);
            for (auto& c : v) c = static_cast<unsigned char>(rng());
            elem(BPF_MAP_UPDATE_ELEM, ro, key_null, value_null, key, random_flags(), &v, "UPDATE");
        } else if (op < 75) {
            const __u64 f = rng() % 8 == 0 ? random_flags() : 0;
            elem(BPF_MAP_LOOKUP_ELEM, ro, key_null, value_null, key, f, nullptr, "LOOKUP");
        } else if (op < 82) {
            elem(BPF_MAP_DELETE_ELEM, ro, key_null, false, key, 0, nullptr, "DELETE");
        } else if (op < 88) {
            const __u64 f = rng() % 4 == 0 ? random_flags() : 0;
            elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, ro, key_null, value_null, key, f, nullptr,
                 "LOOKUP_AND_DELETE");
        } else if (op < 99) {
            elem(BPF_MAP_GET_NEXT_KEY, ro, rng() % 4 == 0, value_null, key, 0, nullptr,
                 "GET_NEXT_KEY");
        } else if (allow_freeze) {
            auto freeze = [&](BpfFn side) {
                union bpf_attr a;
                std::memset(&a, 0, sizeof a);
                a.map_fd = static_cast<__u32>(p.fd(side, ro));
                return invoke(side, BPF_MAP_FREEZE, &a, sizeof a);
            };
            expect(std::string("FREEZE") + (ro ? " (rdonly fd)" : ""), freeze(kKernel),
                   freeze(kLibrary));
        }
    }

    void full_compare() {
        for (__u32 k = 0; k < spec.max; ++k)
            elem(BPF_MAP_LOOKUP_ELEM, false, false, false, k, 0, nullptr, "final LOOKUP");
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(sequences) {
    const Spec specs[] = {
        {4, 1, 3}, {4, 4, 5}, {4, 8, 4}, {4, 12, 6}, {4, 20, 2}, {4, 64, 1}, {4, 3, 9},
    };
    const uint64_t time_seed =
        static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    const uint64_t seeds[] = {1, 2, 3, time_seed};
    int total = 0;
    for (uint64_t seed : seeds)
        for (const Spec& s : specs) {
            Sequence q(seed * 1000003u + s.vs * 31u + s.max, s);
            BOOST_REQUIRE_MESSAGE(q.create(), q.log_prefix << ": create failed");
            const int n = 1500;
            for (int i = 0; i < n && q.differences < 5; ++i) q.step(i > n - 60);
            q.full_compare();
            total += q.differences;
        }
    BOOST_TEST_MESSAGE("time seed " << time_seed << ": " << total << " differences");
}

BOOST_AUTO_TEST_SUITE_END()
