// TEMPORARY placeholder while the core is written; replaced in the same session.
#include <bpfmap/bpf.h>
#include <cerrno>
extern "C" __attribute__((visibility("default"))) int bpf(int, union bpf_attr*, unsigned int) {
    errno = ENOSYS;
    return -1;
}
extern "C" __attribute__((visibility("default"))) int bpfmap_unpin(const char*) { errno = ENOSYS; return -1; }
extern "C" __attribute__((visibility("default"))) const char* bpfmap_root(void) { return "/dev/shm/bpfmap"; }
