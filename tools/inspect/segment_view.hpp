// The segment-level view: a segment file read directly (no bpf(), no reference taken, no map
// lock taken), its header checked, its region attached read-only in spirit (nothing is written).
#pragma once

#include <sys/stat.h>

#include <string>
#include <vector>

#include "shm/segment.hpp"

namespace bpfmap::inspect {

struct SegmentFile {
    std::string path;
    bool stat_ok = false;
    struct stat st {};
    bool header_read = false;  // `hdr` holds the file's first bytes
    shm::SegmentHeader hdr{};
    std::string problem;  // empty: valid; else the failed check (segment.hpp's words)
    bool attached = false;
    shm::OpenedSegment seg;  // when attached

    bool valid() const { return problem.empty(); }
    uint64_t disk_bytes() const { return stat_ok ? static_cast<uint64_t>(st.st_blocks) * 512 : 0; }
    uint64_t memory_bytes() const { return stat_ok ? static_cast<uint64_t>(st.st_size) : 0; }
    const char* type_name() const;  // "hash", "array", or "?"
    std::string name() const;       // the map's name from the header
    bool frozen() const;
};

// Reads the segment at `path`; with `attach`, also maps it and binds its map type (so that
// element_count(), check() and lock_states() are available). Never throws.
SegmentFile read_segment(const std::string& path, bool attach);

// One lock of a map and who holds it.
struct LockInfo {
    std::string name;
    int tid = 0;              // 0: free
    bool owner_died = false;  // the kernel marked the lock: its holder died inside
    bool alive = false;       // tid != 0 and the thread still exists
};
std::vector<LockInfo> lock_infos(const SegmentFile& s);

// True if thread/process `tid` exists (kill(tid, 0) and /proc/<tid>).
bool tid_alive(int tid);

}  // namespace bpfmap::inspect
