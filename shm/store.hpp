// The store: a root folder holding every map of a set of cooperating processes.
//
//   <root>/registry      counters (registry.hpp)
//   <root>/maps/<id>     one segment file per live map, named by its id
//   <root>/pins/         a folder for pins (BPF_OBJ_PIN accepts any new path in the root
//                        outside maps/, as bpffs accepts any path inside its mount)
//
// References and lifetime. A reference to a map is an open file description of its segment
// file that holds an open-file-description lock (F_OFD_SETLK) on one byte of its own (a "lock
// slot", unique in the store). The kernel keeps such a lock exactly as long as the description
// lives, through dup(), fork() and SCM_RIGHTS, and drops it when the last fd to it is closed,
// including when the process is killed. A pin is a hard link to the segment file, so the file's
// link count is 1 + the number of pins.
//
// A map is dead when no lock is held on its file and it has no pin. try_destroy() checks that
// by taking a write lock on the whole file (which conflicts with every reference's lock) and
// reading the link count, then unlinks maps/<id>. open_ref() takes its reference and then
// re-checks the link count, so an open racing with a destroy either keeps the map alive or
// returns ENOENT; it never revives a removed map.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shm/map_type.hpp"
#include "shm/registry.hpp"

namespace bpfmap::shm {

class Store {
  public:
    // Opens (creating if needed) the store at `root`. -errno on failure.
    int open(const std::string& root);

    const std::string& root() const { return root_; }
    const std::string& real_root() const { return real_root_; }
    std::string map_path(uint32_t id) const;

    // Creates and publishes a new map; returns a reference fd opened with `accmode` (O_RDONLY,
    // O_WRONLY or O_RDWR; always O_CLOEXEC) or -errno. `mode` is the file mode (0600 default).
    int create_map(const MapTypeOps& ops, const MapSpec& spec, uint64_t seed, int accmode,
                   unsigned mode, uint32_t& id_out);

    // -ENOMEM if a map of this type and spec cannot fit in the store now (for the kernel's
    // order of checks: an allocation failure is reported before a bad map name).
    int check_space(const MapTypeOps& ops, const MapSpec& spec) const;

    // Opens a new reference to the map file at `path` (maps/<id> or a pin). -ENOENT if there is
    // no such map or it is dead (a dead map found here is destroyed, unless !reclaim).
    int open_ref(const std::string& path, int accmode, bool reclaim = true);

    // Turns an fd to a segment file into a reference of its own (a new description with its
    // own lock slot), opened with `accmode`. Used to narrow access (BPF_F_RDONLY at create).
    int reopen_ref(int fd, int accmode);

    // Destroys map `id` if no reference and no pin keeps it. Returns true if it was destroyed.
    bool try_destroy(uint32_t id);

    // True if map `id` exists and nothing keeps it (no reference, no pin): what try_destroy()
    // would destroy. Changes nothing.
    bool is_dead(uint32_t id) const;

    // Destroys every dead map (e.g. after its last holder was killed). Returns how many.
    int sweep();

    // Ids of the maps in maps/, ascending (live or not yet swept).
    std::vector<uint32_t> list_ids() const;

    // BPF_OBJ_PIN's path rules: 0, or -ENOENT (no parent folder), -EEXIST (exists), -EPERM
    // (outside the root, or inside maps/).
    int check_pin_path(const char* path) const;
    // Links map `id` at `path` (checked with check_pin_path first).
    int pin(uint32_t id, const char* path);
    // True if `path` resolves into maps/ (a map's own id file, not a pin).
    bool is_id_file(const char* path) const;
    // BPF_OBJ_GET's path rules: 0, -ENOENT (missing), -EACCES (outside the root, or not a map).
    int check_get_path(const char* path) const;

  private:
    int take_ref_lock(int fd, int accmode);

    std::string root_, real_root_, maps_dir_;
    Registry registry_;
};

}  // namespace bpfmap::shm
