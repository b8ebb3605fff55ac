// Element commands: LOOKUP, UPDATE, DELETE, GET_NEXT_KEY, LOOKUP_AND_DELETE, and FREEZE.
// The checks and their order follow kernel/bpf/syscall.c (map_lookup_elem, map_update_elem,
// ...): CHECK_ATTR, command flags, the fd, access, BPF_F_LOCK, the key, the value, the op.
#include <cerrno>
#include <vector>

#include "api/attr.hpp"
#include "api/commands.hpp"
#include "api/context.hpp"

namespace bpfmap::api {
namespace {

// __bpf_copy_key: a key is required when key_size > 0 (NULL: EFAULT); keyless types refuse one.
int check_key(const MapRef& m, uint64_t key) {
    if (m.h->key_size) return key ? 0 : -EFAULT;
    return key ? -EINVAL : 0;
}

// BPF_F_LOCK needs a BTF spin lock in the value; bpfmap has no BTF, so it is always EINVAL.
constexpr uint64_t kNoSpinLock = BPF_F_LOCK;

// Calls `op` with the user's buffer, or with a scratch buffer when the user's is NULL: the
// kernel runs the op first and fails the copy-out with EFAULT afterwards (so a missing element
// is still ENOENT, and LOOKUP_AND_DELETE has already deleted).
template <typename Op>
int with_out_buffer(void* user, uint32_t size, Op op) {
    if (user) [[likely]]
        return op(user);
    std::vector<unsigned char> scratch(size);
    int rc = op(scratch.data());
    return rc == 0 ? -EFAULT : rc;
}

}  // namespace

int cmd_map_lookup_elem(const union bpf_attr& a, union bpf_attr*) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(flags)>(a)) return -EINVAL;
    if (a.flags & ~uint64_t{BPF_F_LOCK}) return -EINVAL;
    MapRef m;
    if (int rc = get_map(static_cast<int>(a.map_fd), m)) return rc;
    if (!m.can_read()) return -EPERM;
    if (a.flags & kNoSpinLock) return -EINVAL;
    if (int rc = check_key(m, a.key)) return rc;
    const void* key = user_ptr<const void>(a.key);
    return with_out_buffer(user_ptr(a.value), m.h->user_value_size,
                           [&](void* v) { return m.h->map->lookup(key, v); });
}

int cmd_map_update_elem(const union bpf_attr& a, union bpf_attr*) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(flags)>(a)) return -EINVAL;
    MapRef m;
    if (int rc = get_map(static_cast<int>(a.map_fd), m)) return rc;
    if (!m.can_write()) return -EPERM;
    if (a.flags & kNoSpinLock) return -EINVAL;
    if (int rc = check_key(m, a.key)) return rc;
    if (!a.value) return -EFAULT;
    return m.h->map->update(user_ptr<const void>(a.key), user_ptr<const void>(a.value), a.flags);
}

int cmd_map_delete_elem(const union bpf_attr& a, union bpf_attr*) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(key)>(a)) return -EINVAL;
    MapRef m;
    if (int rc = get_map(static_cast<int>(a.map_fd), m)) return rc;
    if (!m.can_write()) return -EPERM;
    if (int rc = check_key(m, a.key)) return rc;
    return m.h->map->delete_elem(user_ptr<const void>(a.key));
}

int cmd_map_get_next_key(const union bpf_attr& a, union bpf_attr*) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(next_key)>(a)) return -EINVAL;
    MapRef m;
    if (int rc = get_map(static_cast<int>(a.map_fd), m)) return rc;
    if (!m.can_read()) return -EPERM;
    // A NULL key asks for the first key; a key on a keyless map is EINVAL.
    if (a.key && !m.h->key_size) return -EINVAL;
    const void* key = user_ptr<const void>(a.key);
    return with_out_buffer(user_ptr(a.next_key), m.h->key_size ? m.h->key_size : 1,
                           [&](void* nk) { return m.h->map->get_next_key(key, nk); });
}

int cmd_map_lookup_and_delete_elem(const union bpf_attr& a, union bpf_attr*) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(flags)>(a)) return -EINVAL;
    if (a.flags & ~uint64_t{BPF_F_LOCK}) return -EINVAL;
    MapRef m;
    if (int rc = get_map(static_cast<int>(a.map_fd), m)) return rc;
    if (!m.can_read() || !m.can_write()) return -EPERM;
    if (a.flags & kNoSpinLock) return -EINVAL;
    if (int rc = check_key(m, a.key)) return rc;
    const void* key = user_ptr<const void>(a.key);
    return with_out_buffer(user_ptr(a.value), m.h->user_value_size,
                           [&](void* v) { return m.h->map->lookup_and_delete(key, v, a.flags); });
}

int cmd_map_freeze(const union bpf_attr& a, union bpf_attr*) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(map_fd)>(a)) return -EINVAL;
    MapRef m;
    if (int rc = get_map(static_cast<int>(a.map_fd), m)) return rc;
    // A frozen map grants write access to nobody, so a second freeze is EPERM, as in the kernel.
    if (!m.can_write()) return -EPERM;
    uint32_t expected = 0;
    if (!m.h->state->frozen.compare_exchange_strong(expected, 1)) return -EBUSY;
    return 0;
}

}  // namespace bpfmap::api
