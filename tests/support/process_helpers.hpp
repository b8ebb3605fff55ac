// Process-management helpers shared by the multi-process tests (concurrency_test, crash_test,
// segment_check_test).
//
// Every child (spawn_child: fork + exec of this binary) writes its results as text lines to a
// pipe of its own (Out); the parent reads them all and reaps the children within a deadline
// (finish(): poll on the pipes, then on a pidfd per child), so a hang is a failure, never a stuck
// test. Children can start together through a Gate: each reports ready (one byte), then all wait
// for the parent to close the gate's go pipe (pass_gate() is the child side).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "owned_fd.hpp"
#include "test_support.hpp"

namespace bpfmap::test::proc {

// Sanitizer builds (ASan+UBSan at -O0, TSan) run the same work several times slower: they get
// smaller op counts where a test only needs "many", and a longer hang deadline.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// A group of children that has not finished by then is reported as hung and killed.
inline constexpr int kTimeoutMs = kSanitized ? 120000 : 20000;

// "ENAME(n)" for an errno value.
std::string errname(int e);

// CLOCK_MONOTONIC, in milliseconds.
int64_t now_ms();

// An owned fd.
using bpfmap::test::Fd;

// A child process whose output pipe the parent reads.
struct Proc {
    std::string name;
    Child child;
    Fd out;
    std::string text;
    int status = -1;
    bool timed_out = false;
};

// Starts `role` with its output pipe's write end as args[0].
Proc start(const std::string& name, const std::string& role, std::vector<std::string> args,
           std::vector<int> keep);

// Reads every child's output to EOF and reaps every child, all within timeout_ms. A child still
// running at the deadline is killed (SIGKILL) and marked timed_out.
void finish(std::vector<Proc>& ps, int timeout_ms);

// Checks that a finished child exited 0 in time; reports its ERR lines.
bool check_ok(const Proc& p);

// The lines of a child's output that start with `tag ` (the rest of each line).
std::vector<std::string> lines(const Proc& p, const std::string& tag);

// Start gate: every child reports ready (one byte), then blocks until the parent closes go.
struct Gate {
    Fd ready_rd, ready_wr, go_rd, go_wr;
    Gate();
    std::vector<std::string> args() const {
        return {std::to_string(ready_wr.get()), std::to_string(go_rd.get())};
    }
    std::vector<int> fds() const { return {ready_wr.get(), go_rd.get()}; }
    // After spawning n children: waits (bounded) for their n ready bytes, then lets them go.
    bool open(int n);
};

// Child side of the gate.
void pass_gate(int ready_wr, int go_rd);

// Child side: text lines to the parent.
struct Out {
    int fd;
    void line(const std::string& s) const;
};

// Child arguments: args[i] as a number / as an fd.
unsigned long long num(const std::vector<std::string>& args, size_t i);
int ifd(const std::vector<std::string>& args, size_t i);

// A GET_NEXT_KEY walk from the first key (4-byte keys). Stops at ENOENT (err = 0), at another
// error (err = errno) or after `cap` keys (err = -1).
std::vector<uint32_t> walk(int fd, size_t cap, int& err);

// The map's id from BPF_OBJ_GET_INFO_BY_FD (0 if that fails).
uint32_t map_id_of(int fd);

// BPF_MAP_LOOKUP_AND_DELETE_ELEM through bpfmap's bpf() (key NULL: a queue/stack pop).
int lookup_and_delete(int fd, const void* key, void* value);

// Control maps (ARRAY of u32 flags, one per process): true when flags 0..n-1 are all set; false
// while one is 0 or cannot be read.
bool all_flags_set(int ctl, uint32_t n);
// The same for a worker that must report a broken control map: a failed lookup writes an ERR
// line, sets `failed` and returns true (stop).
bool readers_done(int ctl, uint32_t n_readers, const Out& out, bool& failed);

// Values made of one repeated 64-bit word (torn-value tests): writes x into every whole 8-byte
// word of v / true when every whole word equals the first.
void fill_words(std::vector<unsigned char>& v, uint64_t x);
bool words_uniform(const std::vector<unsigned char>& v);

// A child's map argument: "fd:N" (inherited) or "pin:PATH" (opened here); -1 otherwise.
int open_map_ref(const std::string& ref);
// The same in a child role: a failure is also reported to the parent as an "ERR open map" line.
int open_map_ref(const std::string& ref, const Out& out);

}  // namespace bpfmap::test::proc
