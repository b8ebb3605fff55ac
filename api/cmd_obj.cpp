// BPF_OBJ_PIN and BPF_OBJ_GET. The store's root folder plays bpffs: pins are hard links to the
// map's segment file anywhere in the root (outside maps/), and unlink() removes them.
#include <fcntl.h>
#include <unistd.h>

#include <limits.h>

#include <cerrno>
#include <string>

#include "api/attr.hpp"
#include "api/commands.hpp"
#include "api/context.hpp"
#include "api/uaccess.hpp"
#include "shm/log.hpp"
#include "shm/segment_format.hpp"

namespace bpfmap::api {
namespace {

// bpf_get_file_flag(): BPF_F_RDONLY / BPF_F_WRONLY (not both) to an open(2) access mode.
int access_mode(uint32_t flags) {
    if ((flags & BPF_F_RDONLY) && (flags & BPF_F_WRONLY)) return -EINVAL;
    if (flags & BPF_F_RDONLY) return O_RDONLY;
    if (flags & BPF_F_WRONLY) return O_WRONLY;
    return O_RDWR;
}

// getname(): the caller's path, copied in. EFAULT if unreadable, ENAMETOOLONG past PATH_MAX.
int user_path(uint64_t upath, std::string& out) {
    const char* p = user_ptr<const char>(upath);
    long n = strnlen_user(p, PATH_MAX);
    if (n < 0) return -EFAULT;
    if (n >= PATH_MAX) return -ENAMETOOLONG;
    if (n == 0) return -ENOENT;
    out.resize(static_cast<size_t>(n));
    return copy_from_user(out.data(), p, static_cast<size_t>(n)) ? 0 : -EFAULT;
}

}  // namespace

int cmd_obj_pin(const union bpf_attr& a, union bpf_attr*, unsigned size) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(file_flags)>(a, size)) return -EINVAL;
    if (a.file_flags) return -EINVAL;
    MapRef m;
    // bpf_fd_probe_obj(): anything that is not a BPF object, a closed fd included, is EINVAL.
    if (get_map(static_cast<int>(a.bpf_fd), m) != 0) return -EINVAL;
    std::string path;
    if (int rc = user_path(a.pathname, path)) return rc;
    int err;
    shm::Store* st = store(err);
    if (!st) return -err;
    if (int rc = st->check_pin_path(path.c_str())) return rc;
    return st->pin(m.h->id, path.c_str());
}

int cmd_obj_get(const union bpf_attr& a, union bpf_attr*, unsigned size) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(file_flags)>(a, size)) return -EINVAL;
    if (a.file_flags & ~static_cast<uint32_t>(BPF_F_RDONLY | BPF_F_WRONLY)) return -EINVAL;
    if (a.bpf_fd != 0) return -EINVAL;
    const int accmode = access_mode(a.file_flags);
    if (accmode < 0) return accmode;
    std::string upath;
    if (int rc = user_path(a.pathname, upath)) return rc;
    const char* path = upath.c_str();
    int err;
    shm::Store* st = store(err);
    if (!st) return -err;
    if (int rc = st->check_get_path(path)) return rc;
    // A file in the root that is not a map segment is not a BPF object: EACCES, as for a
    // file that is not on bpffs.
    {
        int probe = ::open(path, O_RDONLY | O_CLOEXEC);
        if (probe < 0) return -errno;
        uint64_t magic = 0;
        const bool is_segment =
            pread(probe, &magic, sizeof magic, 0) == static_cast<ssize_t>(sizeof magic) &&
            magic == shm::kSegmentMagic;
        ::close(probe);
        if (!is_segment) {
            shm::log().debug(
                "BPF_OBJ_GET {}: magic number (not a bpfmap segment) check failed: "
                "EACCES",
                path);
            return -EACCES;
        }
    }
    int fd = st->open_ref(path, accmode);
    if (fd < 0) return fd;
    return adopt_map_fd(fd);
}

}  // namespace bpfmap::api
