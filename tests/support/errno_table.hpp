// Table helpers shared by the BPF command table tests (create_test, attr_test, hash_map_test,
// array_map_test, obj_id_info_test).
//
// A row runs against a Backend: "library" (bpfmap's bpf()) always, "kernel" (the real bpf(2))
// where kernel_bpf_available(). Expected values come from docs/kernel-map-semantics.md.
// Res holds a call's return value and errno; expect() checks it against kOK, kNewFd or an errno
// and names the row in its message. The child-status helpers (kChildOk, child_code(), ...)
// encode a bad-pointer row's result as the exit status of a child process.
#pragma once

#include <bpfmap/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "owned_fd.hpp"
#include "test_support.hpp"

namespace tbl {

namespace bt = bpfmap::test;

inline constexpr int kENOTSUPP = 524;  // kernel-internal ENOTSUPP, leaks to user space
inline constexpr int kOK = 0;          // expect a return value of exactly 0
inline constexpr int kNewFd = -1;      // expect a new fd (>= 0)

struct Backend {
    const char* name;
    bool kernel;
};
inline std::ostream& operator<<(std::ostream& os, const Backend& b) {
    return os << b.name;
}
inline const std::vector<Backend> kBackends = {{"library", false}, {"kernel", true}};

// True when this backend's rows can run (the kernel only where bpf() is permitted).
inline bool usable(const Backend& b) {
    if (b.kernel && !bt::kernel_bpf_available()) {
        BOOST_TEST_MESSAGE("kernel rows skipped: bpf() is not permitted here");
        return false;
    }
    return true;
}

struct Res {
    int ret;
    int err;
};

// An attr buffer larger than any size we pass (sizes up to 4096 + a margin).
union AttrBuf {
    union bpf_attr a;
    unsigned char bytes[4096 + 64];
};
inline constexpr unsigned kAttrSize = sizeof(union bpf_attr);  // 144 with our header

inline __u64 ptr(const void* p) {
    return static_cast<__u64>(reinterpret_cast<uintptr_t>(p));
}

inline Res raw(const Backend& b, int cmd, void* attr, unsigned size) {
    errno = 0;
    auto* a = static_cast<union bpf_attr*>(attr);
    int r = b.kernel ? bt::kernel_bpf(cmd, a, size) : ::bpf(cmd, a, size);
    int e = errno;
    return {r, r < 0 ? e : 0};
}

inline std::string errname(int e) {
    if (e == kENOTSUPP) return "ENOTSUPP(524)";
    const char* n = strerrorname_np(e);
    return std::string(n ? n : "?") + "(" + std::to_string(e) + ")";
}
inline std::string show(Res r) {
    return r.ret < 0 ? "-1/" + errname(r.err) : std::to_string(r.ret);
}
inline std::string want_str(int want) {
    if (want == kOK) return "0";
    if (want == kNewFd) return "a new fd";
    return "-1/" + errname(want);
}

// Checks r against want (kOK, kNewFd or an errno). The message names the row.
inline bool expect(const std::string& row, Res r, int want) {
    bool ok = want == kOK      ? r.ret == 0
              : want == kNewFd ? r.ret >= 0
                               : (r.ret == -1 && r.err == want);
    BOOST_CHECK_MESSAGE(ok, row << ": expected " << want_str(want) << ", got " << show(r));
    return ok;
}
inline bool expect_true(const std::string& row, bool cond, const std::string& what) {
    BOOST_CHECK_MESSAGE(cond, row << ": " << what);
    return cond;
}

// For rows where the library deliberately differs (README "Where bpfmap differs from the
// kernel": read()/write() on a map fd reach the segment file): the kernel's answer is still
// checked, the library's is only a warning.
inline void check_or_warn(bool documented_deviation, bool ok, const std::string& msg) {
    if (documented_deviation)
        BOOST_WARN_MESSAGE(ok, msg << " [documented deviation: README, 'Where bpfmap differs "
                                      "from the kernel']");
    else
        BOOST_CHECK_MESSAGE(ok, msg);
}

// An owned fd, closed on destruction.
using bpfmap::test::Fd;

// Takes ownership of a returned fd (if any).
inline Fd own(Res r) {
    return Fd(r.ret >= 0 ? r.ret : -1);
}

// An fd number that is not open (EBADF), above anything this process has open.
inline int closed_fd() {
    for (int fd = 900;; ++fd)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) return fd;
}

inline Res create(const Backend& b, unsigned type, unsigned ks, unsigned vs, unsigned max,
                  unsigned flags = 0) {
    AttrBuf u;
    std::memset(&u, 0, sizeof u);
    u.a.map_type = type;
    u.a.key_size = ks;
    u.a.value_size = vs;
    u.a.max_entries = max;
    u.a.map_flags = flags;
    return raw(b, BPF_MAP_CREATE, &u, kAttrSize);
}

inline Res elem(const Backend& b, int cmd, int fd, const void* key, const void* value,
                __u64 flags = 0) {
    AttrBuf u;
    std::memset(&u, 0, sizeof u);
    u.a.map_fd = static_cast<__u32>(fd);
    u.a.key = ptr(key);
    u.a.value = ptr(value);
    u.a.flags = flags;
    return raw(b, cmd, &u, kAttrSize);
}
inline Res lookup(const Backend& b, int fd, const void* k, void* v, __u64 f = 0) {
    return elem(b, BPF_MAP_LOOKUP_ELEM, fd, k, v, f);
}
inline Res update(const Backend& b, int fd, const void* k, const void* v, __u64 f = 0) {
    return elem(b, BPF_MAP_UPDATE_ELEM, fd, k, v, f);
}
inline Res del(const Backend& b, int fd, const void* k) {
    return elem(b, BPF_MAP_DELETE_ELEM, fd, k, nullptr, 0);
}
inline Res next_key(const Backend& b, int fd, const void* k, void* next) {
    return elem(b, BPF_MAP_GET_NEXT_KEY, fd, k, next, 0);
}
inline Res lookup_del(const Backend& b, int fd, const void* k, void* v, __u64 f = 0) {
    return elem(b, BPF_MAP_LOOKUP_AND_DELETE_ELEM, fd, k, v, f);
}
inline Res freeze(const Backend& b, int fd) {
    AttrBuf u;
    std::memset(&u, 0, sizeof u);
    u.a.map_fd = static_cast<__u32>(fd);
    return raw(b, BPF_MAP_FREEZE, &u, kAttrSize);
}
inline Res get_info(const Backend& b, int fd, void* info, unsigned len) {
    AttrBuf u;
    std::memset(&u, 0, sizeof u);
    u.a.info.bpf_fd = static_cast<__u32>(fd);
    u.a.info.info_len = len;
    u.a.info.info = ptr(info);
    return raw(b, BPF_OBJ_GET_INFO_BY_FD, &u, kAttrSize);
}
inline Res fd_by_id(const Backend& b, __u32 id, __u32 open_flags = 0) {
    AttrBuf u;
    std::memset(&u, 0, sizeof u);
    u.a.map_id = id;
    u.a.open_flags = open_flags;
    return raw(b, BPF_MAP_GET_FD_BY_ID, &u, kAttrSize);
}
inline Res pin(const Backend& b, int fd, const char* path, __u32 file_flags = 0) {
    AttrBuf u;
    std::memset(&u, 0, sizeof u);
    u.a.pathname = ptr(path);
    u.a.bpf_fd = static_cast<__u32>(fd);
    u.a.file_flags = file_flags;
    return raw(b, BPF_OBJ_PIN, &u, kAttrSize);
}
inline Res obj_get(const Backend& b, const char* path, __u32 file_flags = 0, __u32 bpf_fd = 0) {
    AttrBuf u;
    std::memset(&u, 0, sizeof u);
    u.a.pathname = ptr(path);
    u.a.bpf_fd = bpf_fd;
    u.a.file_flags = file_flags;
    return raw(b, BPF_OBJ_GET, &u, kAttrSize);
}

// The map's id (0 if GET_INFO fails).
inline __u32 map_id(const Backend& b, int fd) {
    struct bpf_map_info info;
    std::memset(&info, 0, sizeof info);
    Res r = get_info(b, fd, &info, sizeof info);
    return r.ret == 0 ? info.id : 0;
}

// A fresh pin path inside the library's store root ("bpffs" of the library).
inline std::string pin_path(const std::string& stem) {
    static unsigned counter = 0;
    return std::string(bpfmap_root()) + "/" + stem + "-" + std::to_string(getpid()) + "-" +
           std::to_string(++counter);
}

// Read-only / write-only fds to the map behind fd, from every source that backend offers:
// BPF_MAP_GET_FD_BY_ID open_flags (both) and BPF_OBJ_GET file_flags (library: the pin is made
// under bpfmap_root() and removed again at once). Each comes with a label.
struct Restricted {
    std::string how;
    Fd fd;
};
inline std::vector<Restricted> restricted_fds(const Backend& b, int fd, __u32 flag,
                                              const std::string& row) {
    std::vector<Restricted> out;
    const char* fl = flag == BPF_F_RDONLY ? "RDONLY" : "WRONLY";
    __u32 id = map_id(b, fd);
    if (expect_true(row, id != 0, "setup: GET_INFO gave no map id")) {
        Res r = fd_by_id(b, id, flag);
        if (expect(row + " setup: GET_FD_BY_ID open_flags=" + fl, r, kNewFd))
            out.push_back({std::string("GET_FD_BY_ID(") + fl + ")", own(r)});
    }
    if (!b.kernel) {
        std::string path = pin_path("ro-wo");
        if (expect(row + " setup: OBJ_PIN " + path, pin(b, fd, path.c_str()), kOK)) {
            Res r = obj_get(b, path.c_str(), flag);
            if (expect(row + " setup: OBJ_GET file_flags=" + fl, r, kNewFd))
                out.push_back({std::string("OBJ_GET(") + fl + ")", own(r)});
            bpfmap_unpin(path.c_str());
        }
    }
    return out;
}

// A page that may not be read or written (PROT_NONE) or only read (PROT_READ).
class Page {
  public:
    explicit Page(int prot) {
        p_ = mmap(nullptr, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p_ == MAP_FAILED) p_ = nullptr;
    }
    ~Page() {
        if (p_) munmap(p_, 4096);
    }
    Page(const Page&) = delete;
    Page& operator=(const Page&) = delete;
    void* get() const { return p_; }

  private:
    void* p_ = nullptr;
};

// Exit status protocol of the bad-pointer child roles: the errno, or kChildOk for success,
// kChildSetup when the child could not set up its map.
inline constexpr int kChildOk = 200;
inline constexpr int kChildSetup = 201;
inline constexpr int kChildENOTSUPP = 203;  // 524 does not fit in an exit status
inline int child_code(int err) {
    return err == kENOTSUPP ? kChildENOTSUPP : err;
}
inline std::string child_status_str(int st) {
    if (st == kChildOk) return "success";
    if (st == kChildSetup) return "child setup failed";
    if (st == kChildENOTSUPP) return "-1/" + errname(kENOTSUPP);
    if (st > 128 && st < 160) return "child killed by signal " + std::to_string(st - 128);
    return "-1/" + errname(st);
}

}  // namespace tbl
