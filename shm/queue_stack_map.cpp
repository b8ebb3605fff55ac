// BPF_MAP_TYPE_QUEUE and BPF_MAP_TYPE_STACK in a shared-memory segment, as the kernel's
// kernel/bpf/queue_stack_maps.c: one ring buffer of max_entries + 1 slots, a head (the next
// slot to write) and a tail (the oldest element); empty when head == tail, full when
// head + 1 == tail (mod slots). A queue pops at the tail (FIFO), a stack at head - 1 (LIFO).
// A push with BPF_EXIST into a full map first drops the oldest element (tail + 1), for both
// types, exactly like the kernel.
//
// Region layout:
//
//   QsHeader      64 B     sizes (validated on attach) and the position word
//   lock          64 B     robust mutex guarding every change of the position word
//   slots[S]      E B ea.  S = max_entries + 1, E = value_size rounded up to 8
//
// The position word is one 64-bit atomic: head in the low half, tail in the high half. Every
// command takes the lock; a push writes the free slot at head first (it never holds a live
// element: with S = max_entries + 1 slots one is always free) and then publishes head and tail
// with one store; a pop copies the element out and then publishes with one store. So a holder
// SIGKILLed anywhere inside the critical section leaves the word either before or after its
// change, never half-way: the push happened or it did not, the element was taken or it was
// not (a popper killed after the store took the element with it, like a process that dies
// right after a pop returns; nothing is ever duplicated). After EOWNERDEAD the next locker
// only checks the word's bounds and marks the lock consistent.
#include <linux/bpf.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "shm/copy.hpp"
#include "shm/log.hpp"
#include "shm/map_type.hpp"
#include "shm/observe.hpp"
#include "shm/robust_mutex.hpp"
#include "shm/segment_format.hpp"
#include "shm/test_hooks.hpp"

namespace bpfmap::shm {
namespace {

constexpr uint32_t kQueueStackMagic = 0x31535351;  // "QSS1"
// The kernel's QUEUE_STACK_CREATE_FLAG_MASK: NUMA_NODE and the access flags.
constexpr uint32_t kCreateFlagMask =
    BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;
// KMALLOC_MAX_SIZE on x86_64 (SLUB, 4 KiB pages, MAX_PAGE_ORDER 10): larger values → E2BIG.
constexpr uint64_t kMaxValueSize = 4u << 20;

struct QsHeader {
    uint32_t magic;       // kQueueStackMagic
    uint32_t map_type;    // BPF_MAP_TYPE_QUEUE or BPF_MAP_TYPE_STACK
    uint32_t value_size;  // as the segment header's
    uint32_t slot_size;   // round8(value_size)
    uint64_t n_slots;     // max_entries + 1
    // lock: head (low 32 bits) and tail (high 32 bits), each < n_slots. Read without the lock
    // for element_count() and check().
    std::atomic<uint64_t> pos;
    uint32_t reserved[8];
};
static_assert(sizeof(QsHeader) == 64);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

constexpr uint64_t kLockOff = 64;
constexpr uint64_t kSlotsOff = 128;

constexpr uint64_t round8(uint64_t x) {
    return (x + 7) & ~uint64_t{7};
}

constexpr uint64_t pack(uint64_t head, uint64_t tail) {
    return head | (tail << 32);
}
constexpr uint64_t head_of(uint64_t pos) {
    return pos & 0xffffffffu;
}
constexpr uint64_t tail_of(uint64_t pos) {
    return pos >> 32;
}

int qs_alloc_check(const MapSpec& s) {
    // queue_stack_map_alloc_check(): every sanity error is EINVAL, NO_PREALLOC included (it is
    // not in the mask), and RDONLY_PROG with WRONLY_PROG (bpf_map_flags_access_ok()).
    if (s.max_entries == 0 || s.key_size != 0 || s.value_size == 0 ||
        !create_flags_ok(s.map_flags, kCreateFlagMask))
        return -EINVAL;
    if (s.value_size > kMaxValueSize) return -E2BIG;
    return 0;
}

uint64_t qs_region_size(const MapSpec& s) {
    return kSlotsOff + (uint64_t{s.max_entries} + 1) * round8(s.value_size);
}

class QueueStackMap final : public Map {
  public:
    QueueStackMap(const SegmentHeader& hdr, std::byte* region)
        : qh_(reinterpret_cast<QsHeader*>(region)),
          lock_(&reinterpret_cast<PaddedMutex*>(region + kLockOff)->mutex),
          slots_(region + kSlotsOff),
          n_slots_(uint64_t{hdr.max_entries} + 1),
          slot_size_(round8(hdr.value_size)),
          value_size_(hdr.value_size),
          map_id_(hdr.map_id),
          stack_(hdr.map_type == BPF_MAP_TYPE_STACK) {}

    // Peek: the oldest element (queue) or the newest (stack).
    int lookup(const void*, void* value) override {
        if (observe_only()) [[unlikely]] {
            // An observer takes no lock: a snapshot of the word, the element as it is.
            const uint64_t pos = qh_->pos.load(std::memory_order_acquire);
            if (!in_bounds(pos)) return -EINVAL;
            if (head_of(pos) == tail_of(pos)) return -ENOENT;
            copy_bytes(value, slot(stack_ ? prev(head_of(pos)) : tail_of(pos)), value_size_);
            return 0;
        }
        Guard g(*this);
        const uint64_t pos = g.pos();
        if (head_of(pos) == tail_of(pos)) return -ENOENT;
        copy_bytes(value, slot(stack_ ? prev(head_of(pos)) : tail_of(pos)), value_size_);
        return 0;
    }

    // Push (queue_stack_map_push_elem): flags 0 or BPF_EXIST ("make room if full").
    int update(const void*, const void* value, uint64_t flags) override {
        if ((flags & BPF_NOEXIST) || flags > BPF_EXIST) return -EINVAL;
        Guard g(*this);
        const uint64_t pos = g.pos();
        const uint64_t head = head_of(pos);
        uint64_t tail = tail_of(pos);
        const uint64_t new_head = next(head);
        if (new_head == tail) {  // full
            if (!(flags & BPF_EXIST)) return -E2BIG;
            tail = next(tail);  // drop the oldest element
        }
        // slots[head] is the free slot: no live element is touched before the publish.
        std::byte* dst = slot(head);
        const auto* src = static_cast<const std::byte*>(value);
        const uint32_t half = value_size_ / 2;
        std::memcpy(dst, src, half);
        crash_point();  // tests kill a pusher here: lock held, slot half-written, unpublished
        std::memcpy(dst + half, src + half, value_size_ - half);
        qh_->pos.store(pack(new_head, tail), std::memory_order_release);
        return 0;
    }

    int delete_elem(const void*) override { return -EINVAL; }
    int get_next_key(const void*, void*) override { return -EINVAL; }

    // Pop. The bpf() layer has already refused flags != 0 (EINVAL).
    int lookup_and_delete(const void*, void* value, uint64_t flags) override {
        if (flags) return -EINVAL;
        Guard g(*this);
        const uint64_t pos = g.pos();
        const uint64_t head = head_of(pos), tail = tail_of(pos);
        if (head == tail) return -ENOENT;
        if (stack_) {
            const uint64_t idx = prev(head);
            copy_bytes(value, slot(idx), value_size_);
            crash_point();  // tests kill a popper here: element copied out, not yet taken
            qh_->pos.store(pack(idx, tail), std::memory_order_release);
        } else {
            copy_bytes(value, slot(tail), value_size_);
            crash_point();
            qh_->pos.store(pack(head, next(tail)), std::memory_order_release);
        }
        return 0;
    }

    uint32_t element_count() const override {
        const uint64_t pos = qh_->pos.load(std::memory_order_acquire);
        if (!in_bounds(pos)) return 0;
        return static_cast<uint32_t>((head_of(pos) + n_slots_ - tail_of(pos)) % n_slots_);
    }

    void check(std::vector<std::string>& problems) const override {
        auto bad = [&](std::string s) { problems.push_back(std::move(s)); };
        if (qh_->magic != kQueueStackMagic) bad("region header: bad magic");
        if (qh_->map_type != (stack_ ? BPF_MAP_TYPE_STACK : BPF_MAP_TYPE_QUEUE))
            bad(fmt::format("region header: map type {} does not match the segment's",
                            qh_->map_type));
        if (qh_->value_size != value_size_ || qh_->slot_size != slot_size_ ||
            qh_->n_slots != n_slots_)
            bad(fmt::format(
                "region header: sizes (value {}, slot {}, slots {}) do not match the "
                "segment's (value {}, slot {}, slots {})",
                qh_->value_size, qh_->slot_size, qh_->n_slots, value_size_, slot_size_, n_slots_));
        const uint64_t pos = qh_->pos.load(std::memory_order_acquire);
        if (head_of(pos) >= n_slots_)
            bad(fmt::format("head {} out of range (< {})", head_of(pos), n_slots_));
        if (tail_of(pos) >= n_slots_)
            bad(fmt::format("tail {} out of range (< {})", tail_of(pos), n_slots_));
        // With head and tail in range, the count (head - tail mod slots) is at most
        // max_entries by construction; say so explicitly all the same.
        if (in_bounds(pos) && element_count() > n_slots_ - 1)
            bad(fmt::format("count {} exceeds max_entries {}", element_count(), n_slots_ - 1));
    }

    std::vector<LockState> lock_states() const override {
        return {lock_state(stack_ ? "stack" : "queue", *lock_)};
    }
    uint32_t user_value_size() const override { return value_size_; }

  private:
    // Holds the lock. A previous holder that died left the word consistent (one store
    // publishes every change): only its bounds are checked.
    class Guard {
      public:
        explicit Guard(QueueStackMap& m) : g_(*m.lock_) {
            if (g_.owner_died()) {
                log().warn("{} map {}: a process died holding its lock; the state is consistent",
                           m.stack_ ? "stack" : "queue", m.map_id_);
                g_.mark_consistent();
            }
            pos_ = m.qh_->pos.load(std::memory_order_relaxed);
            if (!m.in_bounds(pos_)) [[unlikely]] {
                log().error("{} map {}: head/tail {}/{} out of range (< {}): corrupt segment",
                            m.stack_ ? "stack" : "queue", m.map_id_, head_of(pos_), tail_of(pos_),
                            m.n_slots_);
                throw SegmentCorrupt("queue/stack position out of range");
            }
        }
        uint64_t pos() const { return pos_; }

      private:
        MutexGuard g_;
        uint64_t pos_ = 0;
    };

    bool in_bounds(uint64_t pos) const {
        return head_of(pos) < n_slots_ && tail_of(pos) < n_slots_;
    }
    uint64_t next(uint64_t i) const { return i + 1 >= n_slots_ ? 0 : i + 1; }
    uint64_t prev(uint64_t i) const { return i == 0 ? n_slots_ - 1 : i - 1; }
    std::byte* slot(uint64_t i) const { return slots_ + i * slot_size_; }

    QsHeader* qh_;
    RobustMutex* lock_;
    std::byte* slots_;
    uint64_t n_slots_, slot_size_;
    uint32_t value_size_, map_id_;
    bool stack_;
};

void qs_init_region(std::byte* region, const MapSpec& spec, uint64_t) {
    auto* qh = new (region) QsHeader{};
    qh->magic = kQueueStackMagic;
    qh->map_type = spec.map_type;
    qh->value_size = spec.value_size;
    qh->slot_size = static_cast<uint32_t>(round8(spec.value_size));
    qh->n_slots = uint64_t{spec.max_entries} + 1;
    qh->pos.store(0, std::memory_order_relaxed);
    reinterpret_cast<PaddedMutex*>(region + kLockOff)->mutex.init();
}

std::unique_ptr<Map> qs_attach(const SegmentHeader& hdr, MapState&, std::byte* region) {
    const auto* qh = reinterpret_cast<const QsHeader*>(region);
    const uint64_t n_slots = uint64_t{hdr.max_entries} + 1;
    const uint64_t pos = qh->pos.load(std::memory_order_acquire);
    if (qh->magic != kQueueStackMagic || qh->map_type != hdr.map_type ||
        qh->value_size != hdr.value_size || qh->slot_size != round8(hdr.value_size) ||
        qh->n_slots != n_slots || head_of(pos) >= n_slots || tail_of(pos) >= n_slots) {
        log().warn("{} map {}: region header check failed (sizes or head/tail out of range)",
                   hdr.map_type == BPF_MAP_TYPE_STACK ? "stack" : "queue", hdr.map_id);
        return nullptr;
    }
    return std::make_unique<QueueStackMap>(hdr, region);
}

}  // namespace

extern const MapTypeOps kQueueMapOps;
const MapTypeOps kQueueMapOps = {
    BPF_MAP_TYPE_QUEUE, "queue",        false,     qs_alloc_check, nullptr,
    qs_region_size,     qs_init_region, qs_attach,
};

extern const MapTypeOps kStackMapOps;
const MapTypeOps kStackMapOps = {
    BPF_MAP_TYPE_STACK, "stack",        false,     qs_alloc_check, nullptr,
    qs_region_size,     qs_init_region, qs_attach,
};

}  // namespace bpfmap::shm
