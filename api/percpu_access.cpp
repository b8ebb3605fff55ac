// bpfmap_this_cpu_ptr: what a BPF program gets from bpf_map_lookup_elem() on a per-CPU map, the
// address of the current CPU's slot, so that processes can update per-CPU values (counters,
// histograms) in place with no lock and no bpf() round trip.
#include <bpfmap/bpf.h>

#include <cerrno>

#include "api/context.hpp"
#include "api/uaccess.hpp"
#include "shm/cpus.hpp"

extern "C" __attribute__((visibility("default"))) void* bpfmap_this_cpu_ptr(int fd,
                                                                            const void* key) {
    using namespace bpfmap;
    api::MapRef m;
    int rc = api::get_map(fd, m);
    // The slot is written through the returned pointer: the fd must grant writing (and the
    // map must not be frozen), as an update through bpf() would.
    if (rc == 0 && !m.can_write()) rc = -EPERM;
    api::ScratchBuffer kbuf(m.h && m.h->key_size ? m.h->key_size : 1);
    if (rc == 0 && m.h->key_size) {
        api::uaccess_init();
        if (!api::copy_from_user(kbuf.data(), key, m.h->key_size)) rc = -EFAULT;
    }
    void* slot = nullptr;
    if (rc == 0) rc = m.h->map->percpu_slot(kbuf.data(), shm::this_cpu_slot_index(), &slot);
    if (rc != 0) {
        errno = -rc;
        return nullptr;
    }
    return slot;
}
