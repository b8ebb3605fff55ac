// BPF_MAP_TYPE_PERCPU_ARRAY through the library (kernel-map-semantics.md §3, §4, §5, §8):
//  - MAP_CREATE limits: key_size 4 only, value_size 1..32768 (round_up(vs, 8) > 32768: E2BIG),
//    no MMAPABLE / INNER_MAP / NUMA_NODE / hash flags, no device offload; GET_INFO.
//  - value layout: round_up(value_size, 8) bytes per possible CPU, CPU 0 first; UPDATE stores
//    every byte of every slot, padding included, and LOOKUP returns them; fresh slots are zero;
//    LOOKUP writes exactly that many bytes.
//  - the ARRAY rows: idx >= max (LOOKUP ENOENT, UPDATE E2BIG, also before NOEXIST), NOEXIST ->
//    EEXIST, bad flags / F_LOCK -> EINVAL, DELETE -> EINVAL, LOOKUP_AND_DELETE -> ENOTSUPP,
//    GET_NEXT_KEY as ARRAY.
//  - bpfmap_this_cpu_ptr: an 8-byte aligned address of the calling CPU's slot (pinned to a CPU,
//    a write through it shows in exactly that CPU's slot of a LOOKUP), the same address for the
//    same CPU and key from any fd; errors: not a per-CPU map -> EINVAL, read-only fd or frozen
//    map -> EPERM, idx >= max -> ENOENT, NULL key -> EFAULT, bad fd -> EBADF, /dev/null ->
//    EINVAL.
//  - the C++ helpers of <bpfmap/percpu.hpp>: this_cpu_add, percpu_values, percpu_sum, and their
//    errors.
#include <bpfmap/bpf.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <bpfmap/percpu.hpp>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "owned_fd.hpp"
#include "test_support.hpp"

namespace {

namespace bt = bpfmap::test;
using bt::Fd;
using Bytes = std::vector<unsigned char>;

constexpr unsigned char kFill = 0xA5;
constexpr size_t kGuard = 16;

unsigned ncpu() {
    return bt::possible_cpus();
}
size_t slot_of(unsigned vs) {
    return (vs + 7u) & ~7u;
}

std::string en(int e) {
    const char* n = e == 524 ? "ENOTSUPP" : strerrorname_np(e);
    return n ? n : std::to_string(e);
}

// The call's errno, or "ok".
std::string outcome(int rc) {
    return rc == 0 || rc > 0 ? std::string("ok") : en(errno);
}

int create(unsigned vs, unsigned max, unsigned flags = 0, unsigned ks = 4, unsigned ifindex = 0) {
    bt::CreateSpec spec;
    spec.type = BPF_MAP_TYPE_PERCPU_ARRAY;
    spec.key_size = ks;
    spec.value_size = vs;
    spec.max_entries = max;
    spec.flags = flags;
    spec.ifindex = ifindex;
    return bt::map_create(spec);
}

std::string create_outcome(unsigned vs, unsigned max, unsigned flags = 0, unsigned ks = 4,
                           unsigned ifindex = 0) {
    const int fd = create(vs, max, flags, ks, ifindex);
    if (fd < 0) return en(errno);
    ::close(fd);
    return "ok";
}

int elem(int cmd, int fd, const void* key, void* value, __u64 flags) {
    return bt::map_elem(cmd, fd, key, value, flags);
}

// A user value buffer for value_size vs, pre-filled, followed by guard bytes.
Bytes out_buf(unsigned vs) {
    return Bytes(slot_of(vs) * ncpu() + kGuard, kFill);
}
bool guard_intact(const Bytes& b, unsigned vs) {
    for (size_t i = slot_of(vs) * ncpu(); i < b.size(); ++i)
        if (b[i] != kFill) return false;
    return true;
}

// Pins the calling thread to `cpu` for its lifetime (false if that is not allowed here).
struct PinCpu {
    cpu_set_t old;
    bool ok = false;
    explicit PinCpu(unsigned cpu) {
        if (sched_getaffinity(0, sizeof old, &old) != 0) return;
        cpu_set_t s;
        CPU_ZERO(&s);
        CPU_SET(cpu, &s);
        ok = sched_setaffinity(0, sizeof s, &s) == 0 && sched_getcpu() == static_cast<int>(cpu);
    }
    ~PinCpu() { sched_setaffinity(0, sizeof old, &old); }
};

// A read-only fd to the same map, through a pin.
Fd rdonly_fd(int fd, const std::string& name) {
    const std::string pin = bt::test_root() + "/pins/" + name;
    BOOST_REQUIRE_MESSAGE(bt::obj_pin(fd, pin) == 0, "pin: " << en(errno));
    Fd ro(bt::obj_get(pin, BPF_F_RDONLY));
    BOOST_REQUIRE_MESSAGE(ro.ok(), "obj_get rdonly: " << en(errno));
    BOOST_REQUIRE(bpfmap_unpin(pin.c_str()) == 0);
    return ro;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(percpu_array)

BOOST_AUTO_TEST_CASE(create_limits) {
    BOOST_TEST_MESSAGE("possible CPUs: " << ncpu());
    struct Case {
        const char* what;
        unsigned vs, max, flags, ks, ifindex;
        const char* want;
    };
    const Case cases[] = {
        {"vs 4", 4, 1, 0, 4, 0, "ok"},
        {"vs 32768 (PCPU_MIN_UNIT_SIZE)", 32768, 1, 0, 4, 0, "ok"},
        {"vs 32767", 32767, 1, 0, 4, 0, "ok"},
        {"vs 32769 (rounds to 32776)", 32769, 1, 0, 4, 0, "E2BIG"},
        {"vs INT_MAX", 0x7fffffffu, 1, 0, 4, 0, "E2BIG"},
        {"vs > INT_MAX", 0x80000000u, 1, 0, 4, 0, "E2BIG"},
        {"vs 0", 0, 1, 0, 4, 0, "EINVAL"},
        {"max 0", 4, 0, 0, 4, 0, "EINVAL"},
        {"ks 8", 4, 1, 0, 8, 0, "EINVAL"},
        {"ks 0", 4, 1, 0, 0, 0, "EINVAL"},
        {"ks 8 and vs too big: EINVAL first", 32769, 1, 0, 8, 0, "EINVAL"},
        {"max 0 and vs too big: EINVAL first", 32769, 0, 0, 4, 0, "EINVAL"},
        {"MMAPABLE", 4, 1, BPF_F_MMAPABLE, 4, 0, "EINVAL"},
        {"MMAPABLE and vs too big: EINVAL first", 32769, 1, BPF_F_MMAPABLE, 4, 0, "EINVAL"},
        {"INNER_MAP", 4, 1, BPF_F_INNER_MAP, 4, 0, "EINVAL"},
        {"NUMA_NODE (node 0)", 4, 1, BPF_F_NUMA_NODE, 4, 0, "EINVAL"},
        {"NO_PREALLOC", 4, 1, BPF_F_NO_PREALLOC, 4, 0, "EINVAL"},
        {"ZERO_SEED", 4, 1, BPF_F_ZERO_SEED, 4, 0, "EINVAL"},
        {"NO_COMMON_LRU", 4, 1, BPF_F_NO_COMMON_LRU, 4, 0, "EINVAL"},
        {"PRESERVE_ELEMS", 4, 1, BPF_F_PRESERVE_ELEMS, 4, 0, "EINVAL"},
        {"1<<20", 4, 1, 1u << 20, 4, 0, "EINVAL"},
        {"RDONLY_PROG", 4, 1, BPF_F_RDONLY_PROG, 4, 0, "ok"},
        {"WRONLY_PROG", 4, 1, BPF_F_WRONLY_PROG, 4, 0, "ok"},
        {"RDONLY_PROG|WRONLY_PROG", 4, 1, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG, 4, 0, "EINVAL"},
        {"RDONLY", 4, 1, BPF_F_RDONLY, 4, 0, "ok"},
        {"WRONLY", 4, 1, BPF_F_WRONLY, 4, 0, "ok"},
        {"map_ifindex 1 (not offloadable)", 4, 1, 0, 4, 1, "EINVAL"},
        {"huge max_entries", 8, 0xffffffffu, 0, 4, 0, "ENOMEM"},
    };
    for (const Case& c : cases)
        BOOST_CHECK_MESSAGE(create_outcome(c.vs, c.max, c.flags, c.ks, c.ifindex) == c.want,
                            c.what << ": " << create_outcome(c.vs, c.max, c.flags, c.ks, c.ifindex)
                                   << ", expected " << c.want);

    Fd m(create(12, 7, BPF_F_RDONLY_PROG));
    BOOST_REQUIRE_MESSAGE(m.ok(), en(errno));
    struct bpf_map_info info;
    std::memset(&info, 0, sizeof info);
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.info.bpf_fd = static_cast<__u32>(m.get());
    a.info.info_len = sizeof info;
    a.info.info = bt::uptr(&info);
    BOOST_REQUIRE(bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof a) == 0);
    BOOST_CHECK_EQUAL(info.type, unsigned{BPF_MAP_TYPE_PERCPU_ARRAY});
    BOOST_CHECK_EQUAL(info.key_size, 4u);
    BOOST_CHECK_EQUAL(info.value_size, 12u);  // as created, not the per-CPU buffer size
    BOOST_CHECK_EQUAL(info.max_entries, 7u);
    BOOST_CHECK_EQUAL(info.map_flags, unsigned{BPF_F_RDONLY_PROG});
}

BOOST_AUTO_TEST_CASE(fresh_slots_read_zero_and_lookup_writes_exact_size) {
    for (unsigned vs : {1u, 4u, 8u, 12u, 100u, 32768u}) {
        Fd m(create(vs, 5));
        BOOST_REQUIRE_MESSAGE(m.ok(), "vs " << vs << ": " << en(errno));
        for (__u32 k = 0; k < 5; ++k) {
            Bytes out = out_buf(vs);
            BOOST_REQUIRE_MESSAGE(elem(BPF_MAP_LOOKUP_ELEM, m.get(), &k, out.data(), 0) == 0,
                                  "vs " << vs << " key " << k << ": " << en(errno));
            bool zero = true;
            for (size_t i = 0; i < slot_of(vs) * ncpu(); ++i) zero = zero && out[i] == 0;
            BOOST_CHECK_MESSAGE(zero, "vs " << vs << " key " << k << ": fresh value not zero");
            BOOST_CHECK_MESSAGE(guard_intact(out, vs),
                                "vs " << vs << ": lookup wrote past the per-CPU value");
        }
    }
}

BOOST_AUTO_TEST_CASE(value_layout_with_padding_round_trips) {
    for (unsigned vs : {1u, 4u, 8u, 12u, 13u, 64u, 32767u}) {
        const size_t total = slot_of(vs) * ncpu();
        Fd m(create(vs, 3));
        BOOST_REQUIRE_MESSAGE(m.ok(), en(errno));
        // Every byte distinct per CPU and offset, padding bytes included.
        Bytes in(total);
        for (size_t i = 0; i < total; ++i) in[i] = static_cast<unsigned char>(i * 7 + 3 + vs);
        const __u32 k = 2, other = 1;
        BOOST_REQUIRE_MESSAGE(elem(BPF_MAP_UPDATE_ELEM, m.get(), &k, in.data(), BPF_ANY) == 0,
                              en(errno));
        Bytes out = out_buf(vs);
        BOOST_REQUIRE(elem(BPF_MAP_LOOKUP_ELEM, m.get(), &k, out.data(), 0) == 0);
        BOOST_CHECK_MESSAGE(std::memcmp(out.data(), in.data(), total) == 0,
                            "vs " << vs
                                  << ": the per-CPU value (padding included) did not "
                                     "round-trip");
        BOOST_CHECK(guard_intact(out, vs));
        // The neighbour is untouched.
        Bytes o2 = out_buf(vs);
        BOOST_REQUIRE(elem(BPF_MAP_LOOKUP_ELEM, m.get(), &other, o2.data(), 0) == 0);
        bool zero = true;
        for (size_t i = 0; i < total; ++i) zero = zero && o2[i] == 0;
        BOOST_CHECK_MESSAGE(zero, "vs " << vs << ": an update changed another element");
        // BPF_EXIST overwrites every slot.
        Bytes in2(total, 0x3c);
        BOOST_REQUIRE(elem(BPF_MAP_UPDATE_ELEM, m.get(), &k, in2.data(), BPF_EXIST) == 0);
        BOOST_REQUIRE(elem(BPF_MAP_LOOKUP_ELEM, m.get(), &k, out.data(), 0) == 0);
        BOOST_CHECK(std::memcmp(out.data(), in2.data(), total) == 0);
    }
}

BOOST_AUTO_TEST_CASE(array_element_rules) {
    const unsigned vs = 4;
    Fd m(create(vs, 4));
    BOOST_REQUIRE(m.ok());
    Bytes v(slot_of(vs) * ncpu(), 0x42);
    const __u32 i0 = 0, i3 = 3, i4 = 4, ibig = 0xffffffffu;
    auto upd = [&](const __u32* k, __u64 f) {
        return outcome(elem(BPF_MAP_UPDATE_ELEM, m.get(), k, v.data(), f));
    };
    BOOST_CHECK_EQUAL(upd(&i0, BPF_ANY), "ok");
    BOOST_CHECK_EQUAL(upd(&i3, BPF_EXIST), "ok");
    BOOST_CHECK_EQUAL(upd(&i0, BPF_NOEXIST), "EEXIST");
    BOOST_CHECK_EQUAL(upd(&i4, BPF_ANY), "E2BIG");
    BOOST_CHECK_EQUAL(upd(&i4, BPF_NOEXIST), "E2BIG");  // idx before NOEXIST
    BOOST_CHECK_EQUAL(upd(&ibig, BPF_EXIST), "E2BIG");
    for (__u64 f : {__u64{3}, __u64{8}, __u64{16}, __u64{1} << 32, ~__u64{0}})
        BOOST_CHECK_MESSAGE(upd(&i0, f) == "EINVAL", "flags " << f << ": " << upd(&i0, f));
    BOOST_CHECK_EQUAL(upd(&i0, BPF_F_LOCK), "EINVAL");

    Bytes out = out_buf(vs);
    BOOST_CHECK_EQUAL(outcome(elem(BPF_MAP_LOOKUP_ELEM, m.get(), &i4, out.data(), 0)), "ENOENT");
    BOOST_CHECK_MESSAGE(out[0] == kFill && guard_intact(out, vs), "a missing lookup wrote");
    BOOST_CHECK_EQUAL(outcome(elem(BPF_MAP_LOOKUP_ELEM, m.get(), &i0, out.data(), 8)), "EINVAL");
    BOOST_CHECK_EQUAL(outcome(elem(BPF_MAP_DELETE_ELEM, m.get(), &i0, nullptr, 0)), "EINVAL");
    BOOST_CHECK_EQUAL(outcome(elem(BPF_MAP_DELETE_ELEM, m.get(), &i4, nullptr, 0)), "EINVAL");
    BOOST_CHECK_EQUAL(outcome(elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, m.get(), &i0, out.data(), 0)),
                      "ENOTSUPP");
    BOOST_CHECK_EQUAL(outcome(elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, m.get(), &i0, out.data(), 1)),
                      "EINVAL");

    __u32 next = 0xA5A5A5A5;
    BOOST_CHECK(bt::map_get_next_key(m.get(), nullptr, &next) == 0 && next == 0);
    BOOST_CHECK(bt::map_get_next_key(m.get(), &i0, &next) == 0 && next == 1);
    BOOST_CHECK(bt::map_get_next_key(m.get(), &ibig, &next) == 0 && next == 0);
    next = 77;
    BOOST_CHECK_EQUAL(outcome(bt::map_get_next_key(m.get(), &i3, &next)), "ENOENT");
    BOOST_CHECK_EQUAL(next, 77u);

    // Freeze: updates EPERM, lookups still work.
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<__u32>(m.get());
    BOOST_REQUIRE(bpf(BPF_MAP_FREEZE, &a, sizeof a) == 0);
    BOOST_CHECK_EQUAL(upd(&i0, BPF_ANY), "EPERM");
    BOOST_CHECK_EQUAL(outcome(elem(BPF_MAP_LOOKUP_ELEM, m.get(), &i0, out.data(), 0)), "ok");
    BOOST_CHECK(out[0] == 0x42 && out[slot_of(vs) * ncpu() - 1] == 0x42);
}

BOOST_AUTO_TEST_CASE(this_cpu_ptr_is_the_calling_cpus_slot) {
    const unsigned vs = 12;
    Fd m(create(vs, 8));
    BOOST_REQUIRE(m.ok());
    const __u32 k = 5;
    const unsigned cpus_to_try = ncpu() < 4 ? ncpu() : 4;
    unsigned pinned = 0;
    for (unsigned cpu = 0; cpu < cpus_to_try; ++cpu) {
        PinCpu pin(cpu);
        if (!pin.ok) continue;  // not allowed to run there (cpuset, offline CPU)
        ++pinned;
        void* p = bpfmap_this_cpu_ptr(m.get(), &k);
        BOOST_REQUIRE_MESSAGE(p, "cpu " << cpu << ": " << en(errno));
        BOOST_CHECK_EQUAL(reinterpret_cast<uintptr_t>(p) % 8, 0u);
        // The same slot through another fd to the same map (another mapping of the segment
        // would have another address; a dup shares this process's mapping).
        Fd d(::dup(m.get()));
        BOOST_CHECK(bpfmap_this_cpu_ptr(d.get(), &k) == p);
        const uint64_t word = 0x1122334455667700ull + cpu;
        __atomic_store_n(static_cast<uint64_t*>(p), word, __ATOMIC_RELAXED);
        std::memset(static_cast<unsigned char*>(p) + 8, 0xC0 + static_cast<int>(cpu), 4);
        Bytes out = out_buf(vs);
        BOOST_REQUIRE(elem(BPF_MAP_LOOKUP_ELEM, m.get(), &k, out.data(), 0) == 0);
        uint64_t got = 0;
        std::memcpy(&got, out.data() + cpu * slot_of(vs), 8);
        BOOST_CHECK_MESSAGE(got == word, "cpu " << cpu << ": slot holds " << got);
        BOOST_CHECK_EQUAL(out[cpu * slot_of(vs) + 11], 0xC0 + cpu);
        // Other CPUs' slots that were not written yet are still zero.
        for (unsigned c = cpu + 1; c < ncpu(); ++c) {
            std::memcpy(&got, out.data() + c * slot_of(vs), 8);
            BOOST_CHECK_MESSAGE(got == 0, "cpu " << cpu << "'s write reached cpu " << c);
        }
    }
    if (pinned == 0) BOOST_TEST_MESSAGE("could not pin to any CPU: the slot check did not run");
    BOOST_CHECK(pinned > 0);
}

BOOST_AUTO_TEST_CASE(this_cpu_ptr_errors) {
    Fd m(create(8, 4));
    BOOST_REQUIRE(m.ok());
    const __u32 k0 = 0, k4 = 4, kbig = 0xffffffffu;
    auto err = [](int fd, const void* key) {
        errno = 0;
        void* p = bpfmap_this_cpu_ptr(fd, key);
        return p ? std::string("ok") : en(errno);
    };
    BOOST_CHECK_EQUAL(err(m.get(), &k0), "ok");
    BOOST_CHECK_EQUAL(err(m.get(), &k4), "ENOENT");  // a BPF program's lookup gets NULL
    BOOST_CHECK_EQUAL(err(m.get(), &kbig), "ENOENT");
    BOOST_CHECK_EQUAL(err(m.get(), nullptr), "EFAULT");
    BOOST_CHECK_EQUAL(err(m.get(), reinterpret_cast<const void*>(uintptr_t{8})), "EFAULT");

    Fd arr(bt::map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 4));
    BOOST_REQUIRE(arr.ok());
    BOOST_CHECK_EQUAL(err(arr.get(), &k0), "EINVAL");
    Fd hash(bt::map_create(BPF_MAP_TYPE_HASH, 4, 8, 4));
    BOOST_REQUIRE(hash.ok());
    const __u64 v = 1;
    BOOST_REQUIRE(bt::map_update(hash.get(), &k0, &v, BPF_ANY) == 0);
    BOOST_CHECK_EQUAL(err(hash.get(), &k0), "EINVAL");

    Fd ro = rdonly_fd(m.get(), "pcpu_ro");
    BOOST_CHECK_EQUAL(err(ro.get(), &k0), "EPERM");
    BOOST_CHECK_EQUAL(err(ro.get(), &k4), "EPERM");  // access before the key

    Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    BOOST_CHECK_EQUAL(err(devnull.get(), &k0), "EINVAL");
    BOOST_CHECK_EQUAL(err(-1, &k0), "EBADF");
    BOOST_CHECK_EQUAL(err(100000, &k0), "EBADF");

    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<__u32>(m.get());
    BOOST_REQUIRE(bpf(BPF_MAP_FREEZE, &a, sizeof a) == 0);
    BOOST_CHECK_EQUAL(err(m.get(), &k0), "EPERM");
}

BOOST_AUTO_TEST_CASE(cxx_helpers) {
    Fd m(create(16, 4));
    BOOST_REQUIRE(m.ok());
    const __u32 k = 2;
    for (int i = 0; i < 1000; ++i)
        BOOST_REQUIRE_MESSAGE(bpfmap::this_cpu_add(m.get(), k, uint64_t{3}), en(errno));
    auto sum = bpfmap::percpu_sum<uint64_t>(m.get(), k);
    BOOST_REQUIRE_MESSAGE(sum, en(errno));
    BOOST_CHECK_EQUAL(*sum, 3000u);
    auto vals = bpfmap::percpu_values<uint64_t>(m.get(), k);
    BOOST_REQUIRE(vals);
    BOOST_CHECK_EQUAL(vals->size(), ncpu());
    // Signed and narrower types work at the start of the slot.
    BOOST_REQUIRE(bpfmap::this_cpu_add(m.get(), __u32{1}, int32_t{-5}));
    auto s32 = bpfmap::percpu_sum<int32_t>(m.get(), __u32{1});
    BOOST_REQUIRE(s32);
    BOOST_CHECK_EQUAL(*s32, -5);
    uint64_t* p = bpfmap::this_cpu_ptr<uint64_t>(m.get(), k);
    BOOST_REQUIRE(p);
    BOOST_CHECK(*p > 0 && *p <= 3000);  // this CPU's share (the thread may have migrated)

    // Errors.
    errno = 0;
    BOOST_CHECK(!bpfmap::this_cpu_add(m.get(), __u32{4}, uint64_t{1}));
    BOOST_CHECK_EQUAL(en(errno), "ENOENT");
    errno = 0;
    BOOST_CHECK(!bpfmap::percpu_sum<uint64_t>(m.get(), __u32{4}));
    BOOST_CHECK_EQUAL(en(errno), "ENOENT");
    struct Big {
        char b[24];
    };
    errno = 0;
    BOOST_CHECK(!bpfmap::percpu_values<Big>(m.get(), k));  // larger than value_size
    BOOST_CHECK_EQUAL(en(errno), "EINVAL");
    Fd arr(bt::map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 4));
    errno = 0;
    BOOST_CHECK(!bpfmap::percpu_sum<uint64_t>(arr.get(), k));  // not a per-CPU map
    BOOST_CHECK_EQUAL(en(errno), "EINVAL");
    errno = 0;
    BOOST_CHECK(!bpfmap::this_cpu_add(arr.get(), k, uint64_t{1}));
    BOOST_CHECK_EQUAL(en(errno), "EINVAL");
    Fd ro = rdonly_fd(m.get(), "pcpu_ro2");
    errno = 0;
    BOOST_CHECK(!bpfmap::this_cpu_add(ro.get(), k, uint64_t{1}));
    BOOST_CHECK_EQUAL(en(errno), "EPERM");
    auto ro_sum = bpfmap::percpu_sum<uint64_t>(ro.get(), k);  // reading needs only read access
    BOOST_REQUIRE(ro_sum);
    BOOST_CHECK_EQUAL(*ro_sum, 3000u);
}

BOOST_AUTO_TEST_SUITE_END()
