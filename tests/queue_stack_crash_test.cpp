// QUEUE and STACK lock holders that die. A child sets the crash hook (api/internal/test_hooks.h),
// which a push calls with the map's lock held and the new element's slot half-written (not yet
// published), and a pop calls with the lock held after copying the element out (not yet taken).
// The hook reports one byte over a pipe and blocks; the parent SIGKILLs the child there. Then
// (every wait bounded):
//  - the lock really was left by a dead owner (lock_states(): owner_died) and the fsck (check())
//    is clean right away, with the element count from before the killed operation;
//  - a process already blocked on the dead holder's lock (a pop) is released;
//  - the elements are exactly those from before the killed operation, each popped exactly once,
//    in FIFO / LIFO order, every byte intact: the killed push is not there (not even half), the
//    killed pop took nothing (no element lost, none duplicated), and a killed BPF_EXIST push
//    into a full map dropped nothing;
//  - the map then works normally: filled to max_entries, E2BIG, BPF_EXIST overwrite, order and
//    values right (the half-written slot is fully overwritten), fsck clean, the lock free.
#include <bpfmap/bpf.h>
#include <linux/bpf.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "crash_support.hpp"
#include "process_helpers.hpp"
#include "segment_fsck.hpp"
#include "test_support.hpp"

namespace {

namespace bt = bpfmap::test;
using namespace bpfmap::test::proc;
using bt::uptr;

constexpr uint32_t kValueSize = 64;
constexpr uint32_t kMax = 4;
constexpr unsigned char kCrashTag = 0xee;

std::vector<unsigned char> value_of(unsigned char tag) {
    return std::vector<unsigned char>(kValueSize, tag);
}

int pop(int fd, void* v) {
    return lookup_and_delete(fd, nullptr, v);
}

// The tag of a popped value, or -1 if its bytes are not all the same (torn).
int tag_of(const std::vector<unsigned char>& v) {
    for (unsigned char c : v)
        if (c != v[0]) return -1;
    return v[0];
}

// args: out map op(push|push_exist|pop)
BPFMAP_CHILD(qs_crasher) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 1);
    const std::string op = args.at(2);
    const auto v = value_of(kCrashTag);
    auto buf = value_of(0);
    stop_at_crash_point(out.fd);
    int rc;
    if (op == "push")
        rc = bt::map_update(map, nullptr, v.data(), BPF_ANY);
    else if (op == "push_exist")
        rc = bt::map_update(map, nullptr, v.data(), BPF_EXIST);
    else
        rc = pop(map, buf.data());
    const int e = errno;
    // Only reached if the hook was not called.
    out.line("D " + op + " returned " + std::to_string(rc) + (rc ? " " + errname(e) : ""));
    return 3;
}

// A pop started while the holder is stuck. args: out ready go map
BPFMAP_CHILD(qs_blocked_pop) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3);
    pass_gate(ifd(args, 1), ifd(args, 2));
    auto v = value_of(0);
    const int rc = pop(map, v.data());
    out.line("RES " + std::to_string(rc) + " " + std::to_string(rc ? errno : tag_of(v)));
    return 0;
}

// Pops until ENOENT; the tags in pop order (-1 for a torn value).
std::vector<int> drain(int fd) {
    std::vector<int> tags;
    for (uint32_t i = 0; i <= 2 * kMax + 2; ++i) {
        auto v = value_of(0);
        if (pop(fd, v.data()) != 0) {
            BOOST_CHECK_MESSAGE(errno == ENOENT, "drain: " << errname(errno));
            break;
        }
        tags.push_back(tag_of(v));
    }
    return tags;
}

std::string show(const std::vector<int>& v) {
    std::string s;
    for (int x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
    return "{" + s + "}";
}

// The map after the crash, used normally: fill, E2BIG, overwrite, order, values, fsck.
void check_normal_use(int fd, uint32_t id, bool is_queue) {
    for (unsigned char t = 1; t <= kMax; ++t) {
        const auto v = value_of(t);
        BOOST_CHECK_MESSAGE(bt::map_update(fd, nullptr, v.data(), BPF_ANY) == 0,
                            "push " << int(t) << ": " << errname(errno));
    }
    const auto x = value_of(50);
    BOOST_CHECK_EQUAL(bt::map_update(fd, nullptr, x.data(), BPF_ANY), -1);
    BOOST_CHECK_EQUAL(errno, E2BIG);
    BOOST_CHECK_EQUAL(bt::map_update(fd, nullptr, x.data(), BPF_EXIST), 0);  // drops 1
    const std::vector<int> want =
        is_queue ? std::vector<int>{2, 3, 4, 50} : std::vector<int>{50, 4, 3, 2};
    const std::vector<int> got = drain(fd);
    BOOST_CHECK_MESSAGE(got == want,
                        "after the crash: popped " << show(got) << ", want " << show(want));
    const bt::Fsck f = bt::fsck_map(id);
    BOOST_CHECK_MESSAGE(f.clean(), "fsck: " << f.text());
    BOOST_CHECK_EQUAL(f.count, 0u);
    BOOST_REQUIRE_EQUAL(f.locks.size(), 1u);
    BOOST_CHECK_EQUAL(f.locks[0].owner_tid, 0);
    BOOST_CHECK(!f.locks[0].owner_died);
}

void scenario(uint32_t type, const std::string& op, bool with_blocked) {
    const bool is_queue = type == BPF_MAP_TYPE_QUEUE;
    BOOST_TEST_MESSAGE((is_queue ? "QUEUE " : "STACK ")
                       << op << (with_blocked ? ", a pop blocked on the lock" : ""));
    Fd map(bt::map_create(type, 0, kValueSize, kMax));
    BOOST_REQUIRE_MESSAGE(map.ok(), "create: " << errname(errno));
    const uint32_t id = map_id_of(map.get());
    BOOST_REQUIRE(id != 0);
    // Before: 2 elements for a push (room left), kMax for a BPF_EXIST push (full), 3 for a pop.
    const uint32_t n = op == "push" ? 2 : op == "push_exist" ? kMax : 3;
    std::vector<int> before;
    for (uint32_t i = 1; i <= n; ++i) {
        const auto v = value_of(static_cast<unsigned char>(10 * i));
        BOOST_REQUIRE_EQUAL(bt::map_update(map.get(), nullptr, v.data(), BPF_ANY), 0);
        before.push_back(static_cast<int>(10 * i));
    }
    if (!is_queue) std::reverse(before.begin(), before.end());  // pop order

    Proc w = start("crasher", "qs_crasher", {std::to_string(map.get()), op}, {map.get()});
    const char c = wait_byte(w, kTimeoutMs);
    BOOST_REQUIRE_MESSAGE(c == 'H', "the crasher never reached the crash point ("
                                        << (c ? std::string(1, c) : "EOF/timeout") << ")");
    std::vector<Proc> blocked;
    if (with_blocked) {
        Gate gate;
        std::vector<std::string> a = gate.args();
        a.push_back(std::to_string(map.get()));
        blocked.push_back(
            start("blocked pop", "qs_blocked_pop", a, {map.get(), gate.fds()[0], gate.fds()[1]}));
        BOOST_REQUIRE(gate.open(1));
        BOOST_TEST_MESSAGE(
            "  blocked pop parked on the lock: " << wait_in_futex(blocked[0].child.pid(), 5000));
    }
    kill_holder(w);

    if (!with_blocked) {
        // Nobody has touched the lock since: it is marked, and the state is already consistent.
        const bt::Fsck f = bt::fsck_map(id);
        BOOST_CHECK_MESSAGE(f.clean(), "fsck right after the kill: " << f.text());
        BOOST_CHECK_EQUAL(f.count, n);
        BOOST_REQUIRE_EQUAL(f.locks.size(), 1u);
        BOOST_CHECK_MESSAGE(f.locks[0].owner_died, "the lock is not marked owner-died");
    }
    std::vector<int> got;
    if (with_blocked) {
        finish(blocked, kTimeoutMs);
        check_ok(blocked[0]);
        const auto r = lines(blocked[0], "RES");
        BOOST_REQUIRE_MESSAGE(r.size() == 1, "blocked pop: no result");
        std::istringstream in(r[0]);
        int rc = 1, tag = -1;
        in >> rc >> tag;
        BOOST_CHECK_MESSAGE(rc == 0, "blocked pop: " << r[0]);
        if (rc == 0) got.push_back(tag);
    }
    for (int t : drain(map.get())) got.push_back(t);
    BOOST_CHECK_MESSAGE(got == before, "popped " << show(got) << ", want exactly " << show(before)
                                                 << " (the killed " << op
                                                 << " must have changed nothing)");
    check_normal_use(map.get(), id, is_queue);
}

BOOST_AUTO_TEST_CASE(queue_push_killed) {
    scenario(BPF_MAP_TYPE_QUEUE, "push", false);
    scenario(BPF_MAP_TYPE_QUEUE, "push", true);
}
BOOST_AUTO_TEST_CASE(queue_push_exist_full_killed) {
    scenario(BPF_MAP_TYPE_QUEUE, "push_exist", false);
    scenario(BPF_MAP_TYPE_QUEUE, "push_exist", true);
}
BOOST_AUTO_TEST_CASE(queue_pop_killed) {
    scenario(BPF_MAP_TYPE_QUEUE, "pop", false);
    scenario(BPF_MAP_TYPE_QUEUE, "pop", true);
}
BOOST_AUTO_TEST_CASE(stack_push_killed) {
    scenario(BPF_MAP_TYPE_STACK, "push", false);
    scenario(BPF_MAP_TYPE_STACK, "push", true);
}
BOOST_AUTO_TEST_CASE(stack_push_exist_full_killed) {
    scenario(BPF_MAP_TYPE_STACK, "push_exist", false);
    scenario(BPF_MAP_TYPE_STACK, "push_exist", true);
}
BOOST_AUTO_TEST_CASE(stack_pop_killed) {
    scenario(BPF_MAP_TYPE_STACK, "pop", false);
    scenario(BPF_MAP_TYPE_STACK, "pop", true);
}

}  // namespace
