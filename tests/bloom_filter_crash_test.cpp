// BPF_MAP_TYPE_BLOOM_FILTER: pushers killed inside a push. A child sets the crash hook
// (api/internal/test_hooks.h), which the bloom filter's push calls after setting the first of the
// value's k bits (the others not yet set, the push count not yet incremented); the hook reports
// one byte over the child's pipe and blocks. Then:
//  * while the pusher is stopped there, other processes push and peek normally: a push holds no
//    lock, so a stopped (or dead) pusher blocks nobody;
//  * the parent SIGKILLs the pusher(s) and reaps them; afterwards, in the parent and in a fresh
//    process: every value pushed before is still found, new pushes work and are found, the
//    killed push's value can be pushed again and is then found, and `bpfmap-inspect fsck`
//    (MapTypeOps check()) reports the map clean.
// Scenarios: one pusher killed with the map also held by the parent (inherited fd); three
// pushers killed at once; a pusher killed while it was the map's only holder besides a pin (a
// third process then opens the pin and uses the map). Also: a corrupt region header (magic
// overwritten) makes a new process's open fail with EINVAL instead of crashing it.
#include <bpfmap/bpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "crash_support.hpp"
#include "process_helpers.hpp"
#include "shm/segment_format.hpp"
#include "test_support.hpp"

extern char** environ;

namespace {

namespace bt = bpfmap::test;
namespace fs = std::filesystem;
using namespace bpfmap::test::proc;

constexpr uint32_t kVs = 8;

uint64_t value_of(uint64_t i) {
    uint64_t z = i + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int push(int fd, uint64_t v) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<uint32_t>(fd);
    a.value = bt::uptr(&v);
    return ::bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof a);
}

// 0: maybe present, 1: absent, -1: another error (errno set).
int peek(int fd, uint64_t v) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<uint32_t>(fd);
    a.value = bt::uptr(&v);
    if (::bpf(BPF_MAP_LOOKUP_ELEM, &a, sizeof a) == 0) return 0;
    return errno == ENOENT ? 1 : -1;
}

int create_bloom(uint32_t max_entries, uint64_t extra) {
    bt::CreateSpec spec;
    spec.type = BPF_MAP_TYPE_BLOOM_FILTER;
    spec.value_size = kVs;
    spec.max_entries = max_entries;
    spec.extra = extra;
    spec.name = "bloom_crash";
    return bt::map_create(spec);
}

// Runs bpfmap-inspect with args; returns its exit status and stdout+stderr.
int run_inspect(const std::vector<std::string>& args, std::string& output) {
    std::string exe;
    if (const char* p = std::getenv("BPFMAP_INSPECT"); p && *p)
        exe = p;
    else
        exe = (fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "tools" /
               "inspect" / "bpfmap-inspect")
                  .string();
    if (!fs::exists(exe)) {
        output = "bpfmap-inspect not found at " + exe + " (build the bpfmap-inspect target)";
        return -1;
    }
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
    std::vector<std::string> argv_s = {exe, "--root", bt::test_root()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    pid_t pid;
    const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(pfd[1]);
    if (rc != 0) {
        ::close(pfd[0]);
        output = "posix_spawn failed";
        return -1;
    }
    char buf[4096];
    ssize_t n;
    while ((n = ::read(pfd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0) output.append(buf, static_cast<size_t>(n));
    ::close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void expect_fsck_clean() {
    std::string out;
    const int st = run_inspect({"fsck"}, out);
    BOOST_CHECK_MESSAGE(st == 0, "bpfmap-inspect fsck: status " << st << ": " << out);
    BOOST_TEST_MESSAGE("fsck: " << out);
}

// The checks after the kill, run in the parent and in a fresh process. Values [0, before) were
// pushed before the kill; `killed` lists the values whose pushes were killed; new values are
// pushed from `fresh` on.
std::string check_after(int map, uint64_t before, const std::vector<uint64_t>& killed,
                        uint64_t fresh) {
    uint64_t missing = 0;
    for (uint64_t i = 0; i < before; ++i)
        if (peek(map, value_of(i)) != 0) ++missing;
    if (missing) return std::to_string(missing) + " values pushed before the kill not found";
    for (uint64_t i = fresh; i < fresh + 500; ++i)
        if (push(map, value_of(i)) != 0) return "push after the kill: " + errname(errno);
    for (uint64_t i = fresh; i < fresh + 500; ++i)
        if (peek(map, value_of(i)) != 0) return "a value pushed after the kill not found";
    for (uint64_t k : killed) {
        if (push(map, value_of(k)) != 0) return "re-push of the killed value: " + errname(errno);
        if (peek(map, value_of(k)) != 0) return "the re-pushed killed value not found";
    }
    return "";
}

}  // namespace

// args: out mapref value
BPFMAP_CHILD(crash_pusher) {
    Out out{ifd(args, 0)};
    const int map = open_map_ref(args.at(1), out);
    if (map < 0) return 2;
    stop_at_crash_point(out.fd);
    const int rc = push(map, value_of(num(args, 2)));
    // Only reached if the hook was not called.
    out.line("D push returned " + std::to_string(rc));
    return 3;
}

// args: out mapref before fresh killed...
BPFMAP_CHILD(bloom_check) {
    Out out{ifd(args, 0)};
    const int map = open_map_ref(args.at(1), out);
    if (map < 0) return 2;
    std::vector<uint64_t> killed;
    for (size_t i = 4; i < args.size(); ++i) killed.push_back(num(args, i));
    const std::string err = check_after(map, num(args, 2), killed, num(args, 3));
    if (!err.empty()) {
        out.line("ERR " + err);
        return 1;
    }
    return 0;
}

// args: out mapref. Reports the errno of opening the map (0: opened).
BPFMAP_CHILD(bloom_open) {
    Out out{ifd(args, 0)};
    const int map = open_map_ref(args.at(1));
    out.line("O " + std::to_string(map < 0 ? errno : 0));
    return 0;
}

namespace {

void run_check_child(const std::string& name, const std::string& mapref, int keep, uint64_t before,
                     uint64_t fresh, const std::vector<uint64_t>& killed) {
    std::vector<std::string> a = {mapref, std::to_string(before), std::to_string(fresh)};
    for (uint64_t k : killed) a.push_back(std::to_string(k));
    std::vector<Proc> ps;
    ps.push_back(
        start(name, "bloom_check", a, keep >= 0 ? std::vector<int>{keep} : std::vector<int>{}));
    finish(ps, kTimeoutMs);
    check_ok(ps[0]);
}

// Starts `n` pushers of values kKilledBase + i, each stopped inside its push; the parent then
// pushes and peeks while they are stopped, kills them, and checks.
void scenario(const std::string& mapref, int keep, int parent_fd, uint32_t n_pushers) {
    // Values [0, before) are pushed first: here by the parent, or by the creator when the
    // parent holds no fd (pin scenario).
    const uint64_t before = 2000, kKilledBase = 1'000'000;
    if (parent_fd >= 0)
        for (uint64_t i = 0; i < before; ++i) BOOST_REQUIRE(push(parent_fd, value_of(i)) == 0);
    std::vector<Proc> pushers;
    std::vector<uint64_t> killed;
    for (uint32_t i = 0; i < n_pushers; ++i) {
        killed.push_back(kKilledBase + i);
        pushers.push_back(start("pusher " + std::to_string(i), "crash_pusher",
                                {mapref, std::to_string(kKilledBase + i)},
                                keep >= 0 ? std::vector<int>{keep} : std::vector<int>{}));
    }
    for (Proc& p : pushers) {
        const char c = wait_byte(p, kTimeoutMs);
        BOOST_REQUIRE_MESSAGE(c == 'H', p.name << ": never reached the crash hook (got " << int(c)
                                               << "): " << p.text);
    }
    // Stopped inside their pushes: others are not blocked.
    if (parent_fd >= 0) {
        for (uint64_t i = 5000; i < 5100; ++i) BOOST_CHECK(push(parent_fd, value_of(i)) == 0);
        for (uint64_t i = 5000; i < 5100; ++i) BOOST_CHECK(peek(parent_fd, value_of(i)) == 0);
    }
    for (Proc& p : pushers) p.child.kill(SIGKILL);
    finish(pushers, kTimeoutMs);
    for (Proc& p : pushers)
        BOOST_CHECK_MESSAGE(p.status == 128 + SIGKILL,
                            p.name << ": status " << p.status << " (not killed): " << p.text);
    if (parent_fd >= 0) {
        const std::string err = check_after(parent_fd, before, killed, 10000);
        BOOST_CHECK_MESSAGE(err.empty(), "parent after the kill: " << err);
    }
    run_check_child("checker", mapref, keep, before, 20000, killed);
    expect_fsck_clean();
}

}  // namespace

BOOST_AUTO_TEST_CASE(one_pusher_killed) {
    Fd map(create_bloom(10000, 5));
    BOOST_REQUIRE_MESSAGE(map.get() >= 0, "create: " << errname(errno));
    scenario("fd:" + std::to_string(map.get()), map.get(), map.get(), 1);
}

BOOST_AUTO_TEST_CASE(three_pushers_killed_k1) {
    Fd map(create_bloom(10000, 1));
    BOOST_REQUIRE_MESSAGE(map.get() >= 0, "create: " << errname(errno));
    scenario("fd:" + std::to_string(map.get()), map.get(), map.get(), 3);
}

BOOST_AUTO_TEST_CASE(pusher_killed_holding_the_only_reference) {
    const std::string pin = bt::test_root() + "/pins/bloom_crash";
    {
        Fd map(create_bloom(1000, 15));
        BOOST_REQUIRE_MESSAGE(map.get() >= 0, "create: " << errname(errno));
        for (uint64_t i = 0; i < 2000; ++i) BOOST_REQUIRE(push(map.get(), value_of(i)) == 0);
        BOOST_REQUIRE_MESSAGE(bt::obj_pin(map.get(), pin) == 0, "pin: " << errname(errno));
    }  // only the pin keeps the map now
    scenario("pin:" + pin, -1, -1, 1);
    // The values pushed before are still there for a third process.
    run_check_child("late checker", "pin:" + pin, -1, 2000, 30000, {});
    BOOST_CHECK_MESSAGE(bpfmap_unpin(pin.c_str()) == 0, "unpin: " << errname(errno));
}

BOOST_AUTO_TEST_CASE(corrupt_region_header) {
    const std::string pin = bt::test_root() + "/pins/bloom_corrupt";
    uint32_t id = 0;
    {
        Fd map(create_bloom(100, 0));
        BOOST_REQUIRE(map.get() >= 0);
        id = map_id_of(map.get());
        BOOST_REQUIRE(bt::obj_pin(map.get(), pin) == 0);
    }
    {
        Fd f(::open((bt::test_root() + "/maps/" + std::to_string(id)).c_str(), O_RDWR | O_CLOEXEC));
        BOOST_REQUIRE(f.get() >= 0);
        const uint64_t junk = 0x0123456789abcdefULL;
        BOOST_REQUIRE(pwrite(f.get(), &junk, sizeof junk, bpfmap::shm::kRegionOffset) ==
                      static_cast<ssize_t>(sizeof junk));
    }
    std::vector<Proc> ps;
    ps.push_back(start("opener", "bloom_open", {"pin:" + pin}, {}));
    finish(ps, kTimeoutMs);
    check_ok(ps[0]);
    BOOST_CHECK_MESSAGE(lines(ps[0], "O") == std::vector<std::string>{std::to_string(EINVAL)},
                        "open of a map with a corrupt region header: " << ps[0].text);
    std::string out;
    const int st = run_inspect({"fsck"}, out);
    BOOST_CHECK_MESSAGE(st == 1, "fsck of the corrupt map: status " << st << ": " << out);
    BOOST_CHECK_MESSAGE(bpfmap_unpin(pin.c_str()) == 0, "unpin: " << errname(errno));
}
