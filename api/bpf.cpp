// The bpf() entry point: the kernel's size and attr rules (kernel/bpf/syscall.c, __sys_bpf),
// then a table of command handlers. Nothing here knows a map type.
#include <bpfmap/bpf.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "api/attr.hpp"
#include "api/commands.hpp"
#include "api/uaccess.hpp"
#include "shm/log.hpp"

namespace bpfmap::api {
namespace {

constexpr unsigned kMaxAttrSize = 4096;  // PAGE_SIZE: larger is E2BIG even if all zero

struct CommandTable {
    CommandHandler handlers[64] = {};
    constexpr CommandTable() {
        handlers[BPF_MAP_CREATE] = cmd_map_create;
        handlers[BPF_MAP_LOOKUP_ELEM] = cmd_map_lookup_elem;
        handlers[BPF_MAP_UPDATE_ELEM] = cmd_map_update_elem;
        handlers[BPF_MAP_DELETE_ELEM] = cmd_map_delete_elem;
        handlers[BPF_MAP_GET_NEXT_KEY] = cmd_map_get_next_key;
        handlers[BPF_MAP_LOOKUP_AND_DELETE_ELEM] = cmd_map_lookup_and_delete_elem;
        handlers[BPF_MAP_FREEZE] = cmd_map_freeze;
        handlers[BPF_OBJ_PIN] = cmd_obj_pin;
        handlers[BPF_OBJ_GET] = cmd_obj_get;
        handlers[BPF_MAP_GET_NEXT_ID] = cmd_map_get_next_id;
        handlers[BPF_MAP_GET_FD_BY_ID] = cmd_map_get_fd_by_id;
        handlers[BPF_OBJ_GET_INFO_BY_FD] = cmd_obj_get_info_by_fd;
    }
};
constexpr CommandTable kCommands;

int unsupported(int cmd) {
    // Programs, links, BTF, batches...: bpfmap serves maps only. The kernel's answer to a
    // command it does not know is EINVAL; ours is the same, with one log line per command.
    static std::atomic<uint64_t> logged{0};
    const uint64_t bit = cmd >= 0 && cmd < 64 ? uint64_t{1} << cmd : 0;
    if (bit && !(logged.fetch_or(bit) & bit))
        shm::log().info("bpf command {} is not supported by bpfmap (map commands only): EINVAL",
                        cmd);
    return -EINVAL;
}

// Zeroes an attr with nine 16-byte stores. GCC compiles memset(&a, 0, 144) to `rep stosq`,
// whose start-up cost on this project's AMD machines was a quarter of a whole 1K-entry HASH
// lookup (perf annotate), and whose stores then delay the loads of the fields just copied in.
inline void zero_attr(union bpf_attr* a) {
    static_assert(sizeof(union bpf_attr) == 144, "nine 16-byte stores");
#if defined(__SSE2__)
    const __m128i z = _mm_setzero_si128();
    auto* p = reinterpret_cast<__m128i*>(a);
    _mm_storeu_si128(p + 0, z);
    _mm_storeu_si128(p + 1, z);
    _mm_storeu_si128(p + 2, z);
    _mm_storeu_si128(p + 3, z);
    _mm_storeu_si128(p + 4, z);
    _mm_storeu_si128(p + 5, z);
    _mm_storeu_si128(p + 6, z);
    _mm_storeu_si128(p + 7, z);
    _mm_storeu_si128(p + 8, z);
#else
    std::memset(a, 0, sizeof *a);
#endif
}

int fail(int err) {
    errno = err;
    return -1;
}

}  // namespace
}  // namespace bpfmap::api

extern "C" __attribute__((visibility("default"))) int bpf(int cmd, union bpf_attr* uattr,
                                                          unsigned int size) {
    using namespace bpfmap::api;
    uaccess_init();
    if (size > kMaxAttrSize) return fail(E2BIG);
    union bpf_attr a;
    if (size >= sizeof(union bpf_attr)) [[likely]] {
        // Bytes past the union this library knows must be zero (bpf_check_uarg_tail_zero).
        if (size > sizeof(union bpf_attr)) {
            unsigned char tail[kMaxAttrSize];
            const unsigned n = size - static_cast<unsigned>(sizeof(union bpf_attr));
            if (!copy_from_user(
                    tail, reinterpret_cast<const unsigned char*>(uattr) + sizeof(union bpf_attr),
                    n))
                return fail(EFAULT);
            for (unsigned i = 0; i < n; ++i)
                if (tail[i]) return fail(E2BIG);
        }
        if (!copy_attr_from_user(&a, uattr)) return fail(EFAULT);
    } else {
        zero_attr(&a);  // a short attr is zero-extended
        if (!copy_attr_prefix_from_user(&a, uattr, size)) return fail(EFAULT);
    }
    CommandHandler h = cmd >= 0 && cmd < 64 ? kCommands.handlers[cmd] : nullptr;
    int rc;
    try {
        rc = h ? h(a, uattr, size < sizeof a ? size : static_cast<unsigned>(sizeof a))
               : unsupported(cmd);
    } catch (const std::bad_alloc&) {
        rc = -ENOMEM;
    } catch (const std::exception& e) {
        bpfmap::shm::log().error("bpf command {} failed: {}", cmd, e.what());
        rc = -EINVAL;
    }
    if (rc < 0) return fail(-rc);
    return rc;
}
