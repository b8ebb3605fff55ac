// BPF_MAP_TYPE_ARRAY in a shared-memory segment: the array core of array_core.hpp (its opening
// comment describes the locks, the lock-free lookups and the crash repair) with this element
// storage.
//
// Two element storages, chosen by value_size at create (and again, from the header, on attach):
//
// value_size > 8 (ArrayElems):
//   ArrayHeader    64 B     sizes (validated on attach)
//   stripes[S]     64 B ea. robust mutexes; stripe i guards every element k with k % S == i
//   elems[N]       E B ea.  {sequence count, 4 bytes padding, value rounded up to 8 bytes};
//                           N = max_entries, zero-filled at creation (the kernel's arrays are
//                           zero-initialised too)
//
// value_size <= 8 (ArrayWordElems): counters, flags, u64 statistics
//   ArrayHeader    64 B     sizes, n_stripes = 0
//   words[N]       8 B ea.  the value in the low bytes (memory order), the rest zero. One
//                           atomic load per lookup, one atomic store per update: no lock, no
//                           count, nothing a reader can see torn or a dying writer leave
//                           half-done; and half the memory of {count, value}.
#include <linux/bpf.h>

#include <atomic>
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
// arraymap.c's ARRAY_CREATE_FLAG_MASK less what ARRAY refuses (BPF_F_PRESERVE_ELEMS).
constexpr uint32_t kArrayCreateFlagMask = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY |
                                          BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG | BPF_F_MMAPABLE |
                                          BPF_F_INNER_MAP;

// Values of at most this many bytes are one atomic word (ArrayWordElems).
constexpr uint32_t kWordValueMax = 8;

// What both of ARRAY's storages share: the name, the flags, the layout record, and the region
// header (written and checked from the layout's stripe count and element size).
struct ArrayCommon {
    static constexpr const char* kName = "array";
    static constexpr bool kPercpu = false;
    static constexpr uint32_t kCreateFlagMask = kArrayCreateFlagMask;

    struct Layout {
        uint32_t n_stripes;
        uint64_t elem_size, stripes_off, elems_off, total;
    };

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
};

class ArrayElems : public ArrayCommon {
  public:
    static constexpr bool kWordValues = false;

    static Layout layout_of(const MapSpec& s) {
        Layout l{};
        l.n_stripes = arr::stripes_for(s.max_entries);
        l.elem_size = 8 + round8(s.value_size);
        l.stripes_off = sizeof(ArrayHeader);
        l.elems_off = l.stripes_off + uint64_t{l.n_stripes} * sizeof(PaddedMutex);
        l.total = l.elems_off + uint64_t{s.max_entries} * l.elem_size;
        return l;
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

// ARRAY's elements of at most 8 bytes: one atomic word each (see the top of this file).
class ArrayWordElems : public ArrayCommon {
  public:
    static constexpr bool kWordValues = true;

    static Layout layout_of(const MapSpec& s) {
        Layout l{};
        l.n_stripes = 0;
        l.elem_size = sizeof(uint64_t);
        l.stripes_off = l.elems_off = sizeof(ArrayHeader);
        l.total = l.elems_off + uint64_t{s.max_entries} * l.elem_size;
        return l;
    }

    ArrayWordElems(const SegmentHeader& hdr, std::byte* region, const Layout& l)
        : words_(reinterpret_cast<std::atomic<uint64_t>*>(region + l.elems_off)),
          value_size_(hdr.value_size) {}

    void load_word(uint32_t idx, void* out) const {
        const uint64_t w = words_[idx].load(std::memory_order_relaxed);
        if (value_size_ == 8) [[likely]]
            std::memcpy(out, &w, 8);
        else
            std::memcpy(out, &w, value_size_);
    }
    void store_word(uint32_t idx, const void* in) {
        uint64_t w = 0;
        if (value_size_ == 8) [[likely]]
            std::memcpy(&w, in, 8);
        else
            std::memcpy(&w, in, value_size_);
        words_[idx].store(w, std::memory_order_relaxed);
    }
    // fsck: the bytes past value_size are zero in every word bpfmap wrote.
    bool padding_clear(uint32_t idx) const {
        if (value_size_ >= kWordValueMax) return true;
        uint64_t w = words_[idx].load(std::memory_order_relaxed), value = 0;
        std::memcpy(&value, &w, value_size_);
        return w == value;
    }
    uint32_t user_value_size() const { return value_size_; }
    uint32_t value_slots() const { return 1; }

  private:
    std::atomic<uint64_t>* words_;
    uint32_t value_size_;
};
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint64_t>) == sizeof(uint64_t));

bool word_values(const MapSpec& s) {
    return s.value_size <= kWordValueMax;
}

uint64_t array_region_size(const MapSpec& s) {
    return word_values(s) ? arr::region_size<ArrayWordElems>(s) : arr::region_size<ArrayElems>(s);
}

void array_init_region(std::byte* region, const MapSpec& spec, uint64_t seed) {
    if (word_values(spec))
        arr::init_region<ArrayWordElems>(region, spec, seed);
    else
        arr::init_region<ArrayElems>(region, spec, seed);
}

std::unique_ptr<Map> array_attach(const SegmentHeader& hdr, MapState& state, std::byte* region) {
    return word_values(spec_of(hdr)) ? arr::attach<ArrayWordElems>(hdr, state, region)
                                     : arr::attach<ArrayElems>(hdr, state, region);
}

}  // namespace

extern const MapTypeOps kArrayMapOps;
constinit const MapTypeOps kArrayMapOps = {
    BPF_MAP_TYPE_ARRAY, "array",           true,         arr::alloc_check<ArrayElems>, nullptr,
    array_region_size,  array_init_region, array_attach,
};

}  // namespace bpfmap::shm
