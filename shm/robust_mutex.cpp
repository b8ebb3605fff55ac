#include "shm/robust_mutex.hpp"

#include <cerrno>
#include <cstring>

#include "shm/log.hpp"
#include "shm/map_type.hpp"

namespace bpfmap::shm {

void RobustMutex::init() {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&m_, &a);
    pthread_mutexattr_destroy(&a);
}

RobustMutex::Locked RobustMutex::lock() {
    int rc = pthread_mutex_lock(&m_);
    if (rc == 0) return Locked::Ok;
    if (rc == EOWNERDEAD) return Locked::OwnerDied;
    // ENOTRECOVERABLE can only follow an OwnerDied that was not made consistent, which our
    // callers never do; anything else means the segment's lock word is corrupt. The bpf()
    // layer turns this into EINVAL for the one call; nothing is changed.
    log().error(
        "process-shared mutex at {} failed to lock ({}): the segment's lock word is "
        "corrupt; recreate the map",
        static_cast<void*>(&m_), std::strerror(rc));
    throw SegmentCorrupt("corrupt lock");
}

void RobustMutex::mark_consistent() {
    pthread_mutex_consistent(&m_);
}

namespace {
constexpr int kFutexOwnerDied = 0x40000000;
constexpr int kFutexTidMask = 0x3fffffff;
}  // namespace

bool RobustMutex::owner_died() const {
    return __atomic_load_n(&m_.__data.__lock, __ATOMIC_RELAXED) & kFutexOwnerDied;
}

int RobustMutex::owner_tid() const {
    const int word = __atomic_load_n(&m_.__data.__lock, __ATOMIC_RELAXED);
    if (!(word & kFutexOwnerDied)) return word & kFutexTidMask;
    const int owner = __atomic_load_n(&m_.__data.__owner, __ATOMIC_RELAXED);
    return owner > 0 ? owner : -1;
}

LockState lock_state(std::string name, const RobustMutex& m) {
    return {std::move(name), m.owner_tid(), m.owner_died()};
}

void append_stripe_states(std::vector<LockState>& out, const PaddedMutex* stripes, uint32_t n) {
    for (uint32_t i = 0; i < n; ++i)
        out.push_back(lock_state("stripe " + std::to_string(i), stripes[i].mutex));
}

void RobustMutex::unlock() {
    pthread_mutex_unlock(&m_);
}

}  // namespace bpfmap::shm
