// Element commands: LOOKUP, UPDATE, DELETE, GET_NEXT_KEY, LOOKUP_AND_DELETE, and FREEZE.
// The checks and their order follow kernel/bpf/syscall.c (map_lookup_elem, map_update_elem,
// ...): CHECK_ATTR, command flags, the fd, access, BPF_F_LOCK, the key, the value, the op.
#include <cerrno>

#include "api/attr.hpp"
#include "api/commands.hpp"
#include "api/context.hpp"
#include "api/uaccess.hpp"

namespace bpfmap::api {
namespace {

// BPF_F_LOCK needs a BTF spin lock in the value; bpfmap has no BTF, so it is always EINVAL.
constexpr uint64_t kNoSpinLock = BPF_F_LOCK;

// __bpf_copy_key(): the key is copied in from the caller when key_size > 0 (unreadable: EFAULT);
// a keyless type refuses a key (EINVAL).
class UserKey {
  public:
    UserKey(const MapRef& m, uint64_t ukey) : buf_(m.h->key_size) {
        const uint32_t ks = m.h->key_size;
        if (ks == 0)
            rc_ = ukey ? -EINVAL : 0;
        else
            rc_ = copy_from_user(buf_.data(), user_ptr<const void>(ukey), ks) ? 0 : -EFAULT;
    }
    int error() const { return rc_; }
    const void* get() { return buf_.data(); }

  private:
    ScratchBuffer buf_;
    int rc_;
};

}  // namespace

int cmd_map_lookup_elem(const union bpf_attr& a, union bpf_attr*, unsigned size) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(flags)>(a, size)) return -EINVAL;
    if (a.flags & ~uint64_t{BPF_F_LOCK}) return -EINVAL;
    MapRef m;
    if (int rc = get_map(static_cast<int>(a.map_fd), m)) return rc;
    if (!m.can_read()) return -EPERM;
    if (a.flags & kNoSpinLock) return -EINVAL;
    UserKey key(m, a.key);
    if (int rc = key.error()) return rc;
    const uint32_t vs = m.h->user_value_size;
    ScratchBuffer value(vs);
    // A bloom filter's value is the question, not the answer: copied in, nothing written back.
    if (m.h->lookup_reads_value) [[unlikely]] {
        if (!copy_from_user(value.data(), user_ptr<const void>(a.value), vs)) return -EFAULT;
        return m.h->map->lookup(key.get(), value.data());
    }
    // The op fills a buffer of ours; a missing element leaves the caller's untouched, and an
    // unwritable one is EFAULT after the op, as in the kernel.
    if (int rc = m.h->map->lookup(key.get(), value.data())) return rc;
    return copy_to_user(user_ptr(a.value), value.data(), vs) ? 0 : -EFAULT;
}

int cmd_map_update_elem(const union bpf_attr& a, union bpf_attr*, unsigned size) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(flags)>(a, size)) return -EINVAL;
    MapRef m;
    if (int rc = get_map(static_cast<int>(a.map_fd), m)) return rc;
    if (!m.can_write()) return -EPERM;
    if (a.flags & kNoSpinLock) return -EINVAL;
    UserKey key(m, a.key);
    if (int rc = key.error()) return rc;
    const uint32_t vs = m.h->user_value_size;
    ScratchBuffer value(vs);
    if (!copy_from_user(value.data(), user_ptr<const void>(a.value), vs)) return -EFAULT;
    return m.h->map->update(key.get(), value.data(), a.flags);
}

int cmd_map_delete_elem(const union bpf_attr& a, union bpf_attr*, unsigned size) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(key)>(a, size)) return -EINVAL;
    MapRef m;
    if (int rc = get_map(static_cast<int>(a.map_fd), m)) return rc;
    if (!m.can_write()) return -EPERM;
    UserKey key(m, a.key);
    if (int rc = key.error()) return rc;
    return m.h->map->delete_elem(key.get());
}

int cmd_map_get_next_key(const union bpf_attr& a, union bpf_attr*, unsigned size) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(next_key)>(a, size)) return -EINVAL;
    MapRef m;
    if (int rc = get_map(static_cast<int>(a.map_fd), m)) return rc;
    if (!m.can_read()) return -EPERM;
    // A NULL key asks for the first key.
    UserKey key(m, a.key);
    if (a.key && key.error()) return key.error();
    const uint32_t ks = m.h->key_size;
    ScratchBuffer next(ks ? ks : 1);
    if (int rc = m.h->map->get_next_key(a.key ? key.get() : nullptr, next.data())) return rc;
    return copy_to_user(user_ptr(a.next_key), next.data(), ks) ? 0 : -EFAULT;
}

int cmd_map_lookup_and_delete_elem(const union bpf_attr& a, union bpf_attr*, unsigned size) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(flags)>(a, size)) return -EINVAL;
    if (a.flags & ~uint64_t{BPF_F_LOCK}) return -EINVAL;
    MapRef m;
    if (int rc = get_map(static_cast<int>(a.map_fd), m)) return rc;
    if (!m.can_read() || !m.can_write()) return -EPERM;
    if (a.flags & kNoSpinLock) return -EINVAL;
    UserKey key(m, a.key);
    if (int rc = key.error()) return rc;
    const uint32_t vs = m.h->user_value_size;
    ScratchBuffer value(vs);
    // The element is gone even if the copy-out then fails (kernel order).
    if (int rc = m.h->map->lookup_and_delete(key.get(), value.data(), a.flags)) return rc;
    return copy_to_user(user_ptr(a.value), value.data(), vs) ? 0 : -EFAULT;
}

int cmd_map_freeze(const union bpf_attr& a, union bpf_attr*, unsigned size) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(map_fd)>(a, size)) return -EINVAL;
    MapRef m;
    if (int rc = get_map(static_cast<int>(a.map_fd), m)) return rc;
    // A frozen map grants write access to nobody, so a second freeze is EPERM, as in the kernel.
    if (!m.can_write()) return -EPERM;
    uint32_t expected = 0;
    if (!m.h->state->frozen.compare_exchange_strong(expected, 1)) return -EBUSY;
    return 0;
}

}  // namespace bpfmap::api
