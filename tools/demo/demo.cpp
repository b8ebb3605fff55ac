// bpfmap-demo: two separate processes share one HASH map.
//
//   bpfmap-demo [PIN]          the first process: creates a HASH map, pins it at PIN (default
//                              $BPFMAP_ROOT/pins/demo_flows), starts the second process, and
//                              both write and read the map at the same time
//   bpfmap-demo --worker PIN   the second process: opens the map by its pin (BPF_OBJ_GET)
//
// Each process counts "packets" of 64 flows: it owns half of the keys (its own flows) and
// reads the other half while the other process writes them. At the end each reports what it
// saw of the other's flows, and the first prints the whole map. The pin is left in place so
// that bpfmap-inspect can show the map afterwards (tools/demo.sh does, then removes it).
#include <bpfmap/bpf.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr uint32_t kFlows = 64;
constexpr uint32_t kRounds = 20000;

struct FlowStats {
    uint64_t packets;
    uint64_t bytes;
};

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "bpfmap-demo[%d]: %s: %s\n", getpid(), what, std::strerror(errno));
    std::exit(1);
}

int update(int fd, uint32_t key, const FlowStats& v) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<uint32_t>(fd);
    a.key = reinterpret_cast<uint64_t>(&key);
    a.value = reinterpret_cast<uint64_t>(&v);
    a.flags = BPF_ANY;
    return bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof a);
}

int lookup(int fd, uint32_t key, FlowStats& v) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<uint32_t>(fd);
    a.key = reinterpret_cast<uint64_t>(&key);
    a.value = reinterpret_cast<uint64_t>(&v);
    return bpf(BPF_MAP_LOOKUP_ELEM, &a, sizeof a);
}

// Writes its own flows (even keys for the creator, odd for the worker) round after round and
// reads the other process's flows in between. Returns how many distinct values it saw change.
int run(int fd, const char* who, uint32_t parity) {
    uint64_t seen_changes = 0, last_seen[kFlows] = {};
    for (uint32_t round = 1; round <= kRounds; ++round) {
        for (uint32_t k = parity; k < kFlows; k += 2) {
            FlowStats v{round, uint64_t{round} * 1500};
            if (update(fd, k, v) != 0) die("update");
        }
        for (uint32_t k = 1 - parity; k < kFlows; k += 2) {
            FlowStats v;
            if (lookup(fd, k, v) != 0) continue;  // the other process has not written it yet
            if (v.bytes != v.packets * 1500) {
                std::fprintf(stderr, "bpfmap-demo: torn value for flow %u\n", k);
                return 1;
            }
            if (v.packets != last_seen[k]) ++seen_changes, last_seen[k] = v.packets;
        }
    }
    std::printf(
        "%-8s pid %-7d wrote %u rounds of its %u flows; saw the other process's flows "
        "change %llu times\n",
        who, getpid(), kRounds, kFlows / 2, static_cast<unsigned long long>(seen_changes));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::strcmp(argv[1], "--worker") == 0) {
        union bpf_attr a;
        std::memset(&a, 0, sizeof a);
        a.pathname = reinterpret_cast<uint64_t>(argv[2]);
        int fd = bpf(BPF_OBJ_GET, &a, sizeof a);
        if (fd < 0) die("BPF_OBJ_GET of the pin");
        return run(fd, "worker", 1);
    }
    const std::string pin = argc > 1 ? argv[1] : std::string(bpfmap_root()) + "/pins/demo_flows";

    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_type = BPF_MAP_TYPE_HASH;
    a.key_size = sizeof(uint32_t);
    a.value_size = sizeof(FlowStats);
    a.max_entries = 1024;
    std::strcpy(a.map_name, "demo_flows");
    int fd = bpf(BPF_MAP_CREATE, &a, sizeof a);
    if (fd < 0) die("BPF_MAP_CREATE");

    std::memset(&a, 0, sizeof a);
    a.pathname = reinterpret_cast<uint64_t>(pin.c_str());
    a.bpf_fd = static_cast<uint32_t>(fd);
    if (bpf(BPF_OBJ_PIN, &a, sizeof a) != 0) die(("BPF_OBJ_PIN at " + pin).c_str());
    std::printf("creator  pid %-7d created HASH map \"demo_flows\" and pinned it at %s\n", getpid(),
                pin.c_str());
    std::fflush(stdout);

    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        // A separate program image: it shares nothing with the creator but the pin path.
        execl("/proc/self/exe", argv[0], "--worker", pin.c_str(), static_cast<char*>(nullptr));
        die("exec");
    }
    int rc = run(fd, "creator", 0);
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "bpfmap-demo: the worker failed\n");
        return 1;
    }

    uint32_t count = 0;
    uint64_t total = 0;
    for (uint32_t k = 0; k < kFlows; ++k) {
        FlowStats v;
        if (lookup(fd, k, v) == 0) ++count, total += v.packets;
    }
    std::printf(
        "creator  reads the shared map: %u flows, %llu packets in all (expected %u and %llu)\n",
        count, static_cast<unsigned long long>(total), kFlows,
        static_cast<unsigned long long>(uint64_t{kFlows} * kRounds));
    close(fd);  // the pin keeps the map alive for bpfmap-inspect
    return rc != 0 || count != kFlows || total != uint64_t{kFlows} * kRounds;
}
