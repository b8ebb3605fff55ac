// Crash-test plumbing shared by crash_test and the *_crash_test binaries: a child that stops
// inside a map's critical section (the library's crash hook, api/internal/test_hooks.h) and tells
// its parent so with one byte 'H' on its output pipe; the parent waits for that byte (bounded),
// optionally waits until other children sleep on the stuck holder's lock, then SIGKILLs and reaps
// the holder.
#pragma once

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "api/internal/test_hooks.h"
#include "process_helpers.hpp"
#include "test_support.hpp"

namespace bpfmap::test::proc {

namespace crash_detail {
inline int hook_fd = -1;
inline int hook_skip = 0;
// The crash hook: passes the first hook_skip crash points, then writes 'H' to hook_fd and
// blocks forever (until the parent kills the process).
inline void stop_here() {
    if (hook_skip-- > 0) return;
    char c = 'H';
    while (::write(hook_fd, &c, 1) < 0 && errno == EINTR) {
    }
    for (;;) pause();
}
}  // namespace crash_detail

// Child side: from now on, the `skip + 1`-th crash point this process reaches writes 'H' to
// out_fd and stops the process there, inside the critical section.
inline void stop_at_crash_point(int out_fd, int skip = 0) {
    crash_detail::hook_fd = out_fd;
    crash_detail::hook_skip = skip;
    bpfmap_test_set_crash_hook(&crash_detail::stop_here);
}

// Reads one byte from a child's pipe within timeout_ms: the byte, or 0 (EOF, timeout).
inline char wait_byte(Proc& p, int timeout_ms) {
    const int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        struct pollfd q = {p.out.get(), POLLIN, 0};
        const int64_t left = deadline - now_ms();
        if (left <= 0) return 0;
        const int n = poll(&q, 1, static_cast<int>(left));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 0;
        char c;
        const ssize_t r = ::read(p.out.get(), &c, 1);
        if (r == 1) return c;
        if (r == 0 || errno != EINTR) return 0;
    }
}

// Waits (bounded) until process `pid` sleeps in futex(2): blocked on the stuck holder's lock.
// Only makes a scenario sharper (waiters parked in the kernel when the holder dies); if it never
// happens the test goes on (the waiter then meets the dead owner when it locks).
inline bool wait_in_futex(pid_t pid, int timeout_ms) {
    const std::string path = "/proc/" + std::to_string(pid) + "/syscall";
    const std::string futex = std::to_string(SYS_futex) + " ";
    const int64_t deadline = now_ms() + timeout_ms;
    while (now_ms() < deadline) {
        std::ifstream in(path);
        std::string s;
        if (!std::getline(in, s)) return false;
        if (s.rfind(futex, 0) == 0) return true;
        sched_yield();
    }
    return false;
}

// finish() for one child.
inline void finish_one(Proc& p) {
    std::vector<Proc> v;
    v.push_back(std::move(p));
    finish(v, kTimeoutMs);
    p = std::move(v[0]);
}

// SIGKILLs the stuck holder, reads the rest of its output and reaps it; checks that it died of
// the SIGKILL (not earlier, of something else).
inline void kill_holder(Proc& w) {
    w.child.kill(SIGKILL);
    finish_one(w);
    BOOST_CHECK_MESSAGE(w.status == 128 + SIGKILL,
                        w.name << ": exit status " << w.status << " (not killed): " << w.text);
}

}  // namespace bpfmap::test::proc
