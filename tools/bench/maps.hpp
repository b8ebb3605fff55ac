// bpfmap-bench: the three implementations under test, with one interface (no virtual calls:
// the timed loops are templates over these classes).
//
//   BpfMap<LibrarySys>  the library's bpf() (<bpfmap/bpf.h>)
//   BpfMap<KernelSys>   the kernel's bpf(2), syscall(__NR_bpf, ...)
//   NaiveHash           boost::unordered_map<uint32_t, uint64_t> in a managed_shared_memory
//                       segment behind one interprocess_mutex
//   NaiveArray          a plain uint64_t array in a managed_shared_memory segment behind one
//                       interprocess_mutex
//
// Each class: std::string open(MapKind, entries) creates the map (empty string on success, else
// the reason); bool lookup(key, value&) and bool update(key, value) with errno set on failure.
// Element commands are called the way libbpf calls them: the attr prefix up to `flags` is
// zeroed and filled for every call, and that prefix size is passed.
#pragma once

#include <bpfmap/bpf.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>
#include <boost/interprocess/sync/scoped_lock.hpp>
#include <boost/unordered_map.hpp>

#include "cleanup.hpp"

namespace bench {

enum class MapKind { hash, array };

// "Function not implemented (ENOSYS)".
std::string errno_text(int err);

// The attr prefix used by the element commands (libbpf's offsetofend(union bpf_attr, flags)).
inline constexpr unsigned kElemAttrSize =
    static_cast<unsigned>(offsetof(union bpf_attr, flags) + sizeof(__u64));

struct LibrarySys {
    static constexpr const char* kName = "library";
    static constexpr const char* kCall = "";  // suffix for messages
    static constexpr bool kUserMemory = true;
    static int call(int cmd, union bpf_attr* attr, unsigned size) { return ::bpf(cmd, attr, size); }
};

struct KernelSys {
    static constexpr const char* kName = "kernel";
    static constexpr const char* kCall = " syscall";
    static constexpr bool kUserMemory = false;
    static int call(int cmd, union bpf_attr* attr, unsigned size) {
        return static_cast<int>(syscall(__NR_bpf, cmd, attr, size));
    }
};

template <class Sys>
class BpfMap {
  public:
    // Workers warm up with a pass over every key when the map lives in user memory (pages are
    // faulted in per process after fork); the kernel's maps do not need it.
    static constexpr bool kTouchAllWarmup = Sys::kUserMemory;
    BpfMap() = default;
    BpfMap(const BpfMap&) = delete;
    BpfMap& operator=(const BpfMap&) = delete;
    ~BpfMap() { reset(); }

    std::string open(MapKind kind, std::uint32_t entries) {
        reset();
        union bpf_attr attr;
        std::memset(&attr, 0, sizeof attr);
        attr.map_type = kind == MapKind::hash ? BPF_MAP_TYPE_HASH : BPF_MAP_TYPE_ARRAY;
        attr.key_size = sizeof(std::uint32_t);
        attr.value_size = sizeof(std::uint64_t);
        attr.max_entries = entries;
        std::strncpy(attr.map_name, "bpfmap_bench", sizeof attr.map_name - 1);
        int fd = Sys::call(BPF_MAP_CREATE, &attr, sizeof attr);
        if (fd < 0) {
            int err = errno;
            std::string why =
                std::string("bpf(BPF_MAP_CREATE)") + Sys::kCall + " failed: " + errno_text(err);
            if (err == EPERM || err == EACCES)
                why += " - creating BPF maps needs CAP_BPF/CAP_SYS_ADMIN (run as root)";
            return why;
        }
        fd_ = fd;
        return {};
    }

    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    bool lookup(std::uint32_t key, std::uint64_t& value) const {
        union bpf_attr attr;
        std::memset(&attr, 0, kElemAttrSize);
        attr.map_fd = static_cast<__u32>(fd_);
        attr.key = reinterpret_cast<std::uintptr_t>(&key);
        attr.value = reinterpret_cast<std::uintptr_t>(&value);
        return Sys::call(BPF_MAP_LOOKUP_ELEM, &attr, kElemAttrSize) == 0;
    }

    bool update(std::uint32_t key, std::uint64_t value) const {
        union bpf_attr attr;
        std::memset(&attr, 0, kElemAttrSize);
        attr.map_fd = static_cast<__u32>(fd_);
        attr.key = reinterpret_cast<std::uintptr_t>(&key);
        attr.value = reinterpret_cast<std::uintptr_t>(&value);
        attr.flags = BPF_ANY;
        return Sys::call(BPF_MAP_UPDATE_ELEM, &attr, kElemAttrSize) == 0;
    }

  private:
    int fd_ = -1;
};

namespace bip = boost::interprocess;

// The naive baseline's named segment: created (after removing a stale one) by open(), removed
// by reset() and the destructor. Workers use the mapping inherited across fork().
class NaiveSegment {
  public:
    NaiveSegment() = default;
    NaiveSegment(const NaiveSegment&) = delete;
    NaiveSegment& operator=(const NaiveSegment&) = delete;
    ~NaiveSegment() { reset(); }

    bip::managed_shared_memory& create(std::size_t bytes) {
        reset();
        remove_naive_segment();
        segment_.emplace(bip::create_only, naive_segment_name(), bytes);
        return *segment_;
    }

    void reset() {
        if (segment_) {
            segment_.reset();
            remove_naive_segment();
        }
    }

  private:
    std::optional<bip::managed_shared_memory> segment_;
};

class NaiveHash {
  public:
    static constexpr bool kTouchAllWarmup = true;
    using Alloc = bip::allocator<std::pair<const std::uint32_t, std::uint64_t>,
                                 bip::managed_shared_memory::segment_manager>;
    using Map = boost::unordered_map<std::uint32_t, std::uint64_t, boost::hash<std::uint32_t>,
                                     std::equal_to<std::uint32_t>, Alloc>;
    struct State {
        explicit State(const Alloc& alloc)
            : map(0, boost::hash<std::uint32_t>(), std::equal_to<std::uint32_t>(), alloc) {}
        bip::interprocess_mutex mutex;
        Map map;
    };

    std::string open(MapKind, std::uint32_t entries) {
        state_ = nullptr;
        // Node (~32 bytes) + allocator header + bucket: generous; tmpfs pages are only
        // allocated when touched.
        std::size_t bytes = static_cast<std::size_t>(entries) * 160 + (std::size_t{4} << 20);
        auto& seg = segment_.create(bytes);
        state_ = seg.construct<State>("state")(Alloc(seg.get_segment_manager()));
        state_->map.reserve(entries);
        return {};
    }

    bool lookup(std::uint32_t key, std::uint64_t& value) const {
        bip::scoped_lock<bip::interprocess_mutex> lock(state_->mutex);
        auto it = state_->map.find(key);
        if (it == state_->map.end()) {
            errno = ENOENT;
            return false;
        }
        value = it->second;
        return true;
    }

    bool update(std::uint32_t key, std::uint64_t value) const {
        bip::scoped_lock<bip::interprocess_mutex> lock(state_->mutex);
        state_->map[key] = value;
        return true;
    }

  private:
    NaiveSegment segment_;
    State* state_ = nullptr;
};

class NaiveArray {
  public:
    static constexpr bool kTouchAllWarmup = true;
    struct State {
        bip::interprocess_mutex mutex;
        std::uint32_t entries = 0;
    };

    std::string open(MapKind, std::uint32_t entries) {
        state_ = nullptr;
        values_ = nullptr;
        std::size_t bytes =
            static_cast<std::size_t>(entries) * sizeof(std::uint64_t) + (std::size_t{1} << 20);
        auto& seg = segment_.create(bytes);
        state_ = seg.construct<State>("state")();
        state_->entries = entries;
        values_ = seg.construct<std::uint64_t>("values")[entries](0);
        return {};
    }

    bool lookup(std::uint32_t key, std::uint64_t& value) const {
        bip::scoped_lock<bip::interprocess_mutex> lock(state_->mutex);
        if (key >= state_->entries) {
            errno = ENOENT;
            return false;
        }
        value = values_[key];
        return true;
    }

    bool update(std::uint32_t key, std::uint64_t value) const {
        bip::scoped_lock<bip::interprocess_mutex> lock(state_->mutex);
        if (key >= state_->entries) {
            errno = E2BIG;
            return false;
        }
        values_[key] = value;
        return true;
    }

  private:
    NaiveSegment segment_;
    State* state_ = nullptr;
    std::uint64_t* values_ = nullptr;
};

}  // namespace bench
