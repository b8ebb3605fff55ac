// The machine's possible CPUs, as the kernel's per-CPU maps count them.
//
// A per-CPU value through bpf() holds one slot per *possible* CPU (num_possible_cpus(), from
// /sys/devices/system/cpu/possible, e.g. "0-1" -> 2), in the order of the CPU numbers, whether
// or not the CPU is online.
#pragma once

#include <cstdint>

namespace bpfmap::shm {

// The number of possible CPUs (at least 1), read once.
uint32_t possible_cpu_count();

// The slot index of CPU number `cpu` in a per-CPU value: its rank among the possible CPUs.
// A CPU number that is not possible (cannot happen on a running CPU) maps to slot 0.
uint32_t cpu_slot_index(unsigned cpu);

// The slot of the CPU this thread runs on right now (sched_getcpu; with glibc's rseq
// registration this is a load, not a system call). The thread may migrate the moment after.
uint32_t this_cpu_slot_index();

// PCPU_MIN_UNIT_SIZE: the largest per-CPU value (rounded up to 8) the kernel allocates.
inline constexpr uint32_t kMaxPercpuSlotSize = 32768;

// Bytes of one CPU's slot: round_up(value_size, 8), as in the kernel.
constexpr uint32_t percpu_slot_size(uint32_t value_size) {
    return (value_size + 7u) & ~7u;
}

}  // namespace bpfmap::shm
