// The installed C++ header <bpfmap/percpu.hpp>, compiled as C++17 with every warning an error:
// per-CPU counters in a BPF_MAP_TYPE_PERCPU_ARRAY; exits 0 if the sum comes out right.
#include <bpfmap/bpf.h>
#include <unistd.h>
#include <bpfmap/percpu.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>

int main() {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_type = BPF_MAP_TYPE_PERCPU_ARRAY;
    a.key_size = 4;
    a.value_size = 8;
    a.max_entries = 4;
    const int fd = bpf(BPF_MAP_CREATE, &a, sizeof a);
    if (fd < 0) {
        std::perror("BPF_MAP_CREATE");
        return 1;
    }
    const std::uint32_t key = 2;
    for (int i = 0; i < 100; ++i)
        if (!bpfmap::this_cpu_add(fd, key, std::uint64_t{2})) return 2;
    const std::optional<std::uint64_t> sum = bpfmap::percpu_sum<std::uint64_t>(fd, key);
    if (!sum || *sum != 200) return 3;
    if (bpfmap::this_cpu_ptr<std::uint64_t>(fd, std::uint32_t{4}) != nullptr) return 4;
    close(fd);
    std::printf("consumer (C++ percpu.hpp): ok\n");
    return 0;
}
