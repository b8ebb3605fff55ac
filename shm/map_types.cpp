// The one list of implemented map types. Adding a type: one new file, one line here.
#include "shm/map_type.hpp"

namespace bpfmap::shm {

extern const MapTypeOps kHashMapOps;
extern const MapTypeOps kArrayMapOps;

namespace {
const MapTypeOps* const kMapTypes[] = {
    &kHashMapOps,
    &kArrayMapOps,
};
}  // namespace

const MapTypeOps* find_map_type(uint32_t map_type) {
    for (const MapTypeOps* ops : kMapTypes)
        if (ops->map_type == map_type) return ops;
    return nullptr;
}

}  // namespace bpfmap::shm
