#include "shm/test_hooks.hpp"

namespace bpfmap::shm {

std::atomic<CrashHook> g_crash_hook{nullptr};

}  // namespace bpfmap::shm
