// The on-disk (in-shared-memory) format of a map segment. One segment = one file = one map.
//
//   offset 0     SegmentHeader   immutable after creation, covered by header_checksum
//   offset 256   MapState        mutable state shared by every process (frozen, ...)
//   offset 512   the map type's region (hash_map.cpp, array_map.cpp describe theirs)
//
// Everything is position-independent: the region holds indices and offsets, never pointers.
// A segment is trusted only after validate_segment() (segment.hpp) has checked the magic, the
// format version, the layout fingerprint, the checksum, the type and every size.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace bpfmap::shm {

inline constexpr uint64_t kSegmentMagic = 0x3147534d50414d42ULL;  // "BMAPMSG1" little-endian
// 2: ARRAY maps with values of at most 8 bytes store one atomic word per element, no locks.
inline constexpr uint32_t kSegmentFormatVersion = 2;
inline constexpr uint64_t kHeaderOffset = 0;
inline constexpr uint64_t kStateOffset = 256;
inline constexpr uint64_t kRegionOffset = 512;

struct SegmentHeader {
    uint64_t magic;               // kSegmentMagic
    uint32_t format_version;      // kSegmentFormatVersion
    uint32_t header_size;         // sizeof(SegmentHeader)
    uint64_t layout_fingerprint;  // layout_fingerprint(): ABI of this build (mutex size, ...)
    uint64_t segment_size;        // bytes of the whole file
    uint64_t region_offset;       // kRegionOffset
    uint64_t region_size;         // MapTypeOps::region_size(spec)
    uint32_t map_id;
    uint32_t map_type;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;
    uint64_t map_extra;
    char name[16];
    uint64_t hash_seed;
    int64_t created_ns;  // CLOCK_REALTIME at creation
    int32_t creator_pid;
    uint32_t reserved;
    uint64_t header_checksum;  // FNV-1a 64 of every byte before this field
};
static_assert(sizeof(SegmentHeader) == 128);
static_assert(sizeof(SegmentHeader) <= kStateOffset - kHeaderOffset);

// Mutable, shared. Each field says what guards it.
struct alignas(64) MapState {
    // 0 or 1. Set once by BPF_MAP_FREEZE (compare-exchange), never cleared: no lock needed.
    std::atomic<uint32_t> frozen;
    uint32_t reserved[15];
};
static_assert(sizeof(MapState) == 64);
static_assert(kStateOffset + sizeof(MapState) <= kRegionOffset);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

// Identifies the ABI of the shared structures of this build: format version, sizes of the
// process-shared mutex, of pointers, the cache line we align to and the byte order. Two builds
// with different fingerprints refuse each other's segments instead of misreading them.
uint64_t layout_fingerprint();

}  // namespace bpfmap::shm
