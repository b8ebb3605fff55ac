// BPF_MAP_TYPE_HASH in a shared-memory segment: the hash table core of hash_table.hpp (its
// opening comment describes the region layout, the locks and the crash repair) with the plain
// policy: one value per element, a full map is E2BIG.
#include "shm/hash_table.hpp"

namespace bpfmap::shm {

extern const MapTypeOps kHashMapOps;
constinit const MapTypeOps kHashMapOps =
    htab::ops<htab::HashPolicy>(BPF_MAP_TYPE_HASH, "hash", true);

}  // namespace bpfmap::shm
