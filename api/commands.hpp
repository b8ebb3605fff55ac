// One handler per bpf() command, like the kernel's syscall.c: each checks its attr (the
// CHECK_ATTR tail first), resolves the fd, checks access, then calls the map type's ops.
// `a` is the attr as the kernel would see it (zero-extended); `uattr` is the caller's, for
// the fields the kernel writes back. Each returns a result >= 0 or -errno.
#pragma once

#include <linux/bpf.h>

namespace bpfmap::api {

using CommandHandler = int (*)(const union bpf_attr& a, union bpf_attr* uattr, unsigned size);

int cmd_map_create(const union bpf_attr& a, union bpf_attr* uattr, unsigned size);
int cmd_map_lookup_elem(const union bpf_attr& a, union bpf_attr* uattr, unsigned size);
int cmd_map_update_elem(const union bpf_attr& a, union bpf_attr* uattr, unsigned size);
int cmd_map_delete_elem(const union bpf_attr& a, union bpf_attr* uattr, unsigned size);
int cmd_map_get_next_key(const union bpf_attr& a, union bpf_attr* uattr, unsigned size);
int cmd_map_lookup_and_delete_elem(const union bpf_attr& a, union bpf_attr* uattr, unsigned size);
int cmd_map_freeze(const union bpf_attr& a, union bpf_attr* uattr, unsigned size);
int cmd_obj_pin(const union bpf_attr& a, union bpf_attr* uattr, unsigned size);
int cmd_obj_get(const union bpf_attr& a, union bpf_attr* uattr, unsigned size);
int cmd_map_get_next_id(const union bpf_attr& a, union bpf_attr* uattr, unsigned size);
int cmd_map_get_fd_by_id(const union bpf_attr& a, union bpf_attr* uattr, unsigned size);
int cmd_obj_get_info_by_fd(const union bpf_attr& a, union bpf_attr* uattr, unsigned size);

// Turns a new reference fd into a registered map fd (resolving it now so the first operation
// is fast). On failure the fd is closed and -errno returned.
int adopt_map_fd(int fd);

}  // namespace bpfmap::api
