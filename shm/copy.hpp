// Copies of keys and values on the hot path. Most maps have 4-, 8- or 16-byte values; for
// those a move of a register or two replaces a call to memcpy with a run-time size.
#pragma once

#include <cstdint>
#include <cstring>

namespace bpfmap::shm {

inline void copy_bytes(void* dst, const void* src, uint32_t n) {
    switch (n) {
        case 4:
            std::memcpy(dst, src, 4);
            return;
        case 8:
            std::memcpy(dst, src, 8);
            return;
        case 16:
            std::memcpy(dst, src, 16);
            return;
        default:
            std::memcpy(dst, src, n);
    }
}

}  // namespace bpfmap::shm
