// PERCPU_ARRAY writers that die inside their critical section. A child sets the crash hook
// (api/internal/test_hooks.h), which a bpf() UPDATE calls with the element's stripe lock held,
// its sequence count odd and the per-CPU value half-written (half of all the slots' words), and
// blocks there; the parent waits for its byte, then:
//  - while the writer is stuck: a process adds to a slot of an element of the SAME stripe
//    through bpfmap_this_cpu_ptr (no lock: it must finish), and a lookup of another element of
//    that stripe returns at once (its count is even); the segment shows the crashed element's
//    count odd (what check() reports);
//  - a lookup of the crashed element and an update of a same-stripe element block on the dead
//    holder; after SIGKILL they are released (the lock's EOWNERDEAD repair);
//  - then a checker process: the crashed element reads as old or new bytes word by word (no
//    third value), every other element is intact, the crashed element and its stripe can be
//    updated, and every sequence count in the segment is even again (check() clean);
//  - the same with nobody else holding the map when the writer dies (reached by a pin): a third
//    process uses the map normally.
// The segment's counts are read from the file: the region header (shm/percpu_array_map.cpp)
// holds the offset of the count array at byte 24.
#include <bpfmap/bpf.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpfmap/percpu.hpp>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "crash_support.hpp"
#include "process_helpers.hpp"
#include "shm/segment_format.hpp"
#include "test_support.hpp"

namespace {

namespace bt = bpfmap::test;
using namespace bpfmap::test::proc;

constexpr uint32_t kValueSize = 60;  // slots of 64 bytes, 4 of them padding
constexpr uint32_t kMax = 512;       // 256 lock stripes: k and k + 256 share one
constexpr uint32_t kCrashKey = 5;
constexpr uint32_t kSameStripe = kCrashKey + 256;
constexpr unsigned char kNewByte = 0xee;

size_t value_bytes() {
    return bt::percpu_value_bytes(kValueSize);
}
unsigned char byte_of(uint32_t k) {
    return static_cast<unsigned char>(k % 200 + 1);
}
std::vector<unsigned char> value_of(unsigned char b) {
    return std::vector<unsigned char>(value_bytes(), b);
}

int create_percpu() {
    return bt::map_create(BPF_MAP_TYPE_PERCPU_ARRAY, 4, kValueSize, kMax);
}

// The indices whose sequence count is odd, read from the segment file (-1: unreadable).
std::vector<long> odd_counts(uint32_t map_id) {
    std::ifstream f(bt::test_root() + "/maps/" + std::to_string(map_id), std::ios::binary);
    uint64_t seqs_off = 0;
    uint32_t n = 0;
    f.seekg(static_cast<std::streamoff>(bpfmap::shm::kRegionOffset + 4));
    f.read(reinterpret_cast<char*>(&n), 4);
    f.seekg(static_cast<std::streamoff>(bpfmap::shm::kRegionOffset + 24));
    f.read(reinterpret_cast<char*>(&seqs_off), 8);
    if (!f || n != kMax || seqs_off == 0) return {-1};
    std::vector<uint32_t> seqs(n);
    f.seekg(static_cast<std::streamoff>(bpfmap::shm::kRegionOffset + seqs_off));
    f.read(reinterpret_cast<char*>(seqs.data()), static_cast<std::streamsize>(n * 4));
    if (!f) return {-1};
    std::vector<long> odd;
    for (uint32_t k = 0; k < n; ++k)
        if (seqs[k] & 1u) odd.push_back(k);
    return odd;
}

std::string show(const std::vector<long>& v) {
    std::string s = "{";
    for (long x : v) s += " " + std::to_string(x);
    return s + " }";
}

// args: out mapref key
BPFMAP_CHILD(crash_writer) {
    Out out{ifd(args, 0)};
    const int map = open_map_ref(args.at(1), out);
    if (map < 0) return 2;
    const uint32_t key = static_cast<uint32_t>(num(args, 2));
    const auto v = value_of(kNewByte);
    stop_at_crash_point(out.fd);
    const int rc = bt::map_update(map, &key, v.data(), BPF_ANY);
    out.line("D update returned " + std::to_string(rc));  // only if the hook was not called
    return 3;
}

// args: out mapref op(add|lookup|update) key
BPFMAP_CHILD(other_op) {
    Out out{ifd(args, 0)};
    const int map = open_map_ref(args.at(1), out);
    if (map < 0) return 2;
    const std::string op = args.at(2);
    const uint32_t key = static_cast<uint32_t>(num(args, 3));
    if (op == "add") {
        // Lock-free: must not wait for the stripe's stuck holder.
        for (int i = 0; i < 1000; ++i)
            if (!bpfmap::this_cpu_add(map, key, uint64_t{1})) {
                out.line("ERR this_cpu_add: " + errname(errno));
                return 1;
            }
        out.line("RES 0");
    } else if (op == "lookup") {
        auto v = value_of(0);
        const int rc = bt::map_lookup(map, &key, v.data());
        out.line("RES " + std::to_string(rc) + " " + (rc ? errname(errno) : "ok"));
    } else {
        const auto v = value_of(byte_of(key) + 100);
        const int rc = bt::map_update(map, &key, v.data(), BPF_ANY);
        out.line("RES " + std::to_string(rc) + " " + (rc ? errname(errno) : "ok"));
    }
    return 0;
}

// args: out mapref same_stripe_byte(0: as created)
BPFMAP_CHILD(checker) {
    Out out{ifd(args, 0)};
    int failures = 0;
    auto fail = [&](const std::string& s) {
        out.line("ERR " + s);
        ++failures;
    };
    const int map = open_map_ref(args.at(1));
    if (map < 0) {
        fail("open map: " + errname(errno));
        return 2;
    }
    const auto same_byte = static_cast<unsigned char>(num(args, 2));
    auto v = value_of(0);
    // The crashed element: every 8-byte word is old or new (the dead writer stored whole words).
    if (bt::map_lookup(map, &kCrashKey, v.data()) != 0) {
        fail("lookup crashed element: " + errname(errno));
    } else {
        size_t news = 0;
        for (size_t i = 0; i < v.size(); i += 8) {
            const auto old_w = std::vector<unsigned char>(8, byte_of(kCrashKey));
            const auto new_w = std::vector<unsigned char>(8, kNewByte);
            const std::vector<unsigned char> w(v.begin() + static_cast<long>(i),
                                               v.begin() + static_cast<long>(i) + 8);
            if (w == new_w)
                ++news;
            else if (w != old_w)
                fail("crashed element: word at byte " + std::to_string(i) +
                     " is neither old nor "
                     "new");
        }
        out.line("NEWWORDS " + std::to_string(news) + " of " + std::to_string(v.size() / 8));
    }
    for (uint32_t k = 0; k < kMax; ++k) {
        if (k == kCrashKey) continue;
        unsigned char want = byte_of(k);
        if (k == kSameStripe && same_byte) want = same_byte;
        if (bt::map_lookup(map, &k, v.data()) != 0) {
            fail("lookup " + std::to_string(k) + ": " + errname(errno));
            continue;
        }
        for (unsigned char c : v)
            if (c != want) {
                fail("element " + std::to_string(k) + " changed");
                break;
            }
    }
    // The crashed element and its stripe work again.
    for (uint32_t k : {kCrashKey, kSameStripe}) {
        const auto nv = value_of(0x77);
        if (bt::map_update(map, &k, nv.data(), BPF_EXIST) != 0)
            fail("update " + std::to_string(k) + ": " + errname(errno));
        else if (bt::map_lookup(map, &k, v.data()) != 0 || v != nv)
            fail("element " + std::to_string(k) + " after the update");
    }
    if (!bpfmap::this_cpu_add(map, kCrashKey, uint64_t{1}))
        fail("this_cpu_add on the crashed element: " + errname(errno));
    return failures ? 1 : 0;
}

std::string res_of(const Proc& p) {
    auto r = lines(p, "RES");
    return r.empty() ? "(no result)" : r[0];
}

Fd setup(uint32_t& id) {
    Fd map(create_percpu());
    BOOST_REQUIRE_MESSAGE(map.get() >= 0, "create: " << errname(errno));
    for (uint32_t k = 0; k < kMax; ++k) {
        const auto v = value_of(byte_of(k));
        BOOST_REQUIRE(bt::map_update(map.get(), &k, v.data(), BPF_ANY) == 0);
    }
    id = map_id_of(map.get());
    BOOST_REQUIRE(id != 0);
    BOOST_REQUIRE_MESSAGE(odd_counts(id).empty(), "counts before: " << show(odd_counts(id)));
    return map;
}

// Starts the writer and waits until it is stuck inside its critical section.
bool start_stuck_writer(Proc& w, const std::string& ref, std::vector<int> keep) {
    w = start("writer", "crash_writer", {ref, std::to_string(kCrashKey)}, std::move(keep));
    const char c = wait_byte(w, kTimeoutMs);
    BOOST_CHECK_MESSAGE(c == 'H', "the writer did not reach its critical section");
    return c == 'H';
}

void run_checker(const std::string& ref, std::vector<int> keep, unsigned char same_byte,
                 uint32_t id) {
    std::vector<Proc> chk;
    chk.push_back(start("checker", "checker", {ref, std::to_string(same_byte)}, std::move(keep)));
    finish(chk, kTimeoutMs);
    check_ok(chk[0]);
    for (const std::string& l : lines(chk[0], "NEWWORDS"))
        BOOST_TEST_MESSAGE("crashed element: " << l << " words new");
    const auto odd = odd_counts(id);
    BOOST_CHECK_MESSAGE(odd.empty(), "odd sequence counts after the repair: " << show(odd));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(percpu_array_crash)

BOOST_AUTO_TEST_CASE(update_holder_killed) {
    uint32_t id = 0;
    Fd map = setup(id);
    const std::string ref = "fd:" + std::to_string(map.get());
    const std::vector<int> keep = {map.get()};
    Proc w;
    if (!start_stuck_writer(w, ref, keep)) return;

    // Stuck writer: the crashed element's count is odd (what check() reports)...
    BOOST_CHECK_MESSAGE(odd_counts(id) == std::vector<long>{kCrashKey},
                        "odd counts while the writer is stuck: " << show(odd_counts(id)));
    // ... direct per-CPU updates of a same-stripe element need no lock ...
    Proc adder = start("adder", "other_op", {ref, "add", std::to_string(kSameStripe)}, keep);
    finish_one(adder);
    BOOST_CHECK_MESSAGE(check_ok(adder) && res_of(adder) == "0",
                        "this_cpu_add beside a stuck writer: " << res_of(adder));
    // ... and neither does a lookup of it (its count is even).
    auto v = value_of(0);
    BOOST_CHECK(bt::map_lookup(map.get(), &kSameStripe, v.data()) == 0);
    auto sum = bpfmap::percpu_sum<uint64_t>(map.get(), kSameStripe);
    uint64_t before;
    std::memset(&before, byte_of(kSameStripe), 8);
    BOOST_CHECK_MESSAGE(sum && *sum == before * bt::possible_cpus() + 1000,
                        "sum after the adds: " << (sum ? *sum : 0));

    // Processes that block on the stuck holder: a lookup of its element, an update of its stripe.
    Proc blk_lookup =
        start("blocked lookup", "other_op", {ref, "lookup", std::to_string(kCrashKey)}, keep);
    wait_in_futex(blk_lookup.child.pid(), 5000);
    Proc blk_update =
        start("blocked update", "other_op", {ref, "update", std::to_string(kSameStripe)}, keep);
    wait_in_futex(blk_update.child.pid(), 5000);
    kill_holder(w);
    std::vector<Proc> blocked;
    blocked.push_back(std::move(blk_lookup));
    blocked.push_back(std::move(blk_update));
    finish(blocked, kTimeoutMs);
    for (const Proc& p : blocked) {
        check_ok(p);
        BOOST_CHECK_MESSAGE(res_of(p) == "0 ok", p.name << ": " << res_of(p));
    }
    run_checker(ref, keep, static_cast<unsigned char>(byte_of(kSameStripe) + 100), id);
}

// Nobody else has the map open when the holder dies; a third process opens it by its pin and
// is the one that meets the dead owner.
BOOST_AUTO_TEST_CASE(holder_killed_alone_third_process_uses_map) {
    uint32_t id = 0;
    Fd map = setup(id);
    const std::string pin = bt::test_root() + "/pins/pcpu_crash_alone";
    BOOST_REQUIRE_MESSAGE(bt::obj_pin(map.get(), pin) == 0, "pin: " << errname(errno));
    map.reset();
    Proc w;
    if (start_stuck_writer(w, "pin:" + pin, {})) kill_holder(w);
    BOOST_CHECK_MESSAGE(odd_counts(id) == std::vector<long>{kCrashKey},
                        "odd counts after the writer died: " << show(odd_counts(id)));
    run_checker("pin:" + pin, {}, 0, id);
    BOOST_CHECK_MESSAGE(bpfmap_unpin(pin.c_str()) == 0, "unpin: " << errname(errno));
}

BOOST_AUTO_TEST_SUITE_END()
