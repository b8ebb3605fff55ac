// BPF_MAP_TYPE_LRU_HASH and BPF_MAP_TYPE_LRU_PERCPU_HASH through bpfmap's bpf():
//  * create errnos: NO_PREALLOC is ENOTSUPP (524), NO_COMMON_LRU is EINVAL on HASH and
//    PERCPU_HASH, NUMA node with NO_COMMON_LRU or per-CPU values is EINVAL; NO_COMMON_LRU rounds
//    max_entries up to a multiple of the possible CPU count, as GET_INFO shows (3 -> 4 on 2
//    CPUs), and that many elements then fit;
//  * a full map never says E2BIG: it evicts; the element count (a GET_NEXT_KEY walk) never
//    exceeds max_entries, checked after every insert, and is exactly max_entries once full;
//  * recency: after filling, the keys looked up (LOOKUP), updated (UPDATE of an existing key)
//    or touched through bpfmap_this_cpu_ptr (LRU_PERCPU) all survive the insertion of as many
//    new keys as there are untouched ones, and every untouched key is evicted instead (an
//    observer's lookups, bpfmap_observe_only, refresh nothing); a key
//    just inserted survives the next insertion; a key looked up again and again survives a long
//    stream of inserts; all that for each type, with and without NO_COMMON_LRU;
//  * update flags as for HASH (EINVAL above BPF_EXIST, EEXIST, ENOENT), and LRU_PERCPU values
//    with the per-CPU layout (padding kept).
#include <bpfmap/bpf.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <vector>

#include "owned_fd.hpp"
#include "test_support.hpp"

namespace {

namespace bt = bpfmap::test;
using bt::Fd;

constexpr int kENOTSUPP = 524;

int create_errno(unsigned type, unsigned max, unsigned flags) {
    errno = 0;
    return bt::close_or_errno(bt::map_create(type, 4, 8, max, flags));
}

uint32_t info_max_entries(int fd) {
    bpf_map_info info;
    BOOST_REQUIRE(bt::map_info(fd, info) == 0);
    return info.max_entries;
}

bool percpu(unsigned type) {
    return type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

// An LRU map under test: 4-byte keys, 8-byte values (per-CPU: 8 bytes per CPU).
struct Lru {
    unsigned type;
    Fd fd;
    unsigned vbytes;
    Lru(unsigned t, unsigned max, unsigned flags = 0)
        : type(t),
          fd(bt::map_create(t, 4, 8, max, flags)),
          vbytes(static_cast<unsigned>(percpu(t) ? bt::percpu_value_bytes(8) : 8)) {
        BOOST_REQUIRE_MESSAGE(fd.ok(), "create: errno " << errno);
    }
    std::vector<unsigned char> value(uint32_t k) const {
        std::vector<unsigned char> v(vbytes);
        for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<unsigned char>(k * 7 + i);
        return v;
    }
    int put(uint32_t k, unsigned long long flags = BPF_ANY) {
        auto v = value(k);
        return bt::map_update(fd.get(), &k, v.data(), flags);
    }
    bool has(uint32_t k) {
        std::vector<unsigned char> v(vbytes);
        return bt::map_lookup(fd.get(), &k, v.data()) == 0;  // note: refreshes recency
    }
    // The keys present, by a GET_NEXT_KEY walk (does not touch recency).
    std::set<uint32_t> keys() {
        std::set<uint32_t> out;
        uint32_t cur = 0, next = 0;
        bool first = true;
        while (bt::map_get_next_key(fd.get(), first ? nullptr : &cur, &next) == 0) {
            BOOST_REQUIRE_MESSAGE(out.insert(next).second, "key " << next << " walked twice");
            cur = next;
            first = false;
            BOOST_REQUIRE(out.size() < 1000000);
        }
        return out;
    }
};

const unsigned kLruTypes[] = {BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH};

}  // namespace

BOOST_AUTO_TEST_SUITE(lru_hash)

BOOST_AUTO_TEST_CASE(create_errnos_and_no_common_lru_rounding) {
    const unsigned n = bt::possible_cpus();
    for (unsigned t : kLruTypes) {
        BOOST_CHECK_EQUAL(create_errno(t, 16, BPF_F_NO_PREALLOC), kENOTSUPP);
        BOOST_CHECK_EQUAL(create_errno(t, 16, BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU), kENOTSUPP);
        BOOST_CHECK_EQUAL(create_errno(t, 16, BPF_F_NUMA_NODE | BPF_F_NO_COMMON_LRU), EINVAL);
        BOOST_CHECK_EQUAL(create_errno(t, 16, BPF_F_NUMA_NODE),
                          percpu(t) ? EINVAL : 0);  // per-CPU values: no NUMA node
        BOOST_CHECK_EQUAL(create_errno(t, 0, BPF_F_NO_COMMON_LRU), EINVAL);
        BOOST_CHECK_EQUAL(create_errno(t, 16, BPF_F_MMAPABLE), EINVAL);
        BOOST_CHECK_EQUAL(create_errno(t, (1u << 27) + 1, 0), E2BIG);
        for (unsigned max : {1u, 3u, n, n + 1, 1000u, 1001u}) {
            Lru m(t, max, BPF_F_NO_COMMON_LRU);
            const unsigned want = (max + n - 1) / n * n;
            BOOST_CHECK_EQUAL(info_max_entries(m.fd.get()), want);
            // That many keys fit: insert them (with no lookups in between) and count.
            for (uint32_t k = 0; k < want; ++k) BOOST_REQUIRE(m.put(k) == 0);
            BOOST_CHECK_EQUAL(m.keys().size(), want);
            BOOST_REQUIRE(m.put(want) == 0);  // one more: evicts
            BOOST_CHECK_EQUAL(m.keys().size(), want);
        }
        Lru plain(t, 3);
        BOOST_CHECK_EQUAL(info_max_entries(plain.fd.get()), 3u);
    }
    BOOST_CHECK_EQUAL(create_errno(BPF_MAP_TYPE_HASH, 16, BPF_F_NO_COMMON_LRU), EINVAL);
    BOOST_CHECK_EQUAL(create_errno(BPF_MAP_TYPE_PERCPU_HASH, 16, BPF_F_NO_COMMON_LRU), EINVAL);
}

BOOST_AUTO_TEST_CASE(update_flags_and_values) {
    for (unsigned t : kLruTypes) {
        Lru m(t, 8);
        for (unsigned long long f : {3ull, 4ull, 1ull << 32}) {
            errno = 0;
            BOOST_CHECK(m.put(1, f) == -1 && errno == EINVAL);
        }
        errno = 0;
        BOOST_CHECK(m.put(1, BPF_EXIST) == -1 && errno == ENOENT);
        BOOST_CHECK(m.put(1, BPF_NOEXIST) == 0);
        errno = 0;
        BOOST_CHECK(m.put(1, BPF_NOEXIST) == -1 && errno == EEXIST);
        BOOST_CHECK(m.put(1, BPF_EXIST) == 0);
        std::vector<unsigned char> out(m.vbytes + 8, 0xcd);
        uint32_t k = 1;
        BOOST_REQUIRE(bt::map_lookup(m.fd.get(), &k, out.data()) == 0);
        const auto want = m.value(1);
        BOOST_CHECK(std::memcmp(out.data(), want.data(), m.vbytes) == 0);
        BOOST_CHECK(out[m.vbytes] == 0xcd);
        BOOST_CHECK(bt::map_delete(m.fd.get(), &k) == 0);
        errno = 0;
        BOOST_CHECK(bt::map_delete(m.fd.get(), &k) == -1 && errno == ENOENT);
    }
}

BOOST_AUTO_TEST_CASE(never_e2big_count_never_above_max) {
    for (unsigned t : kLruTypes)
        for (unsigned flags : {0u, static_cast<unsigned>(BPF_F_NO_COMMON_LRU)}) {
            const unsigned max = 64;
            Lru m(t, max, flags);
            const unsigned cap = info_max_entries(m.fd.get());
            std::mt19937 rng(12345 + t + flags);
            for (uint32_t i = 0; i < 6 * cap; ++i) {
                // New keys mostly, some re-updates and lookups (hits refresh recency).
                const uint32_t k =
                    rng() % 4 ? i + 1000 : static_cast<uint32_t>(rng() % (i + 1)) + 1000;
                BOOST_REQUIRE_MESSAGE(m.put(k) == 0, "insert " << i << ": errno " << errno);
                if (rng() % 3 == 0) m.has(static_cast<uint32_t>(rng() % (i + 1)) + 1000);
                const size_t n = m.keys().size();
                BOOST_REQUIRE_MESSAGE(
                    n <= cap, "after insert " << i << ": " << n << " elements, max " << cap);
                BOOST_REQUIRE_MESSAGE(m.has(k), "the key just updated (" << k << ") is gone");
            }
            BOOST_CHECK_EQUAL(m.keys().size(), cap);
        }
}

// Touch a random subset S of a full map in one of three ways, then insert as many new keys as
// there are untouched ones: every key of S survives, every untouched key is gone.
void touched_keys_survive(unsigned type, unsigned flags, const char* how) {
    Lru m(type, 100, flags);
    const unsigned cap = info_max_entries(m.fd.get());
    for (uint32_t k = 0; k < cap; ++k) BOOST_REQUIRE(m.put(k) == 0);
    std::mt19937 rng(777 + type);
    std::set<uint32_t> touched;
    for (uint32_t k = 0; k < cap; ++k)
        if (rng() % 3 == 0) touched.insert(k);
    for (uint32_t k : touched) {
        if (std::strcmp(how, "lookup") == 0) {
            BOOST_REQUIRE(m.has(k));
        } else if (std::strcmp(how, "update") == 0) {
            BOOST_REQUIRE(m.put(k, BPF_EXIST) == 0);
        } else {
            errno = 0;
            BOOST_REQUIRE_MESSAGE(bpfmap_this_cpu_ptr(m.fd.get(), &k) != nullptr,
                                  "this_cpu_ptr: errno " << errno);
        }
    }
    const unsigned untouched = cap - static_cast<unsigned>(touched.size());
    for (uint32_t i = 0; i < untouched; ++i) BOOST_REQUIRE(m.put(100000 + i) == 0);
    const std::set<uint32_t> present = m.keys();
    BOOST_CHECK_EQUAL(present.size(), cap);
    for (uint32_t k : touched)
        BOOST_CHECK_MESSAGE(present.count(k), how << ": touched key " << k << " was evicted");
    for (uint32_t k = 0; k < cap; ++k)
        if (!touched.count(k))
            BOOST_CHECK_MESSAGE(!present.count(k),
                                how << ": untouched key " << k << " survived instead");
}

BOOST_AUTO_TEST_CASE(lookup_refreshes_recency) {
    for (unsigned t : kLruTypes)
        for (unsigned flags : {0u, static_cast<unsigned>(BPF_F_NO_COMMON_LRU)})
            touched_keys_survive(t, flags, "lookup");
}

BOOST_AUTO_TEST_CASE(update_refreshes_recency) {
    for (unsigned t : kLruTypes) touched_keys_survive(t, 0, "update");
}

BOOST_AUTO_TEST_CASE(this_cpu_ptr_refreshes_recency) {
    touched_keys_survive(BPF_MAP_TYPE_LRU_PERCPU_HASH, 0, "this_cpu_ptr");
    touched_keys_survive(BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_F_NO_COMMON_LRU, "this_cpu_ptr");
    Lru m(BPF_MAP_TYPE_LRU_HASH, 4);
    uint32_t k = 1;
    BOOST_REQUIRE(m.put(k) == 0);
    errno = 0;
    BOOST_CHECK(bpfmap_this_cpu_ptr(m.fd.get(), &k) == nullptr && errno == EINVAL);
}

// The oldest untouched key goes first: fill 0..N-1, look up 0, insert N -> 1 is evicted, not 0.
// A hot key looked up before every insert survives a stream of 10 * N inserts.
BOOST_AUTO_TEST_CASE(eviction_order_and_hot_key) {
    for (unsigned t : kLruTypes) {
        const unsigned N = 16;
        Lru m(t, N);
        for (uint32_t k = 0; k < N; ++k) BOOST_REQUIRE(m.put(k) == 0);
        BOOST_REQUIRE(m.has(0));
        BOOST_REQUIRE(m.put(N) == 0);
        std::set<uint32_t> p = m.keys();
        BOOST_CHECK(p.count(0) && !p.count(1) && p.count(N) && p.size() == N);
        // Each insert evicts the then-oldest untouched key, in insertion order.
        for (uint32_t k = N + 1; k < N + 5; ++k) {
            BOOST_REQUIRE(m.put(k) == 0);
            p = m.keys();
            BOOST_CHECK_MESSAGE(!p.count(k - N) && p.count(0) && p.count(k),
                                "insert " << k << ": key " << k - N << " should be the victim");
        }
        for (uint32_t i = 0; i < 10 * N; ++i) {
            BOOST_REQUIRE(m.has(0));
            BOOST_REQUIRE(m.put(1000 + i) == 0);
            BOOST_REQUIRE_MESSAGE(m.keys().count(0), "hot key evicted after insert " << i);
        }
    }
}

// An observer (bpfmap_observe_only, what bpfmap-inspect uses to dump a map) looks keys up
// without marking them: fill 0..N-1, observe key 0, insert N -> key 0 is the victim.
BOOST_AUTO_TEST_CASE(observer_lookups_leave_recency_alone) {
    for (unsigned t : kLruTypes) {
        const unsigned N = 8;
        Lru m(t, N);
        for (uint32_t k = 0; k < N; ++k) BOOST_REQUIRE(m.put(k) == 0);
        bpfmap_observe_only(1);
        const bool seen = m.has(0);
        bpfmap_observe_only(0);
        BOOST_REQUIRE(seen);
        BOOST_REQUIRE(m.put(N) == 0);
        const std::set<uint32_t> p = m.keys();
        BOOST_CHECK_MESSAGE(!p.count(0) && p.count(1), "the observed key 0 was refreshed");
    }
}

// max_entries = 1: every new key replaces the old one; max_entries = 2 with one hot key.
BOOST_AUTO_TEST_CASE(tiny_maps) {
    for (unsigned t : kLruTypes) {
        Lru one(t, 1);
        for (uint32_t k = 0; k < 20; ++k) {
            BOOST_REQUIRE(one.has(k == 0 ? 0 : k - 1) == (k != 0));
            BOOST_REQUIRE(one.put(k) == 0);
            BOOST_CHECK(one.keys() == std::set<uint32_t>{k});
        }
        Lru two(t, 2);
        BOOST_REQUIRE(two.put(0) == 0);
        for (uint32_t k = 1; k < 20; ++k) {
            BOOST_REQUIRE(two.has(0));
            BOOST_REQUIRE(two.put(k) == 0);
            BOOST_CHECK((two.keys() == std::set<uint32_t>{0, k}));
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
