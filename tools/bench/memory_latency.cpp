#include "memory_latency.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include <fmt/format.h>

#include "runner.hpp"

namespace bench {

MemoryLatency measure_memory_latency(const std::string& dir, std::uint64_t bytes,
                                     std::uint64_t reads, unsigned repeat) {
    MemoryLatency out;
    constexpr std::uint64_t kLine = 64;
    const std::uint64_t lines = bytes / kLine;
    if (lines < 2) {
        out.error = "memory latency: size too small";
        return out;
    }
    const std::string path = fmt::format("{}/memory-latency.{}", dir, ::getpid());
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        out.error = fmt::format("memory latency: open {}: {}", path, std::strerror(errno));
        return out;
    }
    ::unlink(path.c_str());  // the mapping keeps the pages; nothing is left behind
    void* p = MAP_FAILED;
    if (::ftruncate(fd, static_cast<off_t>(lines * kLine)) == 0)
        p = ::mmap(nullptr, lines * kLine, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    const int map_errno = errno;
    ::close(fd);
    if (p == MAP_FAILED) {
        out.error =
            fmt::format("memory latency: {} MB mapping: {}", bytes >> 20, std::strerror(map_errno));
        return out;
    }
    auto* base = static_cast<unsigned char*>(p);
    // Sattolo's shuffle: one random cycle through every line, so the chase visits all of them.
    std::vector<std::uint32_t> next(lines);
    std::iota(next.begin(), next.end(), 0u);
    std::mt19937_64 rng(0xB9F3A9);
    for (std::uint64_t i = lines - 1; i > 0; --i)
        std::swap(next[i], next[std::uniform_int_distribution<std::uint64_t>(0, i - 1)(rng)]);
    for (std::uint64_t i = 0; i < lines; ++i)
        std::memcpy(base + i * kLine, &next[i], sizeof(std::uint32_t));

    double best = 0;
    std::uint32_t at = 0;
    for (unsigned rep = 0; rep <= repeat; ++rep) {  // pass 0 warms the caches and TLB up
        const auto t0 = std::chrono::steady_clock::now();
        for (std::uint64_t i = 0; i < reads; ++i)
            std::memcpy(&at, base + std::uint64_t{at} * kLine, sizeof at);
        const auto t1 = std::chrono::steady_clock::now();
        const double ns =
            std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(reads);
        if (rep > 0 && (best == 0 || ns < best)) best = ns;
    }
    g_sink = g_sink + at;
    ::munmap(p, lines * kLine);
    out.ok = true;
    out.ns_per_read = best;
    return out;
}

}  // namespace bench
