// BPF_MAP_CREATE: the generic checks of kernel/bpf/syscall.c (map_create), in its order, then
// the type's alloc_check, then the store.
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "api/attr.hpp"
#include "api/commands.hpp"
#include "api/context.hpp"
#include "shm/log.hpp"

namespace bpfmap::api {
namespace {

// bpf_obj_name_cpy: only [A-Za-z0-9_.] before the first NUL, and a NUL within the 16 bytes.
bool valid_map_name(const char (&name)[BPF_OBJ_NAME_LEN]) {
    for (size_t i = 0; i < BPF_OBJ_NAME_LEN; ++i) {
        const char c = name[i];
        if (c == '\0') return true;
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '.';
        if (!ok) return false;
    }
    return false;
}

// nr_node_ids: the number of NUMA nodes this machine may have (node0 .. nodeN-1).
uint32_t numa_node_count() {
    static const uint32_t n = [] {
        uint32_t count = 0;
        if (DIR* d = opendir("/sys/devices/system/node")) {
            while (struct dirent* e = readdir(d))
                if (std::strncmp(e->d_name, "node", 4) == 0 && e->d_name[4] >= '0' &&
                    e->d_name[4] <= '9')
                    ++count;
            closedir(d);
        }
        return count ? count : 1u;
    }();
    return n;
}

uint64_t random_seed() {
    uint64_t seed = 0;
    while (getrandom(&seed, sizeof seed, 0) < 0 && errno == EINTR) {
    }
    return seed;
}

}  // namespace

int adopt_map_fd(int fd) {
    // The kernel just handed out this number: an entry left for it (an fd closed behind the
    // table's back, e.g. by a raw system call) is stale. Drop it before resolving afresh.
    release_handle(detach_fd(fd));
    MapRef m;
    if (int rc = get_map(fd, m); rc != 0) {
        ::close(fd);
        return rc;
    }
    return fd;
}

int cmd_map_create(const union bpf_attr& a, union bpf_attr*, unsigned size) {
    if (!attr_tail_zero<BPFMAP_ATTR_END(map_extra)>(a, size)) return -EINVAL;
    if (a.btf_key_type_id && !a.btf_value_type_id) return -EINVAL;
    if (a.map_extra && a.map_type != BPF_MAP_TYPE_BLOOM_FILTER) return -EINVAL;
    if ((a.map_flags & BPF_F_RDONLY) && (a.map_flags & BPF_F_WRONLY)) return -EINVAL;
    if ((a.map_flags & BPF_F_NUMA_NODE) && a.numa_node >= numa_node_count()) return -EINVAL;
    const shm::MapTypeOps* ops = shm::find_map_type(a.map_type);
    if (!ops) {
        shm::log().debug("map type {} is not supported by bpfmap: EINVAL", a.map_type);
        return -EINVAL;
    }
    shm::MapSpec spec;
    spec.map_type = a.map_type;
    spec.key_size = a.key_size;
    spec.value_size = a.value_size;
    spec.max_entries = a.max_entries;
    spec.map_flags = a.map_flags;
    spec.map_extra = a.map_extra;
    if (int rc = ops->alloc_check(spec)) return rc;
    // Device offload (bpf_map_offload_map_alloc): only some types, only on an existing device,
    // and no device offloads to user space.
    if (a.map_ifindex) {
        char ifname[IF_NAMESIZE];
        if (!ops->offloadable || !if_indextoname(a.map_ifindex, ifname)) return -EINVAL;
        return -EOPNOTSUPP;
    }
    if (ops->alloc_limits)
        if (int rc = ops->alloc_limits(spec)) return rc;
    if (a.btf_value_type_id || a.btf_vmlinux_value_type_id) {
        shm::log().info("map creation with BTF type ids: bpfmap has no BTF support: EINVAL");
        return -EINVAL;
    }
    int err;
    shm::Store* st = store(err);
    if (!st) return -err;
    // The kernel names the map after allocating it, so a map too large for memory is ENOMEM
    // even when its name is also bad.
    if (!valid_map_name(a.map_name))
        return st->check_space(*ops, spec) == -ENOMEM ? -ENOMEM : -EINVAL;
    std::memcpy(spec.name, a.map_name, sizeof spec.name);
    for (size_t i = std::strlen(spec.name); i < sizeof spec.name; ++i) spec.name[i] = '\0';
    // RDONLY/WRONLY restrict the returned fd; the map itself does not keep them.
    spec.map_flags &= ~static_cast<uint32_t>(BPF_F_RDONLY | BPF_F_WRONLY);

    maybe_sweep(*st);
    const int accmode = (a.map_flags & BPF_F_RDONLY)   ? O_RDONLY
                        : (a.map_flags & BPF_F_WRONLY) ? O_WRONLY
                                                       : O_RDWR;
    const uint64_t seed = (a.map_flags & BPF_F_ZERO_SEED) ? 0 : random_seed();
    uint32_t id = 0;
    int fd = st->create_map(*ops, spec, seed, accmode, g_create_mode.load(), id);
    if (fd < 0) return fd;
    return adopt_map_fd(fd);
}

}  // namespace bpfmap::api
