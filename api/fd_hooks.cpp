// The fd table follows the fd calls of the program. This library is linked before libc, so
// calls from the program and its other libraries come here first (calls libc makes internally,
// such as fclose's, bypass this, but they never see a map fd).
//
//  - close(), close_range(), closefrom(), and dup2()/dup3() over an fd, drop the entry first:
//    otherwise a reused fd number could reach the old map. When it was the process's last fd
//    to the map, the map is destroyed if nothing else holds or pins it.
//  - dup(), dup2()/dup3() and fcntl(F_DUPFD*) of a map fd register the new fd, so that its
//    close() too is seen at once.
//  - read() and write() (and their p- and v- forms) on a map fd fail with EINVAL, as on the
//    kernel's map fds: they would otherwise read or overwrite the segment file.
//  - recvmsg() registers map fds received with SCM_RIGHTS; and at load, map fds inherited
//    across exec are registered (a scan of /proc/self/fd for files inside the store's root).
//
// An fd that is not a map costs one table load per call.
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <vector>

#include "api/context.hpp"

namespace {

using bpfmap::api::fd_table_get;
using bpfmap::api::MapHandle;

template <typename Fn>
Fn next_symbol(const char* name) {
    return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

int real_close(int fd) {
    using Fn = int (*)(int);
    static Fn fn = next_symbol<Fn>("close");
    return fn ? fn(fd) : static_cast<int>(syscall(SYS_close, fd));
}

// Runs `op` (which closes `fds`) with errno preserved around the table bookkeeping.
template <typename Op>
int closing(const std::vector<int>& fds, Op op) {
    std::vector<MapHandle*> handles;
    for (int fd : fds) handles.push_back(bpfmap::api::detach_fd(fd));
    int rc = op();
    int err = errno;
    for (MapHandle* h : handles) bpfmap::api::release_handle(h);
    errno = err;
    return rc;
}

// After a successful duplication of `oldfd` into `newfd`: the new fd refers to the same open
// file description, so it gets the same entry.
void duplicated(int oldfd, int newfd) {
    if (newfd >= 0 && fd_table_get(oldfd)) {
        int err = errno;
        bpfmap::api::copy_fd_entry(oldfd, newfd);
        errno = err;
    }
}

std::vector<int> table_fds_in(unsigned first, unsigned last) {
    std::vector<int> out;
    for (int fd : bpfmap::api::map_fds())
        if (static_cast<unsigned>(fd) >= first && static_cast<unsigned>(fd) <= last)
            out.push_back(fd);
    return out;
}

// Map fds inherited across exec are registered at load.
__attribute__((constructor)) void register_inherited_fds() {
    DIR* d = opendir("/proc/self/fd");
    if (!d) return;
    std::vector<int> fds;
    const int self = dirfd(d);
    while (struct dirent* e = readdir(d)) {
        char* end;
        long fd = std::strtol(e->d_name, &end, 10);
        if (*end == '\0' && end != e->d_name && fd != self) fds.push_back(static_cast<int>(fd));
    }
    closedir(d);
    for (int fd : fds) bpfmap::api::register_if_map(fd);
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int close(int fd) {
    if (!fd_table_get(fd)) [[likely]]
        return real_close(fd);
    return closing({fd}, [&] { return real_close(fd); });
}

__attribute__((visibility("default"))) int close_range(unsigned first, unsigned last, int flags) {
    using Fn = int (*)(unsigned, unsigned, int);
    static Fn fn = next_symbol<Fn>("close_range");
    auto call = [&] {
        return fn ? fn(first, last, flags)
                  : static_cast<int>(syscall(SYS_close_range, first, last, flags));
    };
    if (flags & CLOSE_RANGE_CLOEXEC) return call();  // marks fds close-on-exec, closes none
    std::vector<int> fds = table_fds_in(first, last);
    if (fds.empty()) return call();
    return closing(fds, call);
}

__attribute__((visibility("default"))) void closefrom(int lowfd) {
    using Fn = void (*)(int);
    static Fn fn = next_symbol<Fn>("closefrom");
    const unsigned first = lowfd < 0 ? 0u : static_cast<unsigned>(lowfd);
    closing(table_fds_in(first, ~0u), [&] {
        if (fn)
            fn(lowfd);
        else
            syscall(SYS_close_range, first, ~0u, 0);
        return 0;
    });
}

__attribute__((visibility("default"))) int dup(int oldfd) {
    using Fn = int (*)(int);
    static Fn fn = next_symbol<Fn>("dup");
    int rc = fn ? fn(oldfd) : static_cast<int>(syscall(SYS_dup, oldfd));
    duplicated(oldfd, rc);
    return rc;
}

__attribute__((visibility("default"))) int dup2(int oldfd, int newfd) {
    using Fn = int (*)(int, int);
    static Fn fn = next_symbol<Fn>("dup2");
    auto call = [&] {
        return fn ? fn(oldfd, newfd) : static_cast<int>(syscall(SYS_dup2, oldfd, newfd));
    };
    if (oldfd == newfd) return call();
    int rc = fd_table_get(newfd) ? closing({newfd}, call) : call();
    duplicated(oldfd, rc);
    return rc;
}

__attribute__((visibility("default"))) int dup3(int oldfd, int newfd, int flags) {
    using Fn = int (*)(int, int, int);
    static Fn fn = next_symbol<Fn>("dup3");
    auto call = [&] {
        return fn ? fn(oldfd, newfd, flags)
                  : static_cast<int>(syscall(SYS_dup3, oldfd, newfd, flags));
    };
    if (oldfd == newfd) return call();
    int rc = fd_table_get(newfd) ? closing({newfd}, call) : call();
    duplicated(oldfd, rc);
    return rc;
}

// fcntl's third argument is an int or a pointer, depending on the command; like glibc, pass
// it on as a pointer-sized value.
__attribute__((visibility("default"))) int fcntl(int fd, int cmd, ...) {
    using Fn = int (*)(int, int, ...);
    static Fn fn = next_symbol<Fn>("fcntl");
    va_list ap;
    va_start(ap, cmd);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    int rc = fn ? fn(fd, cmd, arg) : static_cast<int>(syscall(SYS_fcntl, fd, cmd, arg));
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) duplicated(fd, rc);
    return rc;
}

// The kernel's map fds have no read or write (bpf_dummy_read/bpf_dummy_write): EINVAL.
#define BPFMAP_NO_IO(ret, name, params, args)                \
    __attribute__((visibility("default"))) ret name params { \
        using Fn = ret(*) params;                            \
        static Fn fn = next_symbol<Fn>(#name);               \
        if (fd_table_get(fd)) [[unlikely]] {                 \
            errno = EINVAL;                                  \
            return -1;                                       \
        }                                                    \
        return fn args;                                      \
    }
BPFMAP_NO_IO(ssize_t, read, (int fd, void* buf, size_t n), (fd, buf, n))
BPFMAP_NO_IO(ssize_t, write, (int fd, const void* buf, size_t n), (fd, buf, n))
BPFMAP_NO_IO(ssize_t, pread, (int fd, void* buf, size_t n, off_t off), (fd, buf, n, off))
BPFMAP_NO_IO(ssize_t, pwrite, (int fd, const void* buf, size_t n, off_t off), (fd, buf, n, off))
BPFMAP_NO_IO(ssize_t, pread64, (int fd, void* buf, size_t n, off64_t off), (fd, buf, n, off))
BPFMAP_NO_IO(ssize_t, pwrite64, (int fd, const void* buf, size_t n, off64_t off), (fd, buf, n, off))
BPFMAP_NO_IO(ssize_t, readv, (int fd, const struct iovec* iov, int n), (fd, iov, n))
BPFMAP_NO_IO(ssize_t, writev, (int fd, const struct iovec* iov, int n), (fd, iov, n))
#undef BPFMAP_NO_IO

__attribute__((visibility("default"))) ssize_t recvmsg(int sockfd, struct msghdr* msg, int flags) {
    using Fn = ssize_t (*)(int, struct msghdr*, int);
    static Fn fn = next_symbol<Fn>("recvmsg");
    ssize_t rc = fn ? fn(sockfd, msg, flags) : syscall(SYS_recvmsg, sockfd, msg, flags);
    if (rc < 0 || !msg || !msg->msg_control) return rc;
    int err = errno;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const auto* fds = reinterpret_cast<const int*>(CMSG_DATA(c));
        for (size_t i = 0; i < n; ++i) bpfmap::api::register_if_map(fds[i]);
    }
    errno = err;
    return rc;
}

}  // extern "C"
