#include "api/context.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "shm/log.hpp"
#include "shm/observe.hpp"

namespace bpfmap::api {

namespace detail {
std::atomic<std::atomic<uintptr_t>*> g_fd_chunks[kChunks];
}

std::atomic<unsigned> g_create_mode{0600};

namespace {

struct Context {
    std::mutex mu;  // guards everything below and every change of the fd table
    std::unique_ptr<shm::Store> store;
    std::map<std::pair<dev_t, ino_t>, std::unique_ptr<MapHandle>> handles;
    int64_t last_sweep_ns = 0;
};

Context& ctx() {
    static Context* c = [] {
        auto* n = new Context;  // never destroyed: close() may run during exit
        // A child forked while another thread held the mutex would never get it: hold it
        // across fork() so both sides start with it free.
        pthread_atfork([] { ctx().mu.lock(); }, [] { ctx().mu.unlock(); },
                       [] { ctx().mu.unlock(); });
        return n;
    }();
    return *c;
}

std::atomic<uintptr_t>* chunk_for(int fd, bool create) {
    const unsigned u = static_cast<unsigned>(fd);
    if (u >= (detail::kChunks << detail::kChunkBits)) return nullptr;
    auto& slot = detail::g_fd_chunks[u >> detail::kChunkBits];
    std::atomic<uintptr_t>* chunk = slot.load(std::memory_order_acquire);
    if (!chunk && create) {
        chunk = new std::atomic<uintptr_t>[1u << detail::kChunkBits]();
        slot.store(chunk, std::memory_order_release);  // only under ctx().mu: no race
    }
    return chunk;
}

void table_set(int fd, uintptr_t v) {
    if (std::atomic<uintptr_t>* chunk = chunk_for(fd, v != 0))
        chunk[static_cast<unsigned>(fd) & ((1u << detail::kChunkBits) - 1)].store(
            v, std::memory_order_release);
}

shm::Store* store_locked(Context& c, int& err) {
    if (!c.store) {
        const char* env = std::getenv("BPFMAP_ROOT");
        std::string root = env && *env ? env : "/dev/shm/bpfmap";
        auto st = std::make_unique<shm::Store>();
        if (int rc = st->open(root); rc != 0) {
            err = -rc;
            return nullptr;
        }
        c.store = std::move(st);
        if (!shm::observe_only()) c.store->sweep();  // reclaim maps whose holders were killed
    }
    err = 0;
    return c.store.get();
}

int64_t now_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

}  // namespace

shm::Store* store(int& err) {
    Context& c = ctx();
    std::lock_guard<std::mutex> g(c.mu);
    return store_locked(c, err);
}

void maybe_sweep(shm::Store& st) {
    if (shm::observe_only()) return;
    Context& c = ctx();
    int64_t now = now_ns();
    {
        std::lock_guard<std::mutex> g(c.mu);
        if (now - c.last_sweep_ns < 1000000000) return;
        c.last_sweep_ns = now;
    }
    st.sweep();
}

namespace detail {

int resolve_slow(int fd, MapRef& out) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -EBADF;
    if (!S_ISREG(st.st_mode)) return -EINVAL;
    const int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -EBADF;
    const int acc = fl & O_ACCMODE;
    const unsigned access = acc == O_RDONLY ? kRead : acc == O_WRONLY ? kWrite : (kRead | kWrite);

    Context& c = ctx();
    std::lock_guard<std::mutex> g(c.mu);
    int err;
    shm::Store* s = store_locked(c, err);
    if (!s) return -err;
    if (uintptr_t v = fd_table_get(fd)) {  // another thread resolved it meanwhile
        out.h = reinterpret_cast<MapHandle*>(v & ~uintptr_t{3});
        out.access = static_cast<unsigned>(v & 3);
        return 0;
    }
    auto key = std::make_pair(st.st_dev, st.st_ino);
    MapHandle* h;
    if (auto it = c.handles.find(key); it != c.handles.end()) {
        h = it->second.get();
    } else {
        // Map through a description of our own (it holds no reference lock), so that the
        // mapping never keeps the user's fd, and with it the reference, alive.
        const std::string proc = "/proc/self/fd/" + std::to_string(fd);
        int rfd = ::open(proc.c_str(), O_RDWR | O_CLOEXEC);
        if (rfd < 0) return -EINVAL;
        auto nh = std::make_unique<MapHandle>();
        std::string why;
        int rc = shm::open_segment(rfd, nh->seg, why);
        ::close(rfd);
        if (rc != 0) {
            if (why.rfind("magic", 0) == 0 || why.rfind("file size (shorter", 0) == 0)
                shm::log().debug("fd {} is not a bpfmap map: {} check failed", fd, why);
            else
                shm::log().warn("fd {} refused as a map: {} check failed", fd, why);
            return -EINVAL;
        }
        nh->map = nh->seg.map.get();
        nh->state = &nh->seg.mapping.state();
        nh->hdr = &nh->seg.mapping.header();
        nh->dev = st.st_dev;
        nh->ino = st.st_ino;
        nh->id = nh->hdr->map_id;
        nh->key_size = nh->hdr->key_size;
        nh->user_value_size = nh->map->user_value_size();
        nh->lookup_reads_value = nh->map->lookup_reads_value();
        // The map must be one of this store's: its id file must be this very file.
        struct stat idst;
        if (::stat(s->map_path(nh->id).c_str(), &idst) != 0 || idst.st_ino != st.st_ino ||
            idst.st_dev != st.st_dev) {
            shm::log().warn(
                "fd {} is a map (id {}) of another store or a destroyed one: "
                "use the same BPFMAP_ROOT in every process",
                fd, nh->id);
            return -EINVAL;
        }
        h = nh.get();
        c.handles.emplace(key, std::move(nh));
        shm::log().debug("mapped map id {} ({} bytes)", h->id, h->seg.mapping.size());
    }
    h->fd_refs++;
    table_set(fd, reinterpret_cast<uintptr_t>(h) | access);
    out.h = h;
    out.access = access;
    return 0;
}

}  // namespace detail

std::vector<int> map_fds() {
    Context& c = ctx();
    std::lock_guard<std::mutex> g(c.mu);
    std::vector<int> fds;
    for (unsigned ci = 0; ci < detail::kChunks; ++ci) {
        std::atomic<uintptr_t>* chunk = detail::g_fd_chunks[ci].load(std::memory_order_acquire);
        if (!chunk) continue;
        for (unsigned i = 0; i < (1u << detail::kChunkBits); ++i)
            if (chunk[i].load(std::memory_order_relaxed))
                fds.push_back(static_cast<int>((ci << detail::kChunkBits) | i));
    }
    return fds;
}

void copy_fd_entry(int from, int to) {
    Context& c = ctx();
    std::lock_guard<std::mutex> g(c.mu);
    uintptr_t v = fd_table_get(from);
    if (!v || fd_table_get(to)) return;
    reinterpret_cast<MapHandle*>(v & ~uintptr_t{3})->fd_refs++;
    table_set(to, v);
}

namespace {
std::string configured_root() {
    const char* env = std::getenv("BPFMAP_ROOT");
    return env && *env ? env : "/dev/shm/bpfmap";
}
}  // namespace

void register_if_map(int fd) {
    if (fd_table_get(fd)) return;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
    char target[PATH_MAX], root[PATH_MAX];
    const std::string link = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    if (n <= 0 || !realpath(configured_root().c_str(), root)) return;
    target[n] = '\0';
    const size_t rl = std::strlen(root);
    if (std::strncmp(target, root, rl) != 0 || target[rl] != '/') return;
    MapRef m;
    detail::resolve_slow(fd, m);  // refuses (and logs) what is not a valid map
}

MapHandle* detach_fd(int fd) {
    Context& c = ctx();
    std::lock_guard<std::mutex> g(c.mu);
    uintptr_t v = fd_table_get(fd);
    if (!v) return nullptr;
    table_set(fd, 0);
    return reinterpret_cast<MapHandle*>(v & ~uintptr_t{3});
}

void release_handle(MapHandle* h) {
    if (!h) return;
    Context& c = ctx();
    uint32_t id;
    shm::Store* s;
    {
        std::lock_guard<std::mutex> g(c.mu);
        if (--h->fd_refs > 0) return;
        id = h->id;
        c.handles.erase(std::make_pair(h->dev, h->ino));  // unmaps the segment
        s = c.store.get();
    }
    // This process holds no fd to the map any more: if no other process does and it is not
    // pinned, it is destroyed now, synchronously, as the kernel does on the last close.
    if (s) s->try_destroy(id);
}

}  // namespace bpfmap::api
