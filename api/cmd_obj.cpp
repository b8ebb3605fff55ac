// BPF_OBJ_PIN and BPF_OBJ_GET. The store's root folder plays bpffs: pins are hard links to the
// map's segment file anywhere in the root (outside maps/), and unlink() removes them.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "api/attr.hpp"
#include "api/commands.hpp"
#include "api/context.hpp"
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

}  // namespace

int cmd_obj_pin(const union bpf_attr& a, union bpf_attr*) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(file_flags)>(a)) return -EINVAL;
    if (a.file_flags) return -EINVAL;
    MapRef m;
    // bpf_fd_probe_obj(): anything that is not a BPF object, a closed fd included, is EINVAL.
    if (get_map(static_cast<int>(a.bpf_fd), m) != 0) return -EINVAL;
    const char* path = user_ptr<const char>(a.pathname);
    if (!path) return -EFAULT;
    int err;
    shm::Store* st = store(err);
    if (!st) return -err;
    if (int rc = st->check_pin_path(path)) return rc;
    return st->pin(m.h->id, path);
}

int cmd_obj_get(const union bpf_attr& a, union bpf_attr*) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(file_flags)>(a)) return -EINVAL;
    if (a.file_flags & ~static_cast<uint32_t>(BPF_F_RDONLY | BPF_F_WRONLY)) return -EINVAL;
    if (a.bpf_fd != 0) return -EINVAL;
    const int accmode = access_mode(a.file_flags);
    if (accmode < 0) return accmode;
    const char* path = user_ptr<const char>(a.pathname);
    if (!path) return -EFAULT;
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
        if (!is_segment) return -EACCES;
    }
    int fd = st->open_ref(path, accmode);
    if (fd < 0) return fd;
    return adopt_map_fd(fd);
}

}  // namespace bpfmap::api
