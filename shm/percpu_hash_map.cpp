// BPF_MAP_TYPE_PERCPU_HASH: the hash table core of hash_table.hpp with per-CPU values. Through
// bpf() a value is round_up(value_size, 8) bytes per possible CPU (shm/cpus.hpp); lookups return
// every CPU's slot, updates set every slot, padding included (as the kernel does). Updates of an
// existing key are in place, as in the kernel. percpu_slot() (bpfmap_this_cpu_ptr) gives the
// address of one CPU's slot, 8-byte aligned, for lock-free updates by the caller.
#include "shm/hash_table.hpp"

namespace bpfmap::shm {

extern const MapTypeOps kPercpuHashMapOps;
constinit const MapTypeOps kPercpuHashMapOps =
    htab::ops<htab::PercpuHashPolicy>(BPF_MAP_TYPE_PERCPU_HASH, "percpu_hash", true);

}  // namespace bpfmap::shm
