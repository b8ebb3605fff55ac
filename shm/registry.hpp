// The store's registry: a small shared segment (<root>/registry) with the counters every
// process of the store draws from. Map names, types and sizes live in each map's own segment
// header; the set of live maps is the maps/ folder.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "shm/segment.hpp"

namespace bpfmap::shm {

struct RegistryData {
    uint64_t magic;  // kRegistryMagic
    uint32_t format_version;
    uint32_t reserved0;
    uint64_t layout_fingerprint;
    std::atomic<uint32_t> next_id;  // the next map id to try: ids count up from 1
    uint32_t reserved1;
    std::atomic<uint64_t> next_lock_slot;  // see store.hpp: one lock byte per open reference
    uint64_t reserved[11];
};
static_assert(sizeof(RegistryData) == 128);

inline constexpr uint64_t kRegistryMagic = 0x3147455250414d42ULL;  // "BMAPREG1"

class Registry {
  public:
    // Opens <root>/registry, creating it if missing. -errno on failure; -EINVAL (with a log
    // line naming the check) if the file is not a valid registry.
    int open(const std::string& root);
    // A fresh map id in [1, INT_MAX]: cyclic, like the kernel's, so ids are not reused at once.
    uint32_t allocate_id();
    // A lock offset no other open reference of this store uses.
    uint64_t allocate_lock_slot();

  private:
    Mapping mapping_;
    RegistryData* data_ = nullptr;
};

}  // namespace bpfmap::shm
