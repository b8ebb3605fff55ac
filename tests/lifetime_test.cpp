// Map lifetime across fds and processes (kernel-map-semantics.md §11-12, bpf.h, store.hpp):
//   (a) the last close() of an unpinned map destroys it at once: GET_FD_BY_ID → ENOENT, the id
//       leaves GET_NEXT_ID and $BPFMAP_ROOT/maps/<id> is gone; also when the last holder is
//       another process (that closes and exits, or just exits); ids are not reused at once;
//   (b) a pin keeps a map through every close; bpfmap_unpin() with no fd open destroys it at
//       once, with an fd open at that fd's last close; a pin removed with unlink() (rm) leaves
//       a map that the next GET_NEXT_ID / GET_FD_BY_ID of any process no longer finds;
//   (c) a child holding the only fd is killed (SIGKILL): the next GET_NEXT_ID or GET_FD_BY_ID
//       no longer finds the map and its file goes, with no manual step;
//   (d) a closed map fd's number, reused by open() (/dev/null, a regular file, another map),
//       never reaches the old map (EINVAL for a non-map), nor after dup2()/dup3() over it or
//       close_range(); the old map is unaffected;
//   (e) dup() keeps a map alive after the original is closed; the dup's close is the last one;
//   (f) a child (fork, fork+exec) closing its inherited fd does not destroy the parent's map;
//   (g) segment files are mode 0600, or bpfmap_set_create_mode()'s mode;
//   (h) every map fd is FD_CLOEXEC and its F_GETFL access mode matches RDONLY/WRONLY.
// Children are re-executed copies of this binary (spawn_child) or plain fork()s; they report
// failures on stderr and by exit status and synchronise through pipes (no sleeps).
#include <bpfmap/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace bt = bpfmap::test;

namespace {

// A failed check in a child: says what and where on stderr, and makes the child exit non-zero.
#define CHILD_CHECK(cond, ...)                                                               \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            const int child_errno_ = errno;                                                  \
            std::fprintf(stderr, "[child pid %d] %s:%d: check failed: %s: ", (int)getpid(),  \
                         __FILE__, __LINE__, #cond);                                         \
            std::fprintf(stderr, __VA_ARGS__);                                               \
            std::fprintf(stderr, " (errno %d: %s)\n", child_errno_, strerror(child_errno_)); \
            return 10;                                                                       \
        }                                                                                    \
    } while (0)

using bt::raw_signal;
using bt::raw_wait;
using bt::to_int;
using bt::uptr;

int get_fd_by_id(uint32_t id, uint32_t open_flags = 0) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_id = id;
    a.open_flags = open_flags;
    return bpf(BPF_MAP_GET_FD_BY_ID, &a, sizeof a);
}

// Every id GET_NEXT_ID lists. 0, or the errno that ended the walk if not ENOENT; -1 if the
// ids did not ascend.
int walk_ids(std::vector<uint32_t>& ids) {
    ids.clear();
    uint32_t start = 0;
    for (;;) {
        union bpf_attr a;
        std::memset(&a, 0, sizeof a);
        a.start_id = start;
        if (bpf(BPF_MAP_GET_NEXT_ID, &a, sizeof a) != 0) return errno == ENOENT ? 0 : errno;
        if (a.next_id <= start) return -1;
        ids.push_back(a.next_id);
        start = a.next_id;
    }
}

std::string map_file(uint32_t id) {
    return bt::test_root() + "/maps/" + std::to_string(id);
}

bool exists(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0;
}

// ---- Parent-side helpers ------------------------------------------------------------------

bool listed(uint32_t id) {
    std::vector<uint32_t> ids;
    int rc = walk_ids(ids);
    BOOST_TEST(rc == 0, "GET_NEXT_ID walk ended with " << rc);
    return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// A u32 → u64 hash map holding 1=v1.
int new_map(const char* name, uint64_t v1 = 42, unsigned flags = 0) {
    int fd = bt::map_create(BPF_MAP_TYPE_HASH, 4, 8, 8, flags, name);
    BOOST_REQUIRE_MESSAGE(fd >= 0, "map_create(" << name << "): " << strerror(errno));
    uint32_t k = 1;
    if (!(flags & BPF_F_RDONLY))
        BOOST_REQUIRE_MESSAGE(bt::map_update(fd, &k, &v1, BPF_ANY) == 0,
                              "update: " << strerror(errno));
    return fd;
}

uint64_t value_of(int fd, uint32_t key = 1) {
    uint64_t v = 0;
    BOOST_TEST(bt::map_lookup(fd, &key, &v) == 0,
               "lookup of key " << key << " on fd " << fd << ": " << strerror(errno));
    return v;
}

// The map is alive: its file exists, its id is listed and GET_FD_BY_ID opens it.
void check_alive(uint32_t id, const std::string& when) {
    BOOST_TEST_CONTEXT("map id " << id << ", " << when) {
        BOOST_TEST(exists(map_file(id)), "maps/" << id << " is gone");
        BOOST_TEST(listed(id), "GET_NEXT_ID does not list it");
        int fd = get_fd_by_id(id);
        BOOST_TEST(fd >= 0, "GET_FD_BY_ID: " << strerror(errno));
        if (fd >= 0) ::close(fd);
    }
}

enum class Probe { FileFirst, FdByIdFirst, NextIdFirst };

// The map is destroyed. `first` says what is looked at first: the file (destroyed at once, no
// library call in between), GET_FD_BY_ID or GET_NEXT_ID (destroyed lazily by that call).
void check_gone(uint32_t id, Probe first, const std::string& when) {
    BOOST_TEST_CONTEXT("map id " << id << ", " << when) {
        auto file_gone = [&] {
            BOOST_TEST(!exists(map_file(id)), "maps/" << id << " still exists");
        };
        auto fd_by_id_enoent = [&] {
            errno = 0;
            int fd = get_fd_by_id(id);
            int err = errno;
            BOOST_TEST(fd == -1, "GET_FD_BY_ID still opens it");
            BOOST_TEST(err == ENOENT, "GET_FD_BY_ID errno " << err << ", want ENOENT");
            if (fd >= 0) ::close(fd);
        };
        auto not_listed = [&] { BOOST_TEST(!listed(id), "GET_NEXT_ID still lists it"); };
        switch (first) {
            case Probe::FileFirst:
                file_gone();
                fd_by_id_enoent();
                not_listed();
                break;
            case Probe::FdByIdFirst:
                fd_by_id_enoent();
                file_gone();
                not_listed();
                break;
            case Probe::NextIdFirst:
                not_listed();
                file_gone();
                fd_by_id_enoent();
                break;
        }
    }
}

// Two pipes: down (parent → child) and up (child → parent).
struct Chan {
    bt::SyncPipe down, up;
    std::vector<int> child_fds() const { return {down.rd, up.wr}; }
    std::string rd() const { return std::to_string(down.rd); }
    std::string wr() const { return std::to_string(up.wr); }
    void parent_side() {
        ::close(down.rd);
        down.rd = -1;
        ::close(up.wr);
        up.wr = -1;
    }
};

void wait_child_ready(Chan& ch, bt::Child& child, const std::string& what) {
    if (!ch.up.wait_ready()) {
        int st = child.wait();
        BOOST_FAIL(what << ": the child exited (status " << st
                        << ") before signalling; see its stderr");
    }
}

// Opens /dev/null until it gets number `want` (free, but maybe not the lowest free number).
// The extra fds are closed again.
int open_devnull_at(int want) {
    std::vector<int> extra;
    int got = -1;
    for (int i = 0; i < 4096; ++i) {
        int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd < 0 || fd == want) {
            got = fd;
            break;
        }
        extra.push_back(fd);
    }
    for (int fd : extra) ::close(fd);
    BOOST_REQUIRE_MESSAGE(got == want, "could not get fd number " << want << " again");
    return got;
}

// Checks that bpf() on `fd` (not a map) fails with EINVAL for every fd command.
void check_not_a_map(int fd, const std::string& what) {
    BOOST_TEST_CONTEXT(what << " (fd " << fd << ")") {
        auto expect_einval = [](const char* cmd, int rc) {
            const int err = errno;
            BOOST_TEST((rc == -1 && err == EINVAL),
                       cmd << " returned " << rc << (rc == -1 ? " errno " : " (reached a map)")
                           << (rc == -1 ? std::to_string(err) : std::string())
                           << "; want -1 with EINVAL");
        };
        uint32_t k = 1, nk = 0;
        uint64_t v = 777;
        errno = 0;
        expect_einval("LOOKUP", bt::map_lookup(fd, &k, &v));
        errno = 0;
        expect_einval("UPDATE", bt::map_update(fd, &k, &v, BPF_ANY));
        errno = 0;
        expect_einval("DELETE", bt::map_delete(fd, &k));
        errno = 0;
        expect_einval("GET_NEXT_KEY", bt::map_get_next_key(fd, nullptr, &nk));
        errno = 0;
        struct bpf_map_info info;
        expect_einval("OBJ_GET_INFO_BY_FD", bt::map_info(fd, info));
        errno = 0;
        const std::string pin = bt::test_root() + "/pins/stale-" + std::to_string(fd);
        expect_einval("OBJ_PIN", bt::obj_pin(fd, pin));
        ::unlink(pin.c_str());
    }
}

}  // namespace

// ---- Child roles --------------------------------------------------------------------------

// args: map id, down rd, up wr, "close" | "exit". Opens the map by id, signals, waits, then
// closes it and exits, or just exits.
BPFMAP_CHILD(life_hold_by_id) {
    const uint32_t id = static_cast<uint32_t>(to_int(args.at(0)));
    int fd = get_fd_by_id(id);
    CHILD_CHECK(fd >= 0, "GET_FD_BY_ID(%u)", id);
    uint32_t k = 1;
    uint64_t v = 0;
    CHILD_CHECK(bt::map_lookup(fd, &k, &v) == 0, "lookup");
    CHILD_CHECK(raw_signal(to_int(args.at(2))), "signal");
    // Killed here in the SIGKILL tests; otherwise the parent says go.
    CHILD_CHECK(raw_wait(to_int(args.at(1))), "the parent went away");
    if (args.at(3) == "close") CHILD_CHECK(::close(fd) == 0, "close");
    return 0;
}

// args: map fd (inherited across exec), down rd, up wr, "use" | "nouse", "close" | "exit".
// Uses the inherited fd through bpf() or not; when the parent says go, closes it (or not),
// signals and exits normally.
BPFMAP_CHILD(life_close_inherited) {
    const int fd = to_int(args.at(0));
    if (args.at(3) == "use") {
        uint32_t k = 1;
        uint64_t v = 0;
        CHILD_CHECK(bt::map_lookup(fd, &k, &v) == 0, "lookup on the inherited fd");
    }
    CHILD_CHECK(raw_wait(to_int(args.at(1))), "the parent went away");
    if (args.at(4) == "close") CHILD_CHECK(::close(fd) == 0, "close of the inherited fd");
    CHILD_CHECK(raw_signal(to_int(args.at(2))), "signal");
    return 0;
}

// args: pin path, key, expected value
BPFMAP_CHILD(life_get_and_check) {
    int fd = bt::obj_get(args.at(0));
    CHILD_CHECK(fd >= 0, "OBJ_GET(%s)", args.at(0).c_str());
    uint32_t k = static_cast<uint32_t>(to_int(args.at(1)));
    uint64_t v = 0;
    CHILD_CHECK(bt::map_lookup(fd, &k, &v) == 0, "lookup");
    CHILD_CHECK(v == static_cast<uint64_t>(to_int(args.at(2))), "value %llu, want %s",
                (unsigned long long)v, args.at(2).c_str());
    return 0;
}

// args: map id. GET_FD_BY_ID must say ENOENT.
BPFMAP_CHILD(life_expect_gone) {
    const uint32_t id = static_cast<uint32_t>(to_int(args.at(0)));
    errno = 0;
    int fd = get_fd_by_id(id);
    CHILD_CHECK(fd == -1 && errno == ENOENT, "GET_FD_BY_ID(%u) of a dead map gave %d", id, fd);
    return 0;
}

// ---- Tests --------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(lifetime)

BOOST_AUTO_TEST_CASE(last_close_in_same_process_destroys_at_once) {
    // The creator's fd.
    int fd = new_map("life_a1");
    const uint32_t id = bt::map_id(fd);
    BOOST_REQUIRE(id != 0);
    check_alive(id, "while its fd is open");
    BOOST_REQUIRE(::close(fd) == 0);
    check_gone(id, Probe::FileFirst, "after the last close() of the creator's fd");

    // Ids are not reused at once.
    int fd2 = new_map("life_a1b");
    const uint32_t id2 = bt::map_id(fd2);
    BOOST_TEST(id2 != id, "the id of a just-destroyed map was reused at once");

    // The last close is of a GET_FD_BY_ID fd (its own description), the creator's closed first.
    int byid = get_fd_by_id(id2);
    BOOST_REQUIRE(byid >= 0);
    BOOST_REQUIRE(::close(fd2) == 0);
    check_alive(id2, "creator's fd closed, GET_FD_BY_ID fd open");
    BOOST_TEST(value_of(byid) == 42u);
    BOOST_REQUIRE(::close(byid) == 0);
    check_gone(id2, Probe::FileFirst, "after the last close() of a GET_FD_BY_ID fd");

    // A map created with BPF_F_RDONLY (its only fd is read-only).
    int ro = new_map("life_a1c", 0, BPF_F_RDONLY);
    const uint32_t id3 = bt::map_id(ro);
    BOOST_REQUIRE(id3 != 0);
    check_alive(id3, "created RDONLY, fd open");
    BOOST_REQUIRE(::close(ro) == 0);
    check_gone(id3, Probe::FileFirst, "after the last close() of a BPF_F_RDONLY-created fd");
}

// A child holds the map `name` by id (life_hold_by_id), the parent closes its fd, then the child
// drops the last fd as `how` says ("close" or "exit"); the map must be gone at once after that.
static void last_holder_in_child(const char* name, const char* how, const std::string& gone_when) {
    int fd = new_map(name);
    const uint32_t id = bt::map_id(fd);
    Chan ch;
    bt::Child child = bt::spawn_child("life_hold_by_id",
                                      {std::to_string(id), ch.rd(), ch.wr(), how}, ch.child_fds());
    ch.parent_side();
    wait_child_ready(ch, child, "child opening the map by id");
    BOOST_REQUIRE(::close(fd) == 0);
    check_alive(id, "the parent closed, the child still holds it");
    ch.down.signal();
    BOOST_REQUIRE_EQUAL(child.wait(), 0);
    check_gone(id, Probe::FileFirst, gone_when);
}

BOOST_AUTO_TEST_CASE(last_holder_is_another_process_that_closes) {
    last_holder_in_child("life_a2", "close", "after the child's close() (the last one) and exit");
}

BOOST_AUTO_TEST_CASE(last_holder_is_another_process_that_exits) {
    // A normal exit closes the last fd: the map is gone at once, as after a last close().
    last_holder_in_child("life_a3", "exit", "after the child exited normally holding the last fd");
}

BOOST_AUTO_TEST_CASE(pinned_map_survives_closes_and_unpin_destroys_it) {
    int fd = new_map("life_b1", 7);
    const uint32_t id = bt::map_id(fd);
    const std::string pin = bt::test_root() + "/pins/life_b1";
    BOOST_REQUIRE(bt::obj_pin(fd, pin) == 0);
    BOOST_REQUIRE(::close(fd) == 0);
    check_alive(id, "pinned, every fd closed");
    // Another process reaches it by the pin and sees the data.
    BOOST_TEST(bt::spawn_child("life_get_and_check", {pin, "1", "7"}).wait() == 0,
               "OBJ_GET in a child after every fd was closed (see its stderr)");
    check_alive(id, "pinned, after the child's fd was closed");
    int got = bt::obj_get(pin);
    BOOST_REQUIRE_MESSAGE(got >= 0, "OBJ_GET: " << strerror(errno));
    BOOST_TEST(value_of(got) == 7u);
    BOOST_REQUIRE(::close(got) == 0);
    int byid = get_fd_by_id(id);
    BOOST_REQUIRE(byid >= 0);
    BOOST_REQUIRE(::close(byid) == 0);
    check_alive(id, "pinned, after OBJ_GET and GET_FD_BY_ID fds were closed");

    BOOST_REQUIRE_MESSAGE(bpfmap_unpin(pin.c_str()) == 0, "bpfmap_unpin: " << strerror(errno));
    BOOST_TEST(!exists(pin), "the pin is still there");
    check_gone(id, Probe::FileFirst, "after bpfmap_unpin() with no fd open");
    errno = 0;
    BOOST_TEST(bt::obj_get(pin) == -1);
    BOOST_TEST(errno == ENOENT);
}

BOOST_AUTO_TEST_CASE(unpin_with_an_fd_open_destroys_at_that_fds_close) {
    int fd = new_map("life_b2", 9);
    const uint32_t id = bt::map_id(fd);
    const std::string pin = bt::test_root() + "/pins/life_b2";
    BOOST_REQUIRE(bt::obj_pin(fd, pin) == 0);
    BOOST_REQUIRE(bpfmap_unpin(pin.c_str()) == 0);
    check_alive(id, "unpinned while an fd is open");
    BOOST_TEST(value_of(fd) == 9u);
    BOOST_REQUIRE(::close(fd) == 0);
    check_gone(id, Probe::FileFirst, "at the close() after the unpin");

    // With two pins, removing one (either way) keeps the map.
    int fd2 = new_map("life_b2b", 5);
    const uint32_t id2 = bt::map_id(fd2);
    const std::string p1 = bt::test_root() + "/pins/life_b2b.1";
    const std::string p2 = bt::test_root() + "/pins/life_b2b.2";
    BOOST_REQUIRE(bt::obj_pin(fd2, p1) == 0);
    BOOST_REQUIRE(bt::obj_pin(fd2, p2) == 0);
    BOOST_REQUIRE(::close(fd2) == 0);
    BOOST_REQUIRE(::unlink(p1.c_str()) == 0);
    check_alive(id2, "one of two pins removed with unlink()");
    BOOST_TEST(bt::spawn_child("life_get_and_check", {p2, "1", "5"}).wait() == 0);
    BOOST_REQUIRE(bpfmap_unpin(p2.c_str()) == 0);
    check_gone(id2, Probe::FileFirst, "after the last pin was removed with bpfmap_unpin()");
}

BOOST_AUTO_TEST_CASE(unpin_refuses_what_is_not_a_pin) {
    int fd = new_map("life_b4", 13);
    const uint32_t id = bt::map_id(fd);
    const std::string pin = bt::test_root() + "/pins/life_b4";
    BOOST_REQUIRE(bt::obj_pin(fd, pin) == 0);
    const int d = ::dup(fd);  // first used by bpf() only after the attempt below
    BOOST_REQUIRE(d >= 0);
    // The map's own file in maps/ is not a pin: removing it would kill the map under its
    // holders (GET_FD_BY_ID, and fds received later, would no longer find it).
    errno = 0;
    BOOST_TEST(bpfmap_unpin(map_file(id).c_str()) == -1,
               "bpfmap_unpin accepted maps/" << id << ", which is not a pin");
    check_alive(id, "after bpfmap_unpin(maps/<id>)");
    BOOST_TEST(value_of(d) == 13u, "a dup of a live map's fd no longer works");
    BOOST_TEST(::close(d) == 0);
    // Missing path, a path outside the root, a file that is not a map.
    errno = 0;
    BOOST_TEST(bpfmap_unpin((bt::test_root() + "/pins/no-such-pin").c_str()) == -1);
    BOOST_TEST(errno == ENOENT, "errno " << errno);
    errno = 0;
    BOOST_TEST(bpfmap_unpin("/dev/null") == -1);
    BOOST_TEST(errno == EPERM, "errno " << errno);
    const std::string junk = bt::test_root() + "/pins/not-a-map";
    int j = ::open(junk.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    BOOST_REQUIRE(j >= 0);
    BOOST_REQUIRE(::ftruncate(j, 4096) == 0);
    ::close(j);
    errno = 0;
    BOOST_TEST(bpfmap_unpin(junk.c_str()) == -1);
    BOOST_TEST(exists(junk), "bpfmap_unpin removed a file that is not a pin");
    ::unlink(junk.c_str());
    BOOST_TEST(value_of(fd) == 13u);
    BOOST_TEST(bpfmap_unpin(pin.c_str()) == 0);
    BOOST_TEST(::close(fd) == 0);
    check_gone(id, Probe::FileFirst, "unpinned and closed");
}

BOOST_AUTO_TEST_CASE(pin_removed_with_unlink_is_gone_for_the_next_user) {
    // Found dead by another process's GET_FD_BY_ID.
    int fd = new_map("life_b3");
    const uint32_t id = bt::map_id(fd);
    const std::string pin = bt::test_root() + "/pins/life_b3";
    BOOST_REQUIRE(bt::obj_pin(fd, pin) == 0);
    BOOST_REQUIRE(::close(fd) == 0);
    check_alive(id, "pinned, fds closed");
    BOOST_REQUIRE(::unlink(pin.c_str()) == 0);  // like rm: no library involved
    BOOST_TEST(bt::spawn_child("life_expect_gone", {std::to_string(id)}).wait() == 0,
               "GET_FD_BY_ID in another process found the map after its pin was rm'd");
    BOOST_TEST(!exists(map_file(id)), "maps/" << id << " survived the child's GET_FD_BY_ID");
    BOOST_TEST(!listed(id));

    // Found dead by GET_NEXT_ID (a pin in a user-made folder this time).
    BOOST_REQUIRE(::mkdir((bt::test_root() + "/pins/rmdir").c_str(), 0700) == 0);
    int fd2 = new_map("life_b3b");
    const uint32_t id2 = bt::map_id(fd2);
    const std::string pin2 = bt::test_root() + "/pins/rmdir/life_b3b";
    BOOST_REQUIRE(bt::obj_pin(fd2, pin2) == 0);
    BOOST_REQUIRE(::close(fd2) == 0);
    BOOST_REQUIRE(::unlink(pin2.c_str()) == 0);
    check_gone(id2, Probe::NextIdFirst, "pin removed with unlink(), then GET_NEXT_ID");

    // Found dead by GET_FD_BY_ID in this process.
    int fd3 = new_map("life_b3c");
    const uint32_t id3 = bt::map_id(fd3);
    const std::string pin3 = bt::test_root() + "/pins/life_b3c";
    BOOST_REQUIRE(bt::obj_pin(fd3, pin3) == 0);
    BOOST_REQUIRE(::close(fd3) == 0);
    BOOST_REQUIRE(::unlink(pin3.c_str()) == 0);
    check_gone(id3, Probe::FdByIdFirst, "pin removed with unlink(), then GET_FD_BY_ID");
}

BOOST_AUTO_TEST_CASE(killed_last_holder_is_reclaimed_lazily) {
    // 0: a killed holder that was not the last one takes nothing with it.
    {
        int fd = new_map("life_c0", 17);
        const uint32_t id = bt::map_id(fd);
        Chan ch;
        bt::Child child = bt::spawn_child(
            "life_hold_by_id", {std::to_string(id), ch.rd(), ch.wr(), "close"}, ch.child_fds());
        ch.parent_side();
        wait_child_ready(ch, child, "child opening the map by id");
        child.kill(SIGKILL);
        BOOST_REQUIRE_EQUAL(child.wait(), 128 + SIGKILL);
        check_alive(id, "a second holder was killed, the parent still holds it");
        BOOST_TEST(value_of(fd) == 17u);
        BOOST_REQUIRE(::close(fd) == 0);
        check_gone(id, Probe::FileFirst, "the parent's close after the killed child");
    }
    // 1: the child opened the map by id; after the kill, GET_NEXT_ID is the first to look.
    {
        int fd = new_map("life_c1");
        const uint32_t id = bt::map_id(fd);
        Chan ch;
        bt::Child child = bt::spawn_child(
            "life_hold_by_id", {std::to_string(id), ch.rd(), ch.wr(), "close"}, ch.child_fds());
        ch.parent_side();
        wait_child_ready(ch, child, "child opening the map by id");
        BOOST_REQUIRE(::close(fd) == 0);
        check_alive(id, "the parent closed, the child holds the only fd");
        child.kill(SIGKILL);
        BOOST_REQUIRE_EQUAL(child.wait(), 128 + SIGKILL);
        check_gone(id, Probe::NextIdFirst, "holder killed, then GET_NEXT_ID");
    }
    // 2: the child inherited the fd by fork(); after the kill GET_FD_BY_ID looks first.
    {
        int fd = new_map("life_c2");
        const uint32_t id = bt::map_id(fd);
        Chan ch;
        pid_t pid = ::fork();
        BOOST_REQUIRE(pid >= 0);
        if (pid == 0) {
            uint32_t k = 1;
            uint64_t v = 0;
            int ok = bt::map_lookup(fd, &k, &v) == 0 && v == 42;
            raw_signal(ch.up.wr);
            raw_wait(ch.down.rd);  // killed here
            ::_exit(ok ? 0 : 1);
        }
        bt::Child child(pid);
        ch.parent_side();
        wait_child_ready(ch, child, "forked child");
        BOOST_REQUIRE(::close(fd) == 0);  // the child's copy of the description remains
        check_alive(id, "the parent closed, the forked child holds the only fd");
        child.kill(SIGKILL);
        BOOST_REQUIRE_EQUAL(child.wait(), 128 + SIGKILL);
        check_gone(id, Probe::FdByIdFirst, "forked holder killed, then GET_FD_BY_ID");
    }
    // 3: another process is the first to look.
    {
        int fd = new_map("life_c3");
        const uint32_t id = bt::map_id(fd);
        Chan ch;
        bt::Child child = bt::spawn_child(
            "life_hold_by_id", {std::to_string(id), ch.rd(), ch.wr(), "close"}, ch.child_fds());
        ch.parent_side();
        wait_child_ready(ch, child, "child opening the map by id");
        BOOST_REQUIRE(::close(fd) == 0);
        child.kill(SIGKILL);
        BOOST_REQUIRE_EQUAL(child.wait(), 128 + SIGKILL);
        BOOST_TEST(bt::spawn_child("life_expect_gone", {std::to_string(id)}).wait() == 0,
                   "another process's GET_FD_BY_ID found the map of a killed holder");
        BOOST_TEST(!exists(map_file(id)));
        BOOST_TEST(!listed(id));
    }
}

BOOST_AUTO_TEST_CASE(reused_fd_number_never_reaches_the_old_map) {
    int fd = new_map("life_d1", 11);
    const uint32_t id = bt::map_id(fd);
    int keep = get_fd_by_id(id);  // keeps the map alive
    BOOST_REQUIRE(keep >= 0);
    int other = new_map("life_d1b", 22);  // made now, so it does not take the number below
    const uint32_t other_id = bt::map_id(other);

    // Reused by /dev/null.
    BOOST_REQUIRE(::close(fd) == 0);
    int nul = open_devnull_at(fd);
    check_not_a_map(nul, "/dev/null at a closed map fd's number");
    BOOST_TEST(value_of(keep) == 11u, "the old map changed");
    BOOST_TEST(::close(nul) == 0);

    // Reused by a regular file (not a map).
    const std::string junk = bt::test_root() + "/junk";
    int regular = -1;
    {
        std::vector<int> extra;
        for (int i = 0; i < 4096 && regular != fd; ++i) {
            int f = ::open(junk.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
            BOOST_REQUIRE(f >= 0);
            if (f == fd)
                regular = f;
            else
                extra.push_back(f);
        }
        for (int f : extra) ::close(f);
    }
    BOOST_REQUIRE(regular == fd);
    BOOST_REQUIRE(::ftruncate(regular, 65536) == 0);
    check_not_a_map(regular, "a regular file at a closed map fd's number");
    BOOST_TEST(::close(regular) == 0);
    ::unlink(junk.c_str());

    // Reused by another map: operations reach the new map, not the old one.
    int again = -1;
    {
        std::vector<int> extra;
        for (int i = 0; i < 4096; ++i) {
            int f = get_fd_by_id(other_id);
            BOOST_REQUIRE(f >= 0);
            if (f == fd) {
                again = f;
                break;
            }
            extra.push_back(f);
        }
        for (int f : extra) ::close(f);
    }
    BOOST_REQUIRE(again == fd);
    BOOST_TEST(bt::map_id(again) == other_id, "GET_INFO at the reused number reports the old map");
    BOOST_TEST(value_of(again) == 22u, "lookup at the reused number reached the old map");
    uint32_t k = 1;
    uint64_t v = 23;
    BOOST_TEST(bt::map_update(again, &k, &v, BPF_ANY) == 0);
    BOOST_TEST(value_of(other) == 23u);
    BOOST_TEST(value_of(keep) == 11u, "the old map changed");
    BOOST_TEST(::close(again) == 0);
    BOOST_TEST(::close(other) == 0);
    check_gone(other_id, Probe::FileFirst, "second map's last close");
    check_alive(id, "still held by `keep`");
    BOOST_TEST(::close(keep) == 0);
    check_gone(id, Probe::FileFirst, "first map's last close");
}

BOOST_AUTO_TEST_CASE(dup2_and_dup3_over_a_map_fd) {
    int nul = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    BOOST_REQUIRE(nul >= 0);

    // dup2(/dev/null, map fd) while another fd holds the map.
    int fd = new_map("life_d2", 31);
    const uint32_t id = bt::map_id(fd);
    int keep = get_fd_by_id(id);
    BOOST_REQUIRE(keep >= 0);
    BOOST_REQUIRE(::dup2(nul, fd) == fd);
    check_not_a_map(fd, "dup2(/dev/null) over a map fd");
    BOOST_TEST(value_of(keep) == 31u, "the old map changed");
    check_alive(id, "after dup2 over one of its two fds");
    BOOST_TEST(::close(fd) == 0);
    BOOST_TEST(::close(keep) == 0);
    check_gone(id, Probe::FileFirst, "last close after dup2");

    // dup2(/dev/null, the only map fd): that was the last close.
    int only = new_map("life_d2b");
    const uint32_t only_id = bt::map_id(only);
    BOOST_REQUIRE(::dup2(nul, only) == only);
    check_gone(only_id, Probe::FileFirst, "dup2 over the map's only fd");
    check_not_a_map(only, "dup2(/dev/null) over the only map fd");
    BOOST_TEST(::close(only) == 0);

    // dup2(map B, map A): the number now reaches B; A (still held) is unchanged.
    int a = new_map("life_d2a", 1);
    int b = new_map("life_d2bb", 2);
    const uint32_t ida = bt::map_id(a), idb = bt::map_id(b);
    int keep_a = get_fd_by_id(ida);
    BOOST_REQUIRE(keep_a >= 0);
    BOOST_REQUIRE(::dup2(b, a) == a);
    BOOST_TEST(bt::map_id(a) == idb, "after dup2(b, a), fd a is not map b");
    BOOST_TEST(value_of(a) == 2u);
    uint32_t k = 1;
    uint64_t v = 3;
    BOOST_TEST(bt::map_update(a, &k, &v, BPF_ANY) == 0);
    BOOST_TEST(value_of(b) == 3u);
    BOOST_TEST(value_of(keep_a) == 1u, "map a changed");
    BOOST_TEST(::close(keep_a) == 0);
    check_gone(ida, Probe::FileFirst, "map a's last fd closed (the other was dup2'd over)");
    BOOST_TEST(::close(a) == 0);
    check_alive(idb, "fd b still open");
    BOOST_TEST(::close(b) == 0);
    check_gone(idb, Probe::FileFirst, "map b's last close");

    // dup3(/dev/null, map fd, O_CLOEXEC).
    int c = new_map("life_d2c", 4);
    const uint32_t idc = bt::map_id(c);
    int keep_c = get_fd_by_id(idc);
    BOOST_REQUIRE(::dup3(nul, c, O_CLOEXEC) == c);
    check_not_a_map(c, "dup3(/dev/null) over a map fd");
    BOOST_TEST(value_of(keep_c) == 4u);
    BOOST_TEST(::close(c) == 0);
    BOOST_TEST(::close(keep_c) == 0);
    check_gone(idc, Probe::FileFirst, "last close after dup3");
    BOOST_TEST(::close(nul) == 0);
}

BOOST_AUTO_TEST_CASE(close_range_then_reuse_never_reaches_the_old_map) {
    int fd = new_map("life_d3", 51);
    const uint32_t id = bt::map_id(fd);
    int keep = get_fd_by_id(id);
    BOOST_REQUIRE(keep >= 0);
    BOOST_REQUIRE(value_of(fd) == 51u);  // known to the library
    const unsigned u = static_cast<unsigned>(fd);
    BOOST_REQUIRE_MESSAGE(::close_range(u, u, 0) == 0, "close_range: " << strerror(errno));
    int nul = open_devnull_at(fd);
    check_not_a_map(nul, "/dev/null at a map fd number closed with close_range()");
    BOOST_TEST(value_of(keep) == 51u, "the old map changed");
    BOOST_TEST(::close(nul) == 0);
    BOOST_TEST(::close(keep) == 0);
    check_gone(id, Probe::FdByIdFirst, "after its last fd was closed");

    // The only fd of a map closed with close_range(); a new map then gets the same number:
    // bpf() on it must reach the new map.
    int old_fd = new_map("life_d3b", 52);
    const uint32_t old_id = bt::map_id(old_fd);
    const unsigned uo = static_cast<unsigned>(old_fd);
    BOOST_REQUIRE(::close_range(uo, uo, 0) == 0);
    // (No other library call in between: one that opens and closes a file of its own at the
    // freed number would clear the stale entry by chance.)
    int fresh = -1;
    {
        std::vector<int> extra;
        for (int i = 0; i < 64; ++i) {
            int f = new_map("life_d3c", 53);
            if (f == old_fd) {
                fresh = f;
                break;
            }
            extra.push_back(f);
        }
        for (int f : extra) ::close(f);
    }
    BOOST_REQUIRE_MESSAGE(fresh == old_fd, "no new map got fd number " << old_fd);
    check_gone(old_id, Probe::FdByIdFirst, "its only fd closed with close_range()");
    const uint32_t fresh_id = bt::map_id(fresh);
    BOOST_TEST(fresh_id != old_id, "GET_INFO on the new map's fd reports the destroyed map");
    BOOST_TEST(value_of(fresh) == 53u, "lookup on the new map's fd reached the destroyed map");
    int byid = get_fd_by_id(fresh_id);
    BOOST_TEST(byid >= 0);
    if (byid >= 0) {
        BOOST_TEST(value_of(byid) == 53u, "the new map, opened by id, does not hold 1=53");
        ::close(byid);
    }
    BOOST_TEST(::close(fresh) == 0);
}

BOOST_AUTO_TEST_CASE(dup_keeps_the_map_alive) {
    // The dup is used through bpf() before the original is closed.
    int fd = new_map("life_e1", 61);
    const uint32_t id = bt::map_id(fd);
    int d = ::dup(fd);
    BOOST_REQUIRE(d >= 0);
    BOOST_TEST(value_of(d) == 61u);
    BOOST_REQUIRE(::close(fd) == 0);
    check_alive(id, "original closed, dup open");
    BOOST_TEST(value_of(d) == 61u);
    BOOST_REQUIRE(::close(d) == 0);
    check_gone(id, Probe::FileFirst, "the dup's close, the last one");

    // The dup is not touched through bpf() until after the original was closed.
    int fd2 = new_map("life_e2", 62);
    const uint32_t id2 = bt::map_id(fd2);
    int d2 = ::dup(fd2);
    BOOST_REQUIRE(d2 >= 0);
    BOOST_REQUIRE(::close(fd2) == 0);
    check_alive(id2, "original closed, untouched dup open");
    BOOST_TEST(value_of(d2) == 62u);
    BOOST_REQUIRE(::close(d2) == 0);
    check_gone(id2, Probe::FileFirst, "the (late-used) dup's close, the last one");

    // The dup is never used through bpf() at all: its close is still the last close.
    int fd3 = new_map("life_e3", 63);
    const uint32_t id3 = bt::map_id(fd3);
    int d3 = ::fcntl(fd3, F_DUPFD_CLOEXEC, 0);
    BOOST_REQUIRE(d3 >= 0);
    BOOST_REQUIRE(::close(fd3) == 0);
    BOOST_TEST(exists(map_file(id3)), "the map died although a dup is open");
    BOOST_TEST(listed(id3), "the map died although a dup is open");
    BOOST_REQUIRE(::close(d3) == 0);
    check_gone(id3, Probe::FileFirst, "the close of a dup never used with bpf(), the last one");
}

BOOST_AUTO_TEST_CASE(child_closing_its_inherited_fd_keeps_the_parents_map) {
    // fork() without exec: the child uses and closes its copy, or just exits.
    for (const bool close_it : {true, false}) {
        int fd = new_map(close_it ? "life_f1" : "life_f2", 71);
        const uint32_t id = bt::map_id(fd);
        pid_t pid = ::fork();
        BOOST_REQUIRE(pid >= 0);
        if (pid == 0) {
            uint32_t k = 1;
            uint64_t v = 0;
            int rc = bt::map_lookup(fd, &k, &v) == 0 && v == 71 ? 0 : 1;
            if (close_it && ::close(fd) != 0) rc = 2;
            ::_exit(rc);
        }
        bt::Child child(pid);
        BOOST_REQUIRE_EQUAL(child.wait(), 0);
        check_alive(id, close_it ? "forked child closed its inherited fd"
                                 : "forked child exited with its inherited fd");
        BOOST_TEST(value_of(fd) == 71u);
        uint32_t k = 1;
        uint64_t v = 72;
        BOOST_TEST(bt::map_update(fd, &k, &v, BPF_EXIST) == 0);
        BOOST_REQUIRE(::close(fd) == 0);
        check_gone(id, Probe::FileFirst, "the parent's close after the child's");
    }
    // fork()+exec(): the child closes the fd it inherited (used through bpf() or not) while
    // the parent still holds it.
    for (const char* use : {"use", "nouse"}) {
        int fd = new_map("life_f3", 73);
        const uint32_t id = bt::map_id(fd);
        Chan ch;
        std::vector<int> keep = ch.child_fds();
        keep.push_back(fd);
        bt::Child child = bt::spawn_child(
            "life_close_inherited", {std::to_string(fd), ch.rd(), ch.wr(), use, "close"}, keep);
        ch.parent_side();
        ch.down.signal();
        wait_child_ready(ch, child, std::string("exec'd child closing its fd, ") + use);
        check_alive(id, std::string("exec'd child closed its inherited fd (") + use + ")");
        BOOST_TEST(value_of(fd) == 73u);
        BOOST_REQUIRE_EQUAL(child.wait(), 0);
        BOOST_REQUIRE(::close(fd) == 0);
        check_gone(id, Probe::FileFirst, "the parent's close after the child's");
    }
}

BOOST_AUTO_TEST_CASE(last_close_is_an_exec_childs_close_of_an_inherited_fd) {
    // The parent closes first; the exec'd child's close() of the fd it inherited, or its normal
    // exit, is then the last close of the map. Whether the child used the fd through bpf()
    // first must not matter.
    for (const char* use : {"use", "nouse"}) {
        for (const char* end : {"close", "exit"}) {
            const std::string how = std::string("the exec'd child ") +
                                    (std::string(use) == "use" ? "used" : "never used") +
                                    " its inherited fd, then " +
                                    (std::string(end) == "close" ? "closed it" : "exited");
            int fd = new_map("life_f4", 74);
            const uint32_t id = bt::map_id(fd);
            Chan ch;
            std::vector<int> keep = ch.child_fds();
            keep.push_back(fd);
            bt::Child child = bt::spawn_child(
                "life_close_inherited", {std::to_string(fd), ch.rd(), ch.wr(), use, end}, keep);
            ch.parent_side();
            BOOST_REQUIRE(::close(fd) == 0);
            check_alive(id, "the parent closed, the exec'd child holds its inherited fd");
            ch.down.signal();
            wait_child_ready(ch, child, how);
            BOOST_REQUIRE_EQUAL(child.wait(), 0);
            check_gone(id, Probe::FileFirst, how + " (the last holder)");
        }
    }
}

BOOST_AUTO_TEST_CASE(segment_file_mode) {
    int fd = new_map("life_g1");
    const uint32_t id = bt::map_id(fd);
    struct stat st;
    BOOST_REQUIRE(::stat(map_file(id).c_str(), &st) == 0);
    BOOST_TEST(S_ISREG(st.st_mode));
    BOOST_TEST((st.st_mode & 07777) == 0600u,
               "default segment mode is 0" << std::oct << (st.st_mode & 07777));
    BOOST_TEST(st.st_uid == ::getuid());

    const unsigned prev = bpfmap_set_create_mode(0660);
    BOOST_TEST(prev == 0600u, "bpfmap_set_create_mode returned 0" << std::oct << prev);
    int fd2 = new_map("life_g2");
    const uint32_t id2 = bt::map_id(fd2);
    BOOST_REQUIRE(::stat(map_file(id2).c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 07777) == 0660u,
               "segment mode after set_create_mode(0660) is 0" << std::oct << (st.st_mode & 07777));
    // A pin is the same file: same mode.
    const std::string pin = bt::test_root() + "/pins/life_g2";
    BOOST_REQUIRE(bt::obj_pin(fd2, pin) == 0);
    BOOST_REQUIRE(::stat(pin.c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 07777) == 0660u);
    BOOST_TEST(bpfmap_unpin(pin.c_str()) == 0);
    // The previous map keeps its mode; the mode applies to maps created from now on.
    BOOST_REQUIRE(::stat(map_file(id).c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 07777) == 0600u);

    BOOST_TEST(bpfmap_set_create_mode(prev) == 0660u);
    int fd3 = new_map("life_g3");
    BOOST_REQUIRE(::stat(map_file(bt::map_id(fd3)).c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 07777) == 0600u, "mode after restoring 0600");
    BOOST_TEST(::close(fd) == 0);
    BOOST_TEST(::close(fd2) == 0);
    BOOST_TEST(::close(fd3) == 0);
}

BOOST_AUTO_TEST_CASE(map_fds_are_cloexec_with_matching_access_mode) {
    struct Made {
        int fd;
        int accmode;
        std::string how;
    };
    std::vector<Made> fds;
    int rw = new_map("life_h");
    fds.push_back({rw, O_RDWR, "BPF_MAP_CREATE"});
    fds.push_back({new_map("life_h_ro", 0, BPF_F_RDONLY), O_RDONLY, "BPF_MAP_CREATE RDONLY"});
    fds.push_back({new_map("life_h_wo", 0, BPF_F_WRONLY), O_WRONLY, "BPF_MAP_CREATE WRONLY"});
    const uint32_t id = bt::map_id(rw);
    const std::string pin = bt::test_root() + "/pins/life_h";
    BOOST_REQUIRE(bt::obj_pin(rw, pin) == 0);
    fds.push_back({bt::obj_get(pin), O_RDWR, "BPF_OBJ_GET"});
    fds.push_back({bt::obj_get(pin, BPF_F_RDONLY), O_RDONLY, "BPF_OBJ_GET RDONLY"});
    fds.push_back({bt::obj_get(pin, BPF_F_WRONLY), O_WRONLY, "BPF_OBJ_GET WRONLY"});
    fds.push_back({get_fd_by_id(id), O_RDWR, "BPF_MAP_GET_FD_BY_ID"});
    fds.push_back({get_fd_by_id(id, BPF_F_RDONLY), O_RDONLY, "BPF_MAP_GET_FD_BY_ID RDONLY"});
    fds.push_back({get_fd_by_id(id, BPF_F_WRONLY), O_WRONLY, "BPF_MAP_GET_FD_BY_ID WRONLY"});
    for (const Made& m : fds) {
        BOOST_TEST_CONTEXT(m.how) {
            BOOST_TEST(m.fd >= 0);
            if (m.fd < 0) continue;
            const int fdfl = fcntl(m.fd, F_GETFD);
            BOOST_TEST((fdfl >= 0 && (fdfl & FD_CLOEXEC)), "FD_CLOEXEC is not set");
            const int fl = fcntl(m.fd, F_GETFL);
            BOOST_TEST((fl & O_ACCMODE) == m.accmode, "F_GETFL access mode " << (fl & O_ACCMODE));
        }
    }
    BOOST_TEST(bpfmap_unpin(pin.c_str()) == 0);
    for (const Made& m : fds)
        if (m.fd >= 0) BOOST_TEST(::close(m.fd) == 0);
    check_gone(id, Probe::FileFirst, "all fds closed, pin removed");
}

BOOST_AUTO_TEST_SUITE_END()
