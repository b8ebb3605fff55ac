// The library's own C functions beside bpf(): bpfmap_unpin, bpfmap_root, bpfmap_set_create_mode,
// and the test hook.
#include <bpfmap/bpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "api/context.hpp"
#include "api/internal/test_hooks.h"
#include "shm/observe.hpp"
#include "shm/segment_format.hpp"
#include "shm/test_hooks.hpp"

namespace {

// At a normal exit (exit(), return from main) the map fds are closed here, after the program's
// own atexit handlers, so that the last holder's exit destroys an unpinned map at once, as its
// last close() would. A killed process (or _exit) skips this; its maps are reclaimed lazily.
__attribute__((destructor)) void close_map_fds_at_exit() {
    for (int fd : bpfmap::api::map_fds()) ::close(fd);
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int bpfmap_unpin(const char* path) {
    if (!path) {
        errno = EFAULT;
        return -1;
    }
    int err;
    bpfmap::shm::Store* st = bpfmap::api::store(err);
    if (!st) {
        errno = err;
        return -1;
    }
    if (int rc = st->check_get_path(path); rc != 0) {
        errno = rc == -EACCES ? EPERM : -rc;
        return -1;
    }
    // A map's own id file is not a pin: removing it would orphan a live map.
    if (st->is_id_file(path)) {
        errno = EPERM;
        return -1;
    }
    bpfmap::shm::SegmentHeader h{};
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    const bool ok = pread(fd, &h, sizeof h, 0) == static_cast<ssize_t>(sizeof h) &&
                    h.magic == bpfmap::shm::kSegmentMagic;
    ::close(fd);
    if (!ok) {
        errno = EINVAL;  // not a pin of a map
        return -1;
    }
    if (::unlink(path) != 0) return -1;
    st->try_destroy(h.map_id);
    return 0;
}

__attribute__((visibility("default"))) const char* bpfmap_root(void) {
    int err;
    if (bpfmap::shm::Store* st = bpfmap::api::store(err)) return st->root().c_str();
    const char* env = std::getenv("BPFMAP_ROOT");
    return env && *env ? env : "/dev/shm/bpfmap";
}

__attribute__((visibility("default"))) unsigned bpfmap_set_create_mode(unsigned mode) {
    return bpfmap::api::g_create_mode.exchange(mode & 0666);
}

__attribute__((visibility("default"))) void bpfmap_observe_only(int on) {
    bpfmap::shm::g_observe_only.store(on != 0);
}

__attribute__((visibility("default"))) void bpfmap_test_set_crash_hook(void (*hook)(void)) {
    bpfmap::shm::g_crash_hook.store(hook);
}

}  // extern "C"
