// Differential test for PERCPU_HASH, LRU_HASH and LRU_PERCPU_HASH: the same bpf(2) calls against
// the real kernel (bpfmap::test::kernel_bpf) and against bpfmap's bpf() must give the same
// return values, errno and bytes written back.
//
//  * create_errnos: MAP_CREATE of the three types (and HASH, for the flags that only LRU types
//    accept) with zero and huge sizes, every flag alone and in pairs, NUMA node with per-CPU
//    values and with NO_COMMON_LRU, NO_PREALLOC on LRU (ENOTSUPP), per-CPU value size limits
//    (round_up(vs, 8) > 32768), the order of the checks when several are wrong; on success
//    GET_INFO's type, sizes, max_entries (NO_COMMON_LRU rounds it up to a multiple of the
//    possible CPU count) and flags.
//  * sequences_*: seeded pseudo-random sequences (seed printed) of UPDATE (flags 0..3 and
//    F_LOCK), LOOKUP, DELETE, LOOKUP_AND_DELETE, GET_NEXT_KEY and full walks, compared call by
//    call; values are full per-CPU buffers of random bytes (padding included, which both sides
//    store and return). PERCPU_HASH runs with a small max_entries so that E2BIG on a full map
//    is frequent.
//
// What is left out, and why:
//  * LRU eviction. The kernel takes free elements in batches through per-CPU local lists (and
//    with NO_COMMON_LRU gives each CPU its own list), so it evicts before the map is full, in
//    batches, depending on which CPU the caller runs on; an UPDATE of an existing key, or even a
//    failing NOEXIST, takes a fresh element and can evict. Which keys survive is therefore not
//    deterministic on the kernel side. The LRU sequences use max_entries = 4096 with at most
//    256 distinct keys, so that the kernel never needs to evict and every result is
//    deterministic; eviction itself is tested in lru_hash_test.cpp (properties, not kernel
//    equality).
//  * Iteration order (per-map random seed): walks compare the SET of keys (each key once);
//    GET_NEXT_KEY from NULL compares only the result and checks that the key returned exists.
//  * Map ids and fd numbers.
#include <bpfmap/bpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "diff_support.hpp"
#include "test_support.hpp"

BPFMAP_REQUIRES_KERNEL();

namespace {

namespace bt = bpfmap::test;
using namespace bpfmap::test::diff;

constexpr unsigned kAttrSize = sizeof(union bpf_attr);

const char* type_name(__u32 t) {
    switch (t) {
        case BPF_MAP_TYPE_HASH:
            return "HASH";
        case BPF_MAP_TYPE_PERCPU_HASH:
            return "PERCPU_HASH";
        case BPF_MAP_TYPE_LRU_HASH:
            return "LRU_HASH";
        case BPF_MAP_TYPE_LRU_PERCPU_HASH:
            return "LRU_PERCPU_HASH";
        default:
            return "?";
    }
}

bool is_percpu(__u32 t) {
    return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

struct Spec {
    __u32 type, ks, vs, max, flags = 0;
    __u32 numa_node = 0;
};

std::string describe(const Spec& s) {
    return std::string(type_name(s.type)) + " ks=" + std::to_string(s.ks) +
           " vs=" + std::to_string(s.vs) + " max=" + std::to_string(s.max) + " flags=0x" +
           [&] {
               char b[16];
               std::snprintf(b, sizeof b, "%x", s.flags);
               return std::string(b);
           }() +
           " numa=" + std::to_string(s.numa_node);
}

Res create(BpfFn side, const Spec& s) {
    bpfmap::test::CreateSpec spec;
    spec.type = s.type;
    spec.key_size = s.ks;
    spec.value_size = s.vs;
    spec.max_entries = s.max;
    spec.flags = s.flags;
    spec.numa_node = s.numa_node;
    union bpf_attr a = bpfmap::test::create_attr(spec);
    return invoke(side, BPF_MAP_CREATE, &a, kAttrSize);
}

bool info_of(BpfFn side, int fd, bpf_map_info& info) {
    return get_map_info(side, fd, info).ret == 0;
}

// One create on both sides; same result, and on success the same GET_INFO fields.
void compare_create(const Spec& s) {
    const Res k = create(kKernel, s);
    const Res l = create(kLibrary, s);
    const bool same = (k.ret >= 0) == (l.ret >= 0) && k.err == l.err;
    BOOST_CHECK_MESSAGE(same, describe(s) << ": kernel " << show(k) << ", library " << show(l));
    if (k.ret >= 0 && l.ret >= 0) {
        bpf_map_info ki, li;
        BOOST_CHECK(info_of(kKernel, k.ret, ki));
        BOOST_CHECK(info_of(kLibrary, l.ret, li));
        BOOST_CHECK_MESSAGE(
            ki.type == li.type && ki.key_size == li.key_size && ki.value_size == li.value_size &&
                ki.max_entries == li.max_entries && ki.map_flags == li.map_flags,
            describe(s) << ": GET_INFO kernel type " << ki.type << " max " << ki.max_entries
                        << " flags " << ki.map_flags << ", library type " << li.type << " max "
                        << li.max_entries << " flags " << li.map_flags);
    }
    if (k.ret >= 0) ::close(k.ret);
    if (l.ret >= 0) ::close(l.ret);
}

const __u32 kTypes[] = {BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_HASH,
                        BPF_MAP_TYPE_LRU_PERCPU_HASH};

}  // namespace

BOOST_AUTO_TEST_SUITE(kernel_diff_hash_family)

BOOST_AUTO_TEST_CASE(create_errnos) {
    const __u32 all_flags[] = {BPF_F_NO_PREALLOC, BPF_F_NO_COMMON_LRU,
                               BPF_F_NUMA_NODE,   BPF_F_RDONLY,
                               BPF_F_WRONLY,      BPF_F_STACK_BUILD_ID,
                               BPF_F_ZERO_SEED,   BPF_F_RDONLY_PROG,
                               BPF_F_WRONLY_PROG, BPF_F_CLONE,
                               BPF_F_MMAPABLE,    BPF_F_PRESERVE_ELEMS,
                               BPF_F_INNER_MAP,   1u << 20,
                               1u << 31};
    const unsigned n = bt::possible_cpus();
    for (__u32 t : kTypes) {
        // Sizes.
        for (__u32 ks : {0u, 1u, 4u, 7u, 8u, 64u, 512u, 4096u})
            for (__u32 vs : {0u, 1u, 4u, 12u, 4096u, 32760u, 32768u, 32769u, 65536u, 1u << 20,
                             (4u << 20) - 100, 4u << 20})
                compare_create({t, ks, vs, 4});
        for (__u32 max : {0u, 1u, 2u, 3u, 5u, 1000u, (1u << 27) + 1, 1u << 31, 0xffffffffu})
            compare_create({t, 4, 8, max});
        // Every flag alone, every pair.
        for (__u32 f : all_flags) compare_create({t, 4, 8, 16, f});
        for (__u32 f : all_flags)
            for (__u32 g : all_flags)
                if (f < g) compare_create({t, 4, 8, 16, f | g});
        // NUMA node with and without the flag, per-CPU and NO_COMMON_LRU.
        for (__u32 node : {0u, 1u, 7u}) {
            compare_create({t, 4, 8, 16, BPF_F_NUMA_NODE, node});
            compare_create({t, 4, 8, 16, 0, node});
            compare_create({t, 4, 8, 16, BPF_F_NUMA_NODE | BPF_F_NO_COMMON_LRU, node});
        }
        // NO_COMMON_LRU rounding (visible in GET_INFO) for counts around multiples of n.
        for (__u32 max : {1u, 2u, 3u, n, n + 1, 2 * n - 1, 1000u, 1001u, 0xffffffffu})
            compare_create({t, 4, 8, max, BPF_F_NO_COMMON_LRU});
        // Several wrong at once: the order of the checks.
        compare_create({t, 0, 0, 0, BPF_F_NO_PREALLOC});
        compare_create({t, 0, 8, 16, BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE, 0});
        compare_create({t, 4, 8, 0, BPF_F_NUMA_NODE, 0});
        compare_create({t, 4, 65536, 0, 0});
        compare_create({t, 4, 65536, 0, BPF_F_NO_PREALLOC});
        compare_create({t, 4, 65536, 16, BPF_F_NUMA_NODE, 0});
        compare_create({t, 4, 1u << 22, 16, BPF_F_NO_COMMON_LRU});
        compare_create({t, 4, 8, 0xffffffffu, BPF_F_NO_PREALLOC});
        compare_create({t, 4, 8, 16, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG | BPF_F_NO_PREALLOC});
        compare_create({t, 4, 8, 16, BPF_F_MMAPABLE | BPF_F_NO_PREALLOC});
        compare_create({t, 4, 8, 16, BPF_F_NO_COMMON_LRU | BPF_F_NO_PREALLOC});
    }
    // NO_COMMON_LRU belongs to the LRU types only.
    compare_create({BPF_MAP_TYPE_HASH, 4, 8, 16, BPF_F_NO_COMMON_LRU});
    compare_create({BPF_MAP_TYPE_HASH, 4, 8, 3, BPF_F_NO_COMMON_LRU | BPF_F_NO_PREALLOC});
    compare_create({BPF_MAP_TYPE_HASH, 4, 8, 16, BPF_F_NUMA_NODE, 0});
}

namespace {

struct Pair : FdPair {
    Spec spec;
};

struct Out {
    Res r;
    Bytes buf;
};

Out elem_op(BpfFn side, int fd, int cmd, const Bytes* key, Bytes* value, __u64 flags,
            unsigned value_bytes) {
    Out o;
    o.buf.assign(value_bytes + 16, 0xa5);
    if (value && cmd == BPF_MAP_UPDATE_ELEM) std::memcpy(o.buf.data(), value->data(), value_bytes);
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<__u32>(fd);
    a.key = key ? bt::uptr(key->data()) : 0;
    a.value = value ? bt::uptr(o.buf.data()) : 0;
    a.flags = flags;
    o.r = invoke(side, cmd, &a, kAttrSize);
    return o;
}

Out next_key(BpfFn side, int fd, const Bytes* key, unsigned ks) {
    Out o;
    o.buf.assign(ks + 16, 0xa5);
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<__u32>(fd);
    a.key = key ? bt::uptr(key->data()) : 0;
    a.next_key = bt::uptr(o.buf.data());
    o.r = invoke(side, BPF_MAP_GET_NEXT_KEY, &a, kAttrSize);
    return o;
}

// Every key, by GET_NEXT_KEY from NULL; `dups` is set if a key came twice.
std::set<Bytes> walk_keys(BpfFn side, int fd, unsigned ks, bool& dups) {
    std::set<Bytes> keys;
    dups = false;
    Bytes cur;
    for (size_t i = 0; i < 100000; ++i) {
        Out o = next_key(side, fd, i ? &cur : nullptr, ks);
        if (o.r.ret != 0) break;
        cur.assign(o.buf.begin(), o.buf.begin() + ks);
        if (!keys.insert(cur).second) {
            dups = true;
            break;
        }
    }
    return keys;
}

void run_sequence(const Spec& s, unsigned key_space, unsigned ops, uint32_t seed) {
    BOOST_TEST_MESSAGE("sequence " << describe(s) << " keys " << key_space << " seed " << seed);
    Pair p;
    p.spec = s;
    Res k = create(kKernel, s), l = create(kLibrary, s);
    p.kfd = k.ret;
    p.lfd = l.ret;
    BOOST_REQUIRE_MESSAGE(k.ret >= 0 && l.ret >= 0,
                          describe(s) << ": kernel " << show(k) << ", library " << show(l));
    const unsigned vbytes =
        static_cast<unsigned>(is_percpu(s.type) ? bt::percpu_value_bytes(s.vs) : size_t{s.vs});
    std::mt19937 rng(seed);
    auto rnd = [&](unsigned n) { return static_cast<unsigned>(rng() % n); };
    auto make_key = [&](unsigned i) {
        Bytes b(s.ks, 0);
        for (unsigned j = 0; j < s.ks; ++j)
            b[j] = static_cast<unsigned char>((i >> (8 * (j % 4))) + j);
        return b;
    };
    int failures = 0;
    for (unsigned i = 0; i < ops && failures < 5; ++i) {
        const Bytes key = make_key(rnd(key_space));
        const unsigned what = rnd(100);
        std::string ctx = "op " + std::to_string(i) + " seed " + std::to_string(seed) + " ";
        if (what < 8) {
            // GET_NEXT_KEY from NULL or a random key: the result only (the order differs).
            const bool null_key = rnd(2);
            Out ko = next_key(kKernel, p.kfd, null_key ? nullptr : &key, s.ks);
            Out lo = next_key(kLibrary, p.lfd, null_key ? nullptr : &key, s.ks);
            if (null_key && !(ko.r == lo.r)) {
                ++failures;
                BOOST_ERROR(ctx << "GET_NEXT_KEY(NULL): kernel " << show(ko.r) << ", library "
                                << show(lo.r));
            }
            continue;
        }
        if (what < 10) {
            bool kd = false, ld = false;
            auto kk = walk_keys(kKernel, p.kfd, s.ks, kd);
            auto lk = walk_keys(kLibrary, p.lfd, s.ks, ld);
            if (kk != lk || kd || ld) {
                ++failures;
                BOOST_ERROR(ctx << "walk: kernel " << kk.size() << " keys, library " << lk.size()
                                << (ld ? " (a key came twice)" : ""));
            }
            continue;
        }
        int cmd;
        __u64 flags = 0;
        Bytes value(vbytes);
        for (auto& c : value) c = static_cast<unsigned char>(rng());
        if (what < 55) {
            cmd = BPF_MAP_UPDATE_ELEM;
            // Bad flags too: 3, F_LOCK, and what newer kernels use for per-CPU maps
            // (BPF_F_CPU = 8 with a CPU number in the upper half, BPF_F_ALL_CPUS = 16).
            const __u64 bad[] = {3, BPF_F_LOCK, 8, 16, (__u64{1} << 32) | 8, __u64{1} << 32};
            const unsigned f = rnd(20);
            flags = f < 6    ? __u64{BPF_ANY}
                    : f < 12 ? __u64{BPF_NOEXIST}
                    : f < 18 ? __u64{BPF_EXIST}
                             : bad[rnd(6)];
        } else if (what < 80) {
            cmd = BPF_MAP_LOOKUP_ELEM;
            if (rnd(20) == 0) flags = rnd(2) ? BPF_F_LOCK : 8;
        } else if (what < 92) {
            cmd = BPF_MAP_DELETE_ELEM;
        } else {
            cmd = BPF_MAP_LOOKUP_AND_DELETE_ELEM;
            flags = rnd(10) == 0 ? BPF_F_LOCK : 0;
        }
        Bytes* vp = cmd == BPF_MAP_DELETE_ELEM ? nullptr : &value;
        Out ko = elem_op(kKernel, p.kfd, cmd, &key, vp, flags, vbytes);
        Out lo = elem_op(kLibrary, p.lfd, cmd, &key, vp, flags, vbytes);
        if (!(ko.r == lo.r) || ko.buf != lo.buf) {
            ++failures;
            BOOST_ERROR(ctx << cmd_name(static_cast<int>(cmd)) << " flags " << flags << ": kernel "
                            << show(ko.r) << " " << hex(ko.buf) << ", library " << show(lo.r) << " "
                            << hex(lo.buf));
        }
    }
    bool kd = false, ld = false;
    auto kk = walk_keys(kKernel, p.kfd, s.ks, kd);
    auto lk = walk_keys(kLibrary, p.lfd, s.ks, ld);
    BOOST_CHECK_MESSAGE(kk == lk && !ld,
                        "final walk: kernel " << kk.size() << " keys, library " << lk.size());
    // Every value, compared at the end.
    for (const Bytes& key : kk) {
        Bytes v(vbytes);
        Out ko = elem_op(kKernel, p.kfd, BPF_MAP_LOOKUP_ELEM, &key, &v, 0, vbytes);
        Out lo = elem_op(kLibrary, p.lfd, BPF_MAP_LOOKUP_ELEM, &key, &v, 0, vbytes);
        BOOST_CHECK_MESSAGE(ko.r == lo.r && ko.buf == lo.buf,
                            "final value of " << hex(key) << ": kernel " << hex(ko.buf)
                                              << ", library " << hex(lo.buf));
    }
}

uint32_t seed_for(unsigned salt) {
    static const uint32_t base = std::random_device{}();
    return base + salt * 7919u;
}

}  // namespace

BOOST_AUTO_TEST_CASE(sequences_percpu_hash) {
    // Small max_entries: E2BIG on a full map is frequent.
    run_sequence({BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 24}, 40, 3000, seed_for(1));
    run_sequence({BPF_MAP_TYPE_PERCPU_HASH, 8, 12, 64}, 96, 3000, seed_for(2));
    run_sequence({BPF_MAP_TYPE_PERCPU_HASH, 5, 1, 8}, 12, 2000, seed_for(3));
    run_sequence({BPF_MAP_TYPE_PERCPU_HASH, 16, 40, 32, BPF_F_NO_PREALLOC}, 48, 2000, seed_for(4));
}

BOOST_AUTO_TEST_CASE(sequences_lru_hash) {
    // max_entries far above the key space: the kernel never evicts (see the file comment).
    run_sequence({BPF_MAP_TYPE_LRU_HASH, 4, 8, 4096}, 256, 3000, seed_for(5));
    run_sequence({BPF_MAP_TYPE_LRU_HASH, 12, 3, 4096, BPF_F_NO_COMMON_LRU}, 128, 2000, seed_for(6));
}

BOOST_AUTO_TEST_CASE(sequences_lru_percpu_hash) {
    run_sequence({BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 4, 4096}, 256, 3000, seed_for(7));
    run_sequence({BPF_MAP_TYPE_LRU_PERCPU_HASH, 8, 20, 4096, BPF_F_NO_COMMON_LRU}, 128, 2000,
                 seed_for(8));
}

BOOST_AUTO_TEST_SUITE_END()
