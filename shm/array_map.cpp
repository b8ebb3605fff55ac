// BPF_MAP_TYPE_ARRAY in a shared-memory segment.
//
// Region layout:
//
//   ArrayHeader    64 B     sizes (validated on attach)
//   stripes[S]     64 B ea. robust mutexes; stripe i guards every element k with k % S == i
//   elems[N]       E B ea.  {sequence count, 4 bytes padding, value rounded up to 8 bytes};
//                           N = max_entries, zero-filled at creation (the kernel's arrays are
//                           zero-initialised too)
//
// Writers take the element's stripe lock and wrap the copy in the element's sequence count;
// lookups copy without a lock and retry if a writer interfered. So unlike the kernel's arrays
// (whose lookups can see a value torn by a concurrent update) a lookup here never returns a
// torn value. A writer that dies mid-copy leaves the count odd and the value half-written; the
// next holder of the stripe lock (EOWNERDEAD) makes the stripe's counts even again. The value
// then holds what the dead writer had written, as after any interrupted store.
#include <linux/bpf.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include <fmt/format.h>

#include "shm/copy.hpp"
#include "shm/log.hpp"
#include "shm/map_type.hpp"
#include "shm/observe.hpp"
#include "shm/robust_mutex.hpp"
#include "shm/segment_format.hpp"
#include "shm/seqlock.hpp"
#include "shm/test_hooks.hpp"

namespace bpfmap::shm {
namespace {

constexpr uint32_t kMaxStripes = 256;
constexpr uint32_t kCreateFlagMask = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY |
                                     BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG | BPF_F_MMAPABLE |
                                     BPF_F_INNER_MAP;

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

struct Layout {
    uint32_t n_stripes;
    uint64_t elem_size, stripes_off, elems_off, total;
};

uint32_t stripes_for(uint32_t n) {
    uint32_t s = 1;
    while (s < kMaxStripes && s < n) s <<= 1;
    return s;
}

Layout layout_of(const MapSpec& s) {
    Layout l{};
    l.n_stripes = stripes_for(s.max_entries);
    l.elem_size = 8 + round8(s.value_size);
    l.stripes_off = 64;
    l.elems_off = l.stripes_off + uint64_t{l.n_stripes} * sizeof(PaddedMutex);
    l.total = l.elems_off + uint64_t{s.max_entries} * l.elem_size;
    return l;
}

int array_alloc_check(const MapSpec& s) {
    if ((s.map_flags & ~kCreateFlagMask) ||
        ((s.map_flags & BPF_F_RDONLY_PROG) && (s.map_flags & BPF_F_WRONLY_PROG)))
        return -EINVAL;
    if (s.max_entries == 0 || s.key_size != 4 || s.value_size == 0) return -EINVAL;
    if (s.value_size > INT_MAX) return -E2BIG;  // arraymap.c: value_size > KMALLOC_MAX_SIZE
    return 0;
}

uint64_t array_region_size(const MapSpec& s) {
    return layout_of(s).total;
}

class ArrayMap final : public Map {
  public:
    ArrayMap(const SegmentHeader& hdr, std::byte* region, const Layout& l)
        : stripes_(reinterpret_cast<PaddedMutex*>(region + l.stripes_off)),
          elems_(region + l.elems_off),
          elem_size_(l.elem_size),
          max_entries_(hdr.max_entries),
          value_size_(hdr.value_size),
          stripe_mask_(l.n_stripes - 1) {}

    int lookup(const void* key, void* value) override {
        const uint32_t idx = index_of(key);
        if (idx >= max_entries_) return -ENOENT;
        SeqCount& seq = seq_of(idx);
        for (int spins = 0;; ++spins) {
            uint32_t s = seq.read_begin();
            if (SeqCount::busy(s)) {
                if (spins < kSeqSpinLimit) {
                    cpu_relax();
                    continue;
                }
                if (!observe_only()) {
                    StripeGuard g(*this, idx);  // wait for (or repair after) the writer
                    // Holding the lock, an odd count is no live write: a corrupt segment.
                    if (SeqCount::busy(seq.read_begin())) seq.repair();
                    continue;
                }
                // An observer reads the element as it is (accepted if the count stays put).
            }
            copy_bytes(value, value_of(idx), value_size_);
            if (!seq.read_retry(s)) return 0;
        }
    }

    int update(const void* key, const void* value, uint64_t flags) override {
        if ((flags & ~uint64_t{BPF_F_LOCK}) > BPF_EXIST) return -EINVAL;
        const uint32_t idx = index_of(key);
        if (idx >= max_entries_) return -E2BIG;
        if (flags & BPF_NOEXIST) return -EEXIST;  // every element always exists
        StripeGuard g(*this, idx);
        SeqCount& seq = seq_of(idx);
        std::byte* v = value_of(idx);
        const auto* src = static_cast<const std::byte*>(value);
        const uint32_t half = value_size_ / 2;
        seq.begin();
        std::memcpy(v, src, half);
        crash_point();  // tests kill a writer here: lock held, count odd, value half-written
        std::memcpy(v + half, src + half, value_size_ - half);
        seq.end();
        return 0;
    }

    int delete_elem(const void*) override { return -EINVAL; }  // arraymap.c: elements can't go

    int lookup_and_delete(const void*, void*, uint64_t) override { return -kENOTSUPP; }

    int get_next_key(const void* key, void* next_key) override {
        uint32_t next = 0;
        if (key) {
            const uint32_t idx = index_of(key);
            if (idx < max_entries_) {
                if (idx == max_entries_ - 1) return -ENOENT;
                next = idx + 1;
            }
        }
        std::memcpy(next_key, &next, sizeof next);
        return 0;
    }

    uint32_t element_count() const override { return max_entries_; }

    void check(std::vector<std::string>& problems) const override {
        for (uint32_t k = 0; k < max_entries_; ++k)
            if (SeqCount::busy(seq_of(k).seq.load()))
                problems.push_back(
                    fmt::format("element {}: sequence count odd (a writer is inside or died)", k));
    }

    std::vector<LockState> lock_states() const override {
        std::vector<LockState> out;
        append_stripe_states(out, stripes_, stripe_mask_ + 1);
        return out;
    }
    uint32_t user_value_size() const override { return value_size_; }

  private:
    class StripeGuard {
      public:
        StripeGuard(ArrayMap& m, uint32_t idx) : g_(m.stripes_[idx & m.stripe_mask_].mutex) {
            if (g_.owner_died()) {
                m.repair_stripe(idx & m.stripe_mask_);
                g_.mark_consistent();
            }
        }

      private:
        MutexGuard g_;
    };

    static uint32_t index_of(const void* key) {
        uint32_t idx;
        std::memcpy(&idx, key, sizeof idx);
        return idx;
    }
    SeqCount& seq_of(uint32_t idx) const {
        return *reinterpret_cast<SeqCount*>(elems_ + uint64_t{idx} * elem_size_);
    }
    std::byte* value_of(uint32_t idx) const { return elems_ + uint64_t{idx} * elem_size_ + 8; }

    void repair_stripe(uint32_t stripe) {
        log().warn("array map: a process died holding lock stripe {}; repairing", stripe);
        for (uint64_t k = stripe; k < max_entries_; k += stripe_mask_ + 1)
            seq_of(static_cast<uint32_t>(k)).repair();
    }

    PaddedMutex* stripes_;
    std::byte* elems_;
    uint64_t elem_size_;
    uint32_t max_entries_, value_size_, stripe_mask_;
};

void array_init_region(std::byte* region, const MapSpec& spec, uint64_t) {
    Layout l = layout_of(spec);
    auto* ah = new (region) ArrayHeader{};
    ah->n_elems = spec.max_entries;
    ah->n_stripes = l.n_stripes;
    ah->elem_size = static_cast<uint32_t>(l.elem_size);
    auto* stripes = reinterpret_cast<PaddedMutex*>(region + l.stripes_off);
    for (uint32_t i = 0; i < l.n_stripes; ++i) stripes[i].mutex.init();
}

std::unique_ptr<Map> array_attach(const SegmentHeader& hdr, MapState&, std::byte* region) {
    MapSpec spec;
    spec.key_size = hdr.key_size;
    spec.value_size = hdr.value_size;
    spec.max_entries = hdr.max_entries;
    Layout l = layout_of(spec);
    const auto* ah = reinterpret_cast<const ArrayHeader*>(region);
    if (ah->n_elems != hdr.max_entries || ah->n_stripes != l.n_stripes ||
        ah->elem_size != l.elem_size) {
        log().warn("array map {}: region header check failed (sizes out of range)", hdr.map_id);
        return nullptr;
    }
    return std::make_unique<ArrayMap>(hdr, region, l);
}

}  // namespace

extern const MapTypeOps kArrayMapOps;
const MapTypeOps kArrayMapOps = {
    BPF_MAP_TYPE_ARRAY, "array",           true,         array_alloc_check, nullptr,
    array_region_size,  array_init_region, array_attach,
};

}  // namespace bpfmap::shm
