// BPF_MAP_TYPE_ARRAY in a shared-memory segment: the array core of array_core.hpp (its opening
// comment describes the locks, the lock-free lookups and the crash repair) with this element
// storage.
//
// Region layout:
//
//   ArrayHeader    64 B     sizes (validated on attach)
//   stripes[S]     64 B ea. robust mutexes; stripe i guards every element k with k % S == i
//   elems[N]       E B ea.  {sequence count, 4 bytes padding, value rounded up to 8 bytes};
//                           N = max_entries, zero-filled at creation (the kernel's arrays are
//                           zero-initialised too)
#include <linux/bpf.h>

#include <cstring>
#include <new>
#include <string>

#include "shm/array_core.hpp"
#include "shm/copy.hpp"

namespace bpfmap::shm {
namespace {

struct ArrayHeader {
    uint32_t n_elems;
    uint32_t n_stripes;
    uint32_t elem_size;
    uint32_t reserved[13];
};
static_assert(sizeof(ArrayHeader) == 64);

constexpr uint64_t round8(uint64_t x) {
    return (x + 7) & ~uint64_t{7};
}

// ARRAY's elements: the sequence count and the value side by side.
class ArrayElems {
  public:
    static constexpr const char* kName = "array";
    static constexpr bool kPercpu = false;
    static constexpr uint32_t kCreateFlagMask = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY |
                                                BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG |
                                                BPF_F_MMAPABLE | BPF_F_INNER_MAP;

    struct Layout {
        uint32_t n_stripes;
        uint64_t elem_size, stripes_off, elems_off, total;
    };

    static Layout layout_of(const MapSpec& s) {
        Layout l{};
        l.n_stripes = arr::stripes_for(s.max_entries);
        l.elem_size = 8 + round8(s.value_size);
        l.stripes_off = sizeof(ArrayHeader);
        l.elems_off = l.stripes_off + uint64_t{l.n_stripes} * sizeof(PaddedMutex);
        l.total = l.elems_off + uint64_t{s.max_entries} * l.elem_size;
        return l;
    }

    static void init_header(std::byte* region, const MapSpec& spec, const Layout& l) {
        auto* ah = new (region) ArrayHeader{};
        ah->n_elems = spec.max_entries;
        ah->n_stripes = l.n_stripes;
        ah->elem_size = static_cast<uint32_t>(l.elem_size);
    }

    static std::string header_problem(const std::byte* region, const SegmentHeader& hdr,
                                      const Layout& l) {
        const auto* ah = reinterpret_cast<const ArrayHeader*>(region);
        if (ah->n_elems != hdr.max_entries || ah->n_stripes != l.n_stripes ||
            ah->elem_size != l.elem_size)
            return "sizes out of range";
        return {};
    }

    ArrayElems(const SegmentHeader& hdr, std::byte* region, const Layout& l)
        : elems_(region + l.elems_off), elem_size_(l.elem_size), value_size_(hdr.value_size) {}

    SeqCount& seq(uint32_t idx) const {
        return *reinterpret_cast<SeqCount*>(elems_ + uint64_t{idx} * elem_size_);
    }
    void copy_out(uint32_t idx, void* out) const { copy_bytes(out, value_of(idx), value_size_); }
    // An update copies the value in bytes.
    uint64_t units() const { return value_size_; }
    void copy_in(uint32_t idx, const std::byte* src, uint64_t from, uint64_t to) {
        std::memcpy(value_of(idx) + from, src + from, to - from);
    }
    uint32_t user_value_size() const { return value_size_; }
    uint32_t value_slots() const { return 1; }

  private:
    std::byte* value_of(uint32_t idx) const { return elems_ + uint64_t{idx} * elem_size_ + 8; }

    std::byte* elems_;
    uint64_t elem_size_;
    uint32_t value_size_;
};

}  // namespace

extern const MapTypeOps kArrayMapOps;
constinit const MapTypeOps kArrayMapOps =
    arr::ops<ArrayElems>(BPF_MAP_TYPE_ARRAY, "array", true, nullptr);

}  // namespace bpfmap::shm
