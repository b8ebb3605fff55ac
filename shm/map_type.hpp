// The ops table of a map type, like the kernel's struct bpf_map_ops.
//
// Each map type is one file (hash_map.cpp, array_map.cpp, ...) that ends with its MapTypeOps and
// is listed once in map_types.cpp. Nothing else in bpfmap switches on the map type: the bpf()
// layer checks attrs and fd access, then calls these.
//
// Return convention, as in the kernel: 0 (or a positive result) on success, -errno on failure.
#pragma once

#include <linux/bpf.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bpfmap::shm {

// What a map is created with: the creation fields of union bpf_attr, without the fd-related ones.
struct MapSpec {
    uint32_t map_type = 0;
    uint32_t key_size = 0;
    uint32_t value_size = 0;
    uint32_t max_entries = 0;
    uint32_t map_flags = 0;  // as stored: without BPF_F_RDONLY/BPF_F_WRONLY (they are the fd's)
    uint64_t map_extra = 0;
    char name[16] = {};
};

struct SegmentHeader;
struct MapState;

// One process-shared lock of a map, as seen from outside (bpfmap-inspect).
struct LockState {
    std::string name;  // "stripe 3", "free list", ...
    int owner_tid;     // 0: free; -1: held by a holder that died, tid unknown
    bool owner_died;   // the holder died inside; the next locker repairs
};

class RobustMutex;
struct PaddedMutex;
// The state of one lock, and of an array of stripe locks ("stripe 0", "stripe 1", ...).
LockState lock_state(std::string name, const RobustMutex& m);
void append_stripe_states(std::vector<LockState>& out, const PaddedMutex* stripes, uint32_t n);

// A map as one process sees it: bound to a mapped, validated segment. Created by
// MapTypeOps::attach; lives as long as the process keeps the segment mapped.
class Map {
  public:
    virtual ~Map() = default;

    // Element operations. `key`/`value` are never null here: the bpf() layer has already given
    // EFAULT for null pointers and passes a scratch buffer where the user's value is null.
    virtual int lookup(const void* key, void* value) = 0;
    virtual int update(const void* key, const void* value, uint64_t flags) = 0;
    virtual int delete_elem(const void* key) = 0;
    // key == nullptr means "the first key".
    virtual int get_next_key(const void* key, void* next_key) = 0;
    // Copies the value out, then deletes; -ENOTSUPP (524) where the type has no such op.
    virtual int lookup_and_delete(const void* key, void* value, uint64_t flags) = 0;

    // Number of elements present (for inspection; a snapshot).
    virtual uint32_t element_count() const = 0;
    // fsck: checks every invariant of the region (sizes, chains, counts, free list: each element
    // reachable exactly once) and appends one line per violation. Reads without locking and
    // changes nothing, so run it on a quiet map for an exact answer.
    virtual void check(std::vector<std::string>& problems) const = 0;
    // The map's locks and who holds them right now.
    virtual std::vector<LockState> lock_states() const = 0;

    // Bytes a user buffer for one value must have: value_size, or for per-CPU types
    // round_up(value_size, 8) * value_slots().
    virtual uint32_t user_value_size() const = 0;

    // Per-CPU types: the number of value slots (one per possible CPU) in a user value, each
    // round_up(value_size, 8) bytes. 1 for every other type.
    virtual uint32_t value_slots() const { return 1; }
    // BLOOM_FILTER: LOOKUP's value is an input ("may this value be in the set?"); the bpf()
    // layer copies it in from the caller and writes nothing back.
    virtual bool lookup_reads_value() const { return false; }
    // Per-CPU types: the address in shared memory of `cpu`'s slot of the element at `key`,
    // what bpf_map_lookup_elem() gives a BPF program in the kernel. 0 or -errno (-ENOENT: no
    // such element); -EINVAL for a type without per-CPU values. Slots are 8-byte aligned (so
    // that 8-byte atomics work on them) and stay mapped as long as the segment does.
    virtual int percpu_slot(const void* /*key*/, uint32_t /*cpu*/, void** /*slot*/) {
        return -22;  // EINVAL
    }
};

struct MapTypeOps {
    uint32_t map_type;
    const char* name;  // bpftool's name: "hash", "array", ...
    // Whether the kernel could offload this type to a device (map_ifindex): it answers
    // EOPNOTSUPP for these on a device that can't, EINVAL for the others.
    bool offloadable;

    // The kernel's map_alloc_check: validates a creation request; 0 or -errno.
    int (*alloc_check)(const MapSpec& spec);
    // Limits the kernel checks while allocating (after map_alloc_check and after the offload
    // branch), e.g. a bucket array too large: 0 or -errno. May adjust the spec as the kernel's
    // map_alloc does (LRU with BPF_F_NO_COMMON_LRU rounds max_entries to a multiple of the
    // CPU count; GET_INFO then shows the adjusted value). May be null.
    int (*alloc_limits)(MapSpec& spec);
    // Bytes of the type's region in the segment, for a spec that passed alloc_check.
    uint64_t (*region_size)(const MapSpec& spec);
    // Lays out a fresh, zero-filled region (locks, empty table). `seed` is the hash seed.
    void (*init_region)(std::byte* region, const MapSpec& spec, uint64_t seed);
    // Binds a validated segment. Returns nullptr if the region's own checks fail (the reason is
    // logged). `region` has region_size(spec) bytes.
    std::unique_ptr<Map> (*attach)(const SegmentHeader& hdr, MapState& state, std::byte* region);
};

// Whether creation flags are within a type's mask and not both BPF_F_RDONLY_PROG and
// BPF_F_WRONLY_PROG (the kernel's bpf_map_flags_access_ok()): every map_alloc_check starts so.
constexpr bool create_flags_ok(uint32_t flags, uint32_t mask) {
    return !(flags & ~mask) && !((flags & BPF_F_RDONLY_PROG) && (flags & BPF_F_WRONLY_PROG));
}

// The ops of a type, or nullptr if bpfmap does not implement it.
const MapTypeOps* find_map_type(uint32_t map_type);

// The kernel's ENOTSUPP (524): kernel-internal, but it reaches user space for some commands.
constexpr int kENOTSUPP = 524;

}  // namespace bpfmap::shm
