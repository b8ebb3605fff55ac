// The hash table core shared by BPF_MAP_TYPE_HASH, PERCPU_HASH, LRU_HASH and LRU_PERCPU_HASH
// (hash_map.cpp, percpu_hash_map.cpp, lru_hash_map.cpp). One template, HashTable<KeySize, P>;
// the policy P says at compile time whether values are per-CPU and whether the map evicts, so
// HASH's code has no branch or indirection for the other types (every difference is an
// `if constexpr`).
//
// Region layout (offsets from the start of the region, all fixed by the map's parameters):
//
//   HashHeader     64 B     sizes (validated on attach), free list, element count; LRU: the
//                           recency list's ends; per-CPU: the CPU count the values were made for
//   free_lock      64 B     robust mutex guarding free_head, bump and count
//   stripes[S]     64 B ea. robust mutexes; stripe i guards every bucket b with b % S == i.
//                           LRU maps have ONE stripe: it guards every chain and the recency list
//   buckets[N]     8 B ea.  {sequence count, index of the first element}; N = twice
//                           max_entries rounded up to a power of two
//   elems[M]       E B ea.  {next index, hash, [LRU: prev, next in the recency list, referenced,
//                           pad], key (rounded to 8), value}; M = max_entries, all preallocated.
//                           value: value_size rounded to 8 bytes; per-CPU: round_up(value_size,
//                           8) bytes per possible CPU, CPU i's slot at offset i * round_up(vs, 8)
//                           (exactly the bpf() user layout, so lookups and updates copy it whole)
//
// Elements are referred to by index (kNil = none), never by pointer. A bucket's chain is
// changed only by the holder of its stripe lock, and each change is wrapped in the bucket's
// sequence count, so lookups and GET_NEXT_KEY read without any lock and retry if a writer
// interfered. Every index read from shared memory is bounds-checked before it is followed and
// chain walks are bounded, so a reader racing with writers never loops or leaves the region.
//
// Lock order: a stripe lock, then free_lock. Nothing holds two stripe locks except rebuild(),
// which takes all of them in ascending order (then free_lock).
//
// Crash safety: a writer that dies holding a stripe lock may leave its bucket's sequence count
// odd, a value half-written, or an element taken from the free list but not yet linked (or
// unlinked but not yet freed); LRU: an element half-moved in the recency list or a victim
// unlinked from its chain but not yet reused. The next locker gets EOWNERDEAD: it makes the
// stripe's counts even, marks the mutex consistent, and flags the map for rebuild(), which
// (holding every lock) re-walks all chains, cuts any chain at an invalid or repeated index,
// recounts the elements, rebuilds the free list from the elements no chain reaches and (LRU)
// the recency list from the elements the chains reach. Nothing leaks, no count drifts. An LRU
// map rebuilds at once, before the locker's own operation walks the recency list.
//
// Updates of an existing key copy the new value in place under the sequence count (so readers
// never see a torn value). The kernel instead swaps in a new element for HASH and LRU (not for
// the per-CPU types), which is why a kernel GET_NEXT_KEY walk can revisit a bucket after an
// update; here it never does.
//
// LRU (the kernel's approach, bpf_lru_list.c, with one list): the recency list runs from the
// most recently inserted element (head) to the oldest (tail). A lookup (or percpu_slot, or an
// update in place) only sets the element's "referenced" word, and only if it is not set yet:
// no lock, and no shared write at all when a key is looked up again and again. (An observer's
// lookups set nothing, so bpfmap-inspect never changes what is evicted; the kernel's bpf()
// LOOKUP never marks, only BPF programs' lookups do, and here bpf() callers are the programs.) A
// new key needs an element; when none is free (count == max_entries), the single writer lock's
// holder walks the list from the tail: a referenced element is moved to the head with its word
// cleared (a second chance), the first unreferenced one is evicted (unlinked from its chain) and
// reused. So a key touched since it was inserted or last passed over is never evicted while an
// untouched one exists, the element count never exceeds max_entries, and an update is never
// E2BIG. Unlike the kernel (which takes nodes in batches through per-CPU local lists, and with
// BPF_F_NO_COMMON_LRU keeps one list per CPU), eviction happens only when the map is full and
// takes exactly one element.
#pragma once

#include <linux/bpf.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "shm/copy.hpp"
#include "shm/cpus.hpp"
#include "shm/hash.hpp"
#include "shm/log.hpp"
#include "shm/map_type.hpp"
#include "shm/observe.hpp"
#include "shm/robust_mutex.hpp"
#include "shm/segment.hpp"
#include "shm/segment_format.hpp"
#include "shm/seqlock.hpp"
#include "shm/test_hooks.hpp"

namespace bpfmap::shm::htab {

inline constexpr uint32_t kNil = 0xffffffffu;
inline constexpr uint32_t kMaxStripes = 256;
// The kernel's limits (hashtab.c): key + value below KMALLOC_MAX_SIZE - sizeof(struct
// htab_elem), and a bucket array whose byte size fits in u32 (16-byte buckets).
inline constexpr uint64_t kMaxKeyPlusValue = (4u << 20) - 48;
inline constexpr uint32_t kMaxEntries = 1u << 27;
// HTAB_CREATE_FLAG_MASK.
inline constexpr uint32_t kCreateFlagMask = BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU |
                                            BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY |
                                            BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG | BPF_F_ZERO_SEED;

struct HashHeader {
    uint32_t n_buckets;
    uint32_t n_stripes;
    uint32_t capacity;
    uint32_t elem_size;
    uint32_t free_head;                   // free_lock: first free element, or kNil
    uint32_t bump;                        // free_lock: elements [bump, capacity) never used
    std::atomic<uint32_t> count;          // free_lock for writes; read without lock
    std::atomic<uint32_t> needs_rebuild;  // set by a locker that found a dead owner
    uint32_t value_slots;                 // per-CPU: the possible CPUs at creation; else 0
    uint32_t lru_head;                    // LRU, the stripe lock: most recent element, or kNil
    uint32_t lru_tail;                    // LRU, the stripe lock: least recent element, or kNil
    uint32_t reserved[5];
};
static_assert(sizeof(HashHeader) == 64);

struct Bucket {
    SeqCount seq;
    std::atomic<uint32_t> head;
};
static_assert(sizeof(Bucket) == 8);

struct ElemHeader {
    std::atomic<uint32_t> next;
    uint32_t hash;
};
static_assert(sizeof(ElemHeader) == 8);

// After ElemHeader in LRU elements. prev/next: the stripe lock. referenced: set by readers
// (relaxed, only when 0), cleared by the lock holder.
struct LruLinks {
    uint32_t prev;
    uint32_t next;
    std::atomic<uint32_t> referenced;
    uint32_t reserved;
};
static_assert(sizeof(LruLinks) == 16);

constexpr uint64_t round8(uint64_t x) {
    return (x + 7) & ~uint64_t{7};
}

inline uint32_t roundup_pow2(uint32_t x) {
    uint32_t p = 1;
    while (p < x) p <<= 1;
    return p;
}

// The policies: what differs between the four types, known at compile time.
struct HashPolicy {
    static constexpr bool kPercpu = false, kLru = false;
    static constexpr const char* kName = "hash";
};
struct PercpuHashPolicy {
    static constexpr bool kPercpu = true, kLru = false;
    static constexpr const char* kName = "percpu hash";
};
struct LruHashPolicy {
    static constexpr bool kPercpu = false, kLru = true;
    static constexpr const char* kName = "lru hash";
};
struct LruPercpuHashPolicy {
    static constexpr bool kPercpu = true, kLru = true;
    static constexpr const char* kName = "lru percpu hash";
};

template <class P>
constexpr uint32_t elem_header_size() {
    return P::kLru ? sizeof(ElemHeader) + sizeof(LruLinks) : sizeof(ElemHeader);
}

struct Layout {
    uint32_t n_buckets, n_stripes, capacity, elem_size;
    uint32_t value_slots;  // per-CPU: possible CPUs; else 1
    uint32_t value_bytes;  // bytes of a value as bpf() copies it (all slots for per-CPU)
    uint64_t stripes_off, buckets_off, elems_off, total;
};

template <class P>
Layout layout_of(const MapSpec& s) {
    Layout l{};
    // Twice the kernel's bucket count: chains stay short (about 1.25 elements per lookup when
    // full instead of 1.5) for 8 more bytes per element.
    l.n_buckets = roundup_pow2(s.max_entries) * 2;
    l.n_stripes = P::kLru ? 1 : (l.n_buckets < kMaxStripes ? l.n_buckets : kMaxStripes);
    l.capacity = s.max_entries;
    l.value_slots = P::kPercpu ? possible_cpu_count() : 1;
    l.value_bytes = P::kPercpu ? percpu_slot_size(s.value_size) * l.value_slots : s.value_size;
    l.elem_size =
        static_cast<uint32_t>(elem_header_size<P>() + round8(s.key_size) + round8(l.value_bytes));
    l.stripes_off = 2 * 64;
    l.buckets_off = l.stripes_off + uint64_t{l.n_stripes} * sizeof(PaddedMutex);
    l.elems_off = (l.buckets_off + uint64_t{l.n_buckets} * sizeof(Bucket) + 63) & ~uint64_t{63};
    l.total = l.elems_off + uint64_t{l.capacity} * l.elem_size;
    return l;
}

// htab_map_alloc_check, in the kernel's order (the capability checks are the bpf() layer's).
template <class P>
int alloc_check(const MapSpec& s) {
    const bool no_common_lru = s.map_flags & BPF_F_NO_COMMON_LRU;
    if (!create_flags_ok(s.map_flags, kCreateFlagMask)) return -EINVAL;
    if (!P::kLru && no_common_lru) return -EINVAL;
    if (P::kLru && (s.map_flags & BPF_F_NO_PREALLOC)) return -kENOTSUPP;
    if ((s.map_flags & BPF_F_NUMA_NODE) && (P::kPercpu || no_common_lru)) return -EINVAL;
    if (s.max_entries == 0 || s.key_size == 0 || s.value_size == 0) return -EINVAL;
    if (uint64_t{s.key_size} + s.value_size >= kMaxKeyPlusValue) return -E2BIG;
    if (P::kPercpu && percpu_slot_size(s.value_size) > kMaxPercpuSlotSize) return -E2BIG;
    return 0;
}

// htab_map_alloc: BPF_F_NO_COMMON_LRU gives each CPU's list the same number of elements
// (max_entries rounded up to a multiple of the CPU count, down if that overflows); the bucket
// array's size must fit in u32.
template <class P>
int alloc_limits(MapSpec& s) {
    if (P::kLru && (s.map_flags & BPF_F_NO_COMMON_LRU)) {
        const uint64_t n = possible_cpu_count();
        uint64_t m = (s.max_entries + n - 1) / n * n;
        if (m > UINT32_MAX) m = s.max_entries / n * n;
        s.max_entries = static_cast<uint32_t>(m);
    }
    return s.max_entries > kMaxEntries ? -E2BIG : 0;
}

template <class P>
uint64_t region_size(const MapSpec& s) {
    return layout_of<P>(s).total;
}

// KeySize: the key size when it is 4 or 8 (known at compile time, so hashing and comparing a
// key are a few instructions), 0 for any other size (read from the header).
template <uint32_t KeySize, class P>
class HashTable final : public Map {
    static constexpr uint32_t kHdr = elem_header_size<P>();

  public:
    HashTable(const SegmentHeader& hdr, std::byte* region, const Layout& l)
        : hh_(reinterpret_cast<HashHeader*>(region)),
          free_lock_(&reinterpret_cast<PaddedMutex*>(region + 64)->mutex),
          stripes_(reinterpret_cast<PaddedMutex*>(region + l.stripes_off)),
          buckets_(reinterpret_cast<Bucket*>(region + l.buckets_off)),
          elems_(region + l.elems_off),
          seed_(hdr.hash_seed),
          key_size_(hdr.key_size),
          value_size_(l.value_bytes),
          key_off_(kHdr),
          value_off_(static_cast<uint32_t>(kHdr + round8(hdr.key_size))),
          mask_(l.n_buckets - 1),
          stripe_mask_(l.n_stripes - 1),
          capacity_(l.capacity),
          elem_size_(l.elem_size),
          slots_(l.value_slots),
          slot_size_(percpu_slot_size(hdr.value_size)) {}

    // The hot path: one sequence-count read, one chain walk, one check. Anything unusual (a
    // writer inside the bucket, a retry) goes to lookup_slow().
    int lookup(const void* key, void* value) override {
        const uint32_t h = hash_key(key, ks(), seed_);
        const Bucket& b = buckets_[h & mask_];
        const uint32_t s = b.seq.read_begin();
        if (!SeqCount::busy(s)) [[likely]] {
            const std::byte* e = find_elem(b, h, key);
            if (e) copy_bytes(value, e + value_off_, value_size_);
            if (!b.seq.read_retry(s)) [[likely]] {
                if constexpr (P::kLru)
                    if (e) mark_referenced(e);
                return e ? 0 : -ENOENT;
            }
        }
        return lookup_slow(key, value, h);
    }

    int update(const void* key, const void* value, uint64_t flags) override {
        if (flags > BPF_EXIST) return -EINVAL;
        const uint32_t h = hash_key(key, ks(), seed_);
        for (int attempt = 0;; ++attempt) {
            int rc;
            {
                StripeGuard g(*this, h & mask_);
                rc = update_locked(buckets_[h & mask_], h, key, value, flags);
            }
            maybe_rebuild();
            if (rc != -E2BIG || attempt > 0 || !recover_dead_holders()) return rc;
        }
    }

    int delete_elem(const void* key) override { return remove(key, nullptr); }

    int lookup_and_delete(const void* key, void* value, uint64_t flags) override {
        if (flags & ~uint64_t{BPF_F_LOCK}) return -EINVAL;
        return remove(key, value);
    }

    int get_next_key(const void* key, void* next_key) override {
        uint32_t start = 0;
        if (key) {
            const uint32_t h = hash_key(key, ks(), seed_);
            const uint32_t bi = h & mask_;
            Bucket& b = buckets_[bi];
            SeqReader r;
            for (;;) {
                const uint32_t s = r.begin(b.seq, [&] { wait_for_stripe(bi); });
                uint32_t idx = find(b, h, key);
                if (idx == kNil) {
                    if (b.seq.read_retry(s)) continue;
                    start = 0;  // a key not present restarts at the first element (kernel)
                    break;
                }
                uint32_t nx = header(idx).next.load(std::memory_order_acquire);
                if (nx != kNil && nx < capacity_) {
                    std::memcpy(next_key, elem(nx) + key_off_, key_size_);
                    if (!b.seq.read_retry(s)) return 0;
                    continue;
                }
                if (b.seq.read_retry(s)) continue;
                start = bi + 1;
                break;
            }
        }
        for (uint32_t bi = start; bi <= mask_; ++bi) {
            Bucket& b = buckets_[bi];
            SeqReader r;
            for (;;) {
                const uint32_t s = r.begin(b.seq, [&] { wait_for_stripe(bi); });
                uint32_t idx = b.head.load(std::memory_order_acquire);
                if (idx == kNil || idx >= capacity_) {
                    if (b.seq.read_retry(s)) continue;
                    break;
                }
                std::memcpy(next_key, elem(idx) + key_off_, key_size_);
                if (!b.seq.read_retry(s)) return 0;
            }
        }
        return -ENOENT;
    }

    uint32_t element_count() const override { return hh_->count.load(std::memory_order_relaxed); }

    void check(std::vector<std::string>& problems) const override {
        auto bad = [&](std::string msg) { problems.push_back(std::move(msg)); };
        const uint32_t bump = hh_->bump;
        if (bump > capacity_) bad(fmt::format("bump {} exceeds capacity {}", bump, capacity_));
        const uint32_t limit = bump <= capacity_ ? bump : capacity_;
        std::vector<uint8_t> seen(capacity_, 0);  // 1: in a chain, 2: on the free list
        uint32_t linked = 0;
        for (uint32_t bi = 0; bi <= mask_; ++bi) {
            const Bucket& b = buckets_[bi];
            if (SeqCount::busy(b.seq.seq.load()))
                bad(fmt::format("bucket {}: sequence count odd (a writer is inside or died)", bi));
            uint32_t idx = b.head.load();
            for (uint32_t steps = 0; idx != kNil; ++steps) {
                if (idx >= limit) {
                    bad(fmt::format("bucket {}: element index {} out of range (< {})", bi, idx,
                                    limit));
                    break;
                }
                if (seen[idx]) {
                    bad(fmt::format(
                        "bucket {}: element {} reached twice (a cycle or a shared chain)", bi,
                        idx));
                    break;
                }
                seen[idx] = 1;
                ++linked;
                if ((header(idx).hash & mask_) != bi)
                    bad(fmt::format("bucket {}: element {} hashes to bucket {}", bi, idx,
                                    header(idx).hash & mask_));
                else if (hash_key(elem(idx) + key_off_, key_size_, seed_) != header(idx).hash)
                    bad(fmt::format(
                        "bucket {}: element {} has a stored hash that does not match its key", bi,
                        idx));
                idx = header(idx).next.load();
            }
        }
        uint32_t free_count = 0;
        for (uint32_t idx = hh_->free_head; idx != kNil; idx = header(idx).next.load()) {
            if (idx >= limit) {
                bad(fmt::format("free list: index {} out of range (< {})", idx, limit));
                break;
            }
            if (seen[idx]) {
                bad(fmt::format("free list: element {} is {}", idx,
                                seen[idx] == 1 ? "also in a chain" : "listed twice"));
                break;
            }
            seen[idx] = 2;
            ++free_count;
        }
        const uint32_t count = hh_->count.load();
        if (count != linked)
            bad(fmt::format("count says {} elements, the chains hold {}", count, linked));
        if (linked + free_count != limit)
            bad(fmt::format("{} elements used so far, {} in chains + {} free: {} lost", limit,
                            linked, free_count, limit - linked - free_count));
        if constexpr (P::kLru) check_lru(seen, linked, bad);
        if constexpr (P::kPercpu)
            if (hh_->value_slots != slots_)
                bad(fmt::format("per-CPU values for {} CPUs, this machine has {}", hh_->value_slots,
                                slots_));
        if (hh_->needs_rebuild.load())
            bad("a repair after a crash is pending (the next writer does it)");
    }

    std::vector<LockState> lock_states() const override {
        std::vector<LockState> out;
        out.push_back(lock_state("free list", *free_lock_));
        append_stripe_states(out, stripes_, stripe_mask_ + 1);
        return out;
    }
    uint32_t user_value_size() const override { return value_size_; }
    uint32_t value_slots() const override { return slots_; }

    // The address of `cpu`'s slot of the element at `key` (what bpf_map_lookup_elem() gives a
    // BPF program). The element stays where it is until it is deleted or evicted; updates
    // through bpf() rewrite it in place.
    int percpu_slot(const void* key, uint32_t cpu, void** slot) override {
        if constexpr (!P::kPercpu) {
            (void)key, (void)cpu, (void)slot;
            return -EINVAL;
        } else {
            if (cpu >= slots_) return -EINVAL;
            const uint32_t h = hash_key(key, ks(), seed_);
            const uint32_t bi = h & mask_;
            const Bucket& b = buckets_[bi];
            SeqReader r;
            for (;;) {
                const uint32_t s = r.begin(b.seq, [&] { wait_for_stripe(bi); });
                const std::byte* e = find_elem(b, h, key);
                if (b.seq.read_retry(s)) continue;
                if (!e) return -ENOENT;
                if constexpr (P::kLru) mark_referenced(e);
                *slot = const_cast<std::byte*>(e) + value_off_ + uint64_t{cpu} * slot_size_;
                return 0;
            }
        }
    }

  private:
    // Holds a stripe lock; repairs the stripe if the previous holder died. An LRU map (one
    // stripe: the holder holds every lock there is) rebuilds at once, so that the operation
    // that follows finds whole chains and a whole recency list.
    class StripeGuard {
      public:
        StripeGuard(HashTable& m, uint32_t bucket)
            : m_(m), g_(m.stripes_[bucket & m.stripe_mask_].mutex) {
            if (g_.owner_died()) {
                m_.repair_stripe(bucket & m_.stripe_mask_);
                g_.mark_consistent();
            }
            if constexpr (P::kLru)
                if (m_.hh_->needs_rebuild.load(std::memory_order_relaxed)) [[unlikely]]
                    m_.rebuild_locked();
        }

      private:
        HashTable& m_;
        MutexGuard g_;
    };

    // Holds free_lock; if the previous holder died inside, flags the map for rebuild() (which
    // rebuilds the free list and the count).
    class FreeLockGuard {
      public:
        explicit FreeLockGuard(HashTable& m) : g_(*m.free_lock_) {
            if (g_.owner_died()) {
                m.hh_->needs_rebuild.store(1, std::memory_order_relaxed);
                g_.mark_consistent();
            }
        }

      private:
        MutexGuard g_;
    };

    ElemHeader& header(uint32_t idx) const { return *reinterpret_cast<ElemHeader*>(elem(idx)); }
    std::byte* elem(uint32_t idx) const { return elems_ + uint64_t{idx} * elem_size_; }
    LruLinks& links(uint32_t idx) const {
        return *reinterpret_cast<LruLinks*>(elem(idx) + sizeof(ElemHeader));
    }

    // A reader's mark: written only when it changes, so a key looked up again and again
    // costs no shared write. An observer (bpfmap-inspect dumping the map) leaves no mark: looking
    // at a map must not change what it evicts. (The kernel's bpf() LOOKUP never marks either,
    // for the same reason; only BPF programs' lookups do. Here the processes using bpf() are the
    // programs, so their lookups mark.)
    static void mark_referenced(const std::byte* e) {
        if (observe_only()) return;
        auto& r = const_cast<LruLinks*>(reinterpret_cast<const LruLinks*>(e + sizeof(ElemHeader)))
                      ->referenced;
        if (!r.load(std::memory_order_relaxed)) r.store(1, std::memory_order_relaxed);
    }

    // Finds `key` in bucket b's chain. Safe against concurrent writers: indices are checked and
    // the walk is bounded; the caller validates the result with the sequence count.
    uint32_t find(const Bucket& b, uint32_t h, const void* key) const {
        uint32_t idx = b.head.load(std::memory_order_acquire);
        for (uint32_t steps = 0; idx < capacity_ && steps < capacity_; ++steps) {
            const std::byte* e = elem(idx);
            if (header(idx).hash == h && keys_equal(e + key_off_, key, ks())) return idx;
            idx = header(idx).next.load(std::memory_order_acquire);
        }
        return kNil;
    }

    int update_locked(Bucket& b, uint32_t h, const void* key, const void* value, uint64_t flags) {
        uint32_t idx = find(b, h, key);
        if (idx != kNil) {
            if (flags == BPF_NOEXIST) return -EEXIST;
            b.seq.begin();
            std::byte* v = elem(idx) + value_off_;
            const auto* src = static_cast<const std::byte*>(value);
            const uint32_t half = value_size_ / 2;
            std::memcpy(v, src, half);
            crash_point();  // tests kill a writer here: lock held, count odd, value half-written
            std::memcpy(v + half, src + half, value_size_ - half);
            b.seq.end();
            if constexpr (P::kLru) mark_referenced(elem(idx));
            return 0;
        }
        if (flags == BPF_EXIST) return -ENOENT;
        idx = alloc_elem();
        if constexpr (P::kLru) {
            if (idx == kNil) idx = evict_locked();
            if (idx == kNil) return -ENOMEM;  // only a damaged recency list (now rebuilt)
        } else {
            if (idx == kNil) return -E2BIG;
        }
        std::byte* e = elem(idx);
        header(idx).hash = h;
        std::memcpy(e + key_off_, key, key_size_);
        std::memcpy(e + value_off_, value, value_size_);
        header(idx).next.store(b.head.load(std::memory_order_relaxed), std::memory_order_relaxed);
        if constexpr (P::kLru) {
            links(idx).referenced.store(0, std::memory_order_relaxed);
            lru_push_head(idx);
        }
        b.seq.begin();
        crash_point();  // tests kill a writer here: element taken and counted, not yet linked
        b.head.store(idx, std::memory_order_release);
        b.seq.end();
        return 0;
    }

    // ---- LRU: the recency list (the single stripe lock is held) ---------------------------
    void lru_push_head(uint32_t idx) {
        LruLinks& l = links(idx);
        l.prev = kNil;
        l.next = hh_->lru_head;
        if (hh_->lru_head < capacity_)
            links(hh_->lru_head).prev = idx;
        else
            hh_->lru_tail = idx;
        hh_->lru_head = idx;
    }

    void lru_unlink(uint32_t idx) {
        LruLinks& l = links(idx);
        if (l.prev < capacity_)
            links(l.prev).next = l.next;
        else
            hh_->lru_head = l.next;
        if (l.next < capacity_)
            links(l.next).prev = l.prev;
        else
            hh_->lru_tail = l.prev;
        l.prev = l.next = kNil;
    }

    // The map is full: take the least recently used unreferenced element out of its chain and
    // hand it over for reuse (the count stays). Referenced elements met on the way get a second
    // chance at the head; after one full round (readers may keep marking elements meanwhile)
    // the tail goes, referenced or not. kNil only if the list is damaged (then the map is
    // rebuilt and one more element is taken).
    uint32_t evict_locked(bool retry = true) {
        for (uint64_t steps = 0;; ++steps) {
            const uint32_t idx = hh_->lru_tail;
            if (idx >= capacity_) break;
            LruLinks& l = links(idx);
            if (steps <= capacity_ && l.referenced.load(std::memory_order_relaxed)) {
                l.referenced.store(0, std::memory_order_relaxed);
                if (hh_->lru_head != idx) {
                    lru_unlink(idx);
                    lru_push_head(idx);
                }
                continue;
            }
            Bucket& vb = buckets_[header(idx).hash & mask_];
            std::atomic<uint32_t>* link = &vb.head;
            uint32_t cur = link->load(std::memory_order_relaxed);
            for (uint32_t s = 0; cur < capacity_ && cur != idx && s < capacity_; ++s) {
                link = &header(cur).next;
                cur = link->load(std::memory_order_relaxed);
            }
            if (cur != idx) break;  // in the list but in no chain: damaged
            vb.seq.begin();
            link->store(header(idx).next.load(std::memory_order_relaxed),
                        std::memory_order_release);
            crash_point();  // tests kill an evicting writer here: victim out of its chain only
            vb.seq.end();
            lru_unlink(idx);
            return idx;
        }
        log().warn("{} map: the recency list is damaged; rebuilding", P::kName);
        hh_->needs_rebuild.store(1, std::memory_order_relaxed);
        rebuild_locked();
        const uint32_t idx = alloc_elem();
        return idx != kNil || !retry ? idx : evict_locked(false);
    }

    template <class Bad>
    void check_lru(const std::vector<uint8_t>& seen, uint32_t linked, Bad& bad) const {
        uint32_t n = 0, prev = kNil;
        std::vector<uint8_t> on_list(capacity_, 0);
        for (uint32_t idx = hh_->lru_head; idx != kNil; idx = links(idx).next) {
            if (idx >= capacity_) {
                bad(fmt::format("recency list: index {} out of range", idx));
                return;
            }
            if (on_list[idx]) {
                bad(fmt::format("recency list: element {} reached twice", idx));
                return;
            }
            on_list[idx] = 1;
            if (seen[idx] != 1) bad(fmt::format("recency list: element {} is in no chain", idx));
            if (links(idx).prev != prev)
                bad(fmt::format("recency list: element {} points back to {}, not {}", idx,
                                links(idx).prev, prev));
            prev = idx;
            ++n;
        }
        if (hh_->lru_tail != prev)
            bad(fmt::format("recency list: tail is {}, the last element {}", hh_->lru_tail, prev));
        if (n != linked)
            bad(fmt::format("recency list holds {} elements, the chains {}", n, linked));
    }

    uint32_t ks() const { return KeySize ? KeySize : key_size_; }

    // The element holding `key` in b's chain, or nullptr. Members are copied to locals first:
    // the acquire loads would otherwise make the compiler reload them on every step. Safe
    // against concurrent writers (indices checked, walk bounded); the caller validates the
    // result with the sequence count.
    const std::byte* find_elem(const Bucket& b, uint32_t h, const void* key) const {
        const uint32_t cap = capacity_, kl = ks();
        const uint64_t es = elem_size_;
        const std::byte* const elems = elems_;
        uint32_t idx = b.head.load(std::memory_order_acquire);
        for (uint32_t steps = 0; idx < cap && steps < cap; ++steps) {
            const std::byte* e = elems + idx * es;
            const auto& eh = *reinterpret_cast<const ElemHeader*>(e);
            if (eh.hash == h && keys_equal(e + kHdr, key, kl)) return e;
            idx = eh.next.load(std::memory_order_acquire);
        }
        return nullptr;
    }

    [[gnu::noinline]] int lookup_slow(const void* key, void* value, uint32_t h) {
        const Bucket& b = buckets_[h & mask_];
        for (int spins = 0;; ++spins) {
            const uint32_t s = b.seq.read_begin();
            if (SeqCount::busy(s)) {
                if (spins < kSeqSpinLimit) {
                    cpu_relax();
                    continue;
                }
                // Wait for, or repair after, the writer; an observer reads the bucket as it is.
                if (!observe_only()) return lookup_locked(key, value, h);
            }
            const std::byte* e = find_elem(b, h, key);
            if (e) copy_bytes(value, e + value_off_, value_size_);
            if (!b.seq.read_retry(s)) {
                if constexpr (P::kLru)
                    if (e) mark_referenced(e);
                return e ? 0 : -ENOENT;
            }
        }
    }

    int lookup_locked(const void* key, void* value, uint32_t h) {
        const uint32_t bi = h & mask_;
        StripeGuard g(*this, bi);
        repair_if_odd(bi);
        uint32_t idx = find(buckets_[bi], h, key);
        if (idx == kNil) return -ENOENT;
        std::memcpy(value, elem(idx) + value_off_, value_size_);
        if constexpr (P::kLru) mark_referenced(elem(idx));
        return 0;
    }

    // A reader that saw an odd count for too long: wait for the writer by taking its lock
    // (which also repairs the bucket if the writer died).
    void wait_for_stripe(uint32_t bi) {
        StripeGuard g(*this, bi);
        repair_if_odd(bi);
    }

    // Holding bucket bi's stripe lock, an odd count cannot be a live write (writers finish
    // before unlocking, and a dead writer was repaired on EOWNERDEAD): only a corrupt segment
    // leaves one. Make it even so that readers stop waiting, and check the table.
    void repair_if_odd(uint32_t bi) {
        if (SeqCount::busy(buckets_[bi].seq.read_begin())) {
            log().warn("{} map: bucket {} has an odd sequence count with no writer; repairing",
                       P::kName, bi);
            buckets_[bi].seq.repair();
            hh_->needs_rebuild.store(1, std::memory_order_relaxed);
        }
    }

    // A full map while a process that died inside delete still holds a stripe lock: the
    // element it unlinked is free but not yet back on the free list. Visit every stripe once
    // so that any dead holder is found (EOWNERDEAD) and the table rebuilt. Returns true if a
    // rebuild ran, so that the caller retries.
    bool recover_dead_holders() {
        for (uint32_t i = 0; i <= stripe_mask_; ++i) StripeGuard g(*this, i);
        { FreeLockGuard fg(*this); }
        if (!hh_->needs_rebuild.load(std::memory_order_relaxed)) return false;
        rebuild();
        return true;
    }

    int remove(const void* key, void* value_out) {
        const uint32_t h = hash_key(key, ks(), seed_);
        const uint32_t bi = h & mask_;
        Bucket& b = buckets_[bi];
        uint32_t idx;
        {
            StripeGuard g(*this, bi);
            std::atomic<uint32_t>* link = &b.head;
            idx = link->load(std::memory_order_relaxed);
            for (uint32_t steps = 0; idx < capacity_ && steps < capacity_; ++steps) {
                if (header(idx).hash == h && keys_equal(elem(idx) + key_off_, key, ks())) break;
                link = &header(idx).next;
                idx = link->load(std::memory_order_relaxed);
            }
            if (idx >= capacity_) return -ENOENT;
            if (value_out) std::memcpy(value_out, elem(idx) + value_off_, value_size_);
            b.seq.begin();
            link->store(header(idx).next.load(std::memory_order_relaxed),
                        std::memory_order_release);
            crash_point();
            b.seq.end();
            if constexpr (P::kLru) lru_unlink(idx);
            free_elem(idx);
        }
        maybe_rebuild();
        return 0;
    }

    uint32_t alloc_elem() {
        FreeLockGuard g(*this);
        uint32_t idx = kNil;
        if (hh_->free_head != kNil && hh_->free_head < capacity_) {
            idx = hh_->free_head;
            hh_->free_head = header(idx).next.load(std::memory_order_relaxed);
        } else if (hh_->bump < capacity_) {
            idx = hh_->bump++;
        }
        if (idx != kNil) hh_->count.fetch_add(1, std::memory_order_relaxed);
        return idx;
    }

    void free_elem(uint32_t idx) {
        FreeLockGuard g(*this);
        header(idx).next.store(hh_->free_head, std::memory_order_relaxed);
        hh_->free_head = idx;
        hh_->count.fetch_sub(1, std::memory_order_relaxed);
    }

    void repair_stripe(uint32_t stripe) {
        log().warn("{} map: a process died holding lock stripe {}; repairing", P::kName, stripe);
        for (uint32_t bi = stripe; bi <= mask_; bi += stripe_mask_ + 1) buckets_[bi].seq.repair();
        hh_->needs_rebuild.store(1, std::memory_order_relaxed);
    }

    void maybe_rebuild() {
        if (hh_->needs_rebuild.load(std::memory_order_relaxed)) [[unlikely]]
            rebuild();
    }

    // Holding every lock: cut bad chains, recount, rebuild the free list from what no chain
    // reaches (and the recency list from what they reach). Runs only after a process died
    // inside a critical section.
    void rebuild() {
        std::vector<std::unique_ptr<MutexGuard>> held;
        for (uint32_t i = 0; i <= stripe_mask_; ++i) {
            held.push_back(std::make_unique<MutexGuard>(stripes_[i].mutex));
            if (held.back()->owner_died()) held.back()->mark_consistent();
        }
        rebuild_locked();
    }

    // rebuild() once every stripe lock is held.
    void rebuild_locked() {
        MutexGuard fg(*free_lock_);
        if (fg.owner_died()) fg.mark_consistent();
        if (!hh_->needs_rebuild.load(std::memory_order_relaxed)) return;  // someone else did it
        std::vector<bool> linked(capacity_, false);
        uint32_t count = 0;
        uint32_t bump = hh_->bump <= capacity_ ? hh_->bump : capacity_;
        for (uint32_t bi = 0; bi <= mask_; ++bi) {
            Bucket& b = buckets_[bi];
            b.seq.begin();
            std::atomic<uint32_t>* link = &b.head;
            for (uint32_t idx = link->load(std::memory_order_relaxed); idx != kNil;
                 idx = link->load(std::memory_order_relaxed)) {
                if (idx >= bump || linked[idx] || (header(idx).hash & mask_) != bi) {
                    link->store(kNil, std::memory_order_relaxed);  // cut the chain here
                    break;
                }
                linked[idx] = true;
                ++count;
                link = &header(idx).next;
            }
            b.seq.end();
        }
        uint32_t free_head = kNil;
        for (uint32_t idx = bump; idx-- > 0;) {
            if (linked[idx]) continue;
            header(idx).next.store(free_head, std::memory_order_relaxed);
            free_head = idx;
        }
        if constexpr (P::kLru) {
            // Recency is lost in a crash repair; the referenced marks are kept.
            hh_->lru_head = hh_->lru_tail = kNil;
            for (uint32_t idx = 0; idx < bump; ++idx)
                if (linked[idx]) lru_push_head(idx);
        }
        hh_->bump = bump;
        hh_->free_head = free_head;
        hh_->count.store(count, std::memory_order_relaxed);
        hh_->needs_rebuild.store(0, std::memory_order_release);
        log().warn("{} map rebuilt after a crash: {} elements", P::kName, count);
    }

    HashHeader* hh_;
    RobustMutex* free_lock_;
    PaddedMutex* stripes_;
    Bucket* buckets_;
    std::byte* elems_;
    uint64_t seed_;
    uint32_t key_size_, value_size_, key_off_, value_off_;
    uint32_t mask_, stripe_mask_, capacity_, elem_size_;
    uint32_t slots_, slot_size_;
};

template <class P>
void init_region(std::byte* region, const MapSpec& spec, uint64_t /*seed*/) {
    Layout l = layout_of<P>(spec);
    auto* hh = new (region) HashHeader{};
    hh->n_buckets = l.n_buckets;
    hh->n_stripes = l.n_stripes;
    hh->capacity = l.capacity;
    hh->elem_size = l.elem_size;
    hh->free_head = kNil;
    hh->bump = 0;
    if constexpr (P::kPercpu) hh->value_slots = l.value_slots;
    if constexpr (P::kLru) hh->lru_head = hh->lru_tail = kNil;
    reinterpret_cast<PaddedMutex*>(region + 64)->mutex.init();
    auto* stripes = reinterpret_cast<PaddedMutex*>(region + l.stripes_off);
    for (uint32_t i = 0; i < l.n_stripes; ++i) stripes[i].mutex.init();
    auto* buckets = reinterpret_cast<Bucket*>(region + l.buckets_off);
    for (uint32_t i = 0; i < l.n_buckets; ++i)
        buckets[i].head.store(kNil, std::memory_order_relaxed);
}

template <class P>
std::unique_ptr<Map> attach(const SegmentHeader& hdr, MapState&, std::byte* region) {
    const Layout l = layout_of<P>(spec_of(hdr));
    const auto* hh = reinterpret_cast<const HashHeader*>(region);
    if (hh->n_buckets != l.n_buckets || hh->n_stripes != l.n_stripes ||
        hh->capacity != l.capacity || hh->elem_size != l.elem_size || hh->bump > l.capacity ||
        (hh->free_head != kNil && hh->free_head >= l.capacity) || hh->count.load() > l.capacity) {
        log().warn("{} map {}: region header check failed (sizes or free list out of range)",
                   P::kName, hdr.map_id);
        return nullptr;
    }
    if (P::kPercpu && hh->value_slots != l.value_slots) {
        log().warn("{} map {}: values made for {} CPUs, this machine has {} possible CPUs",
                   P::kName, hdr.map_id, hh->value_slots, l.value_slots);
        return nullptr;
    }
    if (P::kLru && ((hh->lru_head != kNil && hh->lru_head >= l.capacity) ||
                    (hh->lru_tail != kNil && hh->lru_tail >= l.capacity))) {
        log().warn("{} map {}: region header check failed (recency list out of range)", P::kName,
                   hdr.map_id);
        return nullptr;
    }
    switch (hdr.key_size) {
        case 4:
            return std::make_unique<HashTable<4, P>>(hdr, region, l);
        case 8:
            return std::make_unique<HashTable<8, P>>(hdr, region, l);
        default:
            return std::make_unique<HashTable<0, P>>(hdr, region, l);
    }
}

// A type's ops table.
template <class P>
constexpr MapTypeOps ops(uint32_t map_type, const char* name, bool offloadable) {
    return {map_type,        name,           offloadable,    alloc_check<P>,
            alloc_limits<P>, region_size<P>, init_region<P>, attach<P>};
}

}  // namespace bpfmap::shm::htab
