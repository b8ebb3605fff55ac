// Sequence counters that let readers copy shared data without taking a lock (and without
// writing to a shared cache line), retrying when a writer interfered.
//
// Writers hold the lock that guards the data, then: begin() makes the count odd, they write,
// end() makes it even again. Readers: s = read_begin(); copy; if (!read_retry(s)) the copy
// is consistent. A count left odd by a writer that died is repaired by the next holder of
// the lock (repair()).
//
// The copies themselves are plain memcpy of memory that a writer may be changing: a racing
// reader may copy stale or mixed bytes, which read_retry() then discards. Preallocated
// elements stay mapped, so a racing reader never touches unmapped memory.
#pragma once

#include <atomic>
#include <cstdint>

#include "shm/observe.hpp"

namespace bpfmap::shm {

struct SeqCount {
    std::atomic<uint32_t> seq;

    uint32_t read_begin() const { return seq.load(std::memory_order_acquire); }
    static bool busy(uint32_t s) { return s & 1u; }
    bool read_retry(uint32_t s) const {
        std::atomic_thread_fence(std::memory_order_acquire);
        return seq.load(std::memory_order_relaxed) != s;
    }
    // Only the lock holder calls begin(), so an odd count here is never a live write (it is
    // a corrupt segment): start from the next even value rather than invert the counter.
    void begin() {
        const uint32_t s = seq.load(std::memory_order_relaxed);
        seq.store((s | 1u) + (s & 1u ? 2u : 0u), std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_release);
    }
    void end() { seq.store(seq.load(std::memory_order_relaxed) + 1, std::memory_order_release); }
    // After the previous writer died: make the count even (readers stop waiting) and different
    // (readers that copied during the dead write retry).
    void repair() {
        uint32_t s = seq.load(std::memory_order_relaxed);
        if (s & 1u) seq.store(s + 1, std::memory_order_release);
    }
};
static_assert(sizeof(SeqCount) == 4);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Readers spin this many times on an odd count before falling back to the lock (which repairs
// the state if the writer died).
inline constexpr int kSeqSpinLimit = 256;

// A reader's attempts at one piece of data guarded by a SeqCount:
//
//   SeqReader r;
//   for (;;) {
//       const uint32_t s = r.begin(seq, [&] { /* take the writer's lock, repair */ });
//       copy;
//       if (!seq.read_retry(s)) break;
//   }
//
// begin() returns the count to copy under. While a writer is inside (odd count) it spins; after
// kSeqSpinLimit attempts (counted over the whole read, retries included) it calls
// wait_for_writer(), which takes the writer's lock (so waits for it, or repairs after it if it
// died), then reads the count again. An observer (observe.hpp) never waits: it gets the odd
// count and reads the data as it is (accepted if the count stays put).
class SeqReader {
  public:
    template <class Wait>
    uint32_t begin(const SeqCount& seq, Wait&& wait_for_writer) {
        for (;;) {
            const int spins = spins_++;
            const uint32_t s = seq.read_begin();
            if (!SeqCount::busy(s)) [[likely]]
                return s;
            if (spins < kSeqSpinLimit) {
                cpu_relax();
                continue;
            }
            if (observe_only()) return s;
            wait_for_writer();
        }
    }

  private:
    int spins_ = 0;
};

}  // namespace bpfmap::shm
