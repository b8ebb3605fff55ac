#include "shm/store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "shm/log.hpp"
#include "shm/segment.hpp"

namespace bpfmap::shm {

namespace {

int mkdir_p(const std::string& path, mode_t mode) {
    std::string cur;
    size_t pos = 0;
    while (pos != std::string::npos) {
        pos = path.find('/', pos + 1);
        cur = path.substr(0, pos);
        if (cur.empty()) continue;
        if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return -errno;
    }
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

std::string proc_fd_path(int fd) {
    return "/proc/self/fd/" + std::to_string(fd);
}

int close_keep_errno(int fd, int rc) {
    ::close(fd);
    return rc;
}

// Whole-file write lock: fails (EAGAIN) while any reference holds its slot lock.
bool try_lock_whole(int fd) {
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 0;
    return fcntl(fd, F_OFD_SETLK, &fl) == 0;
}

bool is_within(const std::string& path, const std::string& dir) {
    return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                           path[dir.size()] == '/');
}

std::string real_path(const std::string& p, int& err) {
    char buf[PATH_MAX];
    if (!::realpath(p.c_str(), buf)) {
        err = errno;
        return {};
    }
    err = 0;
    return buf;
}

}  // namespace

int Store::open(const std::string& root) {
    root_ = root;
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
    if (root_.empty()) return -EINVAL;
    maps_dir_ = root_ + "/maps";
    for (const std::string& dir : {root_, maps_dir_, root_ + "/pins"}) {
        if (int rc = mkdir_p(dir, 0700); rc != 0) {
            log().error(
                "cannot create the store folder {}: {}; set BPFMAP_ROOT to a folder you "
                "can write",
                dir, std::strerror(-rc));
            return rc;
        }
    }
    int err;
    real_root_ = real_path(root_, err);
    if (real_root_.empty()) return -err;
    if (int rc = registry_.open(root_); rc != 0) return rc;
    log().debug("store opened at {}", root_);
    return 0;
}

std::string Store::map_path(uint32_t id) const {
    return maps_dir_ + "/" + std::to_string(id);
}

int Store::take_ref_lock(int fd, int accmode) {
    struct flock fl {};
    // A read-only description can only hold read locks and a write-only one only write locks;
    // each slot is unique, so neither kind conflicts with another reference's.
    fl.l_type = accmode == O_RDONLY ? F_RDLCK : F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = static_cast<off_t>(registry_.allocate_lock_slot());
    fl.l_len = 1;
    // Blocks only while a destroyer holds its whole-file lock (a few system calls).
    while (fcntl(fd, F_OFD_SETLKW, &fl) != 0) {
        if (errno != EINTR) return -errno;
    }
    return 0;
}

int Store::create_map(const MapTypeOps& ops, const MapSpec& spec, uint64_t seed, int accmode,
                      unsigned mode, uint32_t& id_out) {
    // An unnamed file, formatted completely and holding its creator's reference before it gets
    // a name: no process ever sees a half-made map, and a creator that dies leaves nothing.
    int fd = ::open(maps_dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        int err = errno;
        log().error(
            "cannot create a segment in {}: {}{}", maps_dir_, std::strerror(err),
            err == EOPNOTSUPP ? " (the file system lacks O_TMPFILE; use tmpfs or ext4)" : "");
        return -err;
    }
    if (fchmod(fd, mode) != 0) return close_keep_errno(fd, -errno);
    uint32_t id = registry_.allocate_id();
    if (int rc = format_segment(fd, ops, spec, id, seed); rc != 0) return close_keep_errno(fd, rc);
    if (int rc = take_ref_lock(fd, O_RDWR); rc != 0) return close_keep_errno(fd, rc);
    const std::string proc = proc_fd_path(fd);
    for (int attempt = 0;; ++attempt) {
        const std::string path = map_path(id);
        if (linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0) break;
        if (errno != EEXIST || attempt > 1000000) return close_keep_errno(fd, -errno);
        id = registry_.allocate_id();  // the id is still used by an older map: take the next
        if (int rc = set_segment_id(fd, id); rc != 0) return close_keep_errno(fd, rc);
    }
    id_out = id;
    log().debug("created map id {} ({}, key {} value {} max_entries {} flags {:#x}) at {}", id,
                ops.name, spec.key_size, spec.value_size, spec.max_entries, spec.map_flags,
                map_path(id));
    if (accmode == O_RDWR) return fd;
    int narrowed = reopen_ref(fd, accmode);
    ::close(fd);  // the narrowed reference keeps the map alive
    return narrowed;
}

int Store::check_space(const MapTypeOps& ops, const MapSpec& spec) const {
    int fd = ::open(maps_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = shm::check_space(fd, segment_size(ops, spec));
    ::close(fd);
    return rc;
}

int Store::reopen_ref(int fd, int accmode) {
    int nfd = ::open(proc_fd_path(fd).c_str(), accmode | O_CLOEXEC);
    if (nfd < 0) return -errno;
    if (int rc = take_ref_lock(nfd, accmode); rc != 0) return close_keep_errno(nfd, rc);
    return nfd;
}

int Store::open_ref(const std::string& path, int accmode, bool reclaim) {
    int fd = ::open(path.c_str(), accmode | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) return close_keep_errno(fd, -errno);
    if (!S_ISREG(st.st_mode)) return close_keep_errno(fd, -EACCES);
    // A map reached by its id file with no reference and no pin is dead (its last holder was
    // killed before it could destroy it): destroy it now instead of reviving it.
    int err;
    std::string real = real_path(path, err);
    if (!real.empty() && is_within(real, real_path(maps_dir_, err))) {
        int probe = ::open(proc_fd_path(fd).c_str(), O_RDWR | O_CLOEXEC);
        if (probe >= 0) {
            struct stat pst;
            if (try_lock_whole(probe) && fstat(probe, &pst) == 0 && pst.st_nlink <= 1) {
                if (pst.st_nlink == 1 && reclaim) ::unlink(path.c_str());
                log().debug("map file {} has no holder and no pin: {}", path,
                            reclaim ? "destroyed" : "left for gc");
                ::close(probe);
                return close_keep_errno(fd, -ENOENT);
            }
            ::close(probe);
        }
    }
    if (int rc = take_ref_lock(fd, accmode); rc != 0) return close_keep_errno(fd, rc);
    if (fstat(fd, &st) != 0) return close_keep_errno(fd, -errno);
    if (st.st_nlink == 0) return close_keep_errno(fd, -ENOENT);  // destroyed meanwhile
    return fd;
}

bool Store::try_destroy(uint32_t id) {
    const std::string path = map_path(id);
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return false;
    bool destroyed = false;
    struct stat st;
    if (try_lock_whole(fd) && fstat(fd, &st) == 0 && st.st_nlink == 1) {
        destroyed = ::unlink(path.c_str()) == 0;
        if (destroyed) log().debug("destroyed map id {}: no fd and no pin refer to it", id);
    }
    ::close(fd);
    return destroyed;
}

bool Store::is_dead(uint32_t id) const {
    int fd = ::open(map_path(id).c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    const bool dead = try_lock_whole(fd) && fstat(fd, &st) == 0 && st.st_nlink == 1;
    ::close(fd);
    return dead;
}

int Store::sweep() {
    int n = 0;
    for (uint32_t id : list_ids()) n += try_destroy(id) ? 1 : 0;
    return n;
}

std::vector<uint32_t> Store::list_ids() const {
    std::vector<uint32_t> ids;
    DIR* d = ::opendir(maps_dir_.c_str());
    if (!d) return ids;
    while (struct dirent* e = ::readdir(d)) {
        const char* n = e->d_name;
        if (!*n || std::strspn(n, "0123456789") != std::strlen(n) || std::strlen(n) > 10) continue;
        unsigned long v = std::strtoul(n, nullptr, 10);
        if (v >= 1 && v <= INT_MAX) ids.push_back(static_cast<uint32_t>(v));
    }
    ::closedir(d);
    std::sort(ids.begin(), ids.end());
    return ids;
}

int Store::check_pin_path(const char* path) const {
    std::string p(path);
    if (p.empty()) return -ENOENT;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    const size_t slash = p.rfind('/');
    const std::string parent =
        slash == std::string::npos ? "." : (slash == 0 ? "/" : p.substr(0, slash));
    const std::string base = slash == std::string::npos ? p : p.substr(slash + 1);
    int err;
    const std::string real_parent = real_path(parent, err);
    if (real_parent.empty()) return err == ENOTDIR ? -ENOTDIR : -ENOENT;
    struct stat st;
    if (::lstat(p.c_str(), &st) == 0) return -EEXIST;
    if (base == "." || base == "..") return -EEXIST;
    if (!is_within(real_parent, real_root_)) return -EPERM;
    if (is_within(real_parent, real_root_ + "/maps")) return -EPERM;
    return 0;
}

int Store::pin(uint32_t id, const char* path) {
    if (::link(map_path(id).c_str(), path) != 0) {
        if (errno == EXDEV) return -EPERM;  // another file system mounted inside the root
        return -errno;
    }
    log().debug("pinned map id {} at {}", id, path);
    return 0;
}

bool Store::is_id_file(const char* path) const {
    int err;
    const std::string real = real_path(path, err);
    return !real.empty() && is_within(real, real_root_ + "/maps");
}

int Store::check_get_path(const char* path) const {
    int err;
    const std::string real = real_path(path, err);
    if (real.empty()) return -err;
    if (!is_within(real, real_root_)) return -EACCES;  // not on "bpffs"
    struct stat st;
    if (::stat(real.c_str(), &st) != 0) return -errno;
    if (!S_ISREG(st.st_mode)) return -EACCES;
    return 0;
}

}  // namespace bpfmap::shm
