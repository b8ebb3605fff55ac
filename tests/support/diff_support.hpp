// What every kernel-differential test needs: the two sides of a comparison (the kernel's bpf(2)
// and the library's bpf()), one call's result with its errno, and printing of both.
#pragma once

#include <bpfmap/bpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace bpfmap::test::diff {

using Bytes = std::vector<unsigned char>;
using BpfFn = int (*)(int, union bpf_attr*, unsigned int);

constexpr int kENOTSUPP = 524;  // kernel-internal errno that leaks to user space

inline int kernel_side(int cmd, union bpf_attr* attr, unsigned size) {
    return kernel_bpf(cmd, attr, size);
}
inline int library_side(int cmd, union bpf_attr* attr, unsigned size) {
    return ::bpf(cmd, attr, size);
}

constexpr BpfFn kKernel = &kernel_side;
constexpr BpfFn kLibrary = &library_side;

struct Res {
    int ret = 0;
    int err = 0;
    bool operator==(const Res&) const = default;
};

inline Res invoke(BpfFn fn, int cmd, void* attr, unsigned size) {
    errno = 0;
    int r = fn(cmd, static_cast<union bpf_attr*>(attr), size);
    int e = r < 0 ? errno : 0;
    return {r, e};
}

// BPF_OBJ_GET_INFO_BY_FD on one side. `info` is zeroed first: the kernel leaves the fields it
// does not fill (ifindex, BTF ids, ...) as the caller's buffer had them, where the library writes
// zeros. `info_len_out`, if given, receives the info_len the call wrote back.
inline Res get_map_info(BpfFn side, int fd, struct bpf_map_info& info,
                        __u32* info_len_out = nullptr) {
    std::memset(&info, 0, sizeof info);
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.info.bpf_fd = static_cast<__u32>(fd);
    a.info.info_len = sizeof info;
    a.info.info = uptr(&info);
    const Res r = invoke(side, BPF_OBJ_GET_INFO_BY_FD, &a, sizeof a);
    if (info_len_out) *info_len_out = a.info.info_len;
    return r;
}

// A command's short name, for messages.
inline const char* cmd_name(int cmd) {
    switch (cmd) {
        case BPF_MAP_CREATE:
            return "MAP_CREATE";
        case BPF_MAP_LOOKUP_ELEM:
            return "LOOKUP";
        case BPF_MAP_UPDATE_ELEM:
            return "UPDATE";
        case BPF_MAP_DELETE_ELEM:
            return "DELETE";
        case BPF_MAP_GET_NEXT_KEY:
            return "GET_NEXT_KEY";
        case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
            return "LOOKUP_AND_DELETE";
        case BPF_MAP_FREEZE:
            return "FREEZE";
        case BPF_OBJ_GET_INFO_BY_FD:
            return "OBJ_GET_INFO_BY_FD";
        default:
            return "cmd?";
    }
}

// One map on both sides: the kernel's fd and the library's, closed on destruction.
struct FdPair {
    int kfd = -1, lfd = -1;
    FdPair() = default;
    FdPair(const FdPair&) = delete;
    FdPair& operator=(const FdPair&) = delete;
    ~FdPair() {
        if (kfd >= 0) ::close(kfd);
        if (lfd >= 0) ::close(lfd);
    }
    int fd(BpfFn side) const { return side == kKernel ? kfd : lfd; }
};

// "ret=0", "ret=-1 errno=22 (EINVAL)".
inline std::string show(Res r) {
    if (r.ret >= 0) return "ret=" + std::to_string(r.ret);
    const char* name = r.err == kENOTSUPP ? "ENOTSUPP" : strerrorname_np(r.err);
    return "ret=" + std::to_string(r.ret) + " errno=" + std::to_string(r.err) + " (" +
           (name ? name : "?") + ")";
}

inline std::string hex(const Bytes& b) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (unsigned char c : b) {
        s += d[c >> 4];
        s += d[c & 15];
    }
    return s.empty() ? "<empty>" : s;
}

}  // namespace bpfmap::test::diff
