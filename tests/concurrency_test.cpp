// Concurrency across real processes (spawn_child: fork + exec of this binary), on HASH and ARRAY:
//  (a) no torn values: writers update values filled with one pattern per write (HASH writers also
//      delete and re-insert their own keys) while readers look up concurrently; every value read
//      must be uniform (seqlock readers). Writers keep writing until every reader has done its
//      fixed number of reads, so all reads overlap writes;
//  (b) BPF_NOEXIST races: several processes insert the same keys; each key has exactly one winner;
//  (c) disjoint inserts: several processes insert their own key ranges; nothing is lost;
//  (d) a full HASH map under concurrent inserts: exactly max_entries successes, the rest E2BIG, a
//      GET_NEXT_KEY walk finds exactly max_entries keys, and deleting makes room again;
//  (e) insert/delete/lookup churn by several processes plus a walker, then a consistency check
//      (walk == lookups, the free list lost nothing: the map fills to exactly max_entries).
//
// Every child writes its results as text lines to a pipe of its own; the parent reads them all
// and reaps the children within a deadline (a hang is a failure, never a stuck test). Children
// start together through a gate (each reports ready, then all wait for the parent to close the
// gate's pipe). Work is bounded by operation counts, not time.
#include <bpfmap/bpf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "process_helpers.hpp"
#include "test_support.hpp"

namespace {

namespace bt = bpfmap::test;
using namespace bpfmap::test::proc;

// ---- (a) torn values ----------------------------------------------------------------------------
// Pattern "bytes": every byte of the value is the same byte. Pattern "words": every 8-byte word
// is the same 64-bit number. A value is uniform if it matches its own first byte/word.
void fill(std::vector<unsigned char>& v, bool words, uint64_t x) {
    if (words) {
        fill_words(v, x);
    } else {
        std::memset(v.data(), static_cast<int>((x ^ (x >> 8)) & 0xff), v.size());
    }
}
bool uniform(const std::vector<unsigned char>& v, bool words) {
    if (words) return words_uniform(v);
    for (unsigned char c : v)
        if (c != v[0]) return false;
    return true;
}
std::string describe(const std::vector<unsigned char>& v) {
    std::ostringstream s;
    s << std::hex;
    for (size_t i = 0; i < v.size(); i += std::max<size_t>(1, v.size() / 8))
        s << " [" << std::dec << i << std::hex << "]=" << int(v[i]);
    s << " [last]=" << int(v.back());
    return s.str();
}

// args: out ready go map ctl is_hash value_size words nkeys min_iters writer_id n_writers
//       n_readers
// Writes at least min_iters values and keeps writing until every reader is done, so that all of
// the reads overlap writes (bounded: the readers do a fixed number of reads).
BPFMAP_CHILD(torn_writer) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3), ctl = ifd(args, 4);
    const bool is_hash = num(args, 5) != 0;
    const size_t vs = num(args, 6);
    const bool words = num(args, 7) != 0;
    const uint32_t nkeys = static_cast<uint32_t>(num(args, 8));
    const uint64_t iters = num(args, 9);
    const uint32_t wid = static_cast<uint32_t>(num(args, 10)),
                   nw = static_cast<uint32_t>(num(args, 11)),
                   nr = static_cast<uint32_t>(num(args, 12));
    std::vector<unsigned char> v(vs);
    pass_gate(ifd(args, 1), ifd(args, 2));
    uint64_t updates = 0, reinserts = 0;
    bool failed = false;
    for (uint64_t i = 0;; ++i) {
        if (i >= iters && i % 1024 == 0 && readers_done(ctl, nr, out, failed)) break;
        const uint32_t key = static_cast<uint32_t>(i % nkeys);
        const uint64_t x = (i << 8 | wid) + 1;  // never the same pattern twice
        fill(v, words, x);
        if (is_hash && key % nw == wid && i % 16 == 0) {
            // Its own keys: delete and insert again (the element may be reused elsewhere).
            if (bt::map_delete(map, &key) != 0 && errno != ENOENT) {
                out.line("ERR delete " + std::to_string(key) + ": " + errname(errno));
                return 1;
            }
            if (bt::map_update(map, &key, v.data(), BPF_NOEXIST) != 0 && errno != EEXIST) {
                out.line("ERR insert " + std::to_string(key) + ": " + errname(errno));
                return 1;
            }
            ++reinserts;
            continue;
        }
        if (bt::map_update(map, &key, v.data(), BPF_ANY) != 0) {
            out.line("ERR update " + std::to_string(key) + ": " + errname(errno));
            return 1;
        }
        ++updates;
    }
    out.line("STATS " + std::to_string(updates) + " " + std::to_string(reinserts));
    return failed ? 1 : 0;
}

// args: out ready go map ctl value_size words nkeys reads reader_id
// Does `reads` lookups, then sets its flag in ctl (also on failure: the writers wait for it).
BPFMAP_CHILD(torn_reader) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3), ctl = ifd(args, 4);
    const size_t vs = num(args, 5);
    const bool words = num(args, 6) != 0;
    const uint32_t nkeys = static_cast<uint32_t>(num(args, 7));
    const uint64_t n_reads = num(args, 8);
    const uint32_t rid = static_cast<uint32_t>(num(args, 9));
    auto set_done = [&] {
        const uint32_t one = 1;
        if (bt::map_update(ctl, &rid, &one, BPF_ANY) != 0)
            out.line("ERR ctl update: " + errname(errno));
    };
    std::vector<unsigned char> v(vs);
    std::vector<std::vector<unsigned char>> last(nkeys, std::vector<unsigned char>(vs));
    pass_gate(ifd(args, 1), ifd(args, 2));
    uint64_t reads = 0, torn = 0, enoent = 0, changes = 0;
    for (uint64_t i = 0; i < n_reads; ++i) {
        const uint32_t key = static_cast<uint32_t>(i % nkeys);
        if (bt::map_lookup(map, &key, v.data()) != 0) {
            if (errno == ENOENT) {
                ++enoent;
                continue;
            }
            out.line("ERR lookup " + std::to_string(key) + ": " + errname(errno));
            set_done();
            return 1;
        }
        ++reads;
        if (!uniform(v, words)) {
            if (torn < 5) out.line("TORN key " + std::to_string(key) + ":" + describe(v));
            ++torn;
        }
        if (v != last[key]) {
            ++changes;
            last[key] = v;
        }
    }
    set_done();
    out.line("STATS " + std::to_string(reads) + " " + std::to_string(torn) + " " +
             std::to_string(enoent) + " " + std::to_string(changes));
    return 0;
}

void run_torn(unsigned type, size_t vs, bool words) {
    const bool is_hash = type == BPF_MAP_TYPE_HASH;
    // Small values are copied fast, so the window for a torn read is small: fewer keys, more
    // collisions.
    const uint32_t nkeys = vs >= 256 ? 8 : 2, n_writers = 2, n_readers = 2;
    const uint64_t iters = 100000, min_reads = kSanitized ? 100000 : 1000000;
    BOOST_TEST_MESSAGE((is_hash ? "HASH" : "ARRAY")
                       << " value_size " << vs << " pattern " << (words ? "words" : "bytes"));
    Fd map(bt::map_create(type, 4, static_cast<unsigned>(vs), is_hash ? 64 : nkeys));
    BOOST_REQUIRE_MESSAGE(map.get() >= 0, "create: " << errname(errno));
    Fd ctl(bt::map_create(BPF_MAP_TYPE_ARRAY, 4, 4, n_readers));
    BOOST_REQUIRE_MESSAGE(ctl.get() >= 0, "create ctl: " << errname(errno));
    std::vector<unsigned char> v(vs);
    for (uint32_t k = 0; k < nkeys; ++k) {
        fill(v, words, 0xa5a5a5a5a5a5a5a5ULL);
        BOOST_REQUIRE_MESSAGE(bt::map_update(map.get(), &k, v.data(), BPF_ANY) == 0,
                              "initial update: " << errname(errno));
    }
    Gate gate;
    std::vector<Proc> ps;
    const std::vector<int> keep = {map.get(), ctl.get(), gate.fds()[0], gate.fds()[1]};
    for (uint32_t w = 0; w < n_writers; ++w) {
        std::vector<std::string> a = gate.args();
        for (uint64_t x : {uint64_t(map.get()), uint64_t(ctl.get()), uint64_t(is_hash),
                           uint64_t(vs), uint64_t(words), uint64_t(nkeys), iters, uint64_t(w),
                           uint64_t(n_writers), uint64_t(n_readers)})
            a.push_back(std::to_string(x));
        ps.push_back(start("writer " + std::to_string(w), "torn_writer", a, keep));
    }
    for (uint32_t r = 0; r < n_readers; ++r) {
        std::vector<std::string> a = gate.args();
        for (uint64_t x : {uint64_t(map.get()), uint64_t(ctl.get()), uint64_t(vs), uint64_t(words),
                           uint64_t(nkeys), min_reads, uint64_t(r)})
            a.push_back(std::to_string(x));
        ps.push_back(start("reader " + std::to_string(r), "torn_reader", a, keep));
    }
    gate.open(static_cast<int>(ps.size()));
    finish(ps, kTimeoutMs);
    uint64_t total_reads = 0, total_torn = 0, total_changes = 0;
    for (Proc& p : ps) {
        check_ok(p);
        for (const std::string& t : lines(p, "TORN")) BOOST_ERROR(p.name << ": torn value: " << t);
        if (p.name.rfind("reader", 0) != 0) continue;
        auto st = lines(p, "STATS");
        BOOST_REQUIRE_MESSAGE(st.size() == 1, p.name << ": no STATS line");
        std::istringstream in(st[0]);
        uint64_t reads = 0, torn = 0, enoent = 0, changes = 0;
        in >> reads >> torn >> enoent >> changes;
        BOOST_CHECK_MESSAGE(torn == 0,
                            p.name << ": " << torn << " torn values in " << reads << " reads");
        BOOST_CHECK_MESSAGE(reads >= min_reads / 2, p.name << ": only " << reads
                                                           << " successful reads (" << enoent
                                                           << " ENOENT)");
        total_reads += reads;
        total_torn += torn;
        total_changes += changes;
    }
    // Writers keep writing until the readers are done, so the readers must have seen writes.
    BOOST_CHECK_MESSAGE(total_changes > 0, "the readers never saw a value change: no overlap");
    BOOST_TEST_MESSAGE("  " << total_reads << " reads, " << total_changes
                            << " of them saw a new value, " << total_torn << " torn");
    // The final values are uniform too.
    for (uint32_t k = 0; k < nkeys; ++k) {
        if (bt::map_lookup(map.get(), &k, v.data()) != 0) {
            BOOST_CHECK_MESSAGE(is_hash && errno == ENOENT, "final lookup: " << errname(errno));
            continue;
        }
        BOOST_CHECK_MESSAGE(uniform(v, words),
                            "final value of key " << k << " torn:" << describe(v));
    }
}

// ---- (b) BPF_NOEXIST races ----------------------------------------------------------------------
// args: out ready go map nkeys id. Inserts keys 0..nkeys-1 with BPF_NOEXIST, value = id.
BPFMAP_CHILD(noexist_racer) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3);
    const uint32_t nkeys = static_cast<uint32_t>(num(args, 4));
    const uint64_t id = num(args, 5);
    pass_gate(ifd(args, 1), ifd(args, 2));
    uint64_t wins = 0, eexist = 0;
    std::string won;
    for (uint32_t k = 0; k < nkeys; ++k) {
        if (bt::map_update(map, &k, &id, BPF_NOEXIST) == 0) {
            ++wins;
            won += "W " + std::to_string(k) + "\n";
            if (won.size() > 4096) {
                won.pop_back();
                out.line(won);
                won.clear();
            }
        } else if (errno == EEXIST) {
            ++eexist;
        } else {
            out.line("ERR key " + std::to_string(k) + ": " + errname(errno));
            return 1;
        }
    }
    if (!won.empty()) {
        won.pop_back();
        out.line(won);
    }
    out.line("STATS " + std::to_string(wins) + " " + std::to_string(eexist));
    return 0;
}

void run_noexist(unsigned type, unsigned flags) {
    const bool is_hash = type == BPF_MAP_TYPE_HASH;
    const uint32_t nkeys = is_hash ? 20000 : 1000, n = 4;
    Fd map(bt::map_create(type, 4, 8, nkeys, flags));
    BOOST_REQUIRE_MESSAGE(map.get() >= 0, "create: " << errname(errno));
    Gate gate;
    std::vector<Proc> ps;
    for (uint32_t i = 0; i < n; ++i) {
        std::vector<std::string> a = gate.args();
        a.push_back(std::to_string(map.get()));
        a.push_back(std::to_string(nkeys));
        a.push_back(std::to_string(i + 1));
        ps.push_back(start("racer " + std::to_string(i + 1), "noexist_racer", a,
                           {map.get(), gate.fds()[0], gate.fds()[1]}));
    }
    gate.open(static_cast<int>(n));
    finish(ps, kTimeoutMs);
    std::vector<int> winner(nkeys, 0);
    uint64_t total_wins = 0;
    for (size_t i = 0; i < ps.size(); ++i) {
        const Proc& p = ps[i];
        if (!check_ok(p)) continue;
        auto st = lines(p, "STATS");
        BOOST_REQUIRE_MESSAGE(st.size() == 1, p.name << ": no STATS line");
        std::istringstream in(st[0]);
        uint64_t wins = 0, eexist = 0;
        in >> wins >> eexist;
        BOOST_CHECK_MESSAGE(wins + eexist == nkeys, p.name << ": " << wins << " wins + " << eexist
                                                           << " EEXIST != " << nkeys);
        total_wins += wins;
        for (const std::string& w : lines(p, "W")) {
            const uint32_t k = static_cast<uint32_t>(std::stoul(w));
            BOOST_REQUIRE(k < nkeys);
            BOOST_CHECK_MESSAGE(winner[k] == 0, "key " << k << " inserted with BPF_NOEXIST by "
                                                       << "both racer " << winner[k] << " and "
                                                       << p.name);
            winner[k] = static_cast<int>(i + 1);
        }
    }
    if (!is_hash) {
        BOOST_CHECK_MESSAGE(total_wins == 0,
                            "ARRAY: BPF_NOEXIST succeeded " << total_wins << " times");
        for (uint32_t k = 0; k < nkeys; ++k) {
            uint64_t v = 1;
            BOOST_REQUIRE(bt::map_lookup(map.get(), &k, &v) == 0);
            BOOST_CHECK_MESSAGE(v == 0, "ARRAY element " << k << " changed to " << v);
        }
        return;
    }
    BOOST_CHECK_MESSAGE(total_wins == nkeys, total_wins << " wins for " << nkeys << " keys");
    size_t bad = 0;
    for (uint32_t k = 0; k < nkeys; ++k) {
        uint64_t v = 0;
        const int rc = bt::map_lookup(map.get(), &k, &v);
        const bool ok = rc == 0 && winner[k] != 0 && v == static_cast<uint64_t>(winner[k]);
        if (!ok && bad++ < 10)
            BOOST_ERROR("key " << k << ": winner " << winner[k] << ", lookup "
                               << (rc == 0 ? "value " + std::to_string(v) : errname(errno)));
    }
    BOOST_CHECK_MESSAGE(bad == 0, bad << " keys without exactly one consistent winner");
    int err = 0;
    auto keys = walk(map.get(), nkeys * 2, err);
    BOOST_CHECK_MESSAGE(err == 0, "walk: " << err);
    BOOST_CHECK_MESSAGE(keys.size() == nkeys,
                        "walk found " << keys.size() << " keys, want " << nkeys);
    BOOST_CHECK_MESSAGE(std::set<uint32_t>(keys.begin(), keys.end()).size() == keys.size(),
                        "walk returned a key twice");
}

// ---- (c) disjoint ranges --------------------------------------------------------------------
uint64_t value_for(uint32_t k) {
    return (uint64_t{k} << 32) | (~k & 0xffffffffu);
}

// args: out ready go map lo hi flags
BPFMAP_CHILD(range_inserter) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3);
    const uint32_t lo = static_cast<uint32_t>(num(args, 4)),
                   hi = static_cast<uint32_t>(num(args, 5));
    const uint64_t flags = num(args, 6);
    pass_gate(ifd(args, 1), ifd(args, 2));
    for (uint32_t k = lo; k < hi; ++k) {
        const uint64_t v = value_for(k);
        if (bt::map_update(map, &k, &v, flags) != 0) {
            out.line("ERR insert " + std::to_string(k) + ": " + errname(errno));
            return 1;
        }
    }
    for (uint32_t k = lo; k < hi; ++k) {
        uint64_t v = 0;
        if (bt::map_lookup(map, &k, &v) != 0 || v != value_for(k)) {
            out.line("ERR own key " + std::to_string(k) + " lost or wrong right after insert");
            return 1;
        }
    }
    return 0;
}

void run_disjoint(unsigned type, unsigned flags) {
    const bool is_hash = type == BPF_MAP_TYPE_HASH;
    const uint32_t n = 4, per = 5000, total = n * per;
    Fd map(bt::map_create(type, 4, 8, total, flags));
    BOOST_REQUIRE_MESSAGE(map.get() >= 0, "create: " << errname(errno));
    Gate gate;
    std::vector<Proc> ps;
    for (uint32_t i = 0; i < n; ++i) {
        std::vector<std::string> a = gate.args();
        for (uint64_t x : {uint64_t(map.get()), uint64_t(i * per), uint64_t((i + 1) * per),
                           uint64_t(is_hash ? BPF_NOEXIST : BPF_ANY)})
            a.push_back(std::to_string(x));
        ps.push_back(start("inserter " + std::to_string(i), "range_inserter", a,
                           {map.get(), gate.fds()[0], gate.fds()[1]}));
    }
    gate.open(static_cast<int>(n));
    finish(ps, kTimeoutMs);
    for (Proc& p : ps) check_ok(p);
    int err = 0;
    auto keys = walk(map.get(), total * 2, err);
    BOOST_CHECK_MESSAGE(err == 0, "walk: " << err);
    std::set<uint32_t> seen(keys.begin(), keys.end());
    BOOST_CHECK_MESSAGE(seen.size() == keys.size(), "walk returned a key twice");
    BOOST_CHECK_MESSAGE(keys.size() == total,
                        "walk found " << keys.size() << " keys, want " << total);
    size_t bad = 0;
    for (uint32_t k = 0; k < total; ++k) {
        uint64_t v = 0;
        const int rc = bt::map_lookup(map.get(), &k, &v);
        if ((rc != 0 || v != value_for(k) || !seen.count(k)) && bad++ < 10)
            BOOST_ERROR("key " << k << ": lookup "
                               << (rc == 0 ? "value " + std::to_string(v) : errname(errno))
                               << (seen.count(k) ? "" : ", missing from the walk"));
    }
    BOOST_CHECK_MESSAGE(bad == 0, bad << " keys lost or wrong");
    if (is_hash) {
        const uint32_t k = total;
        const uint64_t v = 1;
        BOOST_CHECK_MESSAGE(bt::map_update(map.get(), &k, &v, BPF_ANY) == -1 && errno == E2BIG,
                            "insert into the full map: expected E2BIG");
    }
}

// ---- (d) full HASH --------------------------------------------------------------------------
// args: out ready go map lo hi. BPF_ANY inserts of new keys; reports each success.
BPFMAP_CHILD(full_inserter) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3);
    const uint32_t lo = static_cast<uint32_t>(num(args, 4)),
                   hi = static_cast<uint32_t>(num(args, 5));
    pass_gate(ifd(args, 1), ifd(args, 2));
    uint64_t wins = 0, e2big = 0;
    std::string won;
    for (uint32_t k = lo; k < hi; ++k) {
        const uint64_t v = value_for(k);
        if (bt::map_update(map, &k, &v, BPF_ANY) == 0) {
            ++wins;
            won += "W " + std::to_string(k) + "\n";
        } else if (errno == E2BIG) {
            ++e2big;
        } else {
            out.line("ERR insert " + std::to_string(k) + ": " + errname(errno));
            return 1;
        }
    }
    if (!won.empty()) {
        won.pop_back();
        out.line(won);
    }
    out.line("STATS " + std::to_string(wins) + " " + std::to_string(e2big));
    return 0;
}

// Runs n full_inserter children over [lo, lo + n * per); returns the keys that succeeded.
std::set<uint32_t> insert_race(int map, uint32_t n, uint32_t lo, uint32_t per, uint64_t& e2big) {
    Gate gate;
    std::vector<Proc> ps;
    for (uint32_t i = 0; i < n; ++i) {
        std::vector<std::string> a = gate.args();
        a.push_back(std::to_string(map));
        a.push_back(std::to_string(lo + i * per));
        a.push_back(std::to_string(lo + (i + 1) * per));
        ps.push_back(start("inserter " + std::to_string(i), "full_inserter", a,
                           {map, gate.fds()[0], gate.fds()[1]}));
    }
    gate.open(static_cast<int>(n));
    finish(ps, kTimeoutMs);
    std::set<uint32_t> won;
    e2big = 0;
    for (Proc& p : ps) {
        if (!check_ok(p)) continue;
        auto st = lines(p, "STATS");
        BOOST_REQUIRE_MESSAGE(st.size() == 1, p.name << ": no STATS line");
        std::istringstream in(st[0]);
        uint64_t w = 0, e = 0;
        in >> w >> e;
        BOOST_CHECK_MESSAGE(w + e == per, p.name << ": " << w << " + " << e << " != " << per);
        e2big += e;
        for (const std::string& s : lines(p, "W")) won.insert(static_cast<uint32_t>(std::stoul(s)));
        BOOST_CHECK_MESSAGE(lines(p, "W").size() == w, p.name << ": W lines != wins");
    }
    return won;
}

void check_walk_is(int map, const std::set<uint32_t>& want, const std::string& when) {
    int err = 0;
    auto keys = walk(map, want.size() * 2 + 16, err);
    BOOST_CHECK_MESSAGE(err == 0, when << ": walk failed: " << err);
    std::set<uint32_t> seen(keys.begin(), keys.end());
    BOOST_CHECK_MESSAGE(seen.size() == keys.size(), when << ": walk returned a key twice");
    BOOST_CHECK_MESSAGE(keys.size() == want.size(),
                        when << ": walk found " << keys.size() << " keys, want " << want.size());
    BOOST_CHECK_MESSAGE(seen == want, when << ": the walk's keys are not the inserted ones");
}

void run_full(unsigned flags) {
    const uint32_t max = 1000, n = 4, per = 500;
    Fd map(bt::map_create(BPF_MAP_TYPE_HASH, 4, 8, max, flags));
    BOOST_REQUIRE_MESSAGE(map.get() >= 0, "create: " << errname(errno));
    uint64_t e2big = 0;
    std::set<uint32_t> won = insert_race(map.get(), n, 0, per, e2big);
    BOOST_CHECK_MESSAGE(won.size() == max, won.size()
                                               << " successful inserts, want exactly " << max);
    BOOST_CHECK_MESSAGE(e2big == n * per - max, e2big << " E2BIG, want " << n * per - max);
    check_walk_is(map.get(), won, "full");
    size_t bad = 0;
    for (uint32_t k = 0; k < n * per; ++k) {
        uint64_t v = 0;
        const int rc = bt::map_lookup(map.get(), &k, &v);
        const bool ok =
            won.count(k) ? (rc == 0 && v == value_for(k)) : (rc == -1 && errno == ENOENT);
        if (!ok && bad++ < 10) BOOST_ERROR("key " << k << ": lookup disagrees with the inserts");
    }
    BOOST_CHECK(bad == 0);
    // Full: updates of existing keys still work, new keys don't.
    {
        const uint32_t k = *won.begin();
        const uint64_t v = value_for(k);
        BOOST_CHECK_MESSAGE(bt::map_update(map.get(), &k, &v, BPF_EXIST) == 0,
                            "BPF_EXIST update in a full map: " << errname(errno));
        BOOST_CHECK_MESSAGE(bt::map_update(map.get(), &k, &v, BPF_ANY) == 0,
                            "BPF_ANY update of an existing key in a full map: " << errname(errno));
        const uint32_t nk = 1000000;
        BOOST_CHECK_MESSAGE(bt::map_update(map.get(), &nk, &v, BPF_ANY) == -1 && errno == E2BIG,
                            "new key in a full map: expected E2BIG");
    }
    // Delete some, then race again for the room.
    const uint32_t freed = 100;
    std::set<uint32_t> remaining = won;
    auto it = remaining.begin();
    for (uint32_t i = 0; i < freed; ++i) {
        const uint32_t k = *it;
        BOOST_CHECK_MESSAGE(bt::map_delete(map.get(), &k) == 0, "delete: " << errname(errno));
        it = remaining.erase(it);
    }
    std::set<uint32_t> won2 = insert_race(map.get(), n, 100000, per, e2big);
    BOOST_CHECK_MESSAGE(won2.size() == freed,
                        won2.size() << " inserts after deleting " << freed << ", want " << freed);
    BOOST_CHECK_MESSAGE(e2big == n * per - freed, e2big << " E2BIG, want " << n * per - freed);
    remaining.insert(won2.begin(), won2.end());
    check_walk_is(map.get(), remaining, "refilled");
}

// ---- (e) churn ------------------------------------------------------------------------------
struct Rng {
    uint64_t s;
    uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
};

// args: out ready go map keyspace ops seed
BPFMAP_CHILD(churner) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3);
    const uint32_t keyspace = static_cast<uint32_t>(num(args, 4));
    const uint64_t ops = num(args, 5);
    Rng rng{num(args, 6) * 0x9e3779b97f4a7c15ULL + 1};
    pass_gate(ifd(args, 1), ifd(args, 2));
    uint64_t counts[8] = {};
    for (uint64_t i = 0; i < ops; ++i) {
        const uint64_t r = rng.next();
        const uint32_t k = static_cast<uint32_t>((r >> 8) % keyspace);
        const unsigned op = static_cast<unsigned>(r & 7);
        uint64_t v[2] = {k, i}, got[2] = {};
        int rc = 0, ok_err = 0, ok_err2 = 0;
        std::string what;
        switch (op) {
            case 0:
            case 1:
                rc = bt::map_update(map, &k, v, BPF_NOEXIST), ok_err = EEXIST, ok_err2 = E2BIG;
                what = "insert";
                break;
            case 2:
                rc = bt::map_update(map, &k, v, BPF_ANY), ok_err = E2BIG;
                what = "update(ANY)";
                break;
            case 3:
                rc = bt::map_update(map, &k, v, BPF_EXIST), ok_err = ENOENT;
                what = "update(EXIST)";
                break;
            case 4:
            case 5:
                rc = bt::map_delete(map, &k), ok_err = ENOENT;
                what = "delete";
                break;
            case 6:
                rc = lookup_and_delete(map, &k, got), ok_err = ENOENT;
                what = "lookup_and_delete";
                break;
            default:
                rc = bt::map_lookup(map, &k, got), ok_err = ENOENT;
                what = "lookup";
                break;
        }
        if (rc != 0 && errno != ok_err && (ok_err2 == 0 || errno != ok_err2)) {
            out.line("ERR " + what + " " + std::to_string(k) + ": " + errname(errno));
            return 1;
        }
        if (rc == 0 && (op == 6 || op == 7) && got[0] != k) {
            out.line("ERR " + what + " " + std::to_string(k) + " returned the value of key " +
                     std::to_string(got[0]));
            return 1;
        }
        counts[op] += rc == 0;
    }
    std::string s = "STATS";
    for (uint64_t c : counts) s += " " + std::to_string(c);
    out.line(s);
    return 0;
}

// args: out ready go map keyspace walks cap
BPFMAP_CHILD(churn_walker) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3);
    const uint32_t keyspace = static_cast<uint32_t>(num(args, 4));
    const uint64_t walks = num(args, 5), cap = num(args, 6);
    pass_gate(ifd(args, 1), ifd(args, 2));
    uint64_t total = 0, capped = 0;
    for (uint64_t w = 0; w < walks; ++w) {
        int err = 0;
        auto keys = walk(map, cap, err);
        if (err > 0) {
            out.line("ERR walk: " + errname(err));
            return 1;
        }
        capped += err < 0;
        for (uint32_t k : keys)
            if (k >= keyspace) {
                out.line("ERR walk returned key " + std::to_string(k) + " never inserted");
                return 1;
            }
        total += keys.size();
    }
    out.line("STATS " + std::to_string(total) + " " + std::to_string(capped));
    return 0;
}

void run_churn(unsigned flags) {
    const uint32_t max = 256, keyspace = 512, n = 4;
    const uint64_t ops = 60000;
    Fd map(bt::map_create(BPF_MAP_TYPE_HASH, 4, 16, max, flags));
    BOOST_REQUIRE_MESSAGE(map.get() >= 0, "create: " << errname(errno));
    Gate gate;
    std::vector<Proc> ps;
    const std::vector<int> keep = {map.get(), gate.fds()[0], gate.fds()[1]};
    for (uint32_t i = 0; i < n; ++i) {
        std::vector<std::string> a = gate.args();
        for (uint64_t x : {uint64_t(map.get()), uint64_t(keyspace), ops, uint64_t(i + 1)})
            a.push_back(std::to_string(x));
        ps.push_back(start("churner " + std::to_string(i), "churner", a, keep));
    }
    {
        std::vector<std::string> a = gate.args();
        for (uint64_t x :
             {uint64_t(map.get()), uint64_t(keyspace), uint64_t(200), uint64_t(4 * max)})
            a.push_back(std::to_string(x));
        ps.push_back(start("walker", "churn_walker", a, keep));
    }
    gate.open(static_cast<int>(ps.size()));
    finish(ps, kTimeoutMs);
    for (Proc& p : ps) {
        check_ok(p);
        auto st = lines(p, "STATS");
        if (!st.empty()) BOOST_TEST_MESSAGE("  " << p.name << " successes/op: " << st[0]);
    }
    // Consistency: the walk and the lookups agree, each key once, values belong to their keys.
    int err = 0;
    auto keys = walk(map.get(), 4 * max, err);
    BOOST_CHECK_MESSAGE(err == 0, "final walk: " << err);
    std::set<uint32_t> walked(keys.begin(), keys.end());
    BOOST_CHECK_MESSAGE(walked.size() == keys.size(), "final walk returned a key twice");
    std::set<uint32_t> found;
    for (uint32_t k = 0; k < keyspace; ++k) {
        uint64_t v[2] = {};
        if (bt::map_lookup(map.get(), &k, v) == 0) {
            found.insert(k);
            BOOST_CHECK_MESSAGE(v[0] == k, "key " << k << " holds the value of key " << v[0]);
        } else {
            BOOST_CHECK_MESSAGE(errno == ENOENT, "lookup " << k << ": " << errname(errno));
        }
    }
    BOOST_CHECK_MESSAGE(walked == found,
                        "walk found " << walked.size() << " keys, lookups found " << found.size());
    BOOST_CHECK_MESSAGE(found.size() <= max, found.size() << " keys in a map of " << max);
    // Nothing leaked: the map takes exactly max - present new keys, then E2BIG.
    uint32_t added = 0;
    for (uint32_t k = keyspace; k < keyspace + max + 1; ++k) {
        uint64_t v[2] = {k, 0};
        if (bt::map_update(map.get(), &k, v, BPF_NOEXIST) != 0) {
            BOOST_CHECK_MESSAGE(errno == E2BIG, "refill: " << errname(errno));
            break;
        }
        ++added;
    }
    BOOST_CHECK_MESSAGE(found.size() + added == max,
                        found.size() << " present + " << added << " added != max_entries " << max
                                     << " (elements leaked or counted twice)");
    keys = walk(map.get(), 4 * max, err);
    BOOST_CHECK_MESSAGE(keys.size() == max, "walk after refill: " << keys.size() << " keys");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(concurrency)

BOOST_AUTO_TEST_CASE(hash_no_torn_values) {
    run_torn(BPF_MAP_TYPE_HASH, 1024, false);
    run_torn(BPF_MAP_TYPE_HASH, 64, true);
}

BOOST_AUTO_TEST_CASE(array_no_torn_values) {
    run_torn(BPF_MAP_TYPE_ARRAY, 1024, false);
    run_torn(BPF_MAP_TYPE_ARRAY, 64, true);
    // Values of at most 8 bytes are one atomic word, with no lock and no sequence count.
    run_torn(BPF_MAP_TYPE_ARRAY, 8, false);
    run_torn(BPF_MAP_TYPE_ARRAY, 7, false);
}

BOOST_AUTO_TEST_CASE(hash_noexist_race_one_winner_per_key) {
    run_noexist(BPF_MAP_TYPE_HASH, 0);
    run_noexist(BPF_MAP_TYPE_HASH, BPF_F_NO_PREALLOC);
}

BOOST_AUTO_TEST_CASE(array_noexist_race_always_eexist) {
    run_noexist(BPF_MAP_TYPE_ARRAY, 0);
}

BOOST_AUTO_TEST_CASE(hash_disjoint_inserts_lose_nothing) {
    run_disjoint(BPF_MAP_TYPE_HASH, 0);
    run_disjoint(BPF_MAP_TYPE_HASH, BPF_F_NO_PREALLOC);
}

BOOST_AUTO_TEST_CASE(array_disjoint_updates_lose_nothing) {
    run_disjoint(BPF_MAP_TYPE_ARRAY, 0);
}

BOOST_AUTO_TEST_CASE(hash_full_map_exact_capacity) {
    run_full(0);
    run_full(BPF_F_NO_PREALLOC);
}

BOOST_AUTO_TEST_CASE(hash_churn_stays_consistent) {
    run_churn(0);
}

BOOST_AUTO_TEST_SUITE_END()
