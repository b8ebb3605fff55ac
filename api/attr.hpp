// Helpers for reading union bpf_attr the way the kernel's syscall.c does.
#pragma once

#include <linux/bpf.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace bpfmap::api {

// Offset just past `field`: the kernel's CHECK_ATTR(CMD) end for a command whose last field it
// is. Every byte from there to the end of the union must be zero, else EINVAL.
#define BPFMAP_ATTR_END(field) \
    (offsetof(union bpf_attr, field) + sizeof(static_cast<union bpf_attr*>(nullptr)->field))

// `From` is a compile-time constant at every call site, so the loop is fully unrolled into a
// few vector ORs: this check runs on every element command.
template <size_t From>
inline bool attr_tail_zero(const union bpf_attr& a) {
    static_assert(From <= sizeof(union bpf_attr) && sizeof(union bpf_attr) % 8 == 0);
    const auto* p = reinterpret_cast<const unsigned char*>(&a);
    constexpr size_t kWordStart = (From + 7) & ~size_t{7};
    uint64_t acc = 0;
    for (size_t i = From; i < kWordStart; ++i) acc |= p[i];
    for (size_t i = kWordStart; i < sizeof(union bpf_attr); i += 8) {
        uint64_t w;
        std::memcpy(&w, p + i, 8);
        acc |= w;
    }
    return acc == 0;
}

template <typename T = void>
inline T* user_ptr(uint64_t v) {
    return reinterpret_cast<T*>(static_cast<uintptr_t>(v));
}

}  // namespace bpfmap::api
