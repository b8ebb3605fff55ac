// The out-of-line user copies and the fault handler behind uaccess.hpp.
#include "api/uaccess.hpp"

#include <signal.h>
#include <ucontext.h>

#include <atomic>
#include <mutex>

#ifdef BPFMAP_UACCESS

// size_t bpfmap_uaccess_copy(void* dst, const void* src, size_t n): returns the bytes NOT
// copied. 8 bytes at a time; after a fault, byte by byte up to the faulting byte, so that a
// buffer straddling into an unmapped page gets exactly the bytes before it (as the kernel's
// copy_to_user does).
// size_t bpfmap_uaccess_strnlen(const char* s, size_t max): SIZE_MAX if a byte before the NUL
// (or before max) is unreadable.
asm(R"(
    .text
    .globl bpfmap_uaccess_copy
    .hidden bpfmap_uaccess_copy
    .type bpfmap_uaccess_copy, @function
bpfmap_uaccess_copy:
    movq %rdx, %rcx
    cmpq $8, %rcx
    jb 3f
1:
10: movq (%rsi), %rax
11: movq %rax, (%rdi)
    addq $8, %rsi
    addq $8, %rdi
    subq $8, %rcx
    cmpq $8, %rcx
    jae 1b
3:  testq %rcx, %rcx
    jz 4f
5:
12: movb (%rsi), %al
13: movb %al, (%rdi)
    incq %rsi
    incq %rdi
    decq %rcx
    jnz 5b
4:  xorl %eax, %eax
    ret
6:  movq %rcx, %rax
    ret
    .size bpfmap_uaccess_copy, .-bpfmap_uaccess_copy
    .pushsection bpfmap_extable, "aw"
    .balign 4
    .long 10b - ., 5b - .
    .long 11b - ., 5b - .
    .long 12b - ., 6b - .
    .long 13b - ., 6b - .
    .popsection

    .globl bpfmap_uaccess_strnlen
    .hidden bpfmap_uaccess_strnlen
    .type bpfmap_uaccess_strnlen, @function
bpfmap_uaccess_strnlen:
    xorl %eax, %eax
1:  cmpq %rsi, %rax
    jae 2f
20: cmpb $0, (%rdi,%rax)
    je 2f
    incq %rax
    jmp 1b
2:  ret
3:  movq $-1, %rax
    ret
    .size bpfmap_uaccess_strnlen, .-bpfmap_uaccess_strnlen
    .pushsection bpfmap_extable, "aw"
    .balign 4
    .long 20b - ., 3b - .
    .popsection
)");

extern "C" {
// Bounds of the exception table, defined by the linker for a section with a C-identifier name.
extern const int32_t __start_bpfmap_extable[] __attribute__((visibility("hidden")));
extern const int32_t __stop_bpfmap_extable[] __attribute__((visibility("hidden")));
}

namespace bpfmap::api {
namespace {

struct sigaction g_old_segv, g_old_bus;

uintptr_t fixup_for(uintptr_t ip) {
    for (const int32_t* e = __start_bpfmap_extable; e + 1 < __stop_bpfmap_extable; e += 2) {
        const uintptr_t insn = reinterpret_cast<uintptr_t>(e) + static_cast<intptr_t>(e[0]);
        if (insn == ip) return reinterpret_cast<uintptr_t>(e + 1) + static_cast<intptr_t>(e[1]);
    }
    return 0;
}

void on_fault(int sig, siginfo_t* info, void* context) {
    auto* uc = static_cast<ucontext_t*>(context);
    if (uintptr_t fix = fixup_for(static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]))) {
        uc->uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(fix);
        return;
    }
    // Not a caller-memory access of ours: do what would have happened without us.
    const struct sigaction& old = sig == SIGSEGV ? g_old_segv : g_old_bus;
    if (old.sa_flags & SA_SIGINFO) {
        old.sa_sigaction(sig, info, context);
    } else if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) {
        old.sa_handler(sig);
    } else {
        // Default action: restore it and return; the faulting instruction runs again and the
        // process dies of this signal as it would have.
        signal(sig, SIG_DFL);
    }
}

}  // namespace

std::atomic<bool> g_uaccess_ready{false};

void uaccess_install() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, &g_old_segv);
        sigaction(SIGBUS, &sa, &g_old_bus);
        g_uaccess_ready.store(true);
    });
}

}  // namespace bpfmap::api

#else

namespace bpfmap::api {
std::atomic<bool> g_uaccess_ready{true};
void uaccess_install() {}
}  // namespace bpfmap::api

#endif
