// The process side of bpfmap: the store this process uses and its table of map fds.
//
// A map fd is a real file descriptor: an open file description of the map's segment file that
// holds a reference lock (shm/store.hpp). The fd table caches, per fd number, the mapping of
// the segment and the fd's access mode, so the hot path costs two loads instead of a system
// call. Entries are added when an fd is first used (fds made by this process are added at once;
// inherited, dup()ed and received fds on first use) and removed by the interposed close(),
// dup2() and dup3() (close_hooks.cpp), so a reused fd number never reaches an old map.
//
// Threads: the table is read without locks; it is changed, and handles are created and freed,
// under one process-local mutex. As with any fd, closing an fd while another thread of the same
// process is still using it is a race in the program (here it can touch an unmapped segment).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "shm/segment.hpp"
#include "shm/store.hpp"

namespace bpfmap::api {

enum Access : unsigned { kRead = 1, kWrite = 2 };

// One per map segment mapped in this process, shared by all of the process's fds to that map.
struct MapHandle {
    shm::OpenedSegment seg;
    shm::Map* map = nullptr;
    shm::MapState* state = nullptr;
    const shm::SegmentHeader* hdr = nullptr;
    dev_t dev = 0;
    ino_t ino = 0;
    uint32_t id = 0;
    uint32_t key_size = 0;            // copies of the header's, one load away on the hot path
    uint32_t user_value_size = 0;     // bytes of a user value buffer (map->user_value_size())
    bool lookup_reads_value = false;  // map->lookup_reads_value(): LOOKUP's value is an input
    int fd_refs = 0;                  // table entries pointing here (guarded by the context mutex)
};
static_assert(alignof(MapHandle) >= 4, "the low two bits of a handle pointer hold the access");

// A resolved map fd.
struct MapRef {
    MapHandle* h = nullptr;
    unsigned access = 0;
    bool can_read() const { return access & kRead; }
    // Write access disappears for every fd once the map is frozen (kernel: map_get_sys_perms).
    bool can_write() const {
        return (access & kWrite) && !h->state->frozen.load(std::memory_order_relaxed);
    }
};

namespace detail {
inline constexpr unsigned kChunkBits = 12;
inline constexpr unsigned kChunks = 1024;  // fds below 4M are cached
extern std::atomic<std::atomic<uintptr_t>*> g_fd_chunks[kChunks];
int resolve_slow(int fd, MapRef& out);
}  // namespace detail

inline uintptr_t fd_table_get(int fd) {
    const unsigned u = static_cast<unsigned>(fd);
    if (u >= (detail::kChunks << detail::kChunkBits)) return 0;
    std::atomic<uintptr_t>* chunk =
        detail::g_fd_chunks[u >> detail::kChunkBits].load(std::memory_order_acquire);
    if (!chunk) return 0;
    return chunk[u & ((1u << detail::kChunkBits) - 1)].load(std::memory_order_acquire);
}

// The map behind `fd`: 0, -EBADF (not an open fd) or -EINVAL (open, but not a map of this store).
inline int get_map(int fd, MapRef& out) {
    if (uintptr_t v = fd_table_get(fd)) [[likely]] {
        out.h = reinterpret_cast<MapHandle*>(v & ~uintptr_t{3});
        out.access = static_cast<unsigned>(v & 3);
        return 0;
    }
    return detail::resolve_slow(fd, out);
}

// The store, opened on first use from $BPFMAP_ROOT (default /dev/shm/bpfmap). nullptr with
// `err` set if it cannot be opened (the reason is logged).
shm::Store* store(int& err);

// For close()/dup2()/dup3() of an fd found in the table: detach_fd() drops the entry before the
// OS closes the fd (so that a new fd with the same number never sees it); release_handle(),
// after the OS has closed it, unmaps the segment when it was this process's last fd to the map
// and destroys the map if nothing else holds or pins it.
MapHandle* detach_fd(int fd);
// dup() and friends: `to` now refers to the same open file description as `from`.
void copy_fd_entry(int from, int to);
// Registers `fd` if it is a map fd of this store (its file lies inside the store's root);
// does nothing otherwise. Never opens the store for an fd that is not in the root.
void register_if_map(int fd);
// Every fd in the table (for the exit-time close).
std::vector<int> map_fds();
void release_handle(MapHandle* h);

// Mode for new segment files (bpfmap_set_create_mode).
extern std::atomic<unsigned> g_create_mode;

// Destroys dead maps at most once a second (on create), so that maps whose holders were killed
// are reclaimed without any manual step.
void maybe_sweep(shm::Store& st);

}  // namespace bpfmap::api
