#include "cleanup.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include <boost/interprocess/shared_memory_object.hpp>

namespace bench {
namespace {

// Fixed-size, preformatted copies of what the signal handler needs (no allocation there).
char g_root_path[4096] = {};    // temporary root to remove, empty if none
char g_segment_name[64] = {};   // segment name, as passed to boost
char g_segment_path[128] = {};  // /dev/shm/<name>, for unlink() from the handler
pid_t g_owner = 0;              // the process that cleans up
std::array<std::atomic<pid_t>, 8> g_workers{};

struct LinuxDirent64 {
    std::uint64_t d_ino;
    std::int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[1];
};

bool remove_tree_at(int parent, const char* name, int depth) {
    if (unlinkat(parent, name, 0) == 0 || errno == ENOENT) return true;
    if (errno != EISDIR || depth > 32) return false;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT;
    // Entries are removed while the directory is read; read again until a pass finds none.
    for (int pass = 0; pass < 64; ++pass) {
        bool removed_any = false;
        alignas(8) char buf[2048];
        if (lseek(fd, 0, SEEK_SET) < 0) break;
        for (;;) {
            long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
            if (n <= 0) break;
            for (long off = 0; off < n;) {
                const auto* d = reinterpret_cast<const LinuxDirent64*>(buf + off);
                off += d->d_reclen;
                const char* entry = d->d_name;
                if (std::strcmp(entry, ".") == 0 || std::strcmp(entry, "..") == 0) continue;
                remove_tree_at(fd, entry, depth + 1);
                removed_any = true;
            }
        }
        if (!removed_any) break;
    }
    close(fd);
    return unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT;
}

void on_signal(int sig) {
    int saved = errno;
    if (getpid() == g_owner) {
        for (auto& w : g_workers) {
            pid_t pid = w.load();
            if (pid > 0) kill(pid, SIGKILL);
        }
        if (g_segment_path[0] != '\0') unlink(g_segment_path);
        if (g_root_path[0] != '\0') remove_tree(g_root_path);
    }
    errno = saved;
    signal(sig, SIG_DFL);
    raise(sig);
}

constexpr std::array kSignals{SIGINT, SIGTERM, SIGHUP, SIGPIPE};

}  // namespace

bool remove_tree(const char* path) {
    return remove_tree_at(AT_FDCWD, path, 0);
}

TempRoot::TempRoot() {
    g_owner = getpid();
    if (const char* env = std::getenv("BPFMAP_ROOT"); env != nullptr && env[0] != '\0') {
        path_ = env;
        return;
    }
    char tmpl[] = "/dev/shm/bpfmap-bench.XXXXXX";
    if (mkdtemp(tmpl) == nullptr)
        throw std::system_error(errno, std::generic_category(), "mkdtemp /dev/shm/bpfmap-bench");
    path_ = tmpl;
    temporary_ = true;
    if (setenv("BPFMAP_ROOT", path_.c_str(), 1) != 0) {
        int err = errno;
        remove_tree(path_.c_str());
        throw std::system_error(err, std::generic_category(), "setenv BPFMAP_ROOT");
    }
    std::snprintf(g_root_path, sizeof g_root_path, "%s", path_.c_str());
}

TempRoot::~TempRoot() {
    if (!temporary_ || getpid() != g_owner) return;
    g_root_path[0] = '\0';
    if (!remove_tree(path_.c_str()))
        std::fprintf(stderr, "bpfmap-bench: could not remove %s: %s\n", path_.c_str(),
                     std::strerror(errno));
    unsetenv("BPFMAP_ROOT");
}

const char* naive_segment_name() {
    if (g_segment_name[0] == '\0') {
        std::snprintf(g_segment_name, sizeof g_segment_name, "bpfmap-bench-naive-%ld",
                      static_cast<long>(getpid()));
        std::snprintf(g_segment_path, sizeof g_segment_path, "/dev/shm/%s", g_segment_name);
    }
    return g_segment_name;
}

void remove_naive_segment() {
    boost::interprocess::shared_memory_object::remove(naive_segment_name());
}

void register_worker(pid_t pid) {
    for (auto& w : g_workers) {
        pid_t expected = 0;
        if (w.compare_exchange_strong(expected, pid)) return;
    }
}

void unregister_worker(pid_t pid) {
    for (auto& w : g_workers) {
        pid_t expected = pid;
        if (w.compare_exchange_strong(expected, 0)) return;
    }
}

void install_signal_cleanup(const TempRoot&) {
    g_owner = getpid();
    naive_segment_name();
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : kSignals) sigaction(sig, &sa, nullptr);
}

void reset_signals_in_worker() {
    for (int sig : kSignals) signal(sig, SIG_DFL);
}

}  // namespace bench
