// Access to the caller's memory that fails with EFAULT instead of crashing, like the kernel's
// copy_from_user()/copy_to_user().
//
// How: every instruction that touches caller memory is listed in an exception table (section
// bpfmap_extable: pairs of "faulting instruction, where to resume"). bpfmap's SIGSEGV/SIGBUS
// handler (installed on the first bpf() call, chaining to any handler installed before it)
// looks the faulting instruction up and, if it is listed, resumes at its fixup, which reports
// the fault; any other fault goes to the previous handler as if bpfmap were not there. The
// cost on the normal path is nothing beyond the copy itself: the common sizes (the attr, 4- and
// 8-byte keys and values) are single inline instructions.
//
// A program that installs its own SIGSEGV handler after its first bpf() call replaces ours;
// bad pointers then crash instead of giving EFAULT (NULL pointers are always EFAULT).
//
// x86-64 only; elsewhere these are plain copies with NULL checks.
#pragma once

#include <linux/bpf.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace bpfmap::api {

#if defined(__x86_64__)
#define BPFMAP_UACCESS 1
// The extable entry for the instruction at local label 1, resuming at asm-goto label `fault`.
#define BPFMAP_EXTABLE(label_insn, fixup)  \
    ".pushsection bpfmap_extable,\"aw\"\n" \
    ".balign 4\n"                          \
    ".long " label_insn " - ., %l[" fixup  \
    "] - .\n"                              \
    ".popsection\n"

extern "C" size_t bpfmap_uaccess_copy(void* dst, const void* src, size_t n);
extern "C" size_t bpfmap_uaccess_strnlen(const char* s, size_t max);
#endif

// Installs the fault handler once; after that, one relaxed load.
extern std::atomic<bool> g_uaccess_ready;
void uaccess_install();
inline void uaccess_init() {
    if (!g_uaccess_ready.load(std::memory_order_relaxed)) [[unlikely]]
        uaccess_install();
}

// A buffer for a key or value copied in from, or on its way out to, the caller: on the stack
// for the common small sizes, on the heap beyond.
class ScratchBuffer {
  public:
    explicit ScratchBuffer(size_t n) : data_(n <= sizeof small_ ? small_ : new unsigned char[n]) {}
    ~ScratchBuffer() {
        if (data_ != small_) delete[] data_;
    }
    ScratchBuffer(const ScratchBuffer&) = delete;
    ScratchBuffer& operator=(const ScratchBuffer&) = delete;
    unsigned char* data() { return data_; }

  private:
    alignas(16) unsigned char small_[64];
    unsigned char* data_;
};

// The functions with an asm goto below are `static`: each translation unit keeps its own copy.
// An inline function with external linkage would be emitted in a COMDAT section, and the
// linker, keeping one copy, would discard the section that this unit's extable entries point
// into.

// Copies n bytes; false if any byte of `usrc`/`udst` is unreadable/unwritable. copy_to_user
// writes as many bytes as it can before the fault, as the kernel does.
static inline bool copy_from_user(void* dst, const void* usrc, size_t n) {
    if (n == 0) return true;
    if (!usrc) return false;
#ifdef BPFMAP_UACCESS
    if (n == 4) {
        uint32_t v;
        asm goto(
            "1: movl (%[p]), %%eax\n\t"
            "movl %%eax, (%[d])\n" BPFMAP_EXTABLE("1b", "fault")
            :
            : [p] "r"(usrc), [d] "r"(&v)
            : "rax", "memory"
            : fault);
        std::memcpy(dst, &v, 4);
        return true;
    }
    if (n == 8) {
        uint64_t v;
        asm goto(
            "1: movq (%[p]), %%rax\n\t"
            "movq %%rax, (%[d])\n" BPFMAP_EXTABLE("1b", "fault")
            :
            : [p] "r"(usrc), [d] "r"(&v)
            : "rax", "memory"
            : fault);
        std::memcpy(dst, &v, 8);
        return true;
    }
    return bpfmap_uaccess_copy(dst, usrc, n) == 0;
fault:
    return false;
#else
    std::memcpy(dst, usrc, n);
    return true;
#endif
}

static inline bool copy_to_user(void* udst, const void* src, size_t n) {
    if (n == 0) return true;
    if (!udst) return false;
#ifdef BPFMAP_UACCESS
    if (n == 8) {
        uint64_t v;
        std::memcpy(&v, src, 8);
        asm goto("1: movq %[v], (%[p])\n" BPFMAP_EXTABLE("1b", "fault")
                 :
                 : [p] "r"(udst), [v] "r"(v)
                 : "memory"
                 : fault);
        return true;
    }
    if (n == 4) {
        uint32_t v;
        std::memcpy(&v, src, 4);
        asm goto("1: movl %[v], (%[p])\n" BPFMAP_EXTABLE("1b", "fault")
                 :
                 : [p] "r"(udst), [v] "r"(v)
                 : "memory"
                 : fault);
        return true;
    }
    return bpfmap_uaccess_copy(udst, src, n) == 0;
fault:
    // A value straddling into an unwritable page: the kernel writes the bytes before it.
    return bpfmap_uaccess_copy(udst, src, n) == 0;
#else
    std::memcpy(udst, src, n);
    return true;
#endif
}

// Copies the caller's attr (sizeof(union bpf_attr) bytes) into `dst`.
static inline bool copy_attr_from_user(union bpf_attr* dst, const union bpf_attr* usrc) {
    static_assert(sizeof(union bpf_attr) == 144, "the copy below is written for 144 bytes");
    if (!usrc) return false;
#ifdef BPFMAP_UACCESS
    asm goto(
        "1: movdqu 0(%[s]), %%xmm0\n\t"
        "movdqu %%xmm0, 0(%[d])\n\t"
        "2: movdqu 16(%[s]), %%xmm0\n\t"
        "movdqu %%xmm0, 16(%[d])\n\t"
        "3: movdqu 32(%[s]), %%xmm0\n\t"
        "movdqu %%xmm0, 32(%[d])\n\t"
        "4: movdqu 48(%[s]), %%xmm0\n\t"
        "movdqu %%xmm0, 48(%[d])\n\t"
        "5: movdqu 64(%[s]), %%xmm0\n\t"
        "movdqu %%xmm0, 64(%[d])\n\t"
        "6: movdqu 80(%[s]), %%xmm0\n\t"
        "movdqu %%xmm0, 80(%[d])\n\t"
        "7: movdqu 96(%[s]), %%xmm0\n\t"
        "movdqu %%xmm0, 96(%[d])\n\t"
        "8: movdqu 112(%[s]), %%xmm0\n\t"
        "movdqu %%xmm0, 112(%[d])\n\t"
        "9: movdqu 128(%[s]), %%xmm0\n\t"
        "movdqu %%xmm0, 128(%[d])\n" BPFMAP_EXTABLE("1b", "fault") BPFMAP_EXTABLE("2b", "fault")
            BPFMAP_EXTABLE("3b", "fault") BPFMAP_EXTABLE("4b", "fault") BPFMAP_EXTABLE(
                "5b", "fault") BPFMAP_EXTABLE("6b", "fault") BPFMAP_EXTABLE("7b", "fault")
                BPFMAP_EXTABLE("8b", "fault") BPFMAP_EXTABLE("9b", "fault")
        :
        : [s] "r"(usrc), [d] "r"(dst)
        : "xmm0", "memory"
        : fault);
    return true;
fault:
    return false;
#else
    std::memcpy(dst, usrc, sizeof *dst);
    return true;
#endif
}

// Copies the first `size` (< sizeof(union bpf_attr)) bytes of the caller's attr: 16 bytes at a
// time (libbpf passes 32 for element commands), the rest through the generic copy.
static inline bool copy_attr_prefix_from_user(union bpf_attr* dst, const union bpf_attr* usrc,
                                              unsigned size) {
    if (size == 0) return true;
    if (!usrc) return false;
#ifdef BPFMAP_UACCESS
    auto* d = reinterpret_cast<unsigned char*>(dst);
    const auto* s = reinterpret_cast<const unsigned char*>(usrc);
    unsigned i = 0;
    for (; i + 16 <= size; i += 16)
        asm goto(
            "1: movdqu (%[s]), %%xmm0\n\t"
            "movdqu %%xmm0, (%[d])\n" BPFMAP_EXTABLE("1b", "fault")
            :
            : [s] "r"(s + i), [d] "r"(d + i)
            : "xmm0", "memory"
            : fault);
    return i == size || bpfmap_uaccess_copy(d + i, s + i, size - i) == 0;
fault:
    return false;
#else
    std::memcpy(dst, usrc, size);
    return true;
#endif
}

// The length of the caller's NUL-terminated string, at most `max`; -1 if unreadable.
inline long strnlen_user(const char* us, size_t max) {
    if (!us) return -1;
#ifdef BPFMAP_UACCESS
    size_t n = bpfmap_uaccess_strnlen(us, max);
    return n == SIZE_MAX ? -1 : static_cast<long>(n);
#else
    return static_cast<long>(strnlen(us, max));
#endif
}

}  // namespace bpfmap::api
