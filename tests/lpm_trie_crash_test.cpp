// LPM trie writers that die inside their critical section. A child process sets the crash
// hook (api/internal/test_hooks.h), which the trie's writers call with the lock held and the
// trie's sequence count odd: once before the final store that links a change into the trie
// (stop point 1) and once right after it, before the element count and the free list are
// updated (stop point 2). The child reports one byte when it reaches the chosen stop point and
// blocks; the parent then starts a reader of a stable prefix (it waits for the dead writer's
// lock), SIGKILLs the writer and checks, with every wait bounded:
//  - before any repair, fsck sees the crash (odd sequence count, dead lock holder);
//  - the blocked reader is released with the right value;
//  - the trie holds exactly the contents before the operation (stop point 1) or after it
//    (stop point 2): every prefix's value, the whole GET_NEXT_KEY walk in kernel order;
//  - fsck is clean (trie invariants, element count, free list: nodes the dead writer had
//    allocated or unlinked are reclaimed), and the lock is free;
//  - the map fills to exactly max_entries, then ENOSPC (the count was rebuilt right).
// Every update case of the kernel's trie (empty slot, replace an element, replace an
// intermediate node, insert as an ancestor, a new intermediate node) and every delete case
// (mark intermediate, splice out an intermediate parent, replace by the only child, a leaf).
#include <bpfmap/bpf.h>
#include <linux/bpf.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "crash_support.hpp"
#include "lpm_trie_support.hpp"
#include "process_helpers.hpp"
#include "test_support.hpp"

namespace {

namespace bt = bpfmap::test;
using namespace bpfmap::test::proc;
using namespace bpfmap::test::lpm;

constexpr uint32_t kMax = 40;

Bytes value_of(uint32_t x) {
    Bytes v(8, 0);
    std::memcpy(v.data(), &x, 4);
    std::memcpy(v.data() + 4, &x, 4);
    return v;
}

// ---- children ----------------------------------------------------------------------------

// args: out fd op(update|delete) keyhex value flags skip
BPFMAP_CHILD(lpm_crash_writer) {
    Out out{ifd(args, 0)};
    const int fd = ifd(args, 1);
    const std::string op = args.at(2);
    const Bytes key = from_hex(args.at(3));
    const Bytes v = value_of(static_cast<uint32_t>(num(args, 4)));
    const uint64_t flags = num(args, 5);
    stop_at_crash_point(out.fd, static_cast<int>(num(args, 6)));
    const int rc = op == "update" ? bt::map_update(fd, key.data(), v.data(), flags)
                                  : bt::map_delete(fd, key.data());
    const int e = errno;
    out.line("D " + op + " returned " + std::to_string(rc) + (rc ? " " + errname(e) : ""));
    return 3;  // only reached if the hook was not called
}

// args: out ready go fd keyhex
BPFMAP_CHILD(lpm_reader) {
    Out out{ifd(args, 0)};
    const int fd = ifd(args, 3);
    const Bytes key = from_hex(args.at(4));
    pass_gate(ifd(args, 1), ifd(args, 2));
    Bytes v(8, 0);
    const int rc = bt::map_lookup(fd, key.data(), v.data());
    uint32_t x = 0;
    std::memcpy(&x, v.data(), 4);
    out.line("RES " + std::to_string(rc) + " " + std::to_string(x));
    return 0;
}

// ---- parent ------------------------------------------------------------------------------

Bytes k4(uint32_t plen, uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return make_key(plen, ipv4(a, b, c, d));
}

// The base trie: 10/8 with two children (the intermediate 10.0/14 over 10.1/16 and 10.2/16,
// and 10.200/16), 10.1/16 with one child (the intermediate 10.1.0/22 over 10.1.1/24 and
// 10.1.2/24), 192.168/16 over 192.168.1/24, and 172.16/12.
std::vector<Bytes> base_keys() {
    return {k4(8, 10, 0, 0, 0),     k4(16, 10, 1, 0, 0),    k4(16, 10, 2, 0, 0),
            k4(16, 10, 200, 0, 0),  k4(24, 10, 1, 1, 0),    k4(24, 10, 1, 2, 0),
            k4(16, 192, 168, 0, 0), k4(24, 192, 168, 1, 0), k4(12, 172, 16, 0, 0)};
}

struct Scenario {
    const char* name;
    bool update;
    Bytes key;
    uint64_t flags;
};

void apply(Reference& ref, const Scenario& s, uint32_t value) {
    const uint32_t plen = key_plen(s.key);
    const Bytes d = key_data(s.key);
    if (s.update)
        ref.entries[Reference::id(plen, d)] = {d, value_of(value)};
    else
        ref.entries.erase(Reference::id(plen, d));
}

void check_contents(int fd, const Reference& ref, const std::string& what) {
    int errors = 0;
    Bytes v(8);
    // Every prefix of the base set and the scenarios, and addresses under them.
    std::vector<Bytes> probes = base_keys();
    for (const auto& [k, e] : ref.entries) probes.push_back(make_key(k.first, e.data));
    probes.push_back(k4(14, 10, 0, 0, 0));
    probes.push_back(k4(16, 10, 3, 0, 0));
    probes.push_back(k4(20, 192, 168, 0, 0));
    probes.push_back(k4(24, 192, 168, 128, 0));
    for (Bytes p : probes) {
        for (uint32_t plen : {key_plen(p), 32u}) {
            std::memcpy(p.data(), &plen, 4);
            const auto want = ref.lookup(plen, key_data(p));
            const int rc = bt::map_lookup(fd, p.data(), v.data()) == 0 ? 0 : errno;
            if ((rc != (want ? 0 : ENOENT) || (want && v != want->value)) && errors++ < 5)
                BOOST_ERROR(what << ": lookup " << to_hex(p) << " rc " << rc);
        }
    }
    // The walk: every element once, in the kernel's order, data as stored.
    std::vector<Bytes> keys;
    Bytes cur(8), nx(8);
    int rc = bt::map_get_next_key(fd, nullptr, nx.data());
    while (rc == 0 && keys.size() < 2 * kMax) {
        keys.push_back(nx);
        cur = nx;
        rc = bt::map_get_next_key(fd, cur.data(), nx.data());
    }
    BOOST_CHECK_MESSAGE(rc != 0 && errno == ENOENT, what << ": walk did not end in ENOENT");
    BOOST_CHECK_MESSAGE(keys == ref.walk_order(), what << ": walk of " << keys.size()
                                                       << " keys differs from the "
                                                       << ref.walk_order().size() << " expected");
}

void run_scenario(const Scenario& s, int stop_point) {
    const std::string what = std::string(s.name) + " stop " + std::to_string(stop_point);
    BOOST_TEST_MESSAGE(what);
    const int fd = bt::map_create(BPF_MAP_TYPE_LPM_TRIE, 8, 8, kMax, BPF_F_NO_PREALLOC);
    BOOST_REQUIRE(fd >= 0);
    Fd map(fd);
    Reference ref;
    uint32_t serial = 1;
    for (const Bytes& k : base_keys()) {
        const Scenario ins{"", true, k, BPF_ANY};
        BOOST_REQUIRE_EQUAL(bt::map_update(fd, k.data(), value_of(serial).data(), BPF_ANY), 0);
        apply(ref, ins, serial++);
    }
    BOOST_REQUIRE_MESSAGE(fsck(fd).empty(), join(fsck(fd)));
    const uint32_t new_value = 777;

    Proc w =
        start("writer", "lpm_crash_writer",
              {std::to_string(fd), s.update ? "update" : "delete", to_hex(s.key),
               std::to_string(new_value), std::to_string(s.flags), std::to_string(stop_point - 1)},
              {fd});
    const char c = wait_byte(w, kTimeoutMs);
    BOOST_REQUIRE_MESSAGE(c == 'H', what << ": the writer did not stop in its critical section");

    // A reader of a stable prefix, started while the writer holds the lock.
    Gate gate;
    std::vector<std::string> rargs = gate.args();
    rargs.push_back(std::to_string(fd));
    rargs.push_back(to_hex(k4(32, 172, 16, 5, 5)));
    std::vector<int> rfds = gate.fds();
    rfds.push_back(fd);
    Proc r = start("reader", "lpm_reader", rargs, rfds);
    BOOST_REQUIRE(gate.open(1));

    const auto before = fsck(fd);
    BOOST_CHECK_MESSAGE(!before.empty(), what << ": fsck saw nothing of the stopped writer");

    kill_holder(w);
    finish_one(r);
    BOOST_CHECK(check_ok(r));
    const auto res = lines(r, "RES");
    BOOST_CHECK_MESSAGE(res.size() == 1 && res[0] == "0 9",
                        what << ": reader got " << (res.empty() ? "nothing" : res[0]));

    if (stop_point == 2) apply(ref, s, new_value);
    check_contents(fd, ref, what);
    const auto after = fsck(fd);
    BOOST_CHECK_MESSAGE(after.empty(), what << ": fsck after repair: " << join(after));

    // Still a working map: it fills to exactly max_entries.
    uint32_t added = 0;
    int rc = 0;
    for (uint32_t i = 0; i < 2 * kMax && rc == 0; ++i) {
        const Bytes k = k4(32, 100, static_cast<uint8_t>(i), 0, 1);
        rc = bt::map_update(fd, k.data(), value_of(i).data(), BPF_NOEXIST) == 0 ? 0 : errno;
        if (rc == 0) ++added;
    }
    BOOST_CHECK_EQUAL(rc, ENOSPC);
    BOOST_CHECK_EQUAL(ref.entries.size() + added, kMax);
    const auto full = fsck(fd);
    BOOST_CHECK_MESSAGE(full.empty(), what << ": fsck when full: " << join(full));
}

const std::vector<Scenario>& scenarios() {
    static const std::vector<Scenario> v = {
        {"update: empty slot", true, k4(24, 192, 168, 128, 0), BPF_NOEXIST},
        {"update: replace an element (other host bits)", true, k4(16, 10, 1, 9, 9), BPF_ANY},
        {"update: replace an intermediate node", true, k4(14, 10, 0, 0, 0), BPF_ANY},
        {"update: insert as an ancestor", true, k4(20, 192, 168, 0, 0), BPF_ANY},
        {"update: new intermediate node", true, k4(16, 10, 3, 0, 0), BPF_ANY},
        {"delete: two children (marked intermediate)", false, k4(8, 10, 0, 0, 0), 0},
        {"delete: leaf under an intermediate parent", false, k4(16, 10, 2, 0, 0), 0},
        {"delete: one child", false, k4(16, 10, 1, 0, 0), 0},
        {"delete: leaf under an element", false, k4(24, 192, 168, 1, 0), 0},
    };
    return v;
}

BOOST_AUTO_TEST_SUITE(lpm_trie_crash)

BOOST_AUTO_TEST_CASE(writer_killed_before_linking) {
    for (const Scenario& s : scenarios()) run_scenario(s, 1);
}

BOOST_AUTO_TEST_CASE(writer_killed_after_linking) {
    for (const Scenario& s : scenarios()) run_scenario(s, 2);
}

// The same after many operations: the free list in use, nodes recycled.
BOOST_AUTO_TEST_CASE(writer_killed_after_churn) {
    const int fd = bt::map_create(BPF_MAP_TYPE_LPM_TRIE, 8, 8, kMax, BPF_F_NO_PREALLOC);
    BOOST_REQUIRE(fd >= 0);
    Fd map(fd);
    Reference ref;
    for (uint32_t round = 0; round < 5; ++round)
        for (uint32_t i = 0; i < kMax; ++i) {
            const Bytes k = k4(8 + (i % 25), static_cast<uint8_t>(i), static_cast<uint8_t>(i * 7),
                               static_cast<uint8_t>(round & ~1u), 0);
            if (round % 2 == 0) {
                bt::map_update(fd, k.data(), value_of(i).data(), BPF_ANY);
            } else {
                bt::map_delete(fd, k.data());
            }
        }
    // Rebuild the reference from the map's own walk and values.
    Bytes cur(8), nx(8), v(8);
    int rc = bt::map_get_next_key(fd, nullptr, nx.data());
    while (rc == 0) {
        BOOST_REQUIRE_EQUAL(bt::map_lookup(fd, nx.data(), v.data()), 0);
        ref.entries[Reference::id(key_plen(nx), key_data(nx))] = {key_data(nx), v};
        cur = nx;
        rc = bt::map_get_next_key(fd, cur.data(), nx.data());
    }
    BOOST_REQUIRE(!ref.entries.empty());
    const Bytes victim = ref.walk_order()[ref.entries.size() / 2];
    Proc w = start("writer", "lpm_crash_writer",
                   {std::to_string(fd), "delete", to_hex(victim), "0", "0", "1"}, {fd});
    BOOST_REQUIRE(wait_byte(w, kTimeoutMs) == 'H');
    kill_holder(w);
    ref.entries.erase(Reference::id(key_plen(victim), key_data(victim)));
    check_contents(fd, ref, "churn");
    const auto p = fsck(fd);
    BOOST_CHECK_MESSAGE(p.empty(), "churn: fsck: " << join(p));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
