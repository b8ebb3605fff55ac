// bpfmap-bench, second section: one row set per map type beyond HASH and ARRAY (per-CPU, LRU,
// queue/stack, bloom filter, LPM trie), the library's bpf() beside the kernel's bpf(2).
//
// Every type: 1K entries, 8-byte values (per-CPU: 8 bytes per possible CPU through bpf()),
// 1 and 2 processes, the maps created and filled before fork. The ops:
//   lookup / update          present keys (LPM: lookups of addresses inside stored prefixes)
//   update-evict             LRU only (max_entries 2K): keys from a space of 8K, so most
//                            updates evict
//   push+pop                 QUEUE/STACK: one push then one pop; ns per pair
//   push / peek              BLOOM: add a value / test a value that was added
//   this_cpu_add             PERCPU_ARRAY and PERCPU_HASH: bpfmap_this_cpu_ptr() and an atomic
//                            add (the library only; the kernel column is the nearest thing a
//                            process can do through the syscall: an UPDATE of the whole
//                            per-CPU value, which is neither atomic nor per-CPU)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

struct TypeRowsOptions {
    std::uint64_t ops = 0;  // per process per row
    std::uint64_t warmup = 0;
    unsigned repeat = 1;
    double timeout_s = 0;  // 0: derived from ops
    bool json = false;
    bool run_library = true;
    bool run_kernel = true;
};

// Runs and prints the section. Returns false if a library row could not be measured; `notes`
// gets one line per implementation and row that could not run, with the reason.
bool run_type_rows(const TypeRowsOptions& o, std::vector<std::string>& notes);

}  // namespace bench
