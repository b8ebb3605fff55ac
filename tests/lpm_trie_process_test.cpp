// LPM trie shared by real processes (fork + exec of this binary): several writers add, replace
// and remove prefixes of their own, disjoint sets, while readers look up addresses, all at
// the same time on one map.
//
// Address plan (IPv4, 16-byte values {prefixlen, masked address, owner, version}):
//  - stable prefixes, inserted before the processes start and never changed: N.0.0.0/8 for
//    N in 10..13, N.E.0.0/16 for even E, and some N.E.Z.0/24 and /28 below them;
//  - volatile prefixes (prefixlen 16..32) under N.O for odd O; writer w owns the O with
//    (O / 2) % writers == w. They sit next to the stable ones in the trie, so intermediate
//    nodes above stable prefixes are created, replaced and removed all the time.
// Checks:
//  - readers never see a wrong answer for an address under a stable /16 (exactly the stable
//    longest match, value included), nor for a stable prefix itself;
//  - any answer in the volatile space is a prefix that covers the address (value's prefix),
//    no longer than the key's prefixlen, and never a torn value (owner/version consistent);
//  - GET_NEXT_KEY from a stable key succeeds and returns a key (no crash, no error);
//  - no process crashes or hangs; at the end the map holds exactly the stable prefixes plus
//    each writer's final set (the walk, in kernel order, and every value), and fsck is clean.
#include <bpfmap/bpf.h>
#include <linux/bpf.h>
#include <poll.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "lpm_trie_support.hpp"
#include "process_helpers.hpp"
#include "test_support.hpp"

namespace {

namespace bt = bpfmap::test;
using namespace bpfmap::test::proc;
using namespace bpfmap::test::lpm;

constexpr uint32_t kValueSize = 16;
constexpr uint32_t kMaxEntries = 4000;
constexpr int kWriters = 3;
constexpr int kReaders = 3;
constexpr int kWriterOps = kSanitized ? 4000 : 40000;
constexpr int kReaderMinOps = kSanitized ? 2000 : 20000;
constexpr uint32_t kStableOwner = 0xffffffffu;

// {prefixlen, masked address, owner, version}: a reader can tell which prefix a value belongs
// to, and a torn value does not describe one.
Bytes value_for(uint32_t plen, const Bytes& d, uint32_t owner, uint32_t version) {
    Bytes v(kValueSize);
    const Bytes m = masked(d, plen);
    std::memcpy(v.data(), &plen, 4);
    std::memcpy(v.data() + 4, m.data(), 4);
    std::memcpy(v.data() + 8, &owner, 4);
    std::memcpy(v.data() + 12, &version, 4);
    return v;
}
uint32_t u32_at(const Bytes& v, size_t off) {
    uint32_t x;
    std::memcpy(&x, v.data() + off, 4);
    return x;
}

// The stable set, the same in every process for a seed.
Reference stable_set(uint64_t seed) {
    Reference ref;
    std::mt19937_64 rng(seed);
    auto add = [&](uint32_t plen, const Bytes& d) {
        ref.entries[Reference::id(plen, d)] = {d, value_for(plen, d, kStableOwner, 0)};
    };
    for (uint8_t n = 10; n < 14; ++n) {
        add(8, ipv4(n, static_cast<uint8_t>(rng()), 0, 0));
        for (int e = 0; e < 256; e += 2) {
            // Host bits are stored as given: random ones.
            add(16, ipv4(n, static_cast<uint8_t>(e), static_cast<uint8_t>(rng()), 7));
            if (rng() % 4 == 0)
                add(24, ipv4(n, static_cast<uint8_t>(e), static_cast<uint8_t>(rng()), 9));
            if (rng() % 8 == 0)
                add(28, ipv4(n, static_cast<uint8_t>(e), static_cast<uint8_t>(rng()),
                             static_cast<uint8_t>(rng())));
        }
    }
    return ref;
}

bool stop_requested(int stop_rd) {
    struct pollfd q = {stop_rd, POLLIN, 0};
    return poll(&q, 1, 0) > 0;
}

// ---- children ----------------------------------------------------------------------------

// args: out ready go fd seed writer_id
BPFMAP_CHILD(lpm_writer) {
    Out out{ifd(args, 0)};
    const int fd = ifd(args, 3);
    const uint64_t seed = num(args, 4);
    const uint32_t id = static_cast<uint32_t>(num(args, 5));
    std::mt19937_64 rng(seed * 1000 + id);
    // This writer's second bytes: odd O with (O / 2) % kWriters == id.
    std::vector<uint8_t> mine;
    for (int o = 1; o < 256; o += 2)
        if ((o / 2) % kWriters == static_cast<int>(id)) mine.push_back(static_cast<uint8_t>(o));
    std::map<std::pair<uint32_t, Bytes>, Bytes> model;  // id -> stored key data
    std::vector<std::pair<uint32_t, Bytes>> pool;       // prefixes this writer plays with
    for (int i = 0; i < 300; ++i) {
        const uint32_t plen = 16 + static_cast<uint32_t>(rng() % 17);
        const Bytes d = ipv4(static_cast<uint8_t>(10 + rng() % 4), mine[rng() % mine.size()],
                             static_cast<uint8_t>(rng() % 4), static_cast<uint8_t>(rng()));
        pool.push_back(Reference::id(plen, d));
    }
    pass_gate(ifd(args, 1), ifd(args, 2));
    uint32_t version = 0;
    for (int i = 0; i < kWriterOps; ++i) {
        const auto& p = pool[rng() % pool.size()];
        Bytes d = p.second;
        for (uint32_t b = p.first; b < 32; ++b)  // other host bits each time
            if (rng() & 1) d[b / 8] ^= static_cast<unsigned char>(1u << (7 - b % 8));
        const Bytes key = make_key(p.first, d);
        const bool present = model.count(p);
        if (rng() % 2) {
            const Bytes v = value_for(p.first, d, id, ++version);
            const uint64_t flags = rng() % 3;
            const int rc = bt::map_update(fd, key.data(), v.data(), flags) == 0 ? 0 : errno;
            int want = 0;
            if (flags == BPF_NOEXIST && present) want = EEXIST;
            if (flags == BPF_EXIST && !present) want = ENOENT;
            if (rc != want) {
                out.line("ERR update " + to_hex(key) + " flags " + std::to_string(flags) + ": " +
                         errname(rc) + ", want " + errname(want));
                return 1;
            }
            if (rc == 0) model[p] = d;
        } else {
            const int rc = bt::map_delete(fd, key.data()) == 0 ? 0 : errno;
            if (rc != (present ? 0 : ENOENT)) {
                out.line("ERR delete " + to_hex(key) + ": " + errname(rc));
                return 1;
            }
            model.erase(p);
        }
    }
    // The final set, with the values as stored.
    for (const auto& [p, d] : model) {
        const Bytes key = make_key(p.first, d);
        Bytes v(kValueSize);
        if (bt::map_lookup(fd, key.data(), v.data()) != 0) {
            out.line("ERR final lookup " + to_hex(key) + ": " + errname(errno));
            return 1;
        }
        out.line("K " + to_hex(key) + " " + to_hex(v));
    }
    return 0;
}

// args: out ready go fd seed reader_id stop_rd
BPFMAP_CHILD(lpm_reader) {
    Out out{ifd(args, 0)};
    const int fd = ifd(args, 3);
    const uint64_t seed = num(args, 4);
    const uint32_t id = static_cast<uint32_t>(num(args, 5));
    const int stop_rd = ifd(args, 6);
    const Reference stable = stable_set(seed);
    std::vector<Bytes> stable_keys;
    for (const auto& [k, e] : stable.entries) stable_keys.push_back(make_key(k.first, e.data));
    std::mt19937_64 rng(seed * 7777 + id);
    pass_gate(ifd(args, 1), ifd(args, 2));
    int errors = 0;
    auto err = [&](const std::string& s) {
        if (errors++ < 5) out.line("ERR " + s);
    };
    long ops = 0, stable_hits = 0, volatile_hits = 0;
    Bytes v(kValueSize), nk(8);
    for (; ops < kReaderMinOps || !stop_requested(stop_rd); ++ops) {
        const uint32_t r = static_cast<uint32_t>(rng() % 16);
        if (r == 0) {
            const Bytes& k = stable_keys[rng() % stable_keys.size()];
            if (bt::map_get_next_key(fd, k.data(), nk.data()) != 0 && errno != ENOENT)
                err("GET_NEXT_KEY " + to_hex(k) + ": " + errname(errno));
            continue;
        }
        const uint8_t n = static_cast<uint8_t>(10 + rng() % 4);
        const uint8_t second = static_cast<uint8_t>(rng());
        const Bytes a = ipv4(n, second, static_cast<uint8_t>(rng() % 4 == 0 ? rng() : rng() % 4),
                             static_cast<uint8_t>(rng()));
        const uint32_t plen = rng() % 4 == 0 ? static_cast<uint32_t>(rng() % 33) : 32;
        const Bytes key = make_key(plen, a);
        const int rc = bt::map_lookup(fd, key.data(), v.data()) == 0 ? 0 : errno;
        if (second % 2 == 0 || plen < 16) {
            // Only stable prefixes can match: the exact answer is known.
            const auto want = stable.lookup(plen, a);
            if (rc != (want ? 0 : ENOENT) || (want && v != want->value))
                err("stable lookup " + to_hex(key) + ": rc " + errname(rc) + " value " + to_hex(v) +
                    ", want " + (want ? to_hex(want->value) : "ENOENT"));
            ++stable_hits;
        } else if (rc == 0) {
            // Some prefix covering the address, described consistently by its value.
            const uint32_t vplen = u32_at(v, 0), owner = u32_at(v, 8);
            Bytes vaddr(v.begin() + 4, v.begin() + 8);
            const bool ok = vplen <= plen && prefix_covers(vaddr, vplen, a) &&
                            masked(vaddr, vplen) == vaddr &&
                            (owner == kStableOwner ? stable.contains(vplen, vaddr)
                                                   : owner < kWriters && vplen >= 16);
            if (!ok) err("volatile lookup " + to_hex(key) + ": value " + to_hex(v));
            ++volatile_hits;
        } else if (rc != ENOENT) {
            err("volatile lookup " + to_hex(key) + ": " + errname(rc));
        }
    }
    out.line("STAT " + std::to_string(ops) + " " + std::to_string(stable_hits) + " " +
             std::to_string(volatile_hits));
    return errors ? 1 : 0;
}

BOOST_AUTO_TEST_SUITE(lpm_trie_processes)

BOOST_AUTO_TEST_CASE(writers_and_readers) {
    const uint64_t seed = std::random_device{}() % 1000000;
    BOOST_TEST_MESSAGE("seed " << seed);
    const int fd =
        bt::map_create(BPF_MAP_TYPE_LPM_TRIE, 8, kValueSize, kMaxEntries, BPF_F_NO_PREALLOC);
    BOOST_REQUIRE(fd >= 0);
    Fd map(fd);
    Reference ref = stable_set(seed);
    for (const auto& [k, e] : ref.entries) {
        const Bytes key = make_key(k.first, e.data);
        BOOST_REQUIRE_EQUAL(bt::map_update(fd, key.data(), e.value.data(), BPF_NOEXIST), 0);
    }
    BOOST_TEST_MESSAGE(ref.entries.size() << " stable prefixes");
    int stop[2];
    BOOST_REQUIRE(pipe2(stop, O_CLOEXEC) == 0);
    Fd stop_rd(stop[0]), stop_wr(stop[1]);

    Gate gate;
    std::vector<Proc> writers, readers;
    for (int w = 0; w < kWriters; ++w) {
        std::vector<std::string> a = gate.args();
        a.push_back(std::to_string(fd));
        a.push_back(std::to_string(seed));
        a.push_back(std::to_string(w));
        std::vector<int> keep = gate.fds();
        keep.push_back(fd);
        writers.push_back(start("writer " + std::to_string(w), "lpm_writer", a, keep));
    }
    for (int r = 0; r < kReaders; ++r) {
        std::vector<std::string> a = gate.args();
        a.push_back(std::to_string(fd));
        a.push_back(std::to_string(seed));
        a.push_back(std::to_string(r));
        a.push_back(std::to_string(stop_rd.get()));
        std::vector<int> keep = gate.fds();
        keep.push_back(fd);
        keep.push_back(stop_rd.get());
        readers.push_back(start("reader " + std::to_string(r), "lpm_reader", a, keep));
    }
    BOOST_REQUIRE(gate.open(kWriters + kReaders));
    finish(writers, kTimeoutMs);
    stop_wr.reset();  // readers stop (after their minimum number of lookups)
    finish(readers, kTimeoutMs);
    for (const Proc& p : readers) {
        check_ok(p);
        for (const auto& s : lines(p, "STAT")) BOOST_TEST_MESSAGE(p.name << ": " << s);
    }
    for (const Proc& p : writers) {
        if (!check_ok(p)) continue;
        for (const std::string& l : lines(p, "K")) {
            std::istringstream in(l);
            std::string kh, vh;
            in >> kh >> vh;
            const Bytes key = from_hex(kh);
            ref.entries[Reference::id(key_plen(key), key_data(key))] = {key_data(key),
                                                                        from_hex(vh)};
        }
    }
    // Exactly the stable set and every writer's final set, in kernel walk order.
    std::vector<Bytes> keys;
    Bytes cur(8), nx(8), v(kValueSize);
    int rc = bt::map_get_next_key(fd, nullptr, nx.data());
    while (rc == 0 && keys.size() <= kMaxEntries) {
        keys.push_back(nx);
        cur = nx;
        rc = bt::map_get_next_key(fd, cur.data(), nx.data());
    }
    const auto want = ref.walk_order();
    BOOST_CHECK_EQUAL(keys.size(), want.size());
    BOOST_CHECK_MESSAGE(keys == want, "final walk differs from the expected contents");
    int bad = 0;
    for (const auto& [k, e] : ref.entries) {
        const Bytes key = make_key(k.first, e.data);
        if ((bt::map_lookup(fd, key.data(), v.data()) != 0 || v != e.value) && bad++ < 5)
            BOOST_ERROR("final value of " << to_hex(key) << ": " << to_hex(v) << ", want "
                                          << to_hex(e.value));
    }
    const auto problems = fsck(fd);
    BOOST_CHECK_MESSAGE(problems.empty(), "fsck: " << join(problems));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
