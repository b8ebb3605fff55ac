#include "tools/inspect/segment_view.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "shm/map_type.hpp"

namespace bpfmap::inspect {

const char* SegmentFile::type_name() const {
    if (!header_read) return "?";
    const shm::MapTypeOps* ops = shm::find_map_type(hdr.map_type);
    return ops ? ops->name : "?";
}

std::string SegmentFile::name() const {
    if (!header_read) return {};
    return std::string(hdr.name, strnlen(hdr.name, sizeof hdr.name));
}

bool SegmentFile::frozen() const {
    if (attached) return seg.mapping.state().frozen.load(std::memory_order_relaxed) != 0;
    return false;
}

SegmentFile read_segment(const std::string& path, bool attach) {
    SegmentFile s;
    s.path = path;
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 && (errno == EACCES || errno == EISDIR || errno == EPERM)) {
        attach = false;
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    }
    if (fd < 0) {
        s.problem = std::string("open (") + std::strerror(errno) + ")";
        s.stat_ok = ::lstat(path.c_str(), &s.st) == 0;
        return s;
    }
    s.stat_ok = fstat(fd, &s.st) == 0;
    if (!s.stat_ok) {
        s.problem = "stat";
    } else if (!S_ISREG(s.st.st_mode)) {
        s.problem = "file type (not a regular file)";
    } else if (static_cast<uint64_t>(s.st.st_size) < shm::kRegionOffset) {
        s.problem = "file size (shorter than a segment header)";
        s.header_read = pread(fd, &s.hdr, sizeof s.hdr, 0) == static_cast<ssize_t>(sizeof s.hdr);
    } else if (pread(fd, &s.hdr, sizeof s.hdr, 0) != static_cast<ssize_t>(sizeof s.hdr)) {
        s.problem = "header read";
    } else {
        s.header_read = true;
        if (const char* bad = shm::validate_header(s.hdr, static_cast<uint64_t>(s.st.st_size))) {
            s.problem = bad;
        } else if (attach) {
            std::string why;
            const int rc = shm::open_segment(fd, s.seg, why);
            if (rc == 0) {
                s.attached = true;
            } else {
                s.problem = rc == -EINVAL ? why : std::string("map (") + std::strerror(-rc) + ")";
            }
        }
    }
    ::close(fd);
    return s;
}

bool tid_alive(int tid) {
    if (tid <= 0) return false;
    if (::kill(tid, 0) != 0 && errno == ESRCH) return false;
    return ::access(("/proc/" + std::to_string(tid)).c_str(), F_OK) == 0;
}

std::vector<LockInfo> lock_infos(const SegmentFile& s) {
    std::vector<LockInfo> out;
    if (!s.attached) return out;
    const std::vector<shm::LockState> states = s.seg.map->lock_states();
    for (size_t i = 0; i < states.size(); ++i) {
        LockInfo li;
        li.name = states[i].name;
        li.tid = states[i].owner_tid;
        li.owner_died = states[i].owner_died;
        li.alive = li.tid > 0 && !li.owner_died && tid_alive(li.tid);
        out.push_back(std::move(li));
    }
    return out;
}

}  // namespace bpfmap::inspect
