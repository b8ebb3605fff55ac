// PERCPU_HASH, LRU_HASH and LRU_PERCPU_HASH used by several real processes at once (spawn_child:
// fork + exec of this binary), all started together through a gate:
//  * writers_and_readers (each type, and LRU with NO_COMMON_LRU): writers own disjoint key
//    ranges; they update their keys (BPF_ANY) and every 8th time delete and re-insert one
//    (BPF_NOEXIST, which must succeed: nobody else touches the key), with values made of one
//    8-byte word repeated over the whole user buffer (every CPU slot of a per-CPU value):
//    (key << 32 | version). Readers look up random keys meanwhile; a value that is not uniform,
//    or whose word names another key, is torn. Writers go on until every reader has done its
//    reads (flags in a control ARRAY), so reads overlap writes. Then every key must be present
//    (a walk finds exactly the writers' keys) with the writer's final value: no lost keys.
//    max_entries = the number of keys, so LRU maps never need to evict here.
//  * lru_eviction_under_concurrency: the same on LRU maps half as large as the key space, so
//    that writers evict each other's keys all the time: no errors (never E2BIG), no torn
//    values, the element count never above max_entries (walks by a checker process during the
//    run and at the end, exactly max_entries then).
//  * percpu_counter_*: several processes increment one key's counter through
//    bpfmap_this_cpu_ptr() with __atomic_fetch_add (the pointer fetched again before every
//    add, as a BPF program would); the sum of the per-CPU slots read back through bpf() LOOKUP
//    is exactly the number of increments.
#include <bpfmap/bpf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "process_helpers.hpp"
#include "shm/segment_format.hpp"
#include "test_support.hpp"

namespace {

namespace bt = bpfmap::test;
using namespace bpfmap::test::proc;

bool percpu(unsigned type) {
    return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

constexpr unsigned kValueSize = 24;

// Bytes of a user value buffer for this map type.
size_t user_bytes(unsigned type) {
    return percpu(type) ? bt::percpu_value_bytes(kValueSize) : kValueSize;
}

// The word if every 8-byte word of v is the same and names `key`; else 0.
uint64_t uniform_word(const std::vector<unsigned char>& v, uint32_t key) {
    uint64_t w0;
    std::memcpy(&w0, v.data(), 8);
    for (size_t i = 8; i + 8 <= v.size(); i += 8)
        if (std::memcmp(v.data() + i, &w0, 8) != 0) return 0;
    return (w0 >> 32) == key ? w0 : 0;
}

constexpr uint64_t kFinal = 0xffffffffu;

int create(unsigned type, unsigned max, unsigned flags) {
    return bt::map_create(type, 4, kValueSize, max, flags);
}

// args: out ready go map ctl type wid nkeys_per_writer min_iters n_readers may_evict
BPFMAP_CHILD(family_writer) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3), ctl = ifd(args, 4);
    const unsigned type = static_cast<unsigned>(num(args, 5));
    const uint32_t wid = static_cast<uint32_t>(num(args, 6)),
                   K = static_cast<uint32_t>(num(args, 7));
    const uint64_t min_iters = num(args, 8);
    const uint32_t nr = static_cast<uint32_t>(num(args, 9));
    const bool may_evict = num(args, 10) != 0;
    std::vector<unsigned char> v(user_bytes(type));
    pass_gate(ifd(args, 1), ifd(args, 2));
    uint64_t i = 0;
    for (;; ++i) {
        if (i >= min_iters && i % 256 == 0 && all_flags_set(ctl, nr)) break;
        if (i > 100 * min_iters + 1000000) {
            out.line("ERR readers never finished");
            return 1;
        }
        const uint32_t key = wid * K + static_cast<uint32_t>(i % K);
        fill_words(v, uint64_t{key} << 32 | ((i + 1) & 0x7fffffff));
        if (i % 8 == 0) {
            if (bt::map_delete(map, &key) != 0 && (errno != ENOENT || !may_evict)) {
                out.line("ERR delete " + std::to_string(key) + ": " + errname(errno));
                return 1;
            }
            if (bt::map_update(map, &key, v.data(), BPF_NOEXIST) != 0) {
                out.line("ERR insert " + std::to_string(key) + ": " + errname(errno));
                return 1;
            }
        } else if (bt::map_update(map, &key, v.data(), BPF_ANY) != 0) {
            out.line("ERR update " + std::to_string(key) + ": " + errname(errno));
            return 1;
        }
    }
    for (uint32_t j = 0; j < K; ++j) {
        const uint32_t key = wid * K + j;
        fill_words(v, uint64_t{key} << 32 | kFinal);
        if (bt::map_update(map, &key, v.data(), BPF_ANY) != 0) {
            out.line("ERR final update " + std::to_string(key) + ": " + errname(errno));
            return 1;
        }
    }
    out.line("STATS " + std::to_string(i));
    return 0;
}

// args: out ready go map ctl type rid nkeys reads
BPFMAP_CHILD(family_reader) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3), ctl = ifd(args, 4);
    const unsigned type = static_cast<unsigned>(num(args, 5));
    const uint32_t rid = static_cast<uint32_t>(num(args, 6)),
                   nkeys = static_cast<uint32_t>(num(args, 7));
    const uint64_t reads = num(args, 8);
    std::vector<unsigned char> v(user_bytes(type));
    std::mt19937 rng(rid * 7919 + 1);
    pass_gate(ifd(args, 1), ifd(args, 2));
    uint64_t found = 0, torn = 0;
    for (uint64_t i = 0; i < reads; ++i) {
        const uint32_t key = static_cast<uint32_t>(rng() % nkeys);
        if (bt::map_lookup(map, &key, v.data()) != 0) {
            if (errno != ENOENT) {
                out.line("ERR lookup: " + errname(errno));
                return 1;
            }
            continue;
        }
        ++found;
        if (!uniform_word(v, key)) {
            if (++torn < 5) out.line("TORN key " + std::to_string(key));
        }
    }
    const uint32_t one = 1;
    if (bt::map_update(ctl, &rid, &one, BPF_ANY) != 0) {
        out.line("ERR ctl: " + errname(errno));
        return 1;
    }
    out.line("STATS " + std::to_string(found) + " " + std::to_string(torn));
    return 0;
}

// Samples the map's element count while writers run: the count word of the region header
// (shm/hash_table.hpp: HashHeader::count, byte 24 of the region), read from the segment file
// mapped read-only, never above max_entries. (A GET_NEXT_KEY walk is no snapshot under churn:
// keys inserted behind the cursor and evicted ahead of it are both seen.)
// args: out ready go map ctl max nr
BPFMAP_CHILD(family_counter) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3), ctl = ifd(args, 4);
    const uint64_t max = num(args, 5);
    const uint32_t nr = static_cast<uint32_t>(num(args, 6));
    const std::string path = bt::test_root() + "/maps/" + std::to_string(map_id_of(map));
    Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (f.get() < 0) {
        out.line("ERR open " + path + ": " + errname(errno));
        return 1;
    }
    const size_t len = bpfmap::shm::kRegionOffset + 64;
    void* base = mmap(nullptr, len, PROT_READ, MAP_SHARED, f.get(), 0);
    if (base == MAP_FAILED) {
        out.line("ERR mmap: " + errname(errno));
        return 1;
    }
    const auto* count = reinterpret_cast<const uint32_t*>(static_cast<const char*>(base) +
                                                          bpfmap::shm::kRegionOffset + 24);
    pass_gate(ifd(args, 1), ifd(args, 2));
    uint64_t samples = 0, worst = 0;
    do {
        for (int i = 0; i < 1000; ++i, ++samples) {
            const uint32_t n = __atomic_load_n(count, __ATOMIC_RELAXED);
            if (n > worst) worst = n;
        }
    } while (!all_flags_set(ctl, nr));
    munmap(base, len);
    out.line("STATS " + std::to_string(samples) + " " + std::to_string(worst));
    if (worst > max) out.line("ERR count reached " + std::to_string(worst));
    return worst <= max ? 0 : 1;
}

struct RunCfg {
    unsigned type;
    unsigned flags = 0;
    uint32_t writers = 3, keys_per_writer = 64, readers = 3;
    uint32_t max = 0;  // 0: the number of keys
};

void run_writers_readers(const RunCfg& c) {
    const uint32_t nkeys = c.writers * c.keys_per_writer;
    const uint32_t max = c.max ? c.max : nkeys;
    const bool may_evict = max < nkeys;
    BOOST_TEST_MESSAGE("type " << c.type << " flags " << c.flags << " max " << max << " keys "
                               << nkeys);
    Fd map(create(c.type, max, c.flags));
    BOOST_REQUIRE_MESSAGE(map.get() >= 0, "create: " << errname(errno));
    Fd ctl(bt::map_create(BPF_MAP_TYPE_ARRAY, 4, 4, c.readers + 1));
    BOOST_REQUIRE(ctl.get() >= 0);
    std::vector<unsigned char> init(user_bytes(c.type));
    for (uint32_t k = 0; k < nkeys; ++k) {
        fill_words(init, uint64_t{k} << 32 | 0x7fffffff);
        BOOST_REQUIRE_MESSAGE(bt::map_update(map.get(), &k, init.data(), BPF_NOEXIST) == 0,
                              "initial insert: " << errname(errno));
    }
    const uint64_t min_iters = kSanitized ? 2000 : 20000;
    const uint64_t reads = kSanitized ? 5000 : 50000;
    Gate gate;
    std::vector<Proc> ps;
    const std::vector<int> keep = {map.get(), ctl.get(), gate.fds()[0], gate.fds()[1]};
    for (uint32_t w = 0; w < c.writers; ++w) {
        std::vector<std::string> a = gate.args();
        for (uint64_t x :
             {uint64_t(map.get()), uint64_t(ctl.get()), uint64_t(c.type), uint64_t(w),
              uint64_t(c.keys_per_writer), min_iters, uint64_t(c.readers), uint64_t(may_evict)})
            a.push_back(std::to_string(x));
        ps.push_back(start("writer " + std::to_string(w), "family_writer", a, keep));
    }
    for (uint32_t r = 0; r < c.readers; ++r) {
        std::vector<std::string> a = gate.args();
        for (uint64_t x : {uint64_t(map.get()), uint64_t(ctl.get()), uint64_t(c.type), uint64_t(r),
                           uint64_t(nkeys), reads})
            a.push_back(std::to_string(x));
        ps.push_back(start("reader " + std::to_string(r), "family_reader", a, keep));
    }
    if (may_evict) {
        std::vector<std::string> a = gate.args();
        for (uint64_t x :
             {uint64_t(map.get()), uint64_t(ctl.get()), uint64_t(max), uint64_t(c.readers)})
            a.push_back(std::to_string(x));
        ps.push_back(start("counter", "family_counter", a, keep));
    }
    BOOST_REQUIRE(gate.open(static_cast<int>(ps.size())));
    finish(ps, kTimeoutMs);
    for (Proc& p : ps) {
        BOOST_CHECK_MESSAGE(check_ok(p), p.name << " failed: " << p.text.substr(0, 2000));
        for (const std::string& t : lines(p, "TORN")) BOOST_ERROR(p.name << ": torn value: " << t);
        auto st = lines(p, "STATS");
        if (!st.empty()) BOOST_TEST_MESSAGE("  " << p.name << ": " << st[0]);
        if (p.name.rfind("reader", 0) == 0 && !st.empty()) {
            std::istringstream in(st[0]);
            uint64_t found = 0, torn = 0;
            in >> found >> torn;
            BOOST_CHECK_EQUAL(torn, 0u);
            BOOST_CHECK_MESSAGE(found > 0, p.name << ": found nothing");
        }
    }
    // The end state: no lost keys (or, evicting, exactly max keys), every value final.
    int err = 0;
    const auto keys = walk(map.get(), 1u << 20, err);
    BOOST_CHECK_EQUAL(err, 0);
    const std::set<uint32_t> ks(keys.begin(), keys.end());
    BOOST_CHECK_EQUAL(ks.size(), keys.size());
    if (!may_evict) {
        BOOST_CHECK_EQUAL(ks.size(), nkeys);
        for (uint32_t k = 0; k < nkeys; ++k)
            BOOST_CHECK_MESSAGE(ks.count(k), "key " << k << " lost");
    } else {
        BOOST_CHECK_EQUAL(ks.size(), max);
    }
    std::vector<unsigned char> v(user_bytes(c.type));
    for (uint32_t k : ks) {
        BOOST_REQUIRE(k < nkeys);
        BOOST_REQUIRE(bt::map_lookup(map.get(), &k, v.data()) == 0);
        const uint64_t w = uniform_word(v, k);
        BOOST_CHECK_MESSAGE(w != 0, "key " << k << ": value not uniform");
        if (!may_evict)
            BOOST_CHECK_MESSAGE((w & 0xffffffffu) == kFinal, "key " << k << ": not final");
    }
}

// args: out ready go map type increments
BPFMAP_CHILD(percpu_incrementer) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3);
    const uint64_t n = num(args, 5);
    const uint32_t key = 7;
    pass_gate(ifd(args, 1), ifd(args, 2));
    for (uint64_t i = 0; i < n; ++i) {
        void* p = bpfmap_this_cpu_ptr(map, &key);
        if (!p) {
            out.line("ERR this_cpu_ptr: " + errname(errno));
            return 1;
        }
        __atomic_fetch_add(static_cast<uint64_t*>(p), 1, __ATOMIC_RELAXED);
    }
    return 0;
}

void run_counter(unsigned type, unsigned flags) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_type = type;
    a.key_size = 4;
    a.value_size = 8;
    a.max_entries = 16;
    a.map_flags = flags;
    Fd map(bpf(BPF_MAP_CREATE, &a, sizeof a));
    BOOST_REQUIRE_MESSAGE(map.get() >= 0, "create: " << errname(errno));
    const unsigned n = bt::possible_cpus();
    std::vector<unsigned char> zero(8 * n, 0);
    const uint32_t key = 7;
    BOOST_REQUIRE(bt::map_update(map.get(), &key, zero.data(), BPF_NOEXIST) == 0);
    const uint32_t procs = 4;
    const uint64_t incs = kSanitized ? 20000 : 200000;
    Gate gate;
    std::vector<Proc> ps;
    const std::vector<int> keep = {map.get(), gate.fds()[0], gate.fds()[1]};
    for (uint32_t i = 0; i < procs; ++i) {
        std::vector<std::string> args = gate.args();
        for (uint64_t x : {uint64_t(map.get()), uint64_t(type), incs})
            args.push_back(std::to_string(x));
        ps.push_back(start("incrementer " + std::to_string(i), "percpu_incrementer", args, keep));
    }
    BOOST_REQUIRE(gate.open(static_cast<int>(ps.size())));
    finish(ps, kTimeoutMs);
    for (Proc& p : ps) BOOST_CHECK_MESSAGE(check_ok(p), p.name << ": " << p.text);
    std::vector<unsigned char> v(8 * n);
    BOOST_REQUIRE(bt::map_lookup(map.get(), &key, v.data()) == 0);
    uint64_t sum = 0;
    std::string per;
    for (unsigned c = 0; c < n; ++c) {
        uint64_t w;
        std::memcpy(&w, v.data() + 8 * c, 8);
        sum += w;
        per += " " + std::to_string(w);
    }
    BOOST_TEST_MESSAGE("  per-CPU slots:" << per);
    BOOST_CHECK_EQUAL(sum, uint64_t{procs} * incs);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hash_family_process)

BOOST_AUTO_TEST_CASE(writers_and_readers_percpu_hash) {
    run_writers_readers({BPF_MAP_TYPE_PERCPU_HASH});
}
BOOST_AUTO_TEST_CASE(writers_and_readers_lru_hash) {
    run_writers_readers({BPF_MAP_TYPE_LRU_HASH});
    run_writers_readers({BPF_MAP_TYPE_LRU_HASH, BPF_F_NO_COMMON_LRU});
}
BOOST_AUTO_TEST_CASE(writers_and_readers_lru_percpu_hash) {
    run_writers_readers({BPF_MAP_TYPE_LRU_PERCPU_HASH});
}
BOOST_AUTO_TEST_CASE(lru_eviction_under_concurrency) {
    RunCfg c{BPF_MAP_TYPE_LRU_HASH};
    c.max = c.writers * c.keys_per_writer / 2;
    run_writers_readers(c);
    c.type = BPF_MAP_TYPE_LRU_PERCPU_HASH;
    run_writers_readers(c);
}
BOOST_AUTO_TEST_CASE(percpu_counter_percpu_hash) {
    run_counter(BPF_MAP_TYPE_PERCPU_HASH, 0);
}
BOOST_AUTO_TEST_CASE(percpu_counter_lru_percpu_hash) {
    run_counter(BPF_MAP_TYPE_LRU_PERCPU_HASH, 0);
    run_counter(BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_F_NO_COMMON_LRU);
}

BOOST_AUTO_TEST_SUITE_END()
