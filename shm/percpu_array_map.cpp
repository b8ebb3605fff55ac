// BPF_MAP_TYPE_PERCPU_ARRAY in a shared-memory segment: the array core of array_core.hpp (its
// opening comment describes the locks, the lock-free lookups and the crash repair) with this
// element storage.
//
// Every element has one slot per possible CPU (shm/cpus.hpp), each round_up(value_size, 8)
// bytes. Through bpf() a value is all the slots back to back, CPU 0 first (the kernel's layout,
// kernel-map-semantics.md section 8): LOOKUP copies every slot, UPDATE writes every slot,
// padding bytes included. bpfmap_this_cpu_ptr() hands out the address of one slot
// (percpu_slot()), which processes update in place with atomic operations and no lock.
//
// Region layout:
//
//   PercpuArrayHeader  64 B      sizes and offsets (validated on attach)
//   stripes[S]         64 B ea.  robust mutexes; stripe i guards the bpf() writers of every
//                                element k with k % S == i
//   seqs[N]            4 B ea.   one sequence count per element, rounded up to 64 bytes
//   cpu areas[C]       A B ea.   CPU c's slots of all N elements, slot k at offset k * slot_size;
//                                A = round_up(N * slot_size, 64)
//
// N = max_entries, C = the possible CPUs when the map was created (a process that counts
// differently refuses the segment). Slots of one CPU are adjacent and the areas of two CPUs
// never share a cache line, so CPUs incrementing the same element in place don't contend.
// Everything is zero-filled at creation (the kernel's per-CPU arrays are zero-initialised too).
//
// bpf() lookups and updates copy in aligned 8-byte atomic loads and stores, so an 8-byte counter
// that another process is changing in place through its slot pointer (which touches neither
// lock nor count) is read whole, never half old and half new.
#include <linux/bpf.h>

#include <cstring>
#include <new>
#include <string>

#include <fmt/format.h>

#include "shm/array_core.hpp"
#include "shm/cpus.hpp"

namespace bpfmap::shm {
namespace {

// Larger regions are refused with ENOMEM (the kernel's allocation fails long before), which also
// keeps every size computation below far from overflowing 64 bits.
constexpr uint64_t kMaxRegionSize = uint64_t{1} << 56;
constexpr uint32_t kRegionMagic = 0x41435050;  // "PPCA"

struct PercpuArrayHeader {
    uint32_t magic;
    uint32_t n_elems;
    uint32_t n_stripes;
    uint32_t n_cpus;
    uint32_t slot_size;
    uint32_t reserved0;
    uint64_t seqs_off;
    uint64_t areas_off;
    uint64_t area_size;  // bytes of one CPU's area
    uint32_t reserved[4];
};
static_assert(sizeof(PercpuArrayHeader) == 64);

constexpr uint64_t round64(uint64_t x) {
    return (x + 63) & ~uint64_t{63};
}

// PERCPU_ARRAY's elements: the sequence counts in one array, the values in one area per CPU.
class PercpuElems {
  public:
    static constexpr const char* kName = "percpu_array";
    static constexpr bool kPercpu = true;
    static constexpr bool kWordValues = false;
    // arraymap.c's ARRAY_CREATE_FLAG_MASK less what a per-CPU array refuses: BPF_F_MMAPABLE and
    // BPF_F_INNER_MAP (ARRAY only), BPF_F_PRESERVE_ELEMS (PERF_EVENT_ARRAY only) and
    // BPF_F_NUMA_NODE (array_map_alloc_check: "percpu && numa_node != NUMA_NO_NODE").
    static constexpr uint32_t kCreateFlagMask =
        BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;

    struct Layout {
        uint32_t n_stripes, n_cpus, slot_size;
        uint64_t stripes_off, seqs_off, areas_off, area_size, total;
    };

    // For a spec that passed alloc_check (value_size <= 32768, so nothing here overflows: at
    // most 2^32 elements * 2^15 bytes * 2^16 CPUs + change).
    static Layout layout_of(const MapSpec& s) {
        Layout l{};
        l.n_stripes = arr::stripes_for(s.max_entries);
        l.n_cpus = possible_cpu_count();
        l.slot_size = percpu_slot_size(s.value_size);
        l.stripes_off = sizeof(PercpuArrayHeader);
        l.seqs_off = l.stripes_off + uint64_t{l.n_stripes} * sizeof(PaddedMutex);
        l.areas_off = l.seqs_off + round64(uint64_t{s.max_entries} * sizeof(SeqCount));
        l.area_size = round64(uint64_t{s.max_entries} * l.slot_size);
        l.total = l.areas_off + uint64_t{l.n_cpus} * l.area_size;
        return l;
    }

    static void init_header(std::byte* region, const MapSpec& spec, const Layout& l) {
        auto* ph = new (region) PercpuArrayHeader{};
        ph->magic = kRegionMagic;
        ph->n_elems = spec.max_entries;
        ph->n_stripes = l.n_stripes;
        ph->n_cpus = l.n_cpus;
        ph->slot_size = l.slot_size;
        ph->seqs_off = l.seqs_off;
        ph->areas_off = l.areas_off;
        ph->area_size = l.area_size;
    }

    static std::string header_problem(const std::byte* region, const SegmentHeader& hdr,
                                      const Layout& l) {
        const auto* ph = reinterpret_cast<const PercpuArrayHeader*>(region);
        if (ph->magic != kRegionMagic || ph->n_elems != hdr.max_entries ||
            ph->n_stripes != l.n_stripes || ph->slot_size != l.slot_size ||
            ph->seqs_off != l.seqs_off || ph->areas_off != l.areas_off ||
            ph->area_size != l.area_size)
            return "sizes out of range";
        if (ph->n_cpus != l.n_cpus)
            return fmt::format("made for {} possible CPUs, this process counts {}", ph->n_cpus,
                               l.n_cpus);
        return {};
    }

    PercpuElems(const SegmentHeader&, std::byte* region, const Layout& l)
        : seqs_(reinterpret_cast<SeqCount*>(region + l.seqs_off)),
          areas_(region + l.areas_off),
          area_size_(l.area_size),
          n_cpus_(l.n_cpus),
          slot_size_(l.slot_size) {}

    SeqCount& seq(uint32_t idx) const { return seqs_[idx]; }

    // Every slot of element idx into `out` (n_cpus * slot_size bytes, any alignment), one
    // aligned 8-byte atomic load per word.
    void copy_out(uint32_t idx, void* out) const {
        const uint32_t wps = slot_size_ / 8;
        for (uint32_t c = 0; c < n_cpus_; ++c) {
            const auto* w = reinterpret_cast<const uint64_t*>(slot(c, idx));
            std::byte* o = static_cast<std::byte*>(out) + uint64_t{c} * slot_size_;
            for (uint32_t i = 0; i < wps; ++i) {
                const uint64_t x = __atomic_load_n(w + i, __ATOMIC_RELAXED);
                std::memcpy(o + uint64_t{i} * 8, &x, 8);
            }
        }
    }

    // An update copies the value in 8-byte words, every CPU's slot in turn.
    uint64_t units() const { return uint64_t{n_cpus_} * (slot_size_ / 8); }

    // Words [from, to) of the user value `src` into element idx's slots (word i is word
    // i % wps of CPU i / wps's slot), one aligned 8-byte atomic store per word.
    void copy_in(uint32_t idx, const std::byte* src, uint64_t from, uint64_t to) {
        const uint32_t wps = slot_size_ / 8;
        for (uint64_t i = from; i < to; ++i) {
            const auto c = static_cast<uint32_t>(i / wps);
            auto* w = reinterpret_cast<uint64_t*>(slot(c, idx)) + i % wps;
            uint64_t x;
            std::memcpy(&x, src + i * 8, 8);
            __atomic_store_n(w, x, __ATOMIC_RELAXED);
        }
    }

    uint32_t user_value_size() const { return slot_size_ * n_cpus_; }
    uint32_t value_slots() const { return n_cpus_; }

    std::byte* slot(uint32_t cpu, uint32_t idx) const {
        return areas_ + cpu * area_size_ + uint64_t{idx} * slot_size_;
    }

  private:
    SeqCount* seqs_;
    std::byte* areas_;
    uint64_t area_size_;
    uint32_t n_cpus_, slot_size_;
};

// array_map_alloc: the per-CPU memory of a huge array cannot be allocated.
int percpu_array_alloc_limits(MapSpec& s) {
    return PercpuElems::layout_of(s).total > kMaxRegionSize ? -ENOMEM : 0;
}

}  // namespace

extern const MapTypeOps kPercpuArrayMapOps;
constinit const MapTypeOps kPercpuArrayMapOps =
    arr::ops<PercpuElems>(BPF_MAP_TYPE_PERCPU_ARRAY, "percpu_array",
                          false,  // bpf_map_offload_map_alloc: only ARRAY and HASH
                          percpu_array_alloc_limits);

}  // namespace bpfmap::shm
