// BPF_MAP_TYPE_LPM_TRIE through bpfmap's bpf(): every errno of create and of the element
// commands, the kernel's semantics (longest-prefix match on lookup, exact prefix on update and
// delete, host bits stored verbatim but ignored for matching, ENOSPC when full, the post-order
// GET_NEXT_KEY walk), and IPv4/IPv6 routing tables of thousands of random prefixes checked
// against a brute-force reference (tests/lpm_trie_support.hpp). After each phase the map's
// fsck (Map::check: prefix ordering, intermediate nodes with two children, count, free list)
// must be clean and its lock free. Garbage written into the node pool behind the library's
// back never crashes or hangs processes using the map.
#include <bpfmap/bpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "lpm_trie_support.hpp"
#include "process_helpers.hpp"
#include "test_support.hpp"

namespace {

namespace bt = bpfmap::test;
using namespace bpfmap::test::lpm;

constexpr int kENOTSUPP = 524;
constexpr uint32_t kNP = BPF_F_NO_PREALLOC;

struct MapFd {
    int fd;
    explicit MapFd(int f) : fd(f) { BOOST_REQUIRE_MESSAGE(f >= 0, "create: errno " << errno); }
    ~MapFd() {
        if (fd >= 0) ::close(fd);
    }
};

int create(uint32_t ks, uint32_t vs, uint32_t max, uint32_t flags) {
    return bt::map_create(BPF_MAP_TYPE_LPM_TRIE, ks, vs, max, flags);
}

// Result of a call: 0 or the errno.
int rc_of(int r) {
    return r == 0 ? 0 : errno;
}

int update(int fd, const Bytes& k, const Bytes& v, uint64_t flags) {
    return rc_of(bt::map_update(fd, k.data(), v.data(), flags));
}
int lookup(int fd, const Bytes& k, Bytes& v) {
    return rc_of(bt::map_lookup(fd, k.data(), v.data()));
}
int del(int fd, const Bytes& k) {
    return rc_of(bt::map_delete(fd, k.data()));
}
int next(int fd, const Bytes* k, Bytes& out) {
    return rc_of(bt::map_get_next_key(fd, k ? k->data() : nullptr, out.data()));
}
int lookup_and_delete(int fd, const Bytes& k, Bytes& v, uint64_t flags) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<__u32>(fd);
    a.key = bt::uptr(k.data());
    a.value = bt::uptr(v.data());
    a.flags = flags;
    return rc_of(::bpf(BPF_MAP_LOOKUP_AND_DELETE_ELEM, &a, sizeof a));
}
Bytes val32(uint32_t x) {
    Bytes v(4);
    std::memcpy(v.data(), &x, 4);
    return v;
}
uint32_t as32(const Bytes& v) {
    uint32_t x;
    std::memcpy(&x, v.data(), 4);
    return x;
}

// Every key of a GET_NEXT_KEY walk from NULL (stops at ENOENT; at most `cap` keys).
std::vector<Bytes> walk(int fd, size_t ks, size_t cap, int& err) {
    std::vector<Bytes> out;
    Bytes cur(ks), nx(ks);
    err = next(fd, nullptr, nx);
    while (err == 0 && out.size() < cap) {
        out.push_back(nx);
        cur = nx;
        err = next(fd, &cur, nx);
    }
    if (err == ENOENT) err = 0;
    return out;
}

void expect_clean(int fd, const std::string& when) {
    const auto p = fsck(fd);
    BOOST_CHECK_MESSAGE(p.empty(), when << ": fsck: " << join(p));
}

std::string show_key(const Bytes& k) {
    std::string s = std::to_string(key_plen(k)) + ":";
    for (size_t i = 4; i < k.size(); ++i) s += std::to_string(k[i]) + (i + 1 < k.size() ? "." : "");
    return s;
}

BOOST_AUTO_TEST_SUITE(lpm_trie)

BOOST_AUTO_TEST_CASE(create_errnos) {
    struct C {
        uint32_t ks, vs, max, flags;
        int err;
    };
    const uint32_t vmax = (4u << 20) - 256 - 24;
    const C cases[] = {
        {8, 8, 16, kNP, 0},
        {5, 1, 1, kNP, 0},
        {260, 8, 4, kNP, 0},
        {8, vmax, 1, kNP, 0},
        {8, 8, 16, 0, EINVAL},  // NO_PREALLOC is required
        {4, 8, 16, kNP, EINVAL},
        {0, 8, 16, kNP, EINVAL},
        {261, 8, 16, kNP, EINVAL},
        {8, 0, 16, kNP, EINVAL},
        {8, vmax + 1, 1, kNP, EINVAL},
        {8, 8, 0, kNP, EINVAL},
        {8, 8, 16, kNP | BPF_F_NUMA_NODE, 0},
        {8, 8, 16, kNP | BPF_F_RDONLY_PROG, 0},
        {8, 8, 16, kNP | BPF_F_WRONLY_PROG, 0},
        {8, 8, 16, kNP | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG, EINVAL},
        {8, 8, 16, kNP | BPF_F_ZERO_SEED, EINVAL},
        {8, 8, 16, kNP | BPF_F_MMAPABLE, EINVAL},
        {8, 8, 16, kNP | BPF_F_NO_COMMON_LRU, EINVAL},
        {8, 8, 16, kNP | (1u << 20), EINVAL},
    };
    for (const C& c : cases) {
        const int fd = create(c.ks, c.vs, c.max, c.flags);
        const int err = fd >= 0 ? 0 : errno;
        BOOST_CHECK_MESSAGE(err == c.err, "create ks=" << c.ks << " vs=" << c.vs << " max=" << c.max
                                                       << " flags=" << c.flags << ": errno " << err
                                                       << ", want " << c.err);
        if (fd >= 0) ::close(fd);
    }
}

BOOST_AUTO_TEST_CASE(element_errnos) {
    MapFd m(create(8, 4, 4, kNP));
    const int fd = m.fd;
    const Bytes k24 = make_key(24, ipv4(192, 168, 1, 0));
    const Bytes k32 = make_key(32, ipv4(192, 168, 1, 5));
    const Bytes k33 = make_key(33, ipv4(192, 168, 1, 5));
    const Bytes kbig = make_key(0xffffffffu, ipv4(192, 168, 1, 5));
    Bytes v(4), out(8);
    // Empty map.
    BOOST_CHECK_EQUAL(next(fd, nullptr, out), ENOENT);
    BOOST_CHECK_EQUAL(next(fd, &k24, out), ENOENT);
    BOOST_CHECK_EQUAL(lookup(fd, k24, v), ENOENT);
    BOOST_CHECK_EQUAL(del(fd, k24), ENOENT);
    // Flags: 0, 1, 2 only.
    for (uint64_t f : {uint64_t{3}, uint64_t{4}, uint64_t{8}, uint64_t{1} << 32, ~uint64_t{0}})
        BOOST_CHECK_EQUAL(update(fd, k24, val32(1), f), EINVAL);
    BOOST_CHECK_EQUAL(update(fd, k24, val32(1), BPF_F_LOCK), EINVAL);
    BOOST_CHECK_EQUAL(update(fd, k24, val32(1), BPF_EXIST), ENOENT);
    BOOST_CHECK_EQUAL(update(fd, k24, val32(1), BPF_NOEXIST), 0);
    BOOST_CHECK_EQUAL(update(fd, k24, val32(2), BPF_NOEXIST), EEXIST);
    BOOST_CHECK_EQUAL(update(fd, k24, val32(3), BPF_EXIST), 0);
    BOOST_CHECK_EQUAL(lookup(fd, k24, v), 0);
    BOOST_CHECK_EQUAL(as32(v), 3u);
    // prefixlen > 8 * data_size: EINVAL on update and delete, ENOENT on lookup.
    BOOST_CHECK_EQUAL(update(fd, k33, val32(1), BPF_ANY), EINVAL);
    BOOST_CHECK_EQUAL(update(fd, kbig, val32(1), BPF_ANY), EINVAL);
    BOOST_CHECK_EQUAL(update(fd, k33, val32(1), 3), EINVAL);
    BOOST_CHECK_EQUAL(del(fd, k33), EINVAL);
    BOOST_CHECK_EQUAL(del(fd, kbig), EINVAL);
    BOOST_CHECK_EQUAL(lookup(fd, k33, v), ENOENT);
    BOOST_CHECK_EQUAL(lookup(fd, kbig, v), ENOENT);
    // Longest prefix on lookup, exact prefix on delete.
    BOOST_CHECK_EQUAL(lookup(fd, k32, v), 0);
    BOOST_CHECK_EQUAL(as32(v), 3u);
    BOOST_CHECK_EQUAL(lookup(fd, make_key(23, ipv4(192, 168, 1, 5)), v), ENOENT);
    BOOST_CHECK_EQUAL(del(fd, k32), ENOENT);
    BOOST_CHECK_EQUAL(del(fd, make_key(16, ipv4(192, 168, 0, 0))), ENOENT);
    // LOOKUP_AND_DELETE: ENOTSUPP (flags other than F_LOCK: EINVAL first); nothing deleted.
    BOOST_CHECK_EQUAL(lookup_and_delete(fd, k24, v, 0), kENOTSUPP);
    BOOST_CHECK_EQUAL(lookup_and_delete(fd, k24, v, BPF_EXIST), EINVAL);
    BOOST_CHECK_EQUAL(lookup_and_delete(fd, k24, v, BPF_F_LOCK), EINVAL);
    BOOST_CHECK_EQUAL(lookup(fd, k24, v), 0);
    // Pointers.
    BOOST_CHECK_EQUAL(rc_of(bt::map_lookup(fd, k24.data(), nullptr)), EFAULT);
    BOOST_CHECK_EQUAL(rc_of(bt::map_lookup(fd, nullptr, v.data())), EFAULT);
    BOOST_CHECK_EQUAL(rc_of(bt::map_update(fd, nullptr, v.data(), 0)), EFAULT);
    BOOST_CHECK_EQUAL(rc_of(bt::map_update(fd, k24.data(), nullptr, 0)), EFAULT);
    BOOST_CHECK_EQUAL(rc_of(bt::map_delete(fd, nullptr)), EFAULT);
    BOOST_CHECK_EQUAL(rc_of(bt::map_get_next_key(fd, nullptr, nullptr)), EFAULT);
    // GET_NEXT_KEY: the last element gives ENOENT; absent and invalid keys the leftmost.
    BOOST_CHECK_EQUAL(next(fd, &k24, out), ENOENT);
    BOOST_CHECK_EQUAL(next(fd, &k32, out), 0);
    BOOST_CHECK(out == k24);
    BOOST_CHECK_EQUAL(next(fd, &k33, out), 0);
    BOOST_CHECK(out == k24);
    BOOST_CHECK_EQUAL(del(fd, k24), 0);
    BOOST_CHECK_EQUAL(del(fd, k24), ENOENT);
    BOOST_CHECK_EQUAL(lookup(fd, k32, v), ENOENT);
    expect_clean(fd, "element_errnos");
}

BOOST_AUTO_TEST_CASE(host_bits_and_walk_order) {
    MapFd m(create(8, 4, 16, kNP));
    const int fd = m.fd;
    Bytes v(4), out(8);
    // Stored verbatim, matched on prefixlen bits only: 10.9.9.9/8 replaces 10.1.2.3/8.
    BOOST_CHECK_EQUAL(update(fd, make_key(8, ipv4(10, 1, 2, 3)), val32(1), BPF_ANY), 0);
    BOOST_CHECK_EQUAL(update(fd, make_key(8, ipv4(10, 9, 9, 9)), val32(2), BPF_NOEXIST), EEXIST);
    BOOST_CHECK_EQUAL(next(fd, nullptr, out), 0);
    BOOST_CHECK(out == make_key(8, ipv4(10, 1, 2, 3)));
    BOOST_CHECK_EQUAL(update(fd, make_key(8, ipv4(10, 9, 9, 9)), val32(2), BPF_ANY), 0);
    BOOST_CHECK_EQUAL(bpfmap::test::proc::map_id_of(fd) != 0, true);
    BOOST_CHECK_EQUAL(next(fd, nullptr, out), 0);
    BOOST_CHECK(out == make_key(8, ipv4(10, 9, 9, 9)));
    BOOST_CHECK_EQUAL(lookup(fd, make_key(32, ipv4(10, 200, 0, 1)), v), 0);
    BOOST_CHECK_EQUAL(as32(v), 2u);
    BOOST_CHECK_EQUAL(lookup(fd, make_key(32, ipv4(11, 0, 0, 1)), v), ENOENT);
    // More specific first: 10.0.0.1/32, 192.168.1.0/24, 192.168.0.0/16, then 10.9.9.9/8.
    BOOST_CHECK_EQUAL(update(fd, make_key(16, ipv4(192, 168, 0, 0)), val32(3), BPF_ANY), 0);
    BOOST_CHECK_EQUAL(update(fd, make_key(24, ipv4(192, 168, 1, 0)), val32(4), BPF_ANY), 0);
    BOOST_CHECK_EQUAL(update(fd, make_key(32, ipv4(10, 0, 0, 1)), val32(5), BPF_ANY), 0);
    int err = 0;
    const auto keys = walk(fd, 8, 100, err);
    BOOST_CHECK_EQUAL(err, 0);
    const std::vector<Bytes> want = {
        make_key(32, ipv4(10, 0, 0, 1)), make_key(8, ipv4(10, 9, 9, 9)),
        make_key(24, ipv4(192, 168, 1, 0)), make_key(16, ipv4(192, 168, 0, 0))};
    BOOST_CHECK_EQUAL(keys.size(), want.size());
    for (size_t i = 0; i < std::min(keys.size(), want.size()); ++i)
        BOOST_CHECK_MESSAGE(keys[i] == want[i], "walk[" << i << "] = " << show_key(keys[i])
                                                        << ", want " << show_key(want[i]));
    // DELETE 10.0.0.0/8 removes 10.9.9.9/8; the /32 below it stays.
    BOOST_CHECK_EQUAL(del(fd, make_key(8, ipv4(10, 0, 0, 0))), 0);
    BOOST_CHECK_EQUAL(lookup(fd, make_key(32, ipv4(10, 200, 0, 1)), v), ENOENT);
    BOOST_CHECK_EQUAL(lookup(fd, make_key(32, ipv4(10, 0, 0, 1)), v), 0);
    BOOST_CHECK_EQUAL(as32(v), 5u);
    // A lookup key's own prefixlen limits the match: /20 does not see the /24.
    BOOST_CHECK_EQUAL(lookup(fd, make_key(20, ipv4(192, 168, 1, 7)), v), 0);
    BOOST_CHECK_EQUAL(as32(v), 3u);
    BOOST_CHECK_EQUAL(lookup(fd, make_key(24, ipv4(192, 168, 1, 7)), v), 0);
    BOOST_CHECK_EQUAL(as32(v), 4u);
    // prefixlen 0: the default route matches everything.
    BOOST_CHECK_EQUAL(update(fd, make_key(0, ipv4(1, 2, 3, 4)), val32(9), BPF_ANY), 0);
    BOOST_CHECK_EQUAL(lookup(fd, make_key(32, ipv4(11, 0, 0, 1)), v), 0);
    BOOST_CHECK_EQUAL(as32(v), 9u);
    BOOST_CHECK_EQUAL(lookup(fd, make_key(0, ipv4(192, 168, 1, 7)), v), 0);
    BOOST_CHECK_EQUAL(as32(v), 9u);
    expect_clean(fd, "host_bits");
}

BOOST_AUTO_TEST_CASE(enospc_when_full) {
    constexpr uint32_t kMax = 100;
    MapFd m(create(8, 4, kMax, kNP));
    const int fd = m.fd;
    std::mt19937 rng(7);
    std::vector<Bytes> keys;
    std::set<std::pair<uint32_t, Bytes>> ids;
    while (keys.size() < kMax) {
        const uint32_t plen = static_cast<uint32_t>(8 + rng() % 25);
        const Bytes d = ipv4(10, static_cast<uint8_t>(rng() % 4), static_cast<uint8_t>(rng()),
                             static_cast<uint8_t>(rng()));
        if (!ids.insert(Reference::id(plen, d)).second) continue;
        keys.push_back(make_key(plen, d));
        BOOST_REQUIRE_EQUAL(update(fd, keys.back(), val32(1), BPF_NOEXIST), 0);
    }
    const Bytes fresh = make_key(7, ipv4(10, 0, 0, 0));
    BOOST_CHECK_EQUAL(update(fd, fresh, val32(2), BPF_ANY), ENOSPC);
    BOOST_CHECK_EQUAL(update(fd, fresh, val32(2), BPF_NOEXIST), ENOSPC);
    BOOST_CHECK_EQUAL(update(fd, fresh, val32(2), BPF_EXIST), ENOENT);
    // Existing prefixes can still be replaced, host bits and all.
    for (const Bytes& k : keys) {
        Bytes k2 = k;
        if (key_plen(k) < 32) k2.back() ^= 1;
        BOOST_CHECK_EQUAL(update(fd, k2, val32(3), BPF_ANY), 0);
        BOOST_CHECK_EQUAL(update(fd, k, val32(4), BPF_EXIST), 0);
    }
    expect_clean(fd, "full");
    BOOST_CHECK_EQUAL(del(fd, keys[17]), 0);
    BOOST_CHECK_EQUAL(update(fd, fresh, val32(2), BPF_NOEXIST), 0);
    BOOST_CHECK_EQUAL(update(fd, keys[17], val32(2), BPF_NOEXIST), ENOSPC);
    int err = 0;
    BOOST_CHECK_EQUAL(walk(fd, 8, 1000, err).size(), kMax);
    // Drain completely, then refill: nodes are recycled (no pool exhaustion, no leak).
    for (int round = 0; round < 3; ++round) {
        const auto all = walk(fd, 8, 1000, err);
        for (const Bytes& k : all) BOOST_CHECK_EQUAL(del(fd, k), 0);
        Bytes out(8);
        BOOST_CHECK_EQUAL(next(fd, nullptr, out), ENOENT);
        expect_clean(fd, "drained");
        for (const Bytes& k : keys) BOOST_CHECK_EQUAL(update(fd, k, val32(5), BPF_NOEXIST), 0);
        BOOST_CHECK_EQUAL(update(fd, fresh, val32(2), BPF_ANY), ENOSPC);
        expect_clean(fd, "refilled");
    }
}

// A routing table of random prefixes around a few networks, with random host bits.
struct Table {
    uint32_t data_size;
    std::mt19937_64 rng;
    std::vector<Bytes> nets;
    Table(uint32_t ds, uint64_t seed) : data_size(ds), rng(seed) {
        for (int i = 0; i < 12; ++i) nets.push_back(random_data());
    }
    Bytes random_data() {
        Bytes d(data_size);
        for (auto& b : d) b = static_cast<unsigned char>(rng());
        return d;
    }
    // An address near the networks (or anywhere).
    Bytes address() {
        if (rng() % 8 == 0) return random_data();
        Bytes d = nets[rng() % nets.size()];
        const uint32_t keep = static_cast<uint32_t>(rng() % (data_size * 8 + 1));
        for (uint32_t i = keep; i < data_size * 8; ++i)
            if (rng() & 1) d[i / 8] ^= static_cast<unsigned char>(1u << (7 - i % 8));
        return d;
    }
    uint32_t prefixlen() {
        const uint32_t max = data_size * 8;
        if (rng() % 10 == 0) return max;
        return static_cast<uint32_t>(rng() % (max + 1));
    }
};

uint64_t rng_flag(std::mt19937_64& r) {
    const uint64_t x = r() % 10;
    return x < 6 ? uint64_t{BPF_ANY} : x < 8 ? uint64_t{BPF_NOEXIST} : uint64_t{BPF_EXIST};
}

void routing_table(uint32_t data_size, uint32_t max_entries, uint32_t inserts, int lookups) {
    const uint64_t seed = std::random_device{}();
    BOOST_TEST_MESSAGE("routing table data_size=" << data_size << " seed=" << seed);
    const size_t ks = 4 + data_size;
    MapFd m(create(static_cast<uint32_t>(ks), 8, max_entries, kNP));
    const int fd = m.fd;
    Table t(data_size, seed);
    Reference ref;
    uint64_t serial = 0;
    auto value = [&] {
        Bytes v(8);
        ++serial;
        std::memcpy(v.data(), &serial, 8);
        return v;
    };
    int errors = 0;
    auto expect = [&](bool ok, const std::string& what) {
        if (!ok && errors++ < 10) BOOST_ERROR("seed " << seed << ": " << what);
    };
    auto check_lookups = [&](const char* phase) {
        Bytes v(8);
        for (int i = 0; i < lookups; ++i) {
            const Bytes a = t.address();
            const uint32_t plen = i % 4 == 0 ? t.prefixlen() : data_size * 8;
            const auto want = ref.lookup(plen, a);
            const int rc = lookup(fd, make_key(plen, a), v);
            expect(rc == (want ? 0 : ENOENT) && (!want || v == want->value),
                   std::string(phase) + ": lookup " + show_key(make_key(plen, a)) + " rc " +
                       std::to_string(rc));
        }
    };
    auto check_walk = [&](const char* phase) {
        int err = 0;
        const auto keys = walk(fd, ks, max_entries + 10, err);
        const auto want = ref.walk_order();
        expect(err == 0, std::string(phase) + ": walk error " + std::to_string(err));
        expect(keys == want, std::string(phase) + ": walk of " + std::to_string(keys.size()) +
                                 " keys, want " + std::to_string(want.size()) + " in post-order");
        std::set<Bytes> unique(keys.begin(), keys.end());
        expect(unique.size() == keys.size(), std::string(phase) + ": a key visited twice");
    };
    // Insert: NOEXIST for new prefixes, ANY (replacing data and value) or EXIST otherwise.
    for (uint32_t i = 0; i < inserts; ++i) {
        const Bytes a = t.address();
        const uint32_t plen = t.prefixlen();
        const Bytes v = value();
        const bool present = ref.contains(plen, a);
        const uint64_t flags = rng_flag(t.rng);
        const int rc = update(fd, make_key(plen, a), v, flags);
        int want = 0;
        if (flags == BPF_NOEXIST && present) want = EEXIST;
        if (flags == BPF_EXIST && !present) want = ENOENT;
        if (!present && want == 0 && ref.entries.size() >= max_entries) want = ENOSPC;
        expect(rc == want, "update " + show_key(make_key(plen, a)) + " flags " +
                               std::to_string(flags) + ": " + std::to_string(rc) + ", want " +
                               std::to_string(want));
        if (rc == 0) ref.entries[Reference::id(plen, a)] = {a, v};
    }
    BOOST_TEST_MESSAGE("  " << ref.entries.size() << " prefixes");
    BOOST_CHECK_GT(ref.entries.size(), std::min<size_t>(inserts / 3, 150));
    check_lookups("filled");
    check_walk("filled");
    expect_clean(fd, "filled");
    // Delete about half, by exact prefix with other host bits; misses must be ENOENT.
    std::vector<std::pair<uint32_t, Bytes>> ids;
    for (const auto& [k, e] : ref.entries) ids.push_back(k);
    for (size_t i = 0; i < ids.size(); ++i) {
        if (t.rng() % 2) continue;
        Bytes d = ids[i].second;
        for (uint32_t b = ids[i].first; b < data_size * 8; ++b)
            if (t.rng() & 1) d[b / 8] ^= static_cast<unsigned char>(1u << (7 - b % 8));
        expect(del(fd, make_key(ids[i].first, d)) == 0,
               "delete " + show_key(make_key(ids[i].first, d)));
        ref.entries.erase(ids[i]);
    }
    for (int i = 0; i < 500; ++i) {
        const Bytes a = t.address();
        const uint32_t plen = t.prefixlen();
        const int rc = del(fd, make_key(plen, a));
        expect(rc == (ref.contains(plen, a) ? 0 : ENOENT), "random delete");
        ref.entries.erase(Reference::id(plen, a));
    }
    check_lookups("after deletes");
    check_walk("after deletes");
    expect_clean(fd, "after deletes");
    // GET_NEXT_KEY from every element gives the next one in the walk.
    const auto order = ref.walk_order();
    Bytes out(ks);
    for (size_t i = 0; i < order.size(); i += 7) {
        const int rc = next(fd, &order[i], out);
        if (i + 1 < order.size())
            expect(rc == 0 && out == order[i + 1], "next after " + show_key(order[i]));
        else
            expect(rc == ENOENT, "next after the last");
    }
}

BOOST_AUTO_TEST_CASE(ipv4_routing_table) {
    routing_table(4, 5000, 9000, 20000);
}

BOOST_AUTO_TEST_CASE(ipv6_routing_table) {
    routing_table(16, 4000, 3000, 8000);
}

BOOST_AUTO_TEST_CASE(odd_key_sizes) {
    routing_table(1, 300, 600, 2000);
    routing_table(3, 1000, 1200, 3000);
    routing_table(256, 500, 600, 300);
}

// A child that runs random operations on a map whose node pool holds garbage: it must finish
// (no crash, no hang) whatever the results. args: out fd seed
BPFMAP_CHILD(lpm_garbage_user) {
    bpfmap::test::proc::Out out{bpfmap::test::proc::ifd(args, 0)};
    const int fd = bpfmap::test::proc::ifd(args, 1);
    std::mt19937_64 rng(bpfmap::test::proc::num(args, 2));
    Bytes v(8), nk(8);
    long ok = 0;
    for (int i = 0; i < 4000; ++i) {
        const Bytes k = make_key(static_cast<uint32_t>(rng() % 36),
                                 ipv4(static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()),
                                      static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng())));
        int rc = 0;
        switch (rng() % 4) {
            case 0:
                rc = bt::map_lookup(fd, k.data(), v.data());
                break;
            case 1:
                rc = bt::map_get_next_key(fd, rng() % 4 ? k.data() : nullptr, nk.data());
                break;
            case 2:
                rc = bt::map_update(fd, k.data(), v.data(), rng() % 3);
                break;
            default:
                rc = bt::map_delete(fd, k.data());
        }
        if (rc == 0) ++ok;
    }
    out.line("OK " + std::to_string(ok));
    return 0;
}

// Garbage in the node pool (child indices, prefix lengths, flags, data), written behind the
// library's back: lookups, walks, updates and deletes of another process neither crash nor
// hang (every index is bounds-checked, every walk bounded).
BOOST_AUTO_TEST_CASE(garbage_nodes_never_crash) {
    for (uint64_t round = 0; round < 6; ++round) {
        MapFd m(create(8, 8, 600, kNP));
        const int fd = m.fd;
        std::mt19937_64 rng(round * 31 + 5);
        for (int i = 0; i < 500; ++i) {
            const Bytes k =
                make_key(static_cast<uint32_t>(rng() % 33),
                         ipv4(10, static_cast<uint8_t>(rng() % 8), static_cast<uint8_t>(rng()),
                              static_cast<uint8_t>(rng())));
            const Bytes v(8, 1);
            bt::map_update(fd, k.data(), v.data(), BPF_ANY);
        }
        const uint32_t id = bpfmap::test::proc::map_id_of(fd);
        const std::string path = bt::test_root() + "/maps/" + std::to_string(id);
        bt::Fd f(::open(path.c_str(), O_RDWR | O_CLOEXEC));
        BOOST_REQUIRE(f.ok());
        // Nodes start 128 bytes into the region; 32 bytes each here; at most 1200 of them.
        const off_t nodes = 512 + 128;
        for (int i = 0; i < 40 + static_cast<int>(round) * 40; ++i) {
            const off_t off = nodes + static_cast<off_t>((rng() % (1000 * 32)) & ~3ull);
            uint32_t word = static_cast<uint32_t>(rng());
            switch (rng() % 4) {
                case 0:
                    word %= 1200;  // a plausible index: cycles, shared subtrees
                    break;
                case 1:
                    word %= 40;  // a plausible prefix length
                    break;
                default:
                    break;
            }
            BOOST_REQUIRE(::pwrite(f.get(), &word, 4, off) == 4);
        }
        std::vector<bpfmap::test::proc::Proc> ps;
        ps.push_back(bpfmap::test::proc::start("garbage user", "lpm_garbage_user",
                                               {std::to_string(fd), std::to_string(round)}, {fd}));
        ps.push_back(bpfmap::test::proc::start("garbage user 2", "lpm_garbage_user",
                                               {std::to_string(fd), std::to_string(round + 100)},
                                               {fd}));
        bpfmap::test::proc::finish(ps, bpfmap::test::proc::kTimeoutMs);
        for (const auto& p : ps) bpfmap::test::proc::check_ok(p);
    }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
