// The one list of implemented map types. Adding a type: one new file, one line here.
#include "shm/map_type.hpp"

namespace bpfmap::shm {

extern const MapTypeOps kHashMapOps;
extern const MapTypeOps kArrayMapOps;
extern const MapTypeOps kPercpuHashMapOps;
extern const MapTypeOps kPercpuArrayMapOps;
extern const MapTypeOps kLruHashMapOps;
extern const MapTypeOps kLruPercpuHashMapOps;
extern const MapTypeOps kQueueMapOps;
extern const MapTypeOps kStackMapOps;
extern const MapTypeOps kBloomFilterMapOps;
extern const MapTypeOps kLpmTrieMapOps;

namespace {
const MapTypeOps* const kMapTypes[] = {
    &kHashMapOps,          &kArrayMapOps, &kPercpuHashMapOps, &kPercpuArrayMapOps, &kLruHashMapOps,
    &kLruPercpuHashMapOps, &kQueueMapOps, &kStackMapOps,      &kBloomFilterMapOps, &kLpmTrieMapOps,
};
}  // namespace

const MapTypeOps* find_map_type(uint32_t map_type) {
    for (const MapTypeOps* ops : kMapTypes)
        if (ops->map_type == map_type) return ops;
    return nullptr;
}

}  // namespace bpfmap::shm
