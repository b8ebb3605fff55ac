// The fsck of one map, from a test: its segment file (under the test's BPFMAP_ROOT) is mapped
// and bound with shm::open_segment, as bpfmap-inspect does, and the type's check(),
// element_count() and lock_states() are called. Only for test binaries that link bpfmap_shm
// (see the end of tests/CMakeLists.txt).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "shm/map_type.hpp"
#include "shm/segment.hpp"
#include "test_support.hpp"

namespace bpfmap::test {

struct Fsck {
    int open_rc = 0;  // open_segment's result (0: attached)
    std::string why;  // the failed check when open_rc != 0
    std::vector<std::string> problems;
    uint32_t count = 0;  // element_count()
    std::vector<shm::LockState> locks;
    bool clean() const { return open_rc == 0 && problems.empty(); }
    // One line per lock held or left owner-died.
    std::vector<std::string> lock_problems() const {
        std::vector<std::string> out;
        for (const auto& l : locks)
            if (l.owner_tid != 0 || l.owner_died)
                out.push_back("lock " + l.name + " held by " + std::to_string(l.owner_tid) +
                              (l.owner_died ? " (owner died)" : ""));
        return out;
    }
    std::string text() const {
        std::string s = open_rc ? "open_segment " + std::to_string(open_rc) + ": " + why : "";
        for (const auto& p : problems) s += (s.empty() ? "" : "; ") + p;
        return s.empty() ? "clean" : s;
    }
};

// `map_id`: the id from BPF_OBJ_GET_INFO_BY_FD.
inline Fsck fsck_map(uint32_t map_id) {
    Fsck r;
    const std::string path = test_root() + "/maps/" + std::to_string(map_id);
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        r.open_rc = -errno;
        r.why = "open " + path;
        return r;
    }
    shm::OpenedSegment seg;
    r.open_rc = shm::open_segment(fd, seg, r.why);
    ::close(fd);
    if (r.open_rc != 0) return r;
    seg.map->check(r.problems);
    r.count = seg.map->element_count();
    r.locks = seg.map->lock_states();
    return r;
}

}  // namespace bpfmap::test
