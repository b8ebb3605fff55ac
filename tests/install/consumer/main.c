/* Calls bpf() exactly as it would call the system call; exits 0 if a round trip works. */
#include <bpfmap/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_type = BPF_MAP_TYPE_HASH;
    a.key_size = 4;
    a.value_size = 8;
    a.max_entries = 16;
    int fd = bpf(BPF_MAP_CREATE, &a, sizeof a);
    if (fd < 0) {
        perror("BPF_MAP_CREATE");
        return 1;
    }
    __u32 key = 7;
    __u64 value = 42, out = 0;
    memset(&a, 0, sizeof a);
    a.map_fd = (__u32)fd;
    a.key = (__u64)(unsigned long)&key;
    a.value = (__u64)(unsigned long)&value;
    if (bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof a) != 0) return 2;
    a.value = (__u64)(unsigned long)&out;
    if (bpf(BPF_MAP_LOOKUP_ELEM, &a, sizeof a) != 0 || out != 42) return 3;
    a.flags = BPF_NOEXIST;
    a.value = (__u64)(unsigned long)&value;
    if (bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof a) != -1 || errno != EEXIST) return 4;
    close(fd);
    printf("consumer: ok\n");
    return 0;
}
