// BPF_MAP_GET_NEXT_ID, BPF_MAP_GET_FD_BY_ID and BPF_OBJ_GET_INFO_BY_FD.
#include <fcntl.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "api/attr.hpp"
#include "api/commands.hpp"
#include "api/context.hpp"
#include "api/uaccess.hpp"
#include "shm/observe.hpp"

namespace bpfmap::api {

int cmd_map_get_next_id(const union bpf_attr& a, union bpf_attr* uattr, unsigned size) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(next_id)>(a, size)) return -EINVAL;
    if (a.start_id >= INT_MAX) return -EINVAL;
    int err;
    shm::Store* st = store(err);
    if (!st) return -err;
    for (uint32_t id : st->list_ids()) {
        if (id <= a.start_id) continue;
        // A map whose holders were all killed is destroyed here rather than listed (an
        // observer only skips it).
        if (shm::observe_only() ? st->is_dead(id) : st->try_destroy(id)) continue;
        return copy_to_user(attr_field(uattr, offsetof(union bpf_attr, next_id)), &id, sizeof id)
                   ? 0
                   : -EFAULT;
    }
    return -ENOENT;
}

int cmd_map_get_fd_by_id(const union bpf_attr& a, union bpf_attr*, unsigned size) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(open_flags)>(a, size)) return -EINVAL;
    if (a.open_flags & ~static_cast<uint32_t>(BPF_F_RDONLY | BPF_F_WRONLY)) return -EINVAL;
    if ((a.open_flags & BPF_F_RDONLY) && (a.open_flags & BPF_F_WRONLY)) return -EINVAL;
    const int accmode = (a.open_flags & BPF_F_RDONLY)   ? O_RDONLY
                        : (a.open_flags & BPF_F_WRONLY) ? O_WRONLY
                                                        : O_RDWR;
    if (a.map_id == 0 || a.map_id > INT_MAX) return -ENOENT;
    int err;
    shm::Store* st = store(err);
    if (!st) return -err;
    int fd = st->open_ref(st->map_path(a.map_id), accmode, !shm::observe_only());
    if (fd < 0) return fd == -ENOENT || fd == -EACCES ? -ENOENT : fd;
    return adopt_map_fd(fd);
}

int cmd_obj_get_info_by_fd(const union bpf_attr& a, union bpf_attr* uattr, unsigned size) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(info.info)>(a, size)) return -EINVAL;
    MapRef m;
    if (int rc = get_map(static_cast<int>(a.info.bpf_fd), m)) return rc == -EBADF ? -EBADFD : rc;
    // bpf_check_uarg_tail_zero(): at most a page, and bytes past the struct we know are zero.
    uint32_t len = a.info.info_len;
    auto* uinfo = user_ptr<unsigned char>(a.info.info);
    if (len > 4096) return -E2BIG;
    if (len > sizeof(struct bpf_map_info)) {
        unsigned char tail[4096];
        const uint32_t n = len - static_cast<uint32_t>(sizeof(struct bpf_map_info));
        if (!copy_from_user(tail, uinfo + sizeof(struct bpf_map_info), n)) return -EFAULT;
        for (uint32_t i = 0; i < n; ++i)
            if (tail[i]) return -E2BIG;
        len = sizeof(struct bpf_map_info);
    }
    // The kernel (6.18) reads the caller's struct first and then sets only the fields it has
    // for this map: the ifindex/netns fields (device-bound maps) and the BTF ids (maps with
    // BTF, which bpfmap has not) keep the caller's bytes.
    struct bpf_map_info info;
    std::memset(&info, 0, sizeof info);
    if (!copy_from_user(&info, uinfo, len)) return -EFAULT;
    const shm::SegmentHeader& h = *m.h->hdr;
    info.type = h.map_type;
    info.id = h.map_id;
    info.key_size = h.key_size;
    info.value_size = h.value_size;
    info.max_entries = h.max_entries;
    info.map_flags = h.map_flags;
    std::memcpy(info.name, h.name, sizeof info.name);
    info.btf_vmlinux_value_type_id = 0;
    info.map_extra = h.map_extra;
    if (!copy_to_user(uinfo, &info, len)) return -EFAULT;
    return copy_to_user(attr_field(uattr, offsetof(union bpf_attr, info.info_len)), &len,
                        sizeof len)
               ? 0
               : -EFAULT;
}

}  // namespace bpfmap::api
