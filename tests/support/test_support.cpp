#include "test_support.hpp"

#include <bpfmap/bpf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace bpfmap::test {

namespace {
std::string g_test_root;
bool g_kernel_required = false;
}  // namespace

std::map<std::string, ChildMain>& child_roles() {
    static std::map<std::string, ChildMain> roles;
    return roles;
}
void set_test_root(std::string root) {
    g_test_root = std::move(root);
}
const std::string& test_root() {
    return g_test_root;
}

ChildRegistrar::ChildRegistrar(const char* role, ChildMain fn) {
    child_roles()[role] = std::move(fn);
}
KernelRequirement::KernelRequirement() {
    g_kernel_required = true;
}
bool kernel_required() {
    return g_kernel_required;
}

int kernel_bpf(int cmd, union bpf_attr* attr, unsigned int size) {
    return static_cast<int>(syscall(__NR_bpf, cmd, attr, size));
}

bool kernel_bpf_available() {
    static const bool available = [] {
        union bpf_attr a;
        std::memset(&a, 0, sizeof a);
        a.map_type = BPF_MAP_TYPE_ARRAY;
        a.key_size = 4;
        a.value_size = 4;
        a.max_entries = 1;
        int fd = kernel_bpf(BPF_MAP_CREATE, &a, sizeof a);
        if (fd < 0) return false;
        ::close(fd);
        return true;
    }();
    return available;
}

Child& Child::operator=(Child&& o) noexcept {
    if (this != &o) {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        pid_ = o.pid_;
        o.pid_ = -1;
    }
    return *this;
}

Child::~Child() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
}

int Child::wait() {
    if (pid_ <= 0) throw std::logic_error("wait on no child");
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0) {
        if (errno != EINTR) throw std::runtime_error(std::string("waitpid: ") + strerror(errno));
    }
    pid_ = -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

void Child::kill(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
}

Child spawn_child(const std::string& role, const std::vector<std::string>& args,
                  const std::vector<int>& keep_fds) {
    std::vector<std::string> argv_s = {"/proc/self/exe", "--bpfmap-child", role};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + strerror(errno));
    if (pid == 0) {
        for (int fd : keep_fds) {
            int fl = fcntl(fd, F_GETFD);
            if (fl >= 0) fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
        }
        execv("/proc/self/exe", argv.data());
        _exit(127);
    }
    return Child(pid);
}

SyncPipe::SyncPipe() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    rd = p[0];
    wr = p[1];
}
SyncPipe::~SyncPipe() {
    if (rd >= 0) ::close(rd);
    if (wr >= 0) ::close(wr);
}
void SyncPipe::signal() {
    char c = 1;
    while (::write(wr, &c, 1) < 0 && errno == EINTR) {
    }
}
bool SyncPipe::wait_ready() {
    char c;
    ssize_t n;
    while ((n = ::read(rd, &c, 1)) < 0 && errno == EINTR) {
    }
    return n == 1;
}

bool raw_signal(int fd) {
    char c = 1;
    ssize_t n;
    while ((n = ::write(fd, &c, 1)) < 0 && errno == EINTR) {
    }
    return n == 1;
}

bool raw_wait(int fd) {
    char c;
    ssize_t n;
    while ((n = ::read(fd, &c, 1)) < 0 && errno == EINTR) {
    }
    return n == 1;
}

int to_int(const std::string& s) {
    return static_cast<int>(std::strtol(s.c_str(), nullptr, 10));
}

union bpf_attr create_attr(const CreateSpec& s) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_type = s.type;
    a.key_size = s.key_size;
    a.value_size = s.value_size;
    a.max_entries = s.max_entries;
    a.map_flags = s.flags;
    a.map_extra = s.extra;
    a.map_ifindex = s.ifindex;
    a.numa_node = s.numa_node;
    std::memcpy(a.map_name, s.name.data(), std::min(s.name.size(), sizeof a.map_name));
    return a;
}

int map_create(const CreateSpec& s) {
    union bpf_attr a = create_attr(s);
    return bpf(BPF_MAP_CREATE, &a, sizeof a);
}

int map_create(unsigned type, unsigned key_size, unsigned value_size, unsigned max_entries,
               unsigned flags, const char* name) {
    CreateSpec spec;
    spec.type = type;
    spec.key_size = key_size;
    spec.value_size = value_size;
    spec.max_entries = max_entries;
    spec.flags = flags;
    spec.name = name ? std::string(name, strnlen(name, 15)) : "";
    return map_create(spec);
}

int map_elem(int cmd, int fd, const void* key, const void* value, unsigned long long flags) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<__u32>(fd);
    a.key = uptr(key);
    a.value = uptr(value);
    a.flags = flags;
    return bpf(cmd, &a, sizeof a);
}

int map_update(int fd, const void* key, const void* value, unsigned long long flags) {
    return map_elem(BPF_MAP_UPDATE_ELEM, fd, key, value, flags);
}

int map_lookup(int fd, const void* key, void* value) {
    return map_elem(BPF_MAP_LOOKUP_ELEM, fd, key, value, 0);
}

int map_delete(int fd, const void* key) {
    return map_elem(BPF_MAP_DELETE_ELEM, fd, key, nullptr, 0);
}

int close_or_errno(int fd) {
    if (fd < 0) return errno;
    ::close(fd);
    return 0;
}

int map_get_next_key(int fd, const void* key, void* next_key) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<__u32>(fd);
    a.key = uptr(key);
    a.next_key = uptr(next_key);
    return bpf(BPF_MAP_GET_NEXT_KEY, &a, sizeof a);
}

int obj_pin(int fd, const std::string& path) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.pathname = uptr(path.c_str());
    a.bpf_fd = static_cast<__u32>(fd);
    return bpf(BPF_OBJ_PIN, &a, sizeof a);
}

int obj_get(const std::string& path, unsigned flags) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.pathname = uptr(path.c_str());
    a.file_flags = flags;
    return bpf(BPF_OBJ_GET, &a, sizeof a);
}

int map_info(int fd, struct bpf_map_info& info) {
    std::memset(&info, 0, sizeof info);
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.info.bpf_fd = static_cast<__u32>(fd);
    a.info.info_len = sizeof info;
    a.info.info = uptr(&info);
    return ::bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof a);
}

uint32_t map_id(int fd) {
    struct bpf_map_info info;
    return map_info(fd, info) == 0 ? info.id : 0;
}

unsigned possible_cpus() {
    static const unsigned n = [] {
        std::ifstream in("/sys/devices/system/cpu/possible");
        std::string s;
        std::getline(in, s);
        unsigned count = 0;
        std::stringstream ss(s);
        std::string part;
        while (std::getline(ss, part, ',')) {
            const size_t dash = part.find('-');
            count += dash == std::string::npos
                         ? 1
                         : static_cast<unsigned>(std::stoul(part.substr(dash + 1)) -
                                                 std::stoul(part.substr(0, dash)) + 1);
        }
        return count ? count : 1u;
    }();
    return n;
}

size_t percpu_value_bytes(unsigned value_size) {
    return size_t{(value_size + 7u) & ~7u} * possible_cpus();
}

}  // namespace bpfmap::test
