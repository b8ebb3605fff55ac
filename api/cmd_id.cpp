// BPF_MAP_GET_NEXT_ID, BPF_MAP_GET_FD_BY_ID and BPF_OBJ_GET_INFO_BY_FD.
#include <fcntl.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "api/attr.hpp"
#include "api/commands.hpp"
#include "api/context.hpp"

namespace bpfmap::api {

int cmd_map_get_next_id(const union bpf_attr& a, union bpf_attr* uattr) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(next_id)>(a)) return -EINVAL;
    if (a.start_id >= INT_MAX) return -EINVAL;
    int err;
    shm::Store* st = store(err);
    if (!st) return -err;
    for (uint32_t id : st->list_ids()) {
        if (id <= a.start_id) continue;
        // A map whose holders were all killed is destroyed here rather than listed.
        if (st->try_destroy(id)) continue;
        if (!uattr) return -EFAULT;
        uattr->next_id = id;
        return 0;
    }
    return -ENOENT;
}

int cmd_map_get_fd_by_id(const union bpf_attr& a, union bpf_attr*) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(open_flags)>(a)) return -EINVAL;
    if (a.open_flags & ~static_cast<uint32_t>(BPF_F_RDONLY | BPF_F_WRONLY)) return -EINVAL;
    if ((a.open_flags & BPF_F_RDONLY) && (a.open_flags & BPF_F_WRONLY)) return -EINVAL;
    const int accmode = (a.open_flags & BPF_F_RDONLY)   ? O_RDONLY
                        : (a.open_flags & BPF_F_WRONLY) ? O_WRONLY
                                                        : O_RDWR;
    if (a.map_id == 0 || a.map_id > INT_MAX) return -ENOENT;
    int err;
    shm::Store* st = store(err);
    if (!st) return -err;
    int fd = st->open_ref(st->map_path(a.map_id), accmode);
    if (fd < 0) return fd == -ENOENT || fd == -EACCES ? -ENOENT : fd;
    return adopt_map_fd(fd);
}

int cmd_obj_get_info_by_fd(const union bpf_attr& a, union bpf_attr* uattr) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(info.info)>(a)) return -EINVAL;
    MapRef m;
    if (int rc = get_map(static_cast<int>(a.info.bpf_fd), m)) return rc == -EBADF ? -EBADFD : rc;
    // bpf_check_uarg_tail_zero(): at most a page, and bytes past the struct we know are zero.
    uint32_t len = a.info.info_len;
    auto* uinfo = user_ptr<unsigned char>(a.info.info);
    if (len > 4096) return -E2BIG;
    if (len > sizeof(struct bpf_map_info)) {
        if (!uinfo) return -EFAULT;
        for (uint32_t i = sizeof(struct bpf_map_info); i < len; ++i)
            if (uinfo[i]) return -E2BIG;
        len = sizeof(struct bpf_map_info);
    }
    if (len && !uinfo) return -EFAULT;
    struct bpf_map_info info;
    std::memset(&info, 0, sizeof info);
    const shm::SegmentHeader& h = *m.h->hdr;
    info.type = h.map_type;
    info.id = h.map_id;
    info.key_size = h.key_size;
    info.value_size = h.value_size;
    info.max_entries = h.max_entries;
    info.map_flags = h.map_flags;
    std::memcpy(info.name, h.name, sizeof info.name);
    info.map_extra = h.map_extra;
    std::memcpy(uinfo, &info, len);
    if (!uattr) return -EFAULT;
    uattr->info.info_len = len;
    return 0;
}

}  // namespace bpfmap::api
