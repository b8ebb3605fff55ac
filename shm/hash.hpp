// The hash of keys in HASH maps: fast for the common 4- and 8-byte keys, seeded per map (as the
// kernel seeds each htab with a random hashrnd, so that identical maps iterate differently and
// colliding keys cannot be chosen in advance). Quality: every input bit affects every output
// bit (one wide multiply for 4- and 8-byte keys, a multiply-xorshift finaliser per 8-byte word
// for the others).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace bpfmap::shm {

inline uint64_t mix64(uint64_t x) {
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    return x;
}

// One 64x64->128 multiply, folded: the whole product depends on every input bit. Short
// latency matters here: the bucket load waits for it.
inline uint64_t mum(uint64_t a, uint64_t b) {
    __extension__ using u128 = unsigned __int128;  // a GCC/Clang extension: mulx on x86-64
    const u128 m = static_cast<u128>(a) * b;
    return static_cast<uint64_t>(m >> 64) ^ static_cast<uint64_t>(m);
}

inline uint32_t hash_key(const void* key, uint32_t len, uint64_t seed) {
    const auto* p = static_cast<const unsigned char*>(key);
    if (len == 4 || len == 8) {  // the common keys: one multiply
        uint64_t v = 0;
        std::memcpy(&v, p, len);
        const uint64_t h = mum(v ^ seed, 0x9e3779b97f4a7c15ULL ^ len);
        return static_cast<uint32_t>(h ^ (h >> 32));
    }
    uint64_t h = seed ^ (0x9e3779b97f4a7c15ULL * (len + 1));
    while (len >= 8) {
        uint64_t v;
        std::memcpy(&v, p, 8);
        h = mix64(h ^ v);
        p += 8;
        len -= 8;
    }
    if (len) {
        uint64_t v = 0;
        std::memcpy(&v, p, len);
        h = mix64(h ^ v ^ (uint64_t{len} << 56));
    }
    return static_cast<uint32_t>(h ^ (h >> 32));
}

inline bool keys_equal(const void* a, const void* b, uint32_t len) {
    if (len == 4) {
        uint32_t x, y;
        std::memcpy(&x, a, 4);
        std::memcpy(&y, b, 4);
        return x == y;
    }
    if (len == 8) {
        uint64_t x, y;
        std::memcpy(&x, a, 8);
        std::memcpy(&y, b, 8);
        return x == y;
    }
    return std::memcmp(a, b, len) == 0;
}

}  // namespace bpfmap::shm
