// close(), dup2() and dup3() are interposed (this library is linked before libc, so calls from
// the program and its other libraries come here first) so that the fd table never keeps an
// entry for a closed fd: otherwise a reused fd number could reach the old map. Calls that libc
// makes internally (fclose, ...) bypass this, but they never close a map fd.
//
// The cost for an fd that is not a map is one table load.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "api/context.hpp"

namespace {

template <typename Fn>
Fn next_symbol(const char* name) {
    return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

int real_close(int fd) {
    using Fn = int (*)(int);
    static Fn fn = next_symbol<Fn>("close");
    return fn ? fn(fd) : static_cast<int>(syscall(SYS_close, fd));
}

int real_dup2(int oldfd, int newfd) {
    using Fn = int (*)(int, int);
    static Fn fn = next_symbol<Fn>("dup2");
    return fn ? fn(oldfd, newfd) : static_cast<int>(syscall(SYS_dup2, oldfd, newfd));
}

int real_dup3(int oldfd, int newfd, int flags) {
    using Fn = int (*)(int, int, int);
    static Fn fn = next_symbol<Fn>("dup3");
    return fn ? fn(oldfd, newfd, flags) : static_cast<int>(syscall(SYS_dup3, oldfd, newfd, flags));
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int close(int fd) {
    if (!bpfmap::api::fd_table_get(fd)) [[likely]]
        return real_close(fd);
    bpfmap::api::MapHandle* h = bpfmap::api::detach_fd(fd);
    int rc = real_close(fd);  // the fd is closed even if close() reports an error
    int err = errno;
    bpfmap::api::release_handle(h);
    errno = err;
    return rc;
}

__attribute__((visibility("default"))) int dup2(int oldfd, int newfd) {
    if (oldfd == newfd || !bpfmap::api::fd_table_get(newfd)) return real_dup2(oldfd, newfd);
    bpfmap::api::MapHandle* h = bpfmap::api::detach_fd(newfd);
    int rc = real_dup2(oldfd, newfd);
    int err = errno;
    bpfmap::api::release_handle(h);
    errno = err;
    return rc;
}

__attribute__((visibility("default"))) int dup3(int oldfd, int newfd, int flags) {
    if (oldfd == newfd || !bpfmap::api::fd_table_get(newfd)) return real_dup3(oldfd, newfd, flags);
    bpfmap::api::MapHandle* h = bpfmap::api::detach_fd(newfd);
    int rc = real_dup3(oldfd, newfd, flags);
    int err = errno;
    bpfmap::api::release_handle(h);
    errno = err;
    return rc;
}

}  // extern "C"
