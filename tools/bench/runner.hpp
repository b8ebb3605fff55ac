// bpfmap-bench: workloads and the timed runs, in forked worker processes.
//
// Every row runs in freshly forked workers (1 or 2), so that the 1- and 2-process rows are
// measured the same way and a crash or hang of an implementation costs one row, not the run.
// The map is created (and filled) by the parent before fork; workers use the inherited fd or
// mapping. Workers warm up, meet at a pipe barrier (each writes a byte to `ready`; the parent
// then closes `go`, which wakes all of them at once), run their ops between two
// clock_gettime(CLOCK_MONOTONIC) calls, and send start/end times back. Aggregate ns/op is
// (last end - first start) / (total ops).
#pragma once

#include <cerrno>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "maps.hpp"

namespace bench {

enum class Op { lookup, update };

std::uint64_t now_ns();

// The keys a map holds and the pseudo-random sequence of keys the ops use (precomputed, the same
// for every implementation; a power-of-two length, indexed modulo).
struct Workload {
    MapKind kind;
    std::uint32_t entries = 0;
    std::vector<std::uint32_t> keys;  // index -> key; all present after fill
    std::vector<std::uint32_t> seq;   // keys, in the order the ops use them
    std::uint64_t mask = 0;           // seq.size() - 1

    Workload(MapKind k, std::uint32_t n, std::uint64_t ops);
    // The value the fill stores for index i.
    static std::uint64_t fill_value(std::uint32_t key) { return std::uint64_t{key} * 3 + 1; }
};

struct RowResult {
    bool ok = false;
    double ns_per_op = 0;
    std::string error;
};

// What a worker reports back through the result pipe (one write, < PIPE_BUF).
struct WorkerReport {
    std::uint64_t start_ns = 0;
    std::uint64_t end_ns = 0;
    std::uint64_t failures = 0;
    std::int32_t first_errno = 0;
    std::int32_t worker = 0;
    char error[200] = {};  // set if the worker could not run (warm-up failure, exception)
};

// The part of a worker after fork: warm up, call barrier(), run the timed ops, fill the report.
// It must not throw out (run_workers catches anyway).
using WorkerBody = std::function<void(unsigned worker, const std::function<void()>& barrier,
                                      WorkerReport& report)>;

// Forks `procs` workers running `body`, with a deadline for the whole row.
RowResult run_workers(unsigned procs, std::uint64_t ops_per_proc, double timeout_s,
                      const WorkerBody& body);

// Best of `repeat` runs of `run_once` (each in freshly forked workers: the other load of a
// small machine only ever adds time). The first failure ends it and is the result.
RowResult best_of(unsigned repeat, const std::function<RowResult()>& run_once);

extern volatile std::uint64_t g_sink;

// The timed loop: n ops of kind `op`, keys seq[(start + i) & mask]. Returns the failures and
// the errno of the first.
template <class M>
std::uint64_t run_ops(const M& map, Op op, const Workload& w, std::uint64_t start, std::uint64_t n,
                      std::int32_t& first_errno) {
    const std::uint32_t* seq = w.seq.data();
    const std::uint64_t mask = w.mask;
    std::uint64_t failures = 0;
    if (op == Op::lookup) {
        std::uint64_t sink = 0;
        for (std::uint64_t i = 0; i < n; ++i) {
            std::uint64_t value = 0;
            if (!map.lookup(seq[(start + i) & mask], value)) [[unlikely]] {
                if (failures++ == 0) first_errno = errno;
            }
            sink += value;
        }
        g_sink = g_sink + sink;
    } else {
        for (std::uint64_t i = 0; i < n; ++i) {
            if (!map.update(seq[(start + i) & mask], start + i)) [[unlikely]] {
                if (failures++ == 0) first_errno = errno;
            }
        }
    }
    return failures;
}

// Fills the map with every key of the workload and checks a sample by lookup. Returns the
// reason on failure.
template <class M>
std::string fill_map(const M& map, const Workload& w) {
    for (std::uint32_t key : w.keys) {
        if (!map.update(key, Workload::fill_value(key)))
            return "filling: update of key " + std::to_string(key) +
                   " failed: " + errno_text(errno);
    }
    const std::size_t step = w.keys.size() / 64 + 1;
    for (std::size_t i = 0; i < w.keys.size(); i += step) {
        const std::uint32_t key = w.keys[i];
        std::uint64_t value = 0;
        if (!map.lookup(key, value))
            return "after filling: lookup of key " + std::to_string(key) +
                   " failed: " + errno_text(errno);
        if (value != Workload::fill_value(key))
            return "after filling: lookup of key " + std::to_string(key) + " returned " +
                   std::to_string(value) + ", expected " +
                   std::to_string(Workload::fill_value(key));
    }
    return {};
}

// One row: procs workers doing `ops` ops each on `map`, after `warmup` untimed ops each.
template <class M>
RowResult run_row(const M& map, Op op, unsigned procs, const Workload& w, std::uint64_t ops,
                  std::uint64_t warmup, double timeout_s) {
    return run_workers(
        procs, ops, timeout_s,
        [&](unsigned worker, const std::function<void()>& barrier, WorkerReport& report) {
            // Workers start half a sequence apart, so that they do not touch the same keys in
            // lock step; the warm-up runs over a different part of the sequence.
            const std::uint64_t start = (w.mask + 1) / 2 * worker;
            std::int32_t err = 0;
            std::uint64_t failed = 0;
            if constexpr (M::kTouchAllWarmup) {
                // A forked worker faults the shared mapping in page by page on first touch:
                // one pass over every key first, so that the timed run sees the steady state.
                for (std::uint32_t key : w.keys) {
                    std::uint64_t value = 0;
                    bool ok = op == Op::lookup ? map.lookup(key, value)
                                               : map.update(key, Workload::fill_value(key));
                    if (!ok && failed++ == 0) err = errno;
                }
            }
            failed += run_ops(map, op, w, start + (w.mask + 1) / 4, warmup, err);
            if (failed != 0) {
                std::string why = "warm-up: " + std::to_string(failed) +
                                  " ops failed, first with " + errno_text(err);
                why.copy(report.error, sizeof report.error - 1);
                return;
            }
            barrier();
            report.start_ns = now_ns();
            report.failures = run_ops(map, op, w, start, ops, report.first_errno);
            report.end_ns = now_ns();
        });
}

}  // namespace bench
