// Shared helpers for bpfmap's test binaries.
//
// Every test binary links test_main.cpp, which
//  - gives the process its own store: a fresh BPFMAP_ROOT under $BPFMAP_TEST_TMP (or /dev/shm),
//    removed when the binary exits, even after failed assertions;
//  - re-executes the binary as a child process for multi-process tests: spawn_child("role", args)
//    runs the function registered with BPFMAP_CHILD(role) in a new process (fork + exec of
//    /proc/self/exe), which inherits BPFMAP_ROOT.
#pragma once

#include <linux/bpf.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace bpfmap::test {

// The kernel's bpf(2), called directly (no libbpf), for differential tests and baselines.
int kernel_bpf(int cmd, union bpf_attr* attr, unsigned int size);

// True when the kernel lets this process create a small BPF array map (root here; false where
// bpf() is not permitted). Computed once.
bool kernel_bpf_available();

// A test binary all of whose cases compare with the kernel declares BPFMAP_REQUIRES_KERNEL()
// once at file scope: where bpf() is not permitted the binary prints why and exits 77, which
// CTest reports as skipped (SKIP_RETURN_CODE). Single cases use
// boost::unit_test::precondition(kernel_available_precondition) instead.
struct KernelRequirement {
    KernelRequirement();
};
#define BPFMAP_REQUIRES_KERNEL() static ::bpfmap::test::KernelRequirement bpfmap_requires_kernel_
bool kernel_required();

// The store root this test binary uses (its BPFMAP_ROOT).
const std::string& test_root();

// A child role: a function run in a re-executed copy of this binary; its return value is the
// child's exit status.
using ChildMain = std::function<int(const std::vector<std::string>& args)>;
struct ChildRegistrar {
    ChildRegistrar(const char* role, ChildMain fn);
};
#define BPFMAP_CHILD_CAT2(a, b) a##b
#define BPFMAP_CHILD_CAT(a, b) BPFMAP_CHILD_CAT2(a, b)
#define BPFMAP_CHILD(role)                                                           \
    static int bpfmap_child_##role(const std::vector<std::string>& args);            \
    static ::bpfmap::test::ChildRegistrar BPFMAP_CHILD_CAT(bpfmap_child_reg_, role)( \
        #role, bpfmap_child_##role);                                                 \
    static int bpfmap_child_##role([[maybe_unused]] const std::vector<std::string>& args)

// A running child process. The destructor kills (SIGKILL) and reaps a child still running, so
// a failing test never leaves processes behind.
class Child {
  public:
    Child() = default;
    explicit Child(pid_t pid) : pid_(pid) {}
    Child(Child&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
    Child& operator=(Child&& o) noexcept;
    ~Child();
    pid_t pid() const { return pid_; }
    // Waits for the child; returns its exit status, or 128 + signal number if it was killed.
    int wait();
    void kill(int sig);

  private:
    pid_t pid_ = -1;
};

// Starts this binary again as a child running `role`. Extra fds in `keep_fds` stay open in the
// child (all other fds the library opened are O_CLOEXEC).
Child spawn_child(const std::string& role, const std::vector<std::string>& args = {},
                  const std::vector<int>& keep_fds = {});

// A pipe for synchronising with a child: the child writes one byte when it is ready; the
// parent blocks in read(). No sleeps.
struct SyncPipe {
    int rd = -1, wr = -1;
    SyncPipe();
    ~SyncPipe();
    void signal();      // write one byte
    bool wait_ready();  // read one byte; false on EOF (the writer exited first)
};

// One byte over a pipe fd, for children that hold only the raw fd number: write it / wait for
// it (false on EOF or error). EINTR is retried.
bool raw_signal(int fd);
bool raw_wait(int fd);
// A child role's numeric argument.
int to_int(const std::string& s);
// A pointer as the __u64 that union bpf_attr wants.
inline __u64 uptr(const void* p) {
    return static_cast<__u64>(reinterpret_cast<uintptr_t>(p));
}

// The fields of a BPF_MAP_CREATE attr that tests set; the rest of the attr is zero.
struct CreateSpec {
    unsigned type = 0, key_size = 0, value_size = 0, max_entries = 0, flags = 0;
    uint64_t extra = 0;
    unsigned ifindex = 0, numa_node = 0;
    std::string name;  // copied as given, at most 16 bytes (16 leave no NUL: the kernel's EINVAL)
};
// A zeroed attr with the spec's fields set (for tests that send it to both the kernel and
// bpfmap, or with another size).
union bpf_attr create_attr(const CreateSpec& s);

// Convenience wrappers over bpfmap's bpf() for tests; each returns bpf()'s result, errno set.
int map_create(const CreateSpec& s);
// `name` (optional) is cut to 15 bytes.
int map_create(unsigned type, unsigned key_size, unsigned value_size, unsigned max_entries,
               unsigned flags = 0, const char* name = nullptr);
// One element command (LOOKUP, UPDATE, DELETE, LOOKUP_AND_DELETE, ...) with map_fd, key, value
// and flags set, the rest of the attr zero.
int map_elem(int cmd, int fd, const void* key, const void* value, unsigned long long flags);
int map_update(int fd, const void* key, const void* value, unsigned long long flags);
int map_lookup(int fd, const void* key, void* value);
int map_delete(int fd, const void* key);
int map_get_next_key(int fd, const void* key, void* next_key);
int obj_pin(int fd, const std::string& path);
int obj_get(const std::string& path, unsigned flags = 0);
// For "which errno does this create give": 0 if fd >= 0 (and closes it), else errno.
int close_or_errno(int fd);
// BPF_OBJ_GET_INFO_BY_FD through bpfmap's bpf() into `info` (zeroed first); bpf()'s result.
int map_info(int fd, struct bpf_map_info& info);
// The map's id from BPF_OBJ_GET_INFO_BY_FD (0 if that fails).
uint32_t map_id(int fd);

// The number of possible CPUs, read by the test itself from /sys/devices/system/cpu/possible
// ("0-3,8-11" -> 8), independently of the library's count; read once.
unsigned possible_cpus();
// Bytes of a per-CPU value buffer through bpf(): value_size rounded up to 8, per possible CPU.
size_t percpu_value_bytes(unsigned value_size);

}  // namespace bpfmap::test
