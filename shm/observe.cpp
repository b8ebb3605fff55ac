#include "shm/observe.hpp"

namespace bpfmap::shm {

std::atomic<bool> g_observe_only{false};

}  // namespace bpfmap::shm
