// BPF_MAP_TYPE_BLOOM_FILTER shared by real processes (spawn_child: fork + exec of this binary,
// the map fd inherited). No false negatives under concurrency:
//  * pushers_and_peekers: 4 pushers push disjoint value sets concurrently (each peeks every
//    value right after its own push: it must be found at once), while 2 peekers peek values of
//    all the sets. Peekers check the filter's monotonicity: bits are never cleared, so a value
//    once found (pushed, or a false positive at that moment) must be found by every later peek.
//    Afterwards 3 fresh verifier processes and the parent each peek every pushed value: all
//    must be found.
//  * hot_words: the same with k = 1 and a small bit array (512 words for 20,000 pushes), so
//    that pushers keep setting bits in the same 64-bit words at once: an update that lost a
//    concurrent bit (a non-atomic read-modify-write) would show as a false negative.
//  * value_size 12 in the first (not a multiple of 8), 8 in the second.
#include <bpfmap/bpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "process_helpers.hpp"
#include "test_support.hpp"

namespace {

namespace bt = bpfmap::test;
using namespace bpfmap::test::proc;

uint64_t mix(uint64_t i) {
    uint64_t z = i + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// Value i of a test: value_size 8 or 12 bytes, distinct for distinct i.
std::vector<unsigned char> value_of(uint64_t i, uint32_t vs) {
    std::vector<unsigned char> b(vs, 0);
    const uint64_t h = mix(i);
    std::memcpy(b.data(), &h, 8);
    if (vs >= 12) {
        const uint32_t lo = static_cast<uint32_t>(i);
        std::memcpy(b.data() + 8, &lo, 4);
    }
    return b;
}

int push(int fd, const void* v) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<uint32_t>(fd);
    a.value = bt::uptr(v);
    return ::bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof a);
}

// 0: maybe present, 1: absent (ENOENT), -1: another error (errno set).
int peek(int fd, const void* v) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<uint32_t>(fd);
    a.value = bt::uptr(v);
    if (::bpf(BPF_MAP_LOOKUP_ELEM, &a, sizeof a) == 0) return 0;
    return errno == ENOENT ? 1 : -1;
}

int create_bloom(uint32_t vs, uint32_t max_entries, uint64_t extra) {
    bt::CreateSpec spec;
    spec.type = BPF_MAP_TYPE_BLOOM_FILTER;
    spec.value_size = vs;
    spec.max_entries = max_entries;
    spec.extra = extra;
    return bt::map_create(spec);
}

// Every value 0 .. total-1 found? Reports "ERR" lines for the first few missing.
int verify_all(const Out& out, int map, uint64_t total, uint32_t vs, const std::string& who) {
    uint64_t missing = 0;
    for (uint64_t i = 0; i < total; ++i) {
        const auto v = value_of(i, vs);
        const int r = peek(map, v.data());
        if (r != 0 && missing++ < 5)
            out.line("ERR " + who + ": pushed value " + std::to_string(i) + " not found (" +
                     (r == 1 ? std::string("ENOENT") : errname(errno)) + ")");
    }
    out.line("M " + std::to_string(missing));
    return missing == 0 ? 0 : 1;
}

}  // namespace

// args: out ready go map lo hi vs
BPFMAP_CHILD(bloom_pusher) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3);
    const uint64_t lo = num(args, 4), hi = num(args, 5);
    const uint32_t vs = static_cast<uint32_t>(num(args, 6));
    pass_gate(ifd(args, 1), ifd(args, 2));
    for (uint64_t i = lo; i < hi; ++i) {
        const auto v = value_of(i, vs);
        if (push(map, v.data()) != 0) {
            out.line("ERR push " + std::to_string(i) + ": " + errname(errno));
            return 1;
        }
        if (peek(map, v.data()) != 0) {
            out.line("ERR value " + std::to_string(i) + " not found right after its push");
            return 1;
        }
    }
    return 0;
}

// args: out ready go map total vs peeks seed
// Peeks random values of 0 .. 2*total-1 (half never pushed). Once found, a value must stay
// found: re-peeks every found value at the end.
BPFMAP_CHILD(bloom_peeker) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3);
    const uint64_t total = num(args, 4);
    const uint32_t vs = static_cast<uint32_t>(num(args, 5));
    const uint64_t peeks = num(args, 6);
    std::mt19937_64 rng(num(args, 7));
    pass_gate(ifd(args, 1), ifd(args, 2));
    std::vector<uint64_t> found;
    uint64_t n_found = 0;
    for (uint64_t n = 0; n < peeks; ++n) {
        const uint64_t i = rng() % (2 * total);
        const auto v = value_of(i, vs);
        const int r = peek(map, v.data());
        if (r < 0) {
            out.line("ERR peek: " + errname(errno));
            return 1;
        }
        if (r == 0) {
            ++n_found;
            if (found.size() < 20000) found.push_back(i);
        }
        // Now and then: values found earlier must still be found.
        if ((n & 1023) == 1023 && !found.empty()) {
            const uint64_t j = found[rng() % found.size()];
            if (peek(map, value_of(j, vs).data()) != 0) {
                out.line("ERR value " + std::to_string(j) + " found before, not any more");
                return 1;
            }
        }
    }
    for (uint64_t j : found)
        if (peek(map, value_of(j, vs).data()) != 0) {
            out.line("ERR value " + std::to_string(j) + " found before, not at the end");
            return 1;
        }
    out.line("F " + std::to_string(n_found));
    return 0;
}

// args: out map total vs
BPFMAP_CHILD(bloom_verifier) {
    Out out{ifd(args, 0)};
    return verify_all(out, ifd(args, 1), num(args, 2), static_cast<uint32_t>(num(args, 3)),
                      "verifier " + std::to_string(getpid()));
}

namespace {

void run(uint32_t vs, uint32_t max_entries, uint64_t extra, uint64_t per_pusher, uint64_t peeks) {
    const uint64_t n_pushers = 4, total = n_pushers * per_pusher;
    Fd map(create_bloom(vs, max_entries, extra));
    BOOST_REQUIRE_MESSAGE(map.get() >= 0, "create: " << errname(errno));
    std::vector<Proc> ps;
    {
        Gate gate;
        std::vector<int> keep = {map.get(), gate.fds()[0], gate.fds()[1]};
        for (uint64_t i = 0; i < n_pushers; ++i) {
            std::vector<std::string> a = gate.args();
            for (uint64_t x :
                 {uint64_t(map.get()), i * per_pusher, (i + 1) * per_pusher, uint64_t{vs}})
                a.push_back(std::to_string(x));
            ps.push_back(start("pusher " + std::to_string(i), "bloom_pusher", a, keep));
        }
        for (uint64_t i = 0; i < 2; ++i) {
            std::vector<std::string> a = gate.args();
            for (uint64_t x : {uint64_t(map.get()), total, uint64_t{vs}, peeks, 1000 + i})
                a.push_back(std::to_string(x));
            ps.push_back(start("peeker " + std::to_string(i), "bloom_peeker", a, keep));
        }
        BOOST_REQUIRE(gate.open(static_cast<int>(ps.size())));
        finish(ps, kTimeoutMs);
    }
    for (Proc& p : ps) check_ok(p);
    for (Proc& p : ps)
        for (const std::string& f : lines(p, "F"))
            BOOST_TEST_MESSAGE(p.name << ": " << f << " of " << peeks << " peeks found a value");

    // Every pushed value, in three fresh processes and here.
    std::vector<Proc> vs_procs;
    for (int i = 0; i < 3; ++i)
        vs_procs.push_back(start(
            "verifier " + std::to_string(i), "bloom_verifier",
            {std::to_string(map.get()), std::to_string(total), std::to_string(vs)}, {map.get()}));
    finish(vs_procs, kTimeoutMs);
    for (Proc& p : vs_procs) {
        check_ok(p);
        BOOST_CHECK_MESSAGE(lines(p, "M") == std::vector<std::string>{"0"},
                            p.name << ": missing values: " << p.text);
    }
    uint64_t missing = 0;
    for (uint64_t i = 0; i < total; ++i)
        if (peek(map.get(), value_of(i, vs).data()) != 0 && missing++ < 5)
            BOOST_ERROR("parent: pushed value " << i << " not found");
    BOOST_CHECK_MESSAGE(missing == 0, "parent: " << missing << " of " << total << " not found");
}

}  // namespace

BOOST_AUTO_TEST_CASE(pushers_and_peekers) {
    // 100,000 values (25,000 per pusher), max_entries 100,000, k 3: 524288 bits.
    run(12, 100000, 3, kSanitized ? 10000 : 25000, kSanitized ? 40000 : 150000);
}

BOOST_AUTO_TEST_CASE(hot_words) {
    // k 1, max_entries 20000: 32768 bits in 512 words, 20,000 pushes: about 40 per word.
    run(8, 20000, 1, kSanitized ? 2000 : 5000, kSanitized ? 20000 : 50000);
}
