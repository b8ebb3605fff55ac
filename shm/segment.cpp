#include "shm/segment.hpp"

#include <fcntl.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "shm/log.hpp"

namespace bpfmap::shm {

uint64_t layout_fingerprint() {
    // FNV-1a over the facts the shared structures depend on.
    const uint64_t facts[] = {kSegmentFormatVersion,
                              sizeof(pthread_mutex_t),
                              alignof(pthread_mutex_t),
                              sizeof(void*),
                              64 /* cache line we align stripes to */,
                              sizeof(SegmentHeader),
                              sizeof(MapState),
                              0x0102030405060708ULL /* byte order, as stored */};
    uint64_t h = 0xcbf29ce484222325ULL;
    const auto* p = reinterpret_cast<const unsigned char*>(facts);
    for (size_t i = 0; i < sizeof facts; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

uint64_t header_checksum(const SegmentHeader& h) {
    uint64_t sum = 0xcbf29ce484222325ULL;
    const auto* p = reinterpret_cast<const unsigned char*>(&h);
    for (size_t i = 0; i < offsetof(SegmentHeader, header_checksum); ++i)
        sum = (sum ^ p[i]) * 0x100000001b3ULL;
    return sum;
}

Mapping& Mapping::operator=(Mapping&& o) noexcept {
    if (this != &o) {
        if (base_) munmap(base_, size_);
        base_ = o.base_;
        size_ = o.size_;
        o.base_ = nullptr;
    }
    return *this;
}

Mapping::~Mapping() {
    if (base_) munmap(base_, size_);
}

uint64_t segment_size(const MapTypeOps& ops, const MapSpec& spec) {
    uint64_t size = kRegionOffset + ops.region_size(spec);
    return (size + 4095) & ~uint64_t{4095};
}

MapSpec spec_of(const SegmentHeader& h) {
    MapSpec s;
    s.map_type = h.map_type;
    s.key_size = h.key_size;
    s.value_size = h.value_size;
    s.max_entries = h.max_entries;
    s.map_flags = h.map_flags;
    s.map_extra = h.map_extra;
    std::memcpy(s.name, h.name, sizeof s.name);
    return s;
}

static int map_fd(int file_fd, uint64_t size, Mapping& out) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, file_fd, 0);
    if (p == MAP_FAILED) return -errno;
    out = Mapping(static_cast<std::byte*>(p), size);
    return 0;
}

int check_space(int fd_in_store, uint64_t size) {
    // A request larger than the free space of the store fails at once, before any page is
    // touched: posix_fallocate on tmpfs would otherwise fill memory up to the limit first.
    struct statvfs vfs;
    if (fstatvfs(fd_in_store, &vfs) == 0 && vfs.f_blocks != 0 &&
        size / vfs.f_frsize >= static_cast<uint64_t>(vfs.f_bavail)) {
        log().warn(
            "a {}-byte segment does not fit: the store has {} bytes free; free space in "
            "BPFMAP_ROOT or make the map smaller",
            size, static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize);
        return -ENOMEM;
    }
    return 0;
}

int format_segment(int file_fd, const MapTypeOps& ops, const MapSpec& spec, uint32_t map_id,
                   uint64_t seed) {
    const uint64_t size = segment_size(ops, spec);
    if (int rc = check_space(file_fd, size); rc != 0) return rc;
    if (size > static_cast<uint64_t>(INT64_MAX)) return -ENOMEM;
    int rc = posix_fallocate(file_fd, 0, static_cast<off_t>(size));
    if (rc != 0) {
        log().warn("reserving {} bytes for a new segment failed: {}", size, std::strerror(rc));
        return (rc == ENOSPC || rc == EFBIG || rc == ENOMEM) ? -ENOMEM : -rc;
    }
    Mapping m;
    if ((rc = map_fd(file_fd, size, m)) != 0) return rc == -ENOMEM ? -ENOMEM : rc;

    ops.init_region(m.region(), spec, seed);
    new (&m.state()) MapState{};

    SegmentHeader h{};
    h.magic = kSegmentMagic;
    h.format_version = kSegmentFormatVersion;
    h.header_size = sizeof(SegmentHeader);
    h.layout_fingerprint = layout_fingerprint();
    h.segment_size = size;
    h.region_offset = kRegionOffset;
    h.region_size = ops.region_size(spec);
    h.map_id = map_id;
    h.map_type = spec.map_type;
    h.key_size = spec.key_size;
    h.value_size = spec.value_size;
    h.max_entries = spec.max_entries;
    h.map_flags = spec.map_flags;
    h.map_extra = spec.map_extra;
    std::memcpy(h.name, spec.name, sizeof h.name);
    h.hash_seed = seed;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h.created_ns = int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
    h.creator_pid = getpid();
    h.header_checksum = header_checksum(h);
    std::memcpy(m.base(), &h, sizeof h);
    return 0;
}

int set_segment_id(int file_fd, uint32_t map_id) {
    SegmentHeader h;
    if (pread(file_fd, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) return -EIO;
    h.map_id = map_id;
    h.header_checksum = header_checksum(h);
    if (pwrite(file_fd, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) return -EIO;
    return 0;
}

const char* validate_header(const SegmentHeader& h, uint64_t file_size) {
    if (h.magic != kSegmentMagic) return "magic number (not a bpfmap segment)";
    if (h.format_version != kSegmentFormatVersion)
        return "format version (made by another version of bpfmap)";
    if (h.header_size != sizeof(SegmentHeader)) return "header size";
    if (h.layout_fingerprint != layout_fingerprint())
        return "layout fingerprint (made by an incompatible build of bpfmap)";
    if (h.header_checksum != header_checksum(h)) return "header checksum (the header is corrupt)";
    if (h.segment_size != file_size) return "file size (the segment is truncated or extended)";
    const MapTypeOps* ops = find_map_type(h.map_type);
    if (!ops) return "map type (not one this build implements)";
    MapSpec spec = spec_of(h);
    if (ops->alloc_check(spec) != 0 || (ops->alloc_limits && ops->alloc_limits(spec) != 0))
        return "map parameters (not valid for the map type)";
    if (h.region_offset != kRegionOffset || h.region_size != ops->region_size(spec) ||
        segment_size(*ops, spec) != h.segment_size)
        return "region size (inconsistent with the map parameters)";
    return nullptr;
}

int open_segment(int file_fd, OpenedSegment& out, std::string& why) {
    struct stat st;
    if (fstat(file_fd, &st) != 0) return -errno;
    if (!S_ISREG(st.st_mode)) {
        why = "file type (not a regular file)";
        return -EINVAL;
    }
    if (static_cast<uint64_t>(st.st_size) < kRegionOffset) {
        why = "file size (shorter than a segment header)";
        return -EINVAL;
    }
    // Check the header from a private copy first: never map a huge file we don't know.
    SegmentHeader h;
    if (pread(file_fd, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) {
        why = "header read";
        return -EINVAL;
    }
    if (const char* bad = validate_header(h, static_cast<uint64_t>(st.st_size))) {
        why = bad;
        return -EINVAL;
    }
    Mapping m;
    if (int rc = map_fd(file_fd, h.segment_size, m); rc != 0) return rc;
    // Re-check the mapped header: the file could have been rewritten since the pread.
    if (std::memcmp(m.base(), &h, sizeof h) != 0) {
        why = "header changed while opening";
        return -EINVAL;
    }
    const MapTypeOps* ops = find_map_type(h.map_type);
    std::unique_ptr<Map> map = ops->attach(m.header(), m.state(), m.region());
    if (!map) {
        why = "map region (see the previous log line)";
        return -EINVAL;
    }
    out.ops = ops;
    out.map = std::move(map);
    out.mapping = std::move(m);
    return 0;
}

}  // namespace bpfmap::shm
