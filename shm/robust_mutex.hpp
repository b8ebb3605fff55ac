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
    // For inspection only (read without locking): the thread id of the holder, 0 if free. When
    // the holder died inside, the kernel clears the tid in the lock word and sets
    // FUTEX_OWNER_DIED; owner_died() is then true and owner_tid() is the dead holder's tid
    // (glibc keeps it in the mutex's owner field), or -1 if unknown.
    int owner_tid() const;
    bool owner_died() const;

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
