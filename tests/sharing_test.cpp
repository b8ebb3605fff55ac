// Sharing maps between real processes (kernel-map-semantics.md §10-12, bpf.h): a map created in
// one process is reached from another by each of the ways the kernel offers, and changes made
// through either process's fd are visible to the other at once, with both fds open:
//   (a) BPF_OBJ_PIN under the root (pins/, a user-made folder in pins/ and one beside it) and
//       BPF_OBJ_GET in a child;
//   (b) a BPF_MAP_GET_NEXT_ID walk and BPF_MAP_GET_FD_BY_ID in a child that only knows the name;
//   (c) an fd sent over a unix socket (SCM_RIGHTS) to a child that never had it;
//   (d) an fd inherited across fork() (no exec) and across fork()+exec() (keep_fds; without it
//       the fd is O_CLOEXEC and does not reach the child);
//   (e) restricted fds in the other process: OBJ_GET/GET_FD_BY_ID with BPF_F_RDONLY (UPDATE and
//       DELETE EPERM, LOOKUP works) and BPF_F_WRONLY (LOOKUP EPERM, UPDATE works), with the
//       F_GETFL access mode to match, also for a restricted fd received over a socket;
//   (f) BPF_OBJ_PIN path rules from both processes: outside the root → EPERM, inside maps/ →
//       EPERM, existing path → EEXIST, missing parent → ENOENT; a pin made by the child is
//       reachable by the parent;
//   (g) BPF_OBJ_GET_INFO_BY_FD reports the same id, name, type, sizes and flags in both.
// Children are re-executed copies of this binary (spawn_child) or plain fork()s; they report
// failures on stderr and by exit status, and synchronise through pipes (no sleeps).
#include <bpfmap/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace bt = bpfmap::test;

namespace {

// ---- Helpers usable in children (no Boost) ------------------------------------------------

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

constexpr uint32_t kKeySize = 4, kValueSize = 8, kMaxEntries = 16;

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

// Every id GET_NEXT_ID lists, in order. Returns 0, or the errno that ended the walk if it was
// not ENOENT; -1 if the ids did not ascend.
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

bool send_fd(int sock, int fd) {
    char byte = 'F';
    struct iovec iov = {&byte, 1};
    alignas(struct cmsghdr) char buf[CMSG_SPACE(sizeof(int))];
    std::memset(buf, 0, sizeof buf);
    struct msghdr msg;
    std::memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf;
    msg.msg_controllen = sizeof buf;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return ::sendmsg(sock, &msg, 0) == 1;
}

int recv_fd(int sock) {
    char byte = 0;
    struct iovec iov = {&byte, 1};
    alignas(struct cmsghdr) char buf[CMSG_SPACE(sizeof(int))];
    std::memset(buf, 0, sizeof buf);
    struct msghdr msg;
    std::memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf;
    msg.msg_controllen = sizeof buf;
    ssize_t n;
    while ((n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
    }
    if (n != 1) return -1;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) return -1;
    int fd = -1;
    std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

int accmode(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : (fl & O_ACCMODE);
}

// The child's half of the exchange on a shared map (the parent's half is exchange_parent):
// both fds open all along, each side sees the other's changes at once.
//   parent set 1=100 → child reads 100, writes 2=200 → parent reads 200, writes 1=101 →
//   child reads 101, deletes 2 → parent finds 2 gone.
int exchange_child(int map_fd, int rd, int wr) {
    uint32_t k1 = 1, k2 = 2;
    uint64_t v = 0;
    CHILD_CHECK(bt::map_lookup(map_fd, &k1, &v) == 0, "lookup of key 1 (set by the parent)");
    CHILD_CHECK(v == 100, "key 1 = %llu, expected the parent's 100", (unsigned long long)v);
    uint64_t v2 = 200;
    CHILD_CHECK(bt::map_update(map_fd, &k2, &v2, BPF_NOEXIST) == 0, "update of key 2");
    CHILD_CHECK(raw_signal(wr), "signal to the parent");
    CHILD_CHECK(raw_wait(rd), "the parent went away");
    v = 0;
    CHILD_CHECK(bt::map_lookup(map_fd, &k1, &v) == 0, "second lookup of key 1");
    CHILD_CHECK(v == 101, "key 1 = %llu, expected the parent's new 101", (unsigned long long)v);
    CHILD_CHECK(bt::map_delete(map_fd, &k2) == 0, "delete of key 2");
    CHILD_CHECK(raw_signal(wr), "second signal to the parent");
    return 0;
}

// ---- Parent-side helpers ------------------------------------------------------------------

std::string root() {
    return bt::test_root();
}

// Two pipes: down (parent → child) and up (child → parent).
struct Chan {
    bt::SyncPipe down, up;
    std::vector<int> child_fds() const { return {down.rd, up.wr}; }
    std::vector<std::string> child_args() const {
        return {std::to_string(down.rd), std::to_string(up.wr)};
    }
    // After the child started: drop the child's ends, so that a child that dies shows as EOF.
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

// A fresh hash map (u32 → u64) holding 1=100, the start of the exchange.
int new_shared_map(const char* name) {
    int fd = bt::map_create(BPF_MAP_TYPE_HASH, kKeySize, kValueSize, kMaxEntries, 0, name);
    BOOST_REQUIRE_MESSAGE(fd >= 0, "map_create(" << name << "): " << strerror(errno));
    uint32_t k = 1;
    uint64_t v = 100;
    BOOST_REQUIRE_MESSAGE(bt::map_update(fd, &k, &v, BPF_NOEXIST) == 0,
                          "update 1=100: " << strerror(errno));
    return fd;
}

void exchange_parent(int map_fd, Chan& ch, bt::Child& child, const std::string& how) {
    BOOST_TEST_CONTEXT("shared by " << how) {
        wait_child_ready(ch, child, how);
        uint32_t k1 = 1, k2 = 2;
        uint64_t v = 0;
        BOOST_TEST(bt::map_lookup(map_fd, &k2, &v) == 0,
                   "the parent cannot see the child's key 2: " << strerror(errno));
        BOOST_TEST(v == 200u, "key 2 as the parent sees it");
        uint64_t v1 = 101;
        BOOST_REQUIRE_MESSAGE(bt::map_update(map_fd, &k1, &v1, BPF_EXIST) == 0,
                              "update 1=101: " << strerror(errno));
        ch.down.signal();
        wait_child_ready(ch, child, how + " (second step)");
        errno = 0;
        BOOST_TEST(bt::map_lookup(map_fd, &k2, &v) == -1,
                   "key 2, deleted by the child, is still visible to the parent");
        BOOST_TEST(errno == ENOENT, "lookup of the deleted key: errno " << errno);
        BOOST_TEST(child.wait() == 0, "child exit status (its stderr says why)");
    }
}

std::string fresh_dir(const std::string& base) {
    std::string tmpl = base + "/dir-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    BOOST_REQUIRE_MESSAGE(mkdtemp(buf.data()) != nullptr,
                          "mkdtemp in " << base << ": " << strerror(errno));
    return buf.data();
}

bool exists(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0;
}

}  // namespace

// ---- Child roles --------------------------------------------------------------------------

// args: pin path, down rd, up wr
BPFMAP_CHILD(share_by_pin) {
    int fd = bt::obj_get(args.at(0));
    CHILD_CHECK(fd >= 0, "BPF_OBJ_GET(%s)", args.at(0).c_str());
    return exchange_child(fd, to_int(args.at(1)), to_int(args.at(2)));
}

// args: map name, down rd, up wr. Finds the map by walking the ids and reading each one's name.
BPFMAP_CHILD(share_by_id) {
    std::vector<uint32_t> ids;
    int rc = walk_ids(ids);
    CHILD_CHECK(rc == 0, "GET_NEXT_ID walk ended with %d", rc);
    int found = -1;
    int matches = 0;
    for (uint32_t id : ids) {
        int fd = get_fd_by_id(id);
        CHILD_CHECK(fd >= 0, "GET_FD_BY_ID(%u) of a listed id", id);
        struct bpf_map_info info;
        CHILD_CHECK(bt::map_info(fd, info) == 0, "GET_INFO of id %u", id);
        CHILD_CHECK(info.id == id, "GET_INFO of GET_FD_BY_ID(%u) says id %u", id, info.id);
        if (args.at(0) == info.name) {
            ++matches;
            found = fd;
        } else {
            CHILD_CHECK(::close(fd) == 0, "close");
        }
    }
    CHILD_CHECK(matches == 1, "%d maps named %s among %zu ids", matches, args.at(0).c_str(),
                ids.size());
    return exchange_child(found, to_int(args.at(1)), to_int(args.at(2)));
}

// args: socket, the parent's map fd number, down rd, up wr
BPFMAP_CHILD(share_by_socket) {
    const int parent_number = to_int(args.at(1));
    errno = 0;
    CHILD_CHECK(fcntl(parent_number, F_GETFD) == -1 && errno == EBADF,
                "the parent's map fd %d is open in the child before anything was sent",
                parent_number);
    int fd = recv_fd(to_int(args.at(0)));
    CHILD_CHECK(fd >= 0, "receiving the map fd over the socket");
    return exchange_child(fd, to_int(args.at(2)), to_int(args.at(3)));
}

// args: socket, down rd, up wr. Receives the fd only when the parent says so (the parent has
// closed its own fd by then), then the usual exchange.
BPFMAP_CHILD(share_recv_later) {
    CHILD_CHECK(raw_wait(to_int(args.at(1))), "the parent went away");
    int fd = recv_fd(to_int(args.at(0)));
    CHILD_CHECK(fd >= 0, "receiving the map fd over the socket");
    return exchange_child(fd, to_int(args.at(1)), to_int(args.at(2)));
}

// args: inherited map fd, down rd, up wr
BPFMAP_CHILD(share_inherited) {
    return exchange_child(to_int(args.at(0)), to_int(args.at(1)), to_int(args.at(2)));
}

// args: the parent's map fd number (O_CLOEXEC, not kept)
BPFMAP_CHILD(share_not_inherited) {
    const int fd = to_int(args.at(0));
    errno = 0;
    CHILD_CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF,
                "map fd %d crossed exec() although it is O_CLOEXEC", fd);
    uint32_t k = 1;
    uint64_t v;
    errno = 0;
    CHILD_CHECK(bt::map_lookup(fd, &k, &v) == -1 && errno == EBADF,
                "lookup on a closed fd number: want EBADF");
    return 0;
}

// args: pin path, map id, socket. Restricted fds in the child; the parent checks the writes.
BPFMAP_CHILD(share_restricted) {
    const std::string pin = args.at(0);
    const uint32_t id = static_cast<uint32_t>(to_int(args.at(1)));
    uint32_t k1 = 1, k3 = 3;
    uint64_t v = 0, w = 999;

    // Read-only fds: by pin, by id, and one the parent opened and sent.
    int ro_pin = bt::obj_get(pin, BPF_F_RDONLY);
    CHILD_CHECK(ro_pin >= 0, "OBJ_GET RDONLY");
    int ro_id = get_fd_by_id(id, BPF_F_RDONLY);
    CHILD_CHECK(ro_id >= 0, "GET_FD_BY_ID RDONLY");
    int ro_sent = recv_fd(to_int(args.at(2)));
    CHILD_CHECK(ro_sent >= 0, "receiving the parent's read-only fd");
    const int ro_fds[] = {ro_pin, ro_id, ro_sent};
    const char* ro_names[] = {"OBJ_GET RDONLY", "GET_FD_BY_ID RDONLY", "received RDONLY"};
    for (int i = 0; i < 3; ++i) {
        const int fd = ro_fds[i];
        CHILD_CHECK(accmode(fd) == O_RDONLY, "%s: F_GETFL access mode %d, want O_RDONLY",
                    ro_names[i], accmode(fd));
        v = 0;
        CHILD_CHECK(bt::map_lookup(fd, &k1, &v) == 0 && v == 100, "%s: lookup 1 -> %llu",
                    ro_names[i], (unsigned long long)v);
        uint32_t nk = 0;
        CHILD_CHECK(bt::map_get_next_key(fd, nullptr, &nk) == 0, "%s: get_next_key", ro_names[i]);
        errno = 0;
        CHILD_CHECK(bt::map_update(fd, &k1, &w, BPF_ANY) == -1 && errno == EPERM,
                    "%s: update must be EPERM", ro_names[i]);
        errno = 0;
        CHILD_CHECK(bt::map_update(fd, &k3, &w, BPF_ANY) == -1 && errno == EPERM,
                    "%s: update of a new key must be EPERM", ro_names[i]);
        errno = 0;
        CHILD_CHECK(bt::map_delete(fd, &k1) == -1 && errno == EPERM, "%s: delete must be EPERM",
                    ro_names[i]);
    }

    // Write-only fds: lookups refused, updates go through.
    int wo_pin = bt::obj_get(pin, BPF_F_WRONLY);
    CHILD_CHECK(wo_pin >= 0, "OBJ_GET WRONLY");
    int wo_id = get_fd_by_id(id, BPF_F_WRONLY);
    CHILD_CHECK(wo_id >= 0, "GET_FD_BY_ID WRONLY");
    const int wo_fds[] = {wo_pin, wo_id};
    const char* wo_names[] = {"OBJ_GET WRONLY", "GET_FD_BY_ID WRONLY"};
    for (int i = 0; i < 2; ++i) {
        const int fd = wo_fds[i];
        CHILD_CHECK(accmode(fd) == O_WRONLY, "%s: F_GETFL access mode %d, want O_WRONLY",
                    wo_names[i], accmode(fd));
        errno = 0;
        CHILD_CHECK(bt::map_lookup(fd, &k1, &v) == -1 && errno == EPERM, "%s: lookup must be EPERM",
                    wo_names[i]);
        uint32_t nk = 0;
        errno = 0;
        CHILD_CHECK(bt::map_get_next_key(fd, nullptr, &nk) == -1 && errno == EPERM,
                    "%s: get_next_key must be EPERM", wo_names[i]);
    }
    uint64_t v3 = 300;
    CHILD_CHECK(bt::map_update(wo_pin, &k3, &v3, BPF_NOEXIST) == 0, "WRONLY update 3=300");
    uint64_t v3b = 301;
    CHILD_CHECK(bt::map_update(wo_id, &k3, &v3b, BPF_EXIST) == 0, "WRONLY update 3=301");

    // A plain OBJ_GET is read-write.
    int rw = bt::obj_get(pin);
    CHILD_CHECK(rw >= 0 && accmode(rw) == O_RDWR, "OBJ_GET without flags: access mode %d",
                accmode(rw));
    return 0;
}

// args: existing pin, outside folder, up wr. Pin rules as seen from another process; pins the
// map at <existing>.child, which the parent then opens.
BPFMAP_CHILD(share_pin_rules) {
    const std::string pin = args.at(0);
    const std::string outside = args.at(1);
    int fd = bt::obj_get(pin);
    CHILD_CHECK(fd >= 0, "OBJ_GET(%s)", pin.c_str());
    errno = 0;
    CHILD_CHECK(bt::obj_pin(fd, pin) == -1 && errno == EEXIST,
                "pin at the parent's existing pin must be EEXIST");
    errno = 0;
    CHILD_CHECK(bt::obj_pin(fd, outside + "/from-child") == -1 && errno == EPERM,
                "pin outside the root must be EPERM");
    errno = 0;
    CHILD_CHECK(bt::obj_pin(fd, bt::test_root() + "/pins/no-such-dir/p") == -1 && errno == ENOENT,
                "pin with a missing parent must be ENOENT");
    CHILD_CHECK(bt::obj_pin(fd, pin + ".child") == 0, "pin at %s.child", pin.c_str());
    CHILD_CHECK(raw_signal(to_int(args.at(2))), "signal");
    return 0;
}

// args: the root. Relative pin and get paths, resolved against the working folder as the
// kernel does: pins "rel" from <root>/pins, gets it back, and is refused ../.. (outside).
BPFMAP_CHILD(share_relative_paths) {
    const std::string r = args.at(0);
    int fd = bt::obj_get(r + "/pins/share_rel_src");
    CHILD_CHECK(fd >= 0, "OBJ_GET of the parent's pin");
    CHILD_CHECK(::chdir((r + "/pins").c_str()) == 0, "chdir");
    CHILD_CHECK(bt::obj_pin(fd, "rel") == 0, "OBJ_PIN at the relative path rel");
    int again = bt::obj_get("rel", BPF_F_RDONLY);
    CHILD_CHECK(again >= 0, "OBJ_GET of the relative path rel");
    uint32_t k = 1;
    uint64_t v = 0;
    CHILD_CHECK(bt::map_lookup(again, &k, &v) == 0 && v == 100, "lookup through rel: %llu",
                (unsigned long long)v);
    errno = 0;
    CHILD_CHECK(bt::obj_pin(fd, "../../share-rel-escape") == -1 && errno == EPERM,
                "relative pin out of the root must be EPERM");
    errno = 0;
    CHILD_CHECK(bt::obj_pin(fd, "rel") == -1 && errno == EEXIST,
                "relative pin at an existing path must be EEXIST");
    errno = 0;
    CHILD_CHECK(bt::obj_pin(fd, "nodir/rel") == -1 && errno == ENOENT,
                "relative pin with a missing parent must be ENOENT");
    return 0;
}

// args: pin path, up wr. Sends the bpf_map_info this process sees, by pin and by id.
BPFMAP_CHILD(share_info) {
    int fd = bt::obj_get(args.at(0));
    CHILD_CHECK(fd >= 0, "OBJ_GET(%s)", args.at(0).c_str());
    struct bpf_map_info infos[2];
    CHILD_CHECK(bt::map_info(fd, infos[0]) == 0, "GET_INFO on the OBJ_GET fd");
    int fd2 = get_fd_by_id(infos[0].id, BPF_F_RDONLY);
    CHILD_CHECK(fd2 >= 0, "GET_FD_BY_ID(%u)", infos[0].id);
    CHILD_CHECK(bt::map_info(fd2, infos[1]) == 0, "GET_INFO on the GET_FD_BY_ID fd");
    const int wr = to_int(args.at(1));
    CHILD_CHECK(::write(wr, infos, sizeof infos) == static_cast<ssize_t>(sizeof infos),
                "write of the infos");
    return 0;
}

// ---- Tests --------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(sharing)

BOOST_AUTO_TEST_CASE(by_pin_in_pins_and_user_folders) {
    int fd = new_shared_map("share_pin");
    const std::string r = root();
    BOOST_REQUIRE(std::filesystem::create_directories(r + "/pins/team/sub"));
    BOOST_REQUIRE(std::filesystem::create_directories(r + "/mine"));
    const std::vector<std::string> pins = {r + "/pins/share_pin", r + "/pins/team/sub/share_pin",
                                           r + "/mine/share_pin"};
    for (const std::string& p : pins)
        BOOST_REQUIRE_MESSAGE(bt::obj_pin(fd, p) == 0,
                              "OBJ_PIN at " << p << ": " << strerror(errno));
    for (const std::string& p : pins) {
        // Each round starts from 1=100 and no key 2.
        uint32_t k1 = 1;
        uint64_t v = 100;
        BOOST_REQUIRE(bt::map_update(fd, &k1, &v, BPF_EXIST) == 0);
        Chan ch;
        bt::Child child = bt::spawn_child(
            "share_by_pin", {p, ch.child_args()[0], ch.child_args()[1]}, ch.child_fds());
        ch.parent_side();
        exchange_parent(fd, ch, child, "pin " + p);
    }
    for (const std::string& p : pins) BOOST_TEST(bpfmap_unpin(p.c_str()) == 0, "unpin " << p);
    BOOST_TEST(::close(fd) == 0);
}

BOOST_AUTO_TEST_CASE(by_next_id_walk_and_fd_by_id) {
    // Other maps around, so the child really has to pick ours.
    int other1 = bt::map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 2, 0, "share_other1");
    int fd = new_shared_map("share_walk");
    int other2 = bt::map_create(BPF_MAP_TYPE_HASH, 4, 4, 2, 0, "share_other2");
    BOOST_REQUIRE(other1 >= 0 && other2 >= 0);
    Chan ch;
    bt::Child child = bt::spawn_child(
        "share_by_id", {"share_walk", ch.child_args()[0], ch.child_args()[1]}, ch.child_fds());
    ch.parent_side();
    exchange_parent(fd, ch, child, "GET_NEXT_ID + GET_FD_BY_ID");
    // The child's fds (all closed by its exit) did not take our map with them.
    uint32_t k1 = 1;
    uint64_t v = 0;
    BOOST_TEST(bt::map_lookup(fd, &k1, &v) == 0);
    BOOST_TEST(v == 101u);
    BOOST_TEST(::close(other1) == 0);
    BOOST_TEST(::close(other2) == 0);
    BOOST_TEST(::close(fd) == 0);
}

BOOST_AUTO_TEST_CASE(by_fd_over_unix_socket) {
    int fd = new_shared_map("share_sock");
    int sv[2];
    BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    Chan ch;
    std::vector<int> keep = ch.child_fds();
    keep.push_back(sv[1]);
    bt::Child child = bt::spawn_child(
        "share_by_socket",
        {std::to_string(sv[1]), std::to_string(fd), ch.child_args()[0], ch.child_args()[1]}, keep);
    ch.parent_side();
    ::close(sv[1]);
    BOOST_REQUIRE_MESSAGE(send_fd(sv[0], fd), "sendmsg SCM_RIGHTS: " << strerror(errno));
    exchange_parent(fd, ch, child, "SCM_RIGHTS");
    ::close(sv[0]);
    BOOST_TEST(::close(fd) == 0);
}

BOOST_AUTO_TEST_CASE(fd_in_flight_keeps_the_map_alive) {
    // The sender closes its only fd while the fd is still in the socket: like the kernel's
    // in-flight file reference, that keeps the map alive until the receiver takes it.
    int fd = new_shared_map("share_flight");
    uint32_t id = 0;
    {
        struct bpf_map_info info;
        BOOST_REQUIRE(bt::map_info(fd, info) == 0);
        id = info.id;
    }
    int sv[2];
    BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    Chan ch;
    std::vector<int> keep = ch.child_fds();
    keep.push_back(sv[1]);
    bt::Child child = bt::spawn_child(
        "share_recv_later", {std::to_string(sv[1]), ch.child_args()[0], ch.child_args()[1]}, keep);
    ch.parent_side();
    ::close(sv[1]);
    BOOST_REQUIRE(send_fd(sv[0], fd));
    BOOST_REQUIRE(::close(fd) == 0);
    BOOST_TEST(exists(root() + "/maps/" + std::to_string(id)),
               "the map died while its fd was in flight");
    std::vector<uint32_t> ids;
    BOOST_TEST(walk_ids(ids) == 0);
    BOOST_TEST((std::find(ids.begin(), ids.end(), id) != ids.end()),
               "GET_NEXT_ID does not list a map whose fd is in flight");
    int mine = get_fd_by_id(id);
    BOOST_REQUIRE_MESSAGE(mine >= 0,
                          "GET_FD_BY_ID of a map whose fd is in flight: " << strerror(errno));
    ch.down.signal();
    exchange_parent(mine, ch, child, "SCM_RIGHTS after the sender closed its fd");
    ::close(sv[0]);
    BOOST_TEST(::close(mine) == 0);
}

BOOST_AUTO_TEST_CASE(by_fork_inheritance_without_exec) {
    int fd = new_shared_map("share_fork");
    Chan ch;
    pid_t pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
        // _exit: a forked copy must not run this binary's exit-time cleanup (it owns the root).
        ::_exit(exchange_child(fd, ch.down.rd, ch.up.wr));
    }
    bt::Child child(pid);
    ch.parent_side();
    exchange_parent(fd, ch, child, "fork() inheritance");
    BOOST_TEST(::close(fd) == 0);
}

BOOST_AUTO_TEST_CASE(by_fork_exec_inheritance_with_keep_fds) {
    int fd = new_shared_map("share_exec");
    Chan ch;
    std::vector<int> keep = ch.child_fds();
    keep.push_back(fd);
    bt::Child child = bt::spawn_child(
        "share_inherited", {std::to_string(fd), ch.child_args()[0], ch.child_args()[1]}, keep);
    ch.parent_side();
    exchange_parent(fd, ch, child, "fork()+exec() inheritance");

    // Without keep_fds the fd is O_CLOEXEC: it does not reach an exec()ed child.
    int fl = fcntl(fd, F_GETFD);
    BOOST_TEST((fl >= 0 && (fl & FD_CLOEXEC)), "map fd lacks FD_CLOEXEC");
    bt::Child child2 = bt::spawn_child("share_not_inherited", {std::to_string(fd)});
    BOOST_TEST(child2.wait() == 0, "an O_CLOEXEC map fd crossed exec() (see the child's stderr)");
    BOOST_TEST(::close(fd) == 0);
}

BOOST_AUTO_TEST_CASE(restricted_fds_in_the_other_process) {
    int fd = new_shared_map("share_ro");
    const std::string pin = root() + "/pins/share_ro";
    BOOST_REQUIRE(bt::obj_pin(fd, pin) == 0);
    const uint32_t id = bt::map_id(fd);
    BOOST_REQUIRE(id != 0);
    // A read-only fd made here and sent to the child stays read-only there.
    int ro = bt::obj_get(pin, BPF_F_RDONLY);
    BOOST_REQUIRE(ro >= 0);
    BOOST_TEST(accmode(ro) == O_RDONLY, "F_GETFL access mode of an OBJ_GET RDONLY fd");
    int sv[2];
    BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    bt::Child child = bt::spawn_child("share_restricted",
                                      {pin, std::to_string(id), std::to_string(sv[1])}, {sv[1]});
    ::close(sv[1]);
    BOOST_REQUIRE(send_fd(sv[0], ro));
    BOOST_TEST(child.wait() == 0, "restricted fds in the child (see its stderr)");
    ::close(sv[0]);
    // The refused writes changed nothing; the write-only ones landed.
    uint32_t k1 = 1, k3 = 3;
    uint64_t v = 0;
    BOOST_TEST(bt::map_lookup(fd, &k1, &v) == 0);
    BOOST_TEST(v == 100u, "key 1 changed through a read-only fd");
    v = 0;
    BOOST_TEST(bt::map_lookup(fd, &k3, &v) == 0, "the child's write-only update is not visible");
    BOOST_TEST(v == 301u);
    BOOST_TEST(::close(ro) == 0);
    BOOST_TEST(bpfmap_unpin(pin.c_str()) == 0);
    BOOST_TEST(::close(fd) == 0);
}

BOOST_AUTO_TEST_CASE(pin_path_rules_from_both_processes) {
    int fd = new_shared_map("share_rules");
    const std::string r = root();
    const std::string pin = r + "/pins/share_rules";
    BOOST_REQUIRE(bt::obj_pin(fd, pin) == 0);

    const std::string outside = fresh_dir("/tmp");
    BOOST_REQUIRE(::symlink(outside.c_str(), (r + "/escape").c_str()) == 0);
    BOOST_REQUIRE(::symlink((r + "/maps").c_str(), (r + "/tomaps").c_str()) == 0);
    struct Row {
        std::string path;
        int err;
        const char* why;
    };
    const std::string pid = std::to_string(getpid());
    const std::vector<Row> rows = {
        {outside + "/p", EPERM, "a folder outside the root"},
        {r + "/../share-escape-" + pid, EPERM, "the root's parent through .."},
        {r + "/pins/../../share-escape2-" + pid, EPERM, "out of the root through pins/../.."},
        {r + "/escape/p", EPERM, "a symlink in the root leading out of it"},
        {r + "/maps/p", EPERM, "inside maps/"},
        {r + "/tomaps/p", EPERM, "inside maps/ through a symlink"},
        {r + "/maps", EEXIST, "the maps/ folder itself"},
        {pin, EEXIST, "an existing pin"},
        {r + "/registry", EEXIST, "an existing file that is not a pin"},
        {r + "/pins", EEXIST, "an existing folder"},
        {r + "/pins/no-such-dir/p", ENOENT, "a missing parent folder"},
        {r + "/no-such-dir/sub/p", ENOENT, "a missing grandparent folder"},
    };
    for (const Row& row : rows) {
        errno = 0;
        int rc = bt::obj_pin(fd, row.path);
        int err = errno;
        BOOST_TEST(rc == -1, "OBJ_PIN at " << row.why << " (" << row.path << ") succeeded");
        BOOST_TEST(err == row.err, "OBJ_PIN at " << row.why << ": errno " << err << " ("
                                                 << strerror(err) << "), want " << row.err);
    }
    // Nothing appeared where a pin was refused.
    BOOST_TEST(!exists(outside + "/p"));
    BOOST_TEST(!exists(r + "/../share-escape-" + pid));
    BOOST_TEST(!exists(r + "/maps/p"));
    BOOST_TEST(!exists(r + "/tomaps/p"));

    Chan ch;
    bt::Child child =
        bt::spawn_child("share_pin_rules", {pin, outside, ch.child_args()[1]}, {ch.up.wr});
    ch.parent_side();
    wait_child_ready(ch, child, "pin rules in the child");
    BOOST_TEST(child.wait() == 0, "pin rules in the child (see its stderr)");
    BOOST_TEST(!exists(outside + "/from-child"));
    // The child's pin reaches the same map from here, and keeps it after the child exited.
    int via_child_pin = bt::obj_get(pin + ".child");
    BOOST_TEST(via_child_pin >= 0, "OBJ_GET of the child's pin: " << strerror(errno));
    if (via_child_pin >= 0) {
        BOOST_TEST(bt::map_id(via_child_pin) == bt::map_id(fd));
        BOOST_TEST(::close(via_child_pin) == 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(outside, ec);
    ::unlink((r + "/../share-escape-" + pid).c_str());
    ::unlink((r + "/../share-escape2-" + pid).c_str());
    ::unlink((r + "/escape").c_str());
    ::unlink((r + "/tomaps").c_str());
    BOOST_TEST(bpfmap_unpin((pin + ".child").c_str()) == 0);
    BOOST_TEST(bpfmap_unpin(pin.c_str()) == 0);
    BOOST_TEST(::close(fd) == 0);
}

BOOST_AUTO_TEST_CASE(relative_pin_paths_in_the_other_process) {
    int fd = new_shared_map("share_rel");
    const std::string r = root();
    BOOST_REQUIRE(bt::obj_pin(fd, r + "/pins/share_rel_src") == 0);
    BOOST_TEST(bt::spawn_child("share_relative_paths", {r}).wait() == 0,
               "relative paths in the child (see its stderr)");
    BOOST_TEST(!exists(r + "/../share-rel-escape"), "a relative pin escaped the root");
    ::unlink((r + "/../share-rel-escape").c_str());
    int via_rel = bt::obj_get(r + "/pins/rel");
    BOOST_TEST(via_rel >= 0, "the child's relative pin is not at <root>/pins/rel");
    if (via_rel >= 0) {
        struct bpf_map_info a, b;
        BOOST_TEST(bt::map_info(via_rel, a) == 0);
        BOOST_TEST(bt::map_info(fd, b) == 0);
        BOOST_TEST(a.id == b.id);
        BOOST_TEST(::close(via_rel) == 0);
        BOOST_TEST(bpfmap_unpin((r + "/pins/rel").c_str()) == 0);
    }
    BOOST_TEST(bpfmap_unpin((r + "/pins/share_rel_src").c_str()) == 0);
    BOOST_TEST(::close(fd) == 0);
}

BOOST_AUTO_TEST_CASE(same_info_in_both_processes) {
    int fd = bt::map_create(BPF_MAP_TYPE_HASH, 8, 24, 77, BPF_F_NO_PREALLOC, "share_info.x");
    BOOST_REQUIRE_MESSAGE(fd >= 0, strerror(errno));
    const std::string pin = root() + "/pins/share_info";
    BOOST_REQUIRE(bt::obj_pin(fd, pin) == 0);
    struct bpf_map_info mine;
    BOOST_REQUIRE(bt::map_info(fd, mine) == 0);
    BOOST_TEST(mine.id != 0u);
    BOOST_TEST(std::string(mine.name) == "share_info.x");
    BOOST_TEST(mine.type == static_cast<__u32>(BPF_MAP_TYPE_HASH));
    BOOST_TEST(mine.key_size == 8u);
    BOOST_TEST(mine.value_size == 24u);
    BOOST_TEST(mine.max_entries == 77u);
    BOOST_TEST(mine.map_flags == static_cast<__u32>(BPF_F_NO_PREALLOC));

    bt::SyncPipe p;
    bt::Child child = bt::spawn_child("share_info", {pin, std::to_string(p.wr)}, {p.wr});
    ::close(p.wr);
    p.wr = -1;
    struct bpf_map_info theirs[2];
    std::memset(theirs, 0xa5, sizeof theirs);
    size_t got = 0;
    while (got < sizeof theirs) {
        ssize_t n = ::read(p.rd, reinterpret_cast<char*>(theirs) + got, sizeof theirs - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<size_t>(n);
    }
    BOOST_TEST(child.wait() == 0, "child (see its stderr)");
    BOOST_REQUIRE_MESSAGE(got == sizeof theirs, "the child sent " << got << " bytes");
    const char* how[] = {"OBJ_GET fd", "GET_FD_BY_ID RDONLY fd"};
    for (int i = 0; i < 2; ++i) {
        BOOST_TEST_CONTEXT("the child's " << how[i]) {
            const struct bpf_map_info& t = theirs[i];
            BOOST_TEST(t.id == mine.id);
            BOOST_TEST(t.type == mine.type);
            BOOST_TEST(std::string(t.name, strnlen(t.name, sizeof t.name)) == "share_info.x");
            BOOST_TEST(t.key_size == mine.key_size);
            BOOST_TEST(t.value_size == mine.value_size);
            BOOST_TEST(t.max_entries == mine.max_entries);
            BOOST_TEST(t.map_flags == mine.map_flags);
            BOOST_TEST(t.map_extra == mine.map_extra);
            BOOST_TEST(std::memcmp(&t, &mine, sizeof mine) == 0, "bpf_map_info differs bytewise");
        }
    }
    BOOST_TEST(bpfmap_unpin(pin.c_str()) == 0);
    BOOST_TEST(::close(fd) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
