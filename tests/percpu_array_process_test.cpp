// BPF_MAP_TYPE_PERCPU_ARRAY across real processes (spawn_child: fork + exec of this binary):
//  (a) per-CPU counters: more processes than CPUs (so they are preempted and migrate) add to the
//      same keys at once through the slot pointers, lock-free: with bpfmap::this_cpu_add (a
//      fresh bpfmap_this_cpu_ptr per add), with a pointer cached per key and __atomic_fetch_add,
//      and through a map fd of their own (BPF_OBJ_GET of a pin: another mapping of the segment).
//      Meanwhile a reader process sums every key through bpf() (percpu_sum): each sum is never
//      smaller than the previous one and never above the final total (8-byte words are read
//      whole). At the end the per-CPU sum of every key is exactly the total of all increments.
//  (b) no torn values: writers update whole per-CPU values through bpf(), every 8-byte word of
//      every CPU's slot (padding included) one number per write, while readers look them up
//      concurrently; every value read must be uniform across all slots (seqlock readers). The
//      writers keep writing until every reader has done its fixed number of reads.
// Children start together through a gate and report through pipes read with a deadline, so a
// hang is a failure, never a stuck test. Work is bounded by operation counts.
#include <bpfmap/bpf.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <bpfmap/percpu.hpp>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "process_helpers.hpp"
#include "test_support.hpp"

namespace {

namespace bt = bpfmap::test;
using namespace bpfmap::test::proc;

int create_percpu(unsigned vs, unsigned max) {
    return bt::map_create(BPF_MAP_TYPE_PERCPU_ARRAY, 4, vs, max);
}

// ---- (a) counters -----------------------------------------------------------------------------
constexpr uint32_t kCounterKeys = 4;

// Increment i goes to key i % kCounterKeys and adds `delta`.
uint64_t expected_total(uint32_t key, uint64_t iters, uint64_t delta) {
    const uint64_t n = iters / kCounterKeys + (key < iters % kCounterKeys ? 1 : 0);
    return n * delta;
}

// args: out ready go mapref mode(add|cached) iters delta
BPFMAP_CHILD(counter) {
    Out out{ifd(args, 0)};
    const int map = open_map_ref(args.at(3), out);
    if (map < 0) return 2;
    const std::string mode = args.at(4);
    const uint64_t iters = num(args, 5), delta = num(args, 6);
    uint64_t* cached[kCounterKeys] = {};
    if (mode == "cached")
        for (uint32_t k = 0; k < kCounterKeys; ++k)
            if (!(cached[k] = bpfmap::this_cpu_ptr<uint64_t>(map, k))) {
                out.line("ERR this_cpu_ptr: " + errname(errno));
                return 1;
            }
    pass_gate(ifd(args, 1), ifd(args, 2));
    for (uint64_t i = 0; i < iters; ++i) {
        const uint32_t k = static_cast<uint32_t>(i % kCounterKeys);
        if (mode == "cached") {
            // The thread may run on another CPU by now: adds to a slot that is not its CPU's
            // own, which atomics make harmless.
            __atomic_fetch_add(cached[k], delta, __ATOMIC_RELAXED);
        } else if (!bpfmap::this_cpu_add(map, k, delta)) {
            out.line("ERR this_cpu_add: " + errname(errno));
            return 1;
        }
    }
    return 0;
}

// Sums every key through bpf() until the stop pipe reaches EOF, then once more.
// args: out ready go map stop_rd
BPFMAP_CHILD(summer) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3), stop = ifd(args, 4);
    uint64_t last[kCounterKeys] = {};
    uint64_t sums = 0, increases = 0;
    pass_gate(ifd(args, 1), ifd(args, 2));
    for (bool stopping = false;;) {
        for (uint32_t k = 0; k < kCounterKeys; ++k) {
            auto s = bpfmap::percpu_sum<uint64_t>(map, k);
            if (!s) {
                out.line("ERR percpu_sum: " + errname(errno));
                return 1;
            }
            ++sums;
            if (*s < last[k]) {
                out.line("ERR key " + std::to_string(k) + ": sum went down from " +
                         std::to_string(last[k]) + " to " + std::to_string(*s));
                return 1;
            }
            if (*s > last[k]) ++increases;
            last[k] = *s;
        }
        if (stopping) break;
        // The parent closes the stop pipe when every counter has finished: one more round.
        struct pollfd q = {stop, POLLIN, 0};
        if (::poll(&q, 1, 0) == 1 && (q.revents & (POLLIN | POLLHUP))) stopping = true;
    }
    std::string line = "STATS " + std::to_string(sums) + " " + std::to_string(increases);
    for (uint64_t x : last) line += " " + std::to_string(x);
    out.line(line);
    return 0;
}

// ---- (b) torn values --------------------------------------------------------------------------
std::string describe(const std::vector<unsigned char>& v) {
    std::ostringstream s;
    s << std::hex;
    for (size_t i = 0; i + 8 <= v.size(); i += 8) {
        uint64_t x;
        std::memcpy(&x, &v[i], 8);
        s << " " << x;
        if (i >= 64) {
            s << " ...";
            break;
        }
    }
    return s.str();
}

// args: out ready go map ctl user_value_bytes nkeys min_iters writer_id n_readers
BPFMAP_CHILD(torn_writer) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3), ctl = ifd(args, 4);
    const size_t bytes = num(args, 5);
    const uint32_t nkeys = static_cast<uint32_t>(num(args, 6));
    const uint64_t iters = num(args, 7), wid = num(args, 8);
    const uint32_t nr = static_cast<uint32_t>(num(args, 9));
    std::vector<unsigned char> v(bytes);
    pass_gate(ifd(args, 1), ifd(args, 2));
    bool failed = false;
    uint64_t updates = 0;
    for (uint64_t i = 0;; ++i) {
        if (i >= iters && i % 1024 == 0 && readers_done(ctl, nr, out, failed)) break;
        const uint32_t key = static_cast<uint32_t>(i % nkeys);
        fill_words(v, (i << 8 | wid) + 1);  // never the same pattern twice
        if (bt::map_update(map, &key, v.data(), i % 2 ? BPF_EXIST : BPF_ANY) != 0) {
            out.line("ERR update " + std::to_string(key) + ": " + errname(errno));
            return 1;
        }
        ++updates;
    }
    out.line("STATS " + std::to_string(updates));
    return failed ? 1 : 0;
}

// args: out ready go map ctl user_value_bytes nkeys reads reader_id
BPFMAP_CHILD(torn_reader) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3), ctl = ifd(args, 4);
    const size_t bytes = num(args, 5);
    const uint32_t nkeys = static_cast<uint32_t>(num(args, 6));
    const uint64_t n_reads = num(args, 7);
    const uint32_t rid = static_cast<uint32_t>(num(args, 8));
    auto set_done = [&] {
        const uint32_t one = 1;
        if (bt::map_update(ctl, &rid, &one, BPF_ANY) != 0)
            out.line("ERR ctl update: " + errname(errno));
    };
    std::vector<unsigned char> v(bytes);
    std::vector<std::vector<unsigned char>> last(nkeys, std::vector<unsigned char>(bytes));
    pass_gate(ifd(args, 1), ifd(args, 2));
    uint64_t torn = 0, changes = 0;
    for (uint64_t i = 0; i < n_reads; ++i) {
        const uint32_t key = static_cast<uint32_t>(i % nkeys);
        if (bt::map_lookup(map, &key, v.data()) != 0) {
            out.line("ERR lookup " + std::to_string(key) + ": " + errname(errno));
            set_done();
            return 1;
        }
        if (!words_uniform(v)) {
            if (torn < 5) out.line("TORN key " + std::to_string(key) + ":" + describe(v));
            ++torn;
        }
        if (v != last[key]) {
            ++changes;
            last[key] = v;
        }
    }
    set_done();
    out.line("STATS " + std::to_string(n_reads) + " " + std::to_string(torn) + " " +
             std::to_string(changes));
    return 0;
}

void run_torn(unsigned vs) {
    const size_t bytes = bt::percpu_value_bytes(vs);
    const uint32_t nkeys = 2, n_writers = 2, n_readers = 2;
    const uint64_t iters = kSanitized ? 20000 : 100000;
    const uint64_t reads = kSanitized ? 50000 : 500000;
    BOOST_TEST_MESSAGE("PERCPU_ARRAY value_size " << vs << " (" << bytes << " bytes per value)");
    Fd map(create_percpu(vs, nkeys));
    BOOST_REQUIRE_MESSAGE(map.get() >= 0, "create: " << errname(errno));
    Fd ctl(bt::map_create(BPF_MAP_TYPE_ARRAY, 4, 4, n_readers));
    BOOST_REQUIRE_MESSAGE(ctl.get() >= 0, "create ctl: " << errname(errno));
    Gate gate;
    std::vector<Proc> ps;
    const std::vector<int> keep = {map.get(), ctl.get(), gate.fds()[0], gate.fds()[1]};
    for (uint32_t w = 0; w < n_writers; ++w) {
        std::vector<std::string> a = gate.args();
        for (uint64_t x : {uint64_t(map.get()), uint64_t(ctl.get()), uint64_t(bytes),
                           uint64_t(nkeys), iters, uint64_t(w), uint64_t(n_readers)})
            a.push_back(std::to_string(x));
        ps.push_back(start("writer " + std::to_string(w), "torn_writer", a, keep));
    }
    for (uint32_t r = 0; r < n_readers; ++r) {
        std::vector<std::string> a = gate.args();
        for (uint64_t x : {uint64_t(map.get()), uint64_t(ctl.get()), uint64_t(bytes),
                           uint64_t(nkeys), reads, uint64_t(r)})
            a.push_back(std::to_string(x));
        ps.push_back(start("reader " + std::to_string(r), "torn_reader", a, keep));
    }
    BOOST_REQUIRE(gate.open(static_cast<int>(ps.size())));
    finish(ps, kTimeoutMs);
    uint64_t total_changes = 0;
    for (Proc& p : ps) {
        check_ok(p);
        for (const std::string& t : lines(p, "TORN")) BOOST_ERROR(p.name << ": torn value: " << t);
        if (p.name.rfind("reader", 0) != 0) continue;
        auto st = lines(p, "STATS");
        BOOST_REQUIRE_MESSAGE(st.size() == 1, p.name << ": no STATS line");
        std::istringstream in(st[0]);
        uint64_t n = 0, torn = 0, changes = 0;
        in >> n >> torn >> changes;
        BOOST_CHECK_MESSAGE(torn == 0, p.name << ": " << torn << " torn values in " << n);
        total_changes += changes;
    }
    BOOST_CHECK_MESSAGE(total_changes > 0, "the readers never saw a value change: no overlap");
    BOOST_TEST_MESSAGE("  " << total_changes << " reads saw a new value");
    std::vector<unsigned char> v(bytes);
    for (uint32_t k = 0; k < nkeys; ++k) {
        BOOST_REQUIRE(bt::map_lookup(map.get(), &k, v.data()) == 0);
        BOOST_CHECK_MESSAGE(words_uniform(v),
                            "final value of key " << k << " torn:" << describe(v));
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(percpu_array_process)

BOOST_AUTO_TEST_CASE(concurrent_this_cpu_add_sums_exactly) {
    Fd map(create_percpu(8, kCounterKeys));
    BOOST_REQUIRE_MESSAGE(map.get() >= 0, "create: " << errname(errno));
    const std::string pin = bt::test_root() + "/pins/pcpu_counters";
    BOOST_REQUIRE_MESSAGE(bt::obj_pin(map.get(), pin) == 0, "pin: " << errname(errno));
    const uint64_t iters = kSanitized ? 50000 : 400000;
    struct Spec {
        std::string mode, ref;
        uint64_t delta;
    };
    const std::string fdref = "fd:" + std::to_string(map.get());
    const Spec specs[] = {
        {"add", fdref, 1},    {"add", fdref, 3},         {"cached", fdref, 5},
        {"cached", fdref, 7}, {"add", "pin:" + pin, 11}, {"cached", "pin:" + pin, 13},
    };
    int stop[2];
    BOOST_REQUIRE(::pipe2(stop, O_CLOEXEC) == 0);
    Fd stop_rd(stop[0]), stop_wr(stop[1]);
    Gate gate;
    std::vector<Proc> counters, summer;
    for (size_t i = 0; i < std::size(specs); ++i) {
        std::vector<std::string> a = gate.args();
        a.push_back(specs[i].ref);
        a.push_back(specs[i].mode);
        a.push_back(std::to_string(iters));
        a.push_back(std::to_string(specs[i].delta));
        counters.push_back(start("counter " + std::to_string(i) + " (" + specs[i].mode + ", " +
                                     specs[i].ref.substr(0, 3) + ")",
                                 "counter", a, {map.get(), gate.fds()[0], gate.fds()[1]}));
    }
    {
        std::vector<std::string> a = gate.args();
        a.push_back(std::to_string(map.get()));
        a.push_back(std::to_string(stop_rd.get()));
        summer.push_back(
            start("summer", "summer", a, {map.get(), stop_rd.get(), gate.fds()[0], gate.fds()[1]}));
    }
    stop_rd.reset();
    BOOST_REQUIRE(gate.open(static_cast<int>(std::size(specs) + 1)));
    finish(counters, kTimeoutMs);
    stop_wr.reset();  // the summer does one more round and reports
    finish(summer, kTimeoutMs);
    for (const Proc& p : counters) check_ok(p);
    check_ok(summer[0]);
    BOOST_CHECK(bpfmap_unpin(pin.c_str()) == 0);

    uint64_t want[kCounterKeys] = {};
    for (uint32_t k = 0; k < kCounterKeys; ++k)
        for (const Spec& s : specs) want[k] += expected_total(k, iters, s.delta);
    for (uint32_t k = 0; k < kCounterKeys; ++k) {
        auto sum = bpfmap::percpu_sum<uint64_t>(map.get(), k);
        BOOST_REQUIRE_MESSAGE(sum, "percpu_sum: " << errname(errno));
        BOOST_CHECK_MESSAGE(*sum == want[k],
                            "key " << k << ": per-CPU sum " << *sum << ", expected " << want[k]);
        auto vals = bpfmap::percpu_values<uint64_t>(map.get(), k);
        BOOST_REQUIRE(vals);
        std::string per_cpu;
        for (uint64_t x : *vals) per_cpu += " " + std::to_string(x);
        BOOST_TEST_MESSAGE("key " << k << ": total " << *sum << " =" << per_cpu);
    }
    auto st = lines(summer[0], "STATS");
    BOOST_REQUIRE_MESSAGE(st.size() == 1, "summer: no STATS line");
    std::istringstream in(st[0]);
    uint64_t sums = 0, increases = 0, last[kCounterKeys] = {};
    in >> sums >> increases;
    for (auto& x : last) in >> x;
    BOOST_TEST_MESSAGE("summer: " << sums << " sums, " << increases << " saw an increase");
    // Its last round ran after every counter had finished.
    for (uint32_t k = 0; k < kCounterKeys; ++k)
        BOOST_CHECK_MESSAGE(last[k] == want[k], "summer's final sum of key " << k << ": " << last[k]
                                                                             << ", expected "
                                                                             << want[k]);
}

BOOST_AUTO_TEST_CASE(no_torn_values_small) {
    run_torn(12);  // slots of 16 bytes: 4 of them padding
}

BOOST_AUTO_TEST_CASE(no_torn_values_large) {
    run_torn(1024);
}

BOOST_AUTO_TEST_SUITE_END()
