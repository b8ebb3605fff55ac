// BPF_MAP_TYPE_LRU_HASH and BPF_MAP_TYPE_LRU_PERCPU_HASH: the hash table core of hash_table.hpp
// with eviction (its opening comment describes the recency list, the second chance that a
// lookup's "referenced" mark gives, and the crash repair). A full map evicts the least recently
// used element instead of failing; BPF_F_NO_PREALLOC is ENOTSUPP; BPF_F_NO_COMMON_LRU rounds
// max_entries up to a multiple of the possible CPU count (GET_INFO shows it) but keeps one
// common recency list.
#include "shm/hash_table.hpp"

namespace bpfmap::shm {

extern const MapTypeOps kLruHashMapOps;
constinit const MapTypeOps kLruHashMapOps =
    htab::ops<htab::LruHashPolicy>(BPF_MAP_TYPE_LRU_HASH, "lru_hash", true);

extern const MapTypeOps kLruPercpuHashMapOps;
constinit const MapTypeOps kLruPercpuHashMapOps =
    htab::ops<htab::LruPercpuHashPolicy>(BPF_MAP_TYPE_LRU_PERCPU_HASH, "lru_percpu_hash", true);

}  // namespace bpfmap::shm
