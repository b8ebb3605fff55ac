// Observer mode: for a process that inspects a store without changing it (bpfmap-inspect).
// Its readers never take a map's lock: a bucket or element whose sequence count stays odd
// (a writer stopped or killed inside its critical section) is read as it is, after the usual
// spin, instead of waiting for the writer or repairing after it. The store's reclaim of dead
// maps is skipped too (api/).
#pragma once

#include <atomic>

namespace bpfmap::shm {

extern std::atomic<bool> g_observe_only;

inline bool observe_only() {
    return g_observe_only.load(std::memory_order_relaxed);
}

}  // namespace bpfmap::shm
