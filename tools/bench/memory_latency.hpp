// bpfmap-bench: the cost of one dependent random read from a shared-memory mapping, measured
// in the same run as the map rows. A lookup in a map much larger than the caches needs at
// least one such read (the bucket, or the element), whatever the layout; so "library 1K
// lookup + one dependent read" bounds what any design could reach at 1M on this machine.
#pragma once

#include <cstdint>
#include <string>

namespace bench {

struct MemoryLatency {
    bool ok = false;
    double ns_per_read = 0;
    std::string error;  // why it could not be measured
};

// Pointer chase over a file of `bytes` bytes in the folder `dir` (on tmpfs: /dev/shm or
// BPFMAP_ROOT), mapped MAP_SHARED like a map segment: one 8-byte read per 64-byte line, each
// read's address taken from the previous read (a random cycle through every line), so no two
// reads overlap. Best of `repeat` passes of `reads` reads. The file is removed before return.
MemoryLatency measure_memory_latency(const std::string& dir, std::uint64_t bytes,
                                     std::uint64_t reads, unsigned repeat);

}  // namespace bench
