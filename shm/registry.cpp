#include "shm/registry.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "shm/log.hpp"

namespace bpfmap::shm {

namespace {
int link_new_file(const std::string& dir, const std::string& name, int mode, const void* data,
                  size_t size) {
    // Written completely in an unnamed file, then linked under its name: other processes see
    // either no registry or a complete one. Losing the race to another creator is fine.
    int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
    if (fd < 0) return -errno;
    int rc = 0;
    if (pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) {
        rc = -EIO;
    } else {
        std::string proc = "/proc/self/fd/" + std::to_string(fd);
        std::string path = dir + "/" + name;
        if (linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) != 0 &&
            errno != EEXIST)
            rc = -errno;
    }
    ::close(fd);
    return rc;
}
}  // namespace

int Registry::open(const std::string& root) {
    const std::string path = root + "/registry";
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        RegistryData init{};
        init.magic = kRegistryMagic;
        init.format_version = kSegmentFormatVersion;
        init.layout_fingerprint = layout_fingerprint();
        init.next_id.store(1);
        init.next_lock_slot.store(1);
        if (int rc = link_new_file(root, "registry", 0600, &init, sizeof init); rc != 0) return rc;
        fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    }
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size != static_cast<off_t>(sizeof(RegistryData))) {
        ::close(fd);
        log().error(
            "{}: refused: file size is not that of a registry; remove the file if no "
            "process uses this store",
            path);
        return -EINVAL;
    }
    void* p = mmap(nullptr, sizeof(RegistryData), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int err = errno;
    ::close(fd);
    if (p == MAP_FAILED) return -err;
    mapping_ = Mapping(static_cast<std::byte*>(p), sizeof(RegistryData));
    data_ = static_cast<RegistryData*>(p);
    const char* bad = nullptr;
    if (data_->magic != kRegistryMagic)
        bad = "magic number";
    else if (data_->format_version != kSegmentFormatVersion)
        bad = "format version";
    else if (data_->layout_fingerprint != layout_fingerprint())
        bad = "layout fingerprint";
    if (bad) {
        log().error("{}: refused: {} check failed; it was not made by this version of bpfmap", path,
                    bad);
        mapping_ = Mapping();
        data_ = nullptr;
        return -EINVAL;
    }
    return 0;
}

uint32_t Registry::allocate_id() {
    for (;;) {
        uint32_t id = data_->next_id.fetch_add(1, std::memory_order_relaxed);
        if (id >= 1 && id < INT_MAX) return id;
        // Wrapped: start again from 1 (the caller skips ids still in use).
        data_->next_id.compare_exchange_strong(++id, 2);
        return 1;
    }
}

uint64_t Registry::allocate_lock_slot() {
    return data_->next_lock_slot.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace bpfmap::shm
