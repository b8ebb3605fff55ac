#include "runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <system_error>

#include <fmt/format.h>

#include "cleanup.hpp"

namespace bench {

volatile std::uint64_t g_sink = 0;

std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

std::string errno_text(int err) {
    const char* name = strerrorname_np(err);
    return fmt::format("{} ({})", std::strerror(err), name != nullptr ? name : "?");
}

namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Closes an fd if open; safe to call twice.
void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

struct Pipe {
    int rd = -1, wr = -1;
    Pipe() {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0)
            throw std::system_error(errno, std::generic_category(), "pipe");
        rd = fds[0];
        wr = fds[1];
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    ~Pipe() {
        close_fd(rd);
        close_fd(wr);
    }
};

// Waits until fd is readable or the deadline passes. False on timeout.
bool wait_readable(int fd, std::uint64_t deadline_ns) {
    for (;;) {
        std::uint64_t now = now_ns();
        if (now >= deadline_ns) return false;
        pollfd p{fd, POLLIN, 0};
        int ms =
            static_cast<int>(std::min<std::uint64_t>((deadline_ns - now) / 1'000'000 + 1, 60'000));
        int rc = poll(&p, 1, ms);
        if (rc > 0) return true;
        if (rc < 0 && errno != EINTR) return true;  // let the read report it
    }
}

// Reads exactly n bytes unless EOF, error or the deadline comes first. Returns bytes read.
std::size_t read_full(int fd, void* buf, std::size_t n, std::uint64_t deadline_ns) {
    std::size_t got = 0;
    auto* p = static_cast<char*>(buf);
    while (got < n) {
        if (!wait_readable(fd, deadline_ns)) break;
        ssize_t r = ::read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += static_cast<std::size_t>(r);
    }
    return got;
}

bool write_full(int fd, const void* buf, std::size_t n) {
    const auto* p = static_cast<const char*>(buf);
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

[[noreturn]] void worker_main(unsigned index, Pipe& ready, Pipe& go, Pipe& result,
                              const WorkerBody& body) {
    reset_signals_in_worker();
    close_fd(ready.rd);
    close_fd(go.wr);
    close_fd(result.rd);
    WorkerReport report;
    report.worker = static_cast<std::int32_t>(index);
    bool reached_barrier = false;
    auto barrier = [&] {
        reached_barrier = true;
        char c = 1;
        write_full(ready.wr, &c, 1);
        close_fd(ready.wr);
        // Blocks until the parent closes its end of `go`: every worker wakes at once.
        while (::read(go.rd, &c, 1) < 0 && errno == EINTR) {
        }
    };
    try {
        body(index, barrier, report);
    } catch (const std::exception& e) {
        fmt::format_to_n(report.error, sizeof report.error - 1, "exception: {}", e.what());
    } catch (...) {
        fmt::format_to_n(report.error, sizeof report.error - 1, "unknown exception");
    }
    if (!reached_barrier && report.error[0] == '\0')
        fmt::format_to_n(report.error, sizeof report.error - 1, "worker never reached the barrier");
    write_full(result.wr, &report, sizeof report);
    // Never return into the parent's stack: no destructors, no atexit handlers, no stdio flush.
    _exit(report.error[0] == '\0' ? 0 : 1);
}

std::string describe_status(pid_t pid, int status) {
    if (WIFSIGNALED(status))
        return fmt::format("worker {} killed by signal {} ({})", pid, WTERMSIG(status),
                           sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        return fmt::format("worker {} exited with status {}", pid, WEXITSTATUS(status));
    return {};
}

}  // namespace

Workload::Workload(MapKind k, std::uint32_t n, std::uint64_t ops) : kind(k), entries(n) {
    keys.resize(n);
    for (std::uint32_t i = 0; i < n; ++i)
        // HASH keys are spread over the 32-bit range (a bijection: odd multiplier); ARRAY keys
        // are the indices.
        keys[i] = k == MapKind::hash ? i * 0x9E3779B1u : i;
    std::uint64_t len = 1024;
    while (len < ops && len < (std::uint64_t{1} << 22)) len <<= 1;
    seq.resize(len);
    mask = len - 1;
    std::uint64_t state = 0x5EED5EED5EEDull ^ n;
    for (auto& key : seq) {
        // Lemire's multiply-shift: a uniform index in [0, n).
        std::uint64_t r = splitmix64(state) >> 32;
        key = keys[static_cast<std::size_t>((r * n) >> 32)];
    }
}

RowResult best_of(unsigned repeat, const std::function<RowResult()>& run_once) {
    RowResult best;
    for (unsigned rep = 0; rep < repeat; ++rep) {
        RowResult one;
        try {
            one = run_once();
        } catch (const std::exception& e) {
            one = RowResult{false, 0, fmt::format("run: {}", e.what())};
        }
        if (!one.ok) return one;
        if (!best.ok || one.ns_per_op < best.ns_per_op) best = one;
    }
    return best;
}

RowResult run_workers(unsigned procs, std::uint64_t ops_per_proc, double timeout_s,
                      const WorkerBody& body) {
    RowResult result;
    Pipe ready, go, reports;
    std::vector<pid_t> pids;
    auto reap_all = [&](bool kill_first) {
        std::string why;
        for (pid_t pid : pids) {
            if (kill_first) ::kill(pid, SIGKILL);
            int status = 0;
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            unregister_worker(pid);
            if (!kill_first && why.empty()) why = describe_status(pid, status);
        }
        pids.clear();
        return why;
    };

    for (unsigned i = 0; i < procs; ++i) {
        pid_t pid = fork();
        if (pid < 0) {
            result.error = "fork failed: " + errno_text(errno);
            reap_all(true);
            return result;
        }
        if (pid == 0) worker_main(i, ready, go, reports, body);
        pids.push_back(pid);
        register_worker(pid);
    }
    close_fd(ready.wr);
    close_fd(go.rd);
    close_fd(reports.wr);

    const std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(timeout_s * 1e9);
    // Barrier: every worker has warmed up and written its byte (EOF if one gave up).
    std::vector<char> bytes(procs);
    const std::size_t arrived = read_full(ready.rd, bytes.data(), procs, deadline);
    const bool all_ready = arrived == procs;
    if (!all_ready) {
        // Kill the others; a worker that gave up wrote its report before exiting.
        for (pid_t pid : pids) ::kill(pid, SIGKILL);
    }
    close_fd(go.wr);  // start

    std::vector<WorkerReport> got(procs);
    std::size_t n_reports = 0;
    if (all_ready) {
        const std::size_t bytes_read =
            read_full(reports.rd, got.data(), procs * sizeof(WorkerReport), deadline);
        n_reports = bytes_read / sizeof(WorkerReport);
    } else {
        n_reports = read_full(reports.rd, got.data(), procs * sizeof(WorkerReport),
                              now_ns() + 1'000'000'000) /
                    sizeof(WorkerReport);
    }
    const bool timed_out = all_ready && n_reports < procs && now_ns() >= deadline;
    std::string exit_why = reap_all(timed_out || !all_ready);

    for (std::size_t i = 0; i < n_reports; ++i) {
        if (got[i].error[0] != '\0') {
            result.error = fmt::format("worker {}: {}", got[i].worker, got[i].error);
            return result;
        }
    }
    if (timed_out) {
        result.error = fmt::format("timed out after {:.0f} s (workers killed)", timeout_s);
        return result;
    }
    if (!all_ready || n_reports < procs) {
        result.error = !exit_why.empty() ? exit_why : "a worker died without reporting";
        return result;
    }
    std::uint64_t first = UINT64_MAX, last = 0, failures = 0;
    std::int32_t err = 0;
    for (const auto& r : got) {
        first = std::min(first, r.start_ns);
        last = std::max(last, r.end_ns);
        if (r.failures != 0 && failures == 0) err = r.first_errno;
        failures += r.failures;
    }
    if (failures != 0) {
        result.error = fmt::format("{} of {} ops failed, first with {}", failures,
                                   ops_per_proc * procs, errno_text(err));
        return result;
    }
    if (!exit_why.empty()) {
        result.error = exit_why;
        return result;
    }
    result.ok = true;
    result.ns_per_op =
        static_cast<double>(last - first) / static_cast<double>(ops_per_proc * procs);
    return result;
}

}  // namespace bench
