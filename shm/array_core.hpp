// The array core shared by BPF_MAP_TYPE_ARRAY and PERCPU_ARRAY (array_map.cpp,
// percpu_array_map.cpp). One template, ArrayTable<E>; E, the type's element storage, owns the
// region header and where an element's sequence count and value are, so each type keeps its own
// layout (the files' opening comments describe them) while the locking, the lock-free lookup,
// the crash repair, check() and the other ops are written once. Everything E provides is known
// at compile time and inlined: ARRAY's code has no branch or indirection for PERCPU_ARRAY.
//
// Common to both layouts: a 64-byte region header, then stripes[S] (64-byte robust mutexes;
// stripe i guards the bpf() writers of every element k with k % S == i), then the elements, N =
// max_entries, all zero-filled at creation (the kernel's arrays are zero-initialised too).
//
// Writers take the element's stripe lock and wrap their copy in the element's sequence count;
// lookups copy without a lock and retry if a writer interfered, so a lookup never returns a
// value torn by a concurrent update (the kernel's can). A writer that dies mid-copy leaves the
// count odd and the value half-written; the next holder of the stripe lock (EOWNERDEAD) makes
// the stripe's counts even again. The value then holds what the dead writer had written, as
// after any interrupted store.
//
// One more storage has no locks at all: ArrayWordElems (array_map.cpp), for ARRAY values of at
// most 8 bytes. Each value is one aligned 8-byte word, read and written with single atomic
// loads and stores, which no reader can see torn and no dying writer can leave half-done. So
// its lookups and updates take no lock and touch no count, and the region has no stripes.
//
// What E provides (see ArrayElems and ArrayWordElems in array_map.cpp, PercpuElems in
// percpu_array_map.cpp):
//   kName, kPercpu, kCreateFlagMask, kWordValues (true: word(idx), load_word/store_word, no
//     seq(), units() or copy_in(), and a Layout with n_stripes == 0)
//   Layout, with at least n_stripes, stripes_off and total; static layout_of(spec)
//   static init_header(region, spec, layout); static header_problem(region, hdr, layout): ""
//     if the region header matches the layout, else what is wrong (attach logs it)
//   E(hdr, region, layout); seq(idx); copy_out(idx, out); units(); copy_in(idx, src, from, to)
//     (units [from, to) of a user value; an update copies [0, units/2), then [units/2, units));
//   user_value_size(); value_slots(); per-CPU: slot(cpu, idx)
#pragma once

#include <linux/bpf.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "shm/cpus.hpp"
#include "shm/log.hpp"
#include "shm/map_type.hpp"
#include "shm/robust_mutex.hpp"
#include "shm/segment.hpp"
#include "shm/segment_format.hpp"
#include "shm/seqlock.hpp"
#include "shm/test_hooks.hpp"

namespace bpfmap::shm::arr {

inline constexpr uint32_t kMaxStripes = 256;

// A power of two: enough stripes for n elements, at most kMaxStripes.
inline uint32_t stripes_for(uint32_t n) {
    uint32_t s = 1;
    while (s < kMaxStripes && s < n) s <<= 1;
    return s;
}

// array_map_alloc_check (the capability checks are the bpf() layer's).
template <class E>
int alloc_check(const MapSpec& s) {
    if (s.max_entries == 0 || s.key_size != 4 || s.value_size == 0 ||
        !create_flags_ok(s.map_flags, E::kCreateFlagMask))
        return -EINVAL;
    if (s.value_size > INT_MAX) return -E2BIG;  // arraymap.c: value_size > KMALLOC_MAX_SIZE
    if constexpr (E::kPercpu)
        if (percpu_slot_size(s.value_size) > kMaxPercpuSlotSize) return -E2BIG;
    return 0;
}

template <class E>
uint64_t region_size(const MapSpec& s) {
    return E::layout_of(s).total;
}

template <class E>
class ArrayTable final : public Map {
  public:
    using Layout = typename E::Layout;

    ArrayTable(const SegmentHeader& hdr, std::byte* region, const Layout& l)
        : elems_(hdr, region, l),
          stripes_(reinterpret_cast<PaddedMutex*>(region + l.stripes_off)),
          max_entries_(hdr.max_entries),
          stripe_mask_(l.n_stripes ? l.n_stripes - 1 : 0) {}

    int lookup(const void* key, void* value) override {
        const uint32_t idx = index_of(key);
        if (idx >= max_entries_) return -ENOENT;
        if constexpr (E::kWordValues) {
            elems_.load_word(idx, value);
            return 0;
        } else {
            return lookup_seq(idx, value);
        }
    }

    int update(const void* key, const void* value, uint64_t flags) override {
        if ((flags & ~uint64_t{BPF_F_LOCK}) > BPF_EXIST) return -EINVAL;
        const uint32_t idx = index_of(key);
        if (idx >= max_entries_) return -E2BIG;
        if (flags & BPF_NOEXIST) return -EEXIST;  // every element always exists
        if constexpr (E::kWordValues) {
            elems_.store_word(idx, value);
            return 0;
        } else {
            return update_seq(idx, static_cast<const std::byte*>(value));
        }
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
        for (uint32_t k = 0; k < max_entries_; ++k) {
            if constexpr (E::kWordValues) {
                if (!elems_.padding_clear(k))
                    problems.push_back(fmt::format(
                        "element {}: bytes past value_size are not zero (not written by bpfmap)",
                        k));
            } else if (SeqCount::busy(elems_.seq(k).seq.load())) {
                problems.push_back(
                    fmt::format("element {}: sequence count odd (a writer is inside or died)", k));
            }
        }
    }

    std::vector<LockState> lock_states() const override {
        std::vector<LockState> out;
        if constexpr (!E::kWordValues) append_stripe_states(out, stripes_, stripe_mask_ + 1);
        return out;
    }

    uint32_t user_value_size() const override { return elems_.user_value_size(); }
    uint32_t value_slots() const override { return elems_.value_slots(); }

    int percpu_slot(const void* key, uint32_t cpu, void** slot) override {
        if constexpr (!E::kPercpu) {
            (void)key, (void)cpu, (void)slot;
            return -EINVAL;
        } else {
            const uint32_t idx = index_of(key);
            // A BPF program's lookup of a missing index gets NULL; here that is ENOENT.
            if (idx >= max_entries_) return -ENOENT;
            if (cpu >= elems_.value_slots()) return -EINVAL;
            *slot = elems_.slot(cpu, idx);
            return 0;
        }
    }

  private:
    int lookup_seq(uint32_t idx, void* value) {
        SeqCount& seq = elems_.seq(idx);
        SeqReader r;
        for (;;) {
            const uint32_t s = r.begin(seq, [&] {
                StripeGuard g(*this, idx);  // wait for (or repair after) the writer
                // Holding the lock, an odd count is no live write: a corrupt segment.
                if (SeqCount::busy(seq.read_begin())) seq.repair();
            });
            elems_.copy_out(idx, value);
            if (!seq.read_retry(s)) return 0;
        }
    }

    int update_seq(uint32_t idx, const std::byte* src) {
        const uint64_t units = elems_.units();
        StripeGuard g(*this, idx);
        SeqCount& seq = elems_.seq(idx);
        seq.begin();
        elems_.copy_in(idx, src, 0, units / 2);
        crash_point();  // tests kill a writer here: lock held, count odd, value half-written
        elems_.copy_in(idx, src, units / 2, units);
        seq.end();
        return 0;
    }

    class StripeGuard {
      public:
        StripeGuard(ArrayTable& m, uint32_t idx) : g_(m.stripes_[idx & m.stripe_mask_].mutex) {
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

    void repair_stripe(uint32_t stripe) {
        log().warn("{} map: a process died holding lock stripe {}; repairing", E::kName, stripe);
        for (uint64_t k = stripe; k < max_entries_; k += stripe_mask_ + 1)
            elems_.seq(static_cast<uint32_t>(k)).repair();
    }

    E elems_;
    PaddedMutex* stripes_;
    uint32_t max_entries_, stripe_mask_;
};

template <class E>
void init_region(std::byte* region, const MapSpec& spec, uint64_t /*seed*/) {
    const typename E::Layout l = E::layout_of(spec);
    E::init_header(region, spec, l);
    auto* stripes = reinterpret_cast<PaddedMutex*>(region + l.stripes_off);
    for (uint32_t i = 0; i < l.n_stripes; ++i) stripes[i].mutex.init();
}

template <class E>
std::unique_ptr<Map> attach(const SegmentHeader& hdr, MapState&, std::byte* region) {
    const typename E::Layout l = E::layout_of(spec_of(hdr));
    if (const std::string why = E::header_problem(region, hdr, l); !why.empty()) {
        log().warn("{} map {}: region header check failed ({})", E::kName, hdr.map_id, why);
        return nullptr;
    }
    return std::make_unique<ArrayTable<E>>(hdr, region, l);
}

// A type's ops table; alloc_limits is the type's own (or nullptr).
template <class E>
constexpr MapTypeOps ops(uint32_t map_type, const char* name, bool offloadable,
                         int (*alloc_limits)(MapSpec&)) {
    return {map_type,     name,           offloadable,    alloc_check<E>,
            alloc_limits, region_size<E>, init_region<E>, attach<E>};
}

}  // namespace bpfmap::shm::arr
