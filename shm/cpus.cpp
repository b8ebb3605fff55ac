// Reads /sys/devices/system/cpu/possible ("0-1", "0-3,8-11", "0") once.
#include "shm/cpus.hpp"

#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

namespace bpfmap::shm {
namespace {

// The possible CPU numbers, ascending. If the file cannot be read, the CPUs configured in
// the system (sysconf) stand in, which is what they are on every machine without CPU hotplug.
const std::vector<unsigned>& possible_cpus() {
    static const std::vector<unsigned> cpus = [] {
        std::vector<unsigned> out;
        if (FILE* f = std::fopen("/sys/devices/system/cpu/possible", "re")) {
            unsigned lo, hi;
            char sep;
            while (std::fscanf(f, "%u", &lo) == 1) {
                hi = lo;
                if (std::fscanf(f, "%c", &sep) == 1 && sep == '-') {
                    if (std::fscanf(f, "%u", &hi) != 1) break;
                    if (std::fscanf(f, "%c", &sep) != 1) sep = '\n';
                }
                for (unsigned c = lo; c <= hi && c - lo < 65536; ++c) out.push_back(c);
                if (sep != ',') break;
            }
            std::fclose(f);
        }
        if (out.empty()) {
            long n = sysconf(_SC_NPROCESSORS_CONF);
            for (long c = 0; c < (n > 0 ? n : 1); ++c) out.push_back(static_cast<unsigned>(c));
        }
        return out;
    }();
    return cpus;
}

}  // namespace

uint32_t possible_cpu_count() {
    return static_cast<uint32_t>(possible_cpus().size());
}

uint32_t cpu_slot_index(unsigned cpu) {
    const auto& cpus = possible_cpus();
    // Almost always "0-N": the rank is the number itself.
    if (cpu < cpus.size() && cpus[cpu] == cpu) return cpu;
    for (uint32_t i = 0; i < cpus.size(); ++i)
        if (cpus[i] == cpu) return i;
    return 0;
}

uint32_t this_cpu_slot_index() {
    const int cpu = sched_getcpu();
    return cpu < 0 ? 0 : cpu_slot_index(static_cast<unsigned>(cpu));
}

}  // namespace bpfmap::shm
