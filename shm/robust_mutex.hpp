// A process-shared, robust mutex that lives in shared memory.
//
// Boost 1.74's interprocess_mutex is process-shared but not robust: if its holder dies, every
// later locker blocks forever. This wrapper uses pthreads directly with PTHREAD_PROCESS_SHARED
// and PTHREAD_MUTEX_ROBUST: when the holder dies, the next lock() returns OwnerDied. The
// caller then repairs what the lock protects and calls mark_consistent() before unlock().
#pragma once

#include <pthread.h>

#include <stdexcept>

namespace bpfmap::shm {

// Thrown from inside shm/ when shared state turns out to be corrupt in the middle of an
// operation (a lock word that cannot be locked). The bpf() layer catches it: EINVAL.
struct SegmentCorrupt : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class RobustMutex {
  public:
    enum class Locked { Ok, OwnerDied };

    // Initialises the mutex in place (in a freshly created segment, before anyone else maps it).
    void init();
    // Blocks until the lock is held. OwnerDied: the previous holder died inside its critical
    // section; the protected state may be half-changed. Throws SegmentCorrupt if the lock word is
    // corrupt (ENOTRECOVERABLE is avoided by always calling mark_consistent after a repair).
    Locked lock();
    void mark_consistent();
    void unlock();
    // The thread id of the holder, 0 if free (glibc's lock word; read without locking, for
    // inspection only). The kernel writes the holder's tid there for robust futexes.
    int owner_tid() const;

  private:
    pthread_mutex_t m_;
};

// One robust mutex per 64-byte cache line, so that stripes don't share lines.
struct alignas(64) PaddedMutex {
    RobustMutex mutex;
};
static_assert(sizeof(PaddedMutex) == 64);

// RAII holder. `owner_died()` tells the holder to repair before relying on the state.
class MutexGuard {
  public:
    explicit MutexGuard(RobustMutex& m)
        : m_(m), died_(m.lock() == RobustMutex::Locked::OwnerDied) {}
    ~MutexGuard() { m_.unlock(); }
    MutexGuard(const MutexGuard&) = delete;
    MutexGuard& operator=(const MutexGuard&) = delete;
    bool owner_died() const { return died_; }
    void mark_consistent() {
        m_.mark_consistent();
        died_ = false;
    }

  private:
    RobustMutex& m_;
    bool died_;
};

}  // namespace bpfmap::shm
