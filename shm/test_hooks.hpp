// A hook for crash tests: when set, writers call it inside their critical section (lock held,
// sequence count odd, value half-written), so that a test can kill the process right there.
// One relaxed load per update when unset.
#pragma once

#include <atomic>

namespace bpfmap::shm {

using CrashHook = void (*)();
extern std::atomic<CrashHook> g_crash_hook;

inline void crash_point() {
    if (CrashHook h = g_crash_hook.load(std::memory_order_relaxed)) [[unlikely]]
        h();
}

}  // namespace bpfmap::shm
