// Creating, mapping and validating map segments (files under the store's maps/ folder).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "shm/map_type.hpp"
#include "shm/segment_format.hpp"

namespace bpfmap::shm {

// A mapped segment (MAP_SHARED, read-write). Unmapped by the destructor.
class Mapping {
  public:
    Mapping() = default;
    Mapping(std::byte* base, size_t size) : base_(base), size_(size) {}
    Mapping(Mapping&& o) noexcept : base_(o.base_), size_(o.size_) { o.base_ = nullptr; }
    Mapping& operator=(Mapping&& o) noexcept;
    ~Mapping();
    std::byte* base() const { return base_; }
    size_t size() const { return size_; }
    SegmentHeader& header() const { return *reinterpret_cast<SegmentHeader*>(base_); }
    MapState& state() const { return *reinterpret_cast<MapState*>(base_ + kStateOffset); }
    std::byte* region() const { return base_ + kRegionOffset; }

  private:
    std::byte* base_ = nullptr;
    size_t size_ = 0;
};

// Total file size of a segment for `spec` (header + state + the type's region).
uint64_t segment_size(const MapTypeOps& ops, const MapSpec& spec);

// -ENOMEM if a segment of `size` bytes cannot fit in the file system holding `fd_in_store`.
int check_space(int fd_in_store, uint64_t size);

// Lays out a new segment in `file_fd` (an empty file of ours): reserves its blocks (so that a
// full tmpfs is ENOMEM now rather than SIGBUS later), writes the header, initialises the
// region. Returns 0 or -errno (ENOMEM when the store is out of space).
int format_segment(int file_fd, const MapTypeOps& ops, const MapSpec& spec, uint32_t map_id,
                   uint64_t seed);

// Rewrites the id in a formatted segment (when the first id chosen was taken).
int set_segment_id(int file_fd, uint32_t map_id);

// Maps the segment open at `file_fd` read-write (the fd needs read and write access) and
// validates it. On failure returns -EINVAL (not a valid segment; `why` says which check failed)
// or another -errno.
struct OpenedSegment {
    Mapping mapping;
    const MapTypeOps* ops = nullptr;
    std::unique_ptr<Map> map;
};
int open_segment(int file_fd, OpenedSegment& out, std::string& why);

// Checks a header in memory against a file size: magic, version, fingerprint, checksum, known
// type, sizes consistent with the spec. Returns nullptr if valid, else the failed check.
const char* validate_header(const SegmentHeader& h, uint64_t file_size);

// The spec recorded in a header.
MapSpec spec_of(const SegmentHeader& h);

uint64_t header_checksum(const SegmentHeader& h);

}  // namespace bpfmap::shm
