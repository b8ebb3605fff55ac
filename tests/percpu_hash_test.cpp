// BPF_MAP_TYPE_PERCPU_HASH through bpfmap's bpf() and bpfmap_this_cpu_ptr():
//  * create errnos: per-CPU value size limit (round_up(vs, 8) > 32768: E2BIG), NUMA node with
//    per-CPU values and NO_COMMON_LRU (EINVAL), zero sizes (EINVAL); GET_INFO shows value_size
//    as given (not the per-CPU buffer size);
//  * value layout: a value is round_up(vs, 8) bytes per possible CPU; UPDATE stores every slot
//    with its padding, LOOKUP returns exactly those bytes and writes nothing past them;
//    LOOKUP_AND_DELETE returns them too; an update of an existing key is in place;
//  * update flags (EINVAL above BPF_EXIST and for F_LOCK, EEXIST, ENOENT), E2BIG on a full map,
//    an existing key still updatable when full;
//  * bpfmap_this_cpu_ptr: the slot of the CPU the thread runs on (pinned with
//    sched_setaffinity), 8-byte aligned, writable in place and seen by LOOKUP in that CPU's slot
//    only; it stays valid across a bpf() update of the key (in place); ENOENT for a missing key;
//    EINVAL on a HASH map; EPERM through a read-only fd.
#include <bpfmap/bpf.h>
#include <sched.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "owned_fd.hpp"
#include "test_support.hpp"

namespace {

namespace bt = bpfmap::test;
using bt::Fd;

int create_errno(unsigned type, unsigned ks, unsigned vs, unsigned max, unsigned flags = 0) {
    errno = 0;
    return bt::close_or_errno(bt::map_create(type, ks, vs, max, flags));
}

bpf_map_info info_of(int fd) {
    bpf_map_info info;
    BOOST_REQUIRE(bt::map_info(fd, info) == 0);
    return info;
}

unsigned slot_size(unsigned vs) {
    return (vs + 7) & ~7u;
}

// A full per-CPU value whose every byte (padding included) differs by CPU, key and byte.
std::vector<unsigned char> pattern(unsigned vs, uint32_t key, unsigned salt) {
    std::vector<unsigned char> v(bt::percpu_value_bytes(vs));
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<unsigned char>(key * 31 + i + salt);
    return v;
}

bool pin_to_cpu(unsigned cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 && sched_getcpu() == static_cast<int>(cpu);
}

struct AffinityRestore {
    cpu_set_t saved;
    AffinityRestore() { sched_getaffinity(0, sizeof saved, &saved); }
    ~AffinityRestore() { sched_setaffinity(0, sizeof saved, &saved); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(percpu_hash)

BOOST_AUTO_TEST_CASE(create_errnos_and_info) {
    const unsigned T = BPF_MAP_TYPE_PERCPU_HASH;
    BOOST_CHECK_EQUAL(create_errno(T, 4, 32768, 4), 0);
    BOOST_CHECK_EQUAL(create_errno(T, 4, 32761, 4), 0);      // rounds up to 32768
    BOOST_CHECK_EQUAL(create_errno(T, 4, 32769, 4), E2BIG);  // rounds up to 32776
    BOOST_CHECK_EQUAL(create_errno(T, 4, 32760, 4), 0);
    BOOST_CHECK_EQUAL(create_errno(T, 0, 8, 4), EINVAL);
    BOOST_CHECK_EQUAL(create_errno(T, 4, 0, 4), EINVAL);
    BOOST_CHECK_EQUAL(create_errno(T, 4, 8, 0), EINVAL);
    BOOST_CHECK_EQUAL(create_errno(T, 4, 8, 4, BPF_F_NUMA_NODE), EINVAL);
    BOOST_CHECK_EQUAL(create_errno(T, 4, 8, 4, BPF_F_NO_COMMON_LRU), EINVAL);
    BOOST_CHECK_EQUAL(create_errno(T, 4, 8, 4, BPF_F_MMAPABLE), EINVAL);
    BOOST_CHECK_EQUAL(create_errno(T, 4, 8, 4, BPF_F_NO_PREALLOC), 0);
    BOOST_CHECK_EQUAL(create_errno(T, 4, 8, (1u << 27) + 1), E2BIG);
    Fd m(bt::map_create(T, 4, 12, 7));
    BOOST_REQUIRE(m.ok());
    const bpf_map_info i = info_of(m.get());
    BOOST_CHECK_EQUAL(i.type, T);
    BOOST_CHECK_EQUAL(i.value_size, 12u);
    BOOST_CHECK_EQUAL(i.max_entries, 7u);
}

BOOST_AUTO_TEST_CASE(value_layout_and_padding) {
    for (unsigned vs : {1u, 4u, 8u, 12u, 100u}) {
        Fd m(bt::map_create(BPF_MAP_TYPE_PERCPU_HASH, 4, vs, 16));
        BOOST_REQUIRE(m.ok());
        const size_t n = bt::percpu_value_bytes(vs);
        for (uint32_t k = 0; k < 10; ++k) {
            auto v = pattern(vs, k, 0);
            BOOST_REQUIRE(bt::map_update(m.get(), &k, v.data(), BPF_NOEXIST) == 0);
        }
        for (uint32_t k = 0; k < 10; ++k) {
            std::vector<unsigned char> out(n + 64, 0xcd);
            BOOST_REQUIRE(bt::map_lookup(m.get(), &k, out.data()) == 0);
            const auto want = pattern(vs, k, 0);
            BOOST_CHECK_MESSAGE(std::memcmp(out.data(), want.data(), n) == 0,
                                "vs " << vs << " key " << k << ": slots or padding differ");
            for (size_t i = n; i < out.size(); ++i)
                BOOST_REQUIRE_MESSAGE(out[i] == 0xcd,
                                      "vs " << vs << ": byte " << i << " written past the value");
        }
        // Update in place with another pattern; LOOKUP_AND_DELETE returns it whole.
        uint32_t k = 3;
        auto v2 = pattern(vs, k, 77);
        BOOST_REQUIRE(bt::map_update(m.get(), &k, v2.data(), BPF_EXIST) == 0);
        std::vector<unsigned char> out(n + 8, 0xcd);
        union bpf_attr a;
        std::memset(&a, 0, sizeof a);
        a.map_fd = static_cast<__u32>(m.get());
        a.key = bt::uptr(&k);
        a.value = bt::uptr(out.data());
        BOOST_REQUIRE(bpf(BPF_MAP_LOOKUP_AND_DELETE_ELEM, &a, sizeof a) == 0);
        BOOST_CHECK(std::memcmp(out.data(), v2.data(), n) == 0);
        BOOST_CHECK(out[n] == 0xcd);
        errno = 0;
        BOOST_CHECK(bt::map_lookup(m.get(), &k, out.data()) == -1 && errno == ENOENT);
    }
}

BOOST_AUTO_TEST_CASE(update_flags_and_full_map) {
    Fd m(bt::map_create(BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 4));
    BOOST_REQUIRE(m.ok());
    uint32_t k = 1;
    auto v = pattern(8, k, 0);
    for (unsigned long long f : {3ull, 4ull, 8ull, 1ull << 32}) {
        errno = 0;
        BOOST_CHECK_MESSAGE(bt::map_update(m.get(), &k, v.data(), f) == -1 && errno == EINVAL,
                            "flags " << f << ": errno " << errno);
    }
    errno = 0;
    BOOST_CHECK(bt::map_update(m.get(), &k, v.data(), BPF_EXIST) == -1 && errno == ENOENT);
    BOOST_CHECK(bt::map_update(m.get(), &k, v.data(), BPF_NOEXIST) == 0);
    errno = 0;
    BOOST_CHECK(bt::map_update(m.get(), &k, v.data(), BPF_NOEXIST) == -1 && errno == EEXIST);
    for (k = 2; k <= 4; ++k) BOOST_REQUIRE(bt::map_update(m.get(), &k, v.data(), BPF_ANY) == 0);
    k = 5;
    errno = 0;
    BOOST_CHECK(bt::map_update(m.get(), &k, v.data(), BPF_ANY) == -1 && errno == E2BIG);
    errno = 0;
    BOOST_CHECK(bt::map_update(m.get(), &k, v.data(), BPF_NOEXIST) == -1 && errno == E2BIG);
    k = 4;
    BOOST_CHECK(bt::map_update(m.get(), &k, v.data(), BPF_ANY) == 0);  // existing: fine
    BOOST_CHECK(bt::map_delete(m.get(), &k) == 0);
    k = 5;
    BOOST_CHECK(bt::map_update(m.get(), &k, v.data(), BPF_NOEXIST) == 0);
}

BOOST_AUTO_TEST_CASE(this_cpu_ptr_slots) {
    AffinityRestore restore;
    const unsigned n = bt::possible_cpus();
    Fd m(bt::map_create(BPF_MAP_TYPE_PERCPU_HASH, 8, 12, 16));
    BOOST_REQUIRE(m.ok());
    const uint64_t key = 0x1122334455667788ull;
    std::vector<unsigned char> zero(slot_size(12) * n, 0);
    BOOST_REQUIRE(bt::map_update(m.get(), &key, zero.data(), BPF_ANY) == 0);
    unsigned tried = 0;
    std::vector<uint64_t> expect(n, 0);
    for (unsigned cpu = 0; cpu < n && cpu < 8; ++cpu) {
        if (!pin_to_cpu(cpu)) continue;  // not online or not allowed here
        ++tried;
        void* p = bpfmap_this_cpu_ptr(m.get(), &key);
        BOOST_REQUIRE_MESSAGE(p != nullptr, "cpu " << cpu << ": errno " << errno);
        BOOST_CHECK_EQUAL(reinterpret_cast<uintptr_t>(p) % 8, 0u);
        __atomic_fetch_add(static_cast<uint64_t*>(p), 1000 + cpu, __ATOMIC_RELAXED);
        expect[cpu] += 1000 + cpu;
        std::vector<unsigned char> out(slot_size(12) * n);
        BOOST_REQUIRE(bt::map_lookup(m.get(), &key, out.data()) == 0);
        for (unsigned c = 0; c < n; ++c) {
            uint64_t w;
            std::memcpy(&w, out.data() + c * slot_size(12), 8);
            BOOST_CHECK_MESSAGE(w == expect[c], "after cpu " << cpu << ": slot " << c << " is " << w
                                                             << ", expected " << expect[c]);
        }
    }
    BOOST_CHECK_MESSAGE(tried > 0, "could not run on any CPU");
    // A bpf() update is in place: the pointer stays on the element and sees the new value.
    BOOST_REQUIRE(pin_to_cpu(static_cast<unsigned>(sched_getcpu())));
    const int cpu = sched_getcpu();
    auto* p = static_cast<uint64_t*>(bpfmap_this_cpu_ptr(m.get(), &key));
    BOOST_REQUIRE(p);
    std::vector<unsigned char> v(slot_size(12) * n);
    for (unsigned c = 0; c < n; ++c) {
        const uint64_t w = 500 + c;
        std::memcpy(v.data() + c * slot_size(12), &w, 8);
    }
    BOOST_REQUIRE(bt::map_update(m.get(), &key, v.data(), BPF_EXIST) == 0);
    BOOST_CHECK_EQUAL(__atomic_load_n(p, __ATOMIC_RELAXED), 500u + static_cast<unsigned>(cpu));
    // Missing key, wrong map type, read-only fd.
    const uint64_t missing = 1;
    errno = 0;
    BOOST_CHECK(bpfmap_this_cpu_ptr(m.get(), &missing) == nullptr && errno == ENOENT);
    Fd h(bt::map_create(BPF_MAP_TYPE_HASH, 8, 8, 4));
    BOOST_REQUIRE(h.ok());
    BOOST_REQUIRE(bt::map_update(h.get(), &key, v.data(), BPF_ANY) == 0);
    errno = 0;
    BOOST_CHECK(bpfmap_this_cpu_ptr(h.get(), &key) == nullptr && errno == EINVAL);
    Fd ro(bt::map_create(BPF_MAP_TYPE_PERCPU_HASH, 8, 8, 4, BPF_F_RDONLY));
    BOOST_REQUIRE(ro.ok());
    errno = 0;
    BOOST_CHECK(bpfmap_this_cpu_ptr(ro.get(), &key) == nullptr && errno == EPERM);
    BOOST_CHECK(bt::map_delete(m.get(), &key) == 0);
    errno = 0;
    BOOST_CHECK(bpfmap_this_cpu_ptr(m.get(), &key) == nullptr && errno == ENOENT);
}

BOOST_AUTO_TEST_SUITE_END()
