// bpfmap/percpu.hpp: C++ helpers for per-CPU maps (BPF_MAP_TYPE_PERCPU_ARRAY, ...), header-only,
// over bpfmap_this_cpu_ptr() and bpf() from <bpfmap/bpf.h>. C++17 or later.
//
// A per-CPU map keeps one copy ("slot") of each value per possible CPU. A BPF program in the
// kernel updates the slot of the CPU it runs on; so does a process here, through the slot's
// address in the map's shared memory:
//
//     int fd = ...;  // BPF_MAP_CREATE, BPF_OBJ_GET of a pin, an inherited fd, ...
//     uint32_t key = 3;
//     bpfmap::this_cpu_add(fd, key, uint64_t{1});            // one lock-free atomic add
//     std::optional<uint64_t> total = bpfmap::percpu_sum<uint64_t>(fd, key);  // all CPUs
//
// Many processes and threads at once:
//  - Update slots only with atomic operations (this_cpu_add, or __atomic_* / std::atomic_ref on
//    this_cpu_ptr's result). In user space a thread can be preempted in the middle of a plain
//    read-modify-write and another thread can then run on the same CPU, so a plain `++*p` loses
//    increments; an atomic one never does.
//  - A thread may migrate to another CPU right after this_cpu_ptr() returned: it then updates the
//    slot of the CPU it ran on before. For atomic operations that is harmless (the sum over all
//    CPUs is the same); it only costs cache locality. Caching the pointer is correct for the
//    same reason; calling this_cpu_ptr() again keeps the slot local.
//  - Pointer validity: the address stays valid while this process holds an fd to the map (the
//    map's memory stays mapped); for a per-CPU hash map only while the element exists.
//    this_cpu_ptr() needs an fd that grants writing, on a map that is not frozen (else EPERM).
//  - Readers: percpu_values()/percpu_sum() read every CPU's slot through BPF_MAP_LOOKUP_ELEM.
//    A PERCPU_ARRAY lookup reads each aligned 8-byte word whole, so a counter being incremented
//    is seen either before or after the increment; a sum over all CPUs is exact once the
//    writers stopped.
//    (While they run, a sum mixes slots read at slightly different moments, as in the kernel.)
//
// Every function that can fail returns false / an empty optional / nullptr with errno set to
// the errno of the call that failed (see bpfmap_this_cpu_ptr and bpf in bpf.h).
#ifndef BPFMAP_PERCPU_HPP
#define BPFMAP_PERCPU_HPP

#include <bpfmap/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <type_traits>
#include <vector>

namespace bpfmap {

namespace detail {
inline __u64 user_ptr(const void* p) noexcept {
    return static_cast<__u64>(reinterpret_cast<std::uintptr_t>(p));
}
inline bool is_percpu_type(__u32 type) noexcept {
    return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
           type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}
}  // namespace detail

// The calling CPU's slot of the element at `key`, as a T (T must fit in the map's value_size;
// the slot is 8-byte aligned). nullptr with errno on failure: EBADF/EINVAL (not a map fd),
// EINVAL (not a per-CPU map), EPERM (fd not writable or map frozen), ENOENT (no such element).
template <class T, class K>
T* this_cpu_ptr(int fd, const K& key) noexcept {
    static_assert(std::is_trivially_copyable_v<K>, "a map key is plain bytes");
    static_assert(alignof(T) <= 8, "per-CPU slots are 8-byte aligned");
    return static_cast<T*>(bpfmap_this_cpu_ptr(fd, &key));
}

// Atomically adds `delta` to the calling CPU's slot of the element at `key` (relaxed order, no
// lock). T is an integer type of 1, 2, 4 or 8 bytes at the start of the value. True, or false
// with errno as for this_cpu_ptr.
template <class T, class K>
bool this_cpu_add(int fd, const K& key, T delta) noexcept {
    static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool> && sizeof(T) <= 8,
                  "an integer of at most 8 bytes");
    T* p = this_cpu_ptr<T>(fd, key);
    if (!p) return false;
    __atomic_fetch_add(p, delta, __ATOMIC_RELAXED);
    return true;
}

// The number of possible CPUs, i.e. of slots in a per-CPU value through bpf(): counted from
// /sys/devices/system/cpu/possible ("0-3,8-11" -> 8) as bpfmap and the kernel count them,
// read once.
inline unsigned possible_cpus() noexcept {
    static const unsigned n = [] {
        unsigned count = 0;
        if (std::FILE* f = std::fopen("/sys/devices/system/cpu/possible", "re")) {
            unsigned lo = 0, hi = 0;
            char sep = 0;
            while (std::fscanf(f, "%u", &lo) == 1) {
                hi = lo;
                if (std::fscanf(f, "%c", &sep) == 1 && sep == '-') {
                    if (std::fscanf(f, "%u", &hi) != 1) break;
                    if (std::fscanf(f, "%c", &sep) != 1) sep = '\n';
                }
                if (hi >= lo && hi - lo < 65536) count += hi - lo + 1;
                if (sep != ',') break;
            }
            std::fclose(f);
        }
        if (count == 0) {
            const long c = sysconf(_SC_NPROCESSORS_CONF);
            count = c > 0 ? static_cast<unsigned>(c) : 1u;
        }
        return count;
    }();
    return n;
}

// Every CPU's T (the first sizeof(T) bytes of each slot) of the element at `key`, CPU 0 first,
// read with one BPF_MAP_LOOKUP_ELEM. Needs an fd that grants reading. Empty optional with errno
// on failure (the lookup's errno; EINVAL if the map is not per-CPU or T does not fit in its
// value_size).
template <class T, class K>
std::optional<std::vector<T>> percpu_values(int fd, const K& key) {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_copyable_v<K>,
                  "map keys and values are plain bytes");
    struct bpf_map_info info;
    std::memset(&info, 0, sizeof info);
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.info.bpf_fd = static_cast<__u32>(fd);
    a.info.info_len = sizeof info;
    a.info.info = detail::user_ptr(&info);
    if (bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof a) != 0) return std::nullopt;
    if (!detail::is_percpu_type(info.type) || sizeof(T) > info.value_size) {
        errno = EINVAL;
        return std::nullopt;
    }
    const std::size_t slot = (std::size_t{info.value_size} + 7) & ~std::size_t{7};
    const unsigned ncpu = possible_cpus();
    std::vector<unsigned char> buf(slot * ncpu);
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<__u32>(fd);
    a.key = detail::user_ptr(&key);
    a.value = detail::user_ptr(buf.data());
    if (bpf(BPF_MAP_LOOKUP_ELEM, &a, sizeof a) != 0) return std::nullopt;
    std::vector<T> out(ncpu);
    for (unsigned c = 0; c < ncpu; ++c) std::memcpy(&out[c], buf.data() + c * slot, sizeof(T));
    return out;
}

// The sum over all CPUs of the T at the start of the element's value (a per-CPU counter's
// total), read with one BPF_MAP_LOOKUP_ELEM; unsigned T wraps around. Empty optional with
// errno as for percpu_values.
template <class T, class K>
std::optional<T> percpu_sum(int fd, const K& key) {
    static_assert(std::is_arithmetic_v<T>, "a sum of numbers");
    std::optional<std::vector<T>> v = percpu_values<T>(fd, key);
    if (!v) return std::nullopt;
    T sum{};
    for (const T& x : *v) sum += x;
    return sum;
}

}  // namespace bpfmap

#endif  // BPFMAP_PERCPU_HPP
