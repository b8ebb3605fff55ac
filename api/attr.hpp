// Helpers for reading union bpf_attr the way the kernel's syscall.c does.
#pragma once

#include <linux/bpf.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace bpfmap::api {

// Offset just past `field`: the kernel's CHECK_ATTR(CMD) end for a command whose last field it
// is. Every byte from there to the end of the union must be zero, else EINVAL.
#define BPFMAP_ATTR_END(field) \
    (offsetof(union bpf_attr, field) + sizeof(static_cast<union bpf_attr*>(nullptr)->field))

// `From` is a compile-time constant at every call site, so the loop is fully unrolled into a
// few vector ORs: this check runs on every element command.
template <size_t From>
inline bool attr_tail_zero(const union bpf_attr& a) {
    static_assert(From <= sizeof(union bpf_attr) && sizeof(union bpf_attr) % 16 == 0);
    const auto* p = reinterpret_cast<const unsigned char*>(&a);
    constexpr size_t kVecStart = (From + 15) & ~size_t{15};
    unsigned acc = 0;
    for (size_t i = From; i < kVecStart; ++i) acc |= p[i];
#if defined(__SSE2__)
    __m128i v = _mm_setzero_si128();
#pragma GCC unroll 16
    for (size_t i = kVecStart; i < sizeof(union bpf_attr); i += 16)
        v = _mm_or_si128(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)));
    return acc == 0 && _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128())) == 0xffff;
#else
    for (size_t i = kVecStart; i < sizeof(union bpf_attr); ++i) acc |= p[i];
    return acc == 0;
#endif
}

// Where a field of the caller's attr is, computed without dereferencing it (the caller's
// pointer may be NULL or unmapped; the write-back through copy_to_user() then fails).
inline void* attr_field(union bpf_attr* uattr, size_t offset) {
    return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(uattr) + offset);
}

// CHECK_ATTR for an attr of which the caller passed `size` bytes: the bytes past `size` are
// zero already, so libbpf's short attrs (which end at the command's last field) need no check.
template <size_t From>
inline bool attr_tail_zero(const union bpf_attr& a, unsigned size) {
    return size <= From || attr_tail_zero<From>(a);
}

template <typename T = void>
inline T* user_ptr(uint64_t v) {
    return reinterpret_cast<T*>(static_cast<uintptr_t>(v));
}

}  // namespace bpfmap::api
