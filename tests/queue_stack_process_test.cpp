// Many processes on one QUEUE / STACK at once. N producer processes (fork + exec) each push K
// values tagged {producer, sequence, checksum}; M consumer processes pop concurrently (and now
// and then peek) until every producer is done and the map is empty. The map is small, so it
// is full (E2BIG, the producer retries) and empty (ENOENT, the consumer retries) often.
// Checks: every value is popped exactly once (none lost, none duplicated), no value is torn
// (checksum), peeks return whole values, and for the QUEUE each consumer sees each producer's
// values in increasing sequence (FIFO per producer: pops are ordered in time, so any one
// consumer's pops of one producer's values keep that producer's push order).
#include <bpfmap/bpf.h>
#include <linux/bpf.h>
#include <sched.h>

#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "process_helpers.hpp"
#include "test_support.hpp"

namespace {

namespace bt = bpfmap::test;
using namespace bpfmap::test::proc;
using bt::uptr;

struct Item {
    uint32_t producer;
    uint32_t seq;
    uint64_t check;
};
static_assert(sizeof(Item) == 16);

uint64_t checksum(uint32_t producer, uint32_t seq) {
    return (uint64_t{producer} * 0x9E3779B97F4A7C15ULL) ^ (uint64_t{seq} * 0xC2B2AE3D27D4EB4FULL) ^
           0x5555AAAA5555AAAAULL;
}

int pop(int fd, void* v) {
    return lookup_and_delete(fd, nullptr, v);
}

// args: out ready go map ctl producer_id K
BPFMAP_CHILD(qs_producer) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3), ctl = ifd(args, 4);
    const uint32_t id = static_cast<uint32_t>(num(args, 5));
    const uint32_t k = static_cast<uint32_t>(num(args, 6));
    pass_gate(ifd(args, 1), ifd(args, 2));
    uint64_t full = 0;
    for (uint32_t s = 0; s < k; ++s) {
        const Item it{id, s, checksum(id, s)};
        for (;;) {
            if (bt::map_update(map, nullptr, &it, BPF_ANY) == 0) break;
            if (errno != E2BIG) {
                out.line("ERR push " + std::to_string(s) + ": " + errname(errno));
                return 1;
            }
            ++full;
            sched_yield();
        }
    }
    const uint32_t one = 1;
    if (bt::map_update(ctl, &id, &one, BPF_ANY) != 0) {
        out.line("ERR ctl: " + errname(errno));
        return 1;
    }
    out.line("STATS " + std::to_string(full));
    return 0;
}

// args: out ready go map ctl n_producers is_queue
BPFMAP_CHILD(qs_consumer) {
    Out out{ifd(args, 0)};
    const int map = ifd(args, 3), ctl = ifd(args, 4);
    const uint32_t n = static_cast<uint32_t>(num(args, 5));
    const bool is_queue = num(args, 6) != 0;
    pass_gate(ifd(args, 1), ifd(args, 2));
    std::vector<int64_t> last(n, -1);
    uint64_t got = 0, empty = 0, peeks = 0;
    std::string batch;
    for (uint64_t i = 0;; ++i) {
        // Done is read BEFORE the pop: if every producer had finished and the pop then finds
        // the map empty, nothing can arrive any more.
        const bool done = (i % 8 == 0 || empty > 0) && all_flags_set(ctl, n);
        Item it{};
        if (i % 5 == 0) {
            if (bt::map_lookup(map, nullptr, &it) == 0) {
                ++peeks;
                if (it.producer >= n || it.check != checksum(it.producer, it.seq))
                    out.line("ERR torn peek " + std::to_string(it.producer) + " " +
                             std::to_string(it.seq));
            } else if (errno != ENOENT) {
                out.line("ERR peek: " + errname(errno));
                return 1;
            }
        }
        if (pop(map, &it) != 0) {
            if (errno != ENOENT) {
                out.line("ERR pop: " + errname(errno));
                return 1;
            }
            if (done) break;
            ++empty;
            sched_yield();
            continue;
        }
        ++got;
        if (it.producer >= n || it.check != checksum(it.producer, it.seq)) {
            out.line("ERR torn " + std::to_string(it.producer) + " " + std::to_string(it.seq));
            continue;
        }
        if (is_queue && static_cast<int64_t>(it.seq) <= last[it.producer])
            out.line("ERR order: producer " + std::to_string(it.producer) + " seq " +
                     std::to_string(it.seq) + " after " + std::to_string(last[it.producer]));
        last[it.producer] = it.seq;
        batch += "V " + std::to_string(it.producer) + " " + std::to_string(it.seq) + "\n";
        if (batch.size() > 3000) {
            batch.pop_back();
            out.line(batch);
            batch.clear();
        }
    }
    if (!batch.empty()) {
        batch.pop_back();
        out.line(batch);
    }
    out.line("STATS " + std::to_string(got) + " " + std::to_string(empty) + " " +
             std::to_string(peeks));
    return 0;
}

void run(uint32_t type, uint32_t n_prod, uint32_t n_cons, uint32_t k, uint32_t max_entries) {
    const bool is_queue = type == BPF_MAP_TYPE_QUEUE;
    BOOST_TEST_MESSAGE((is_queue ? "QUEUE" : "STACK")
                       << ": " << n_prod << " producers x " << k << " values, " << n_cons
                       << " consumers, max_entries " << max_entries);
    Fd map(bt::map_create(type, 0, sizeof(Item), max_entries));
    BOOST_REQUIRE_MESSAGE(map.ok(), "create: " << errname(errno));
    Fd ctl(bt::map_create(BPF_MAP_TYPE_ARRAY, 4, 4, n_prod));
    BOOST_REQUIRE_MESSAGE(ctl.ok(), "create ctl: " << errname(errno));
    Gate gate;
    std::vector<Proc> ps;
    const std::vector<int> keep = {map.get(), ctl.get(), gate.fds()[0], gate.fds()[1]};
    for (uint32_t p = 0; p < n_prod; ++p) {
        std::vector<std::string> a = gate.args();
        for (uint64_t x : {uint64_t(map.get()), uint64_t(ctl.get()), uint64_t(p), uint64_t(k)})
            a.push_back(std::to_string(x));
        ps.push_back(start("producer " + std::to_string(p), "qs_producer", a, keep));
    }
    for (uint32_t c = 0; c < n_cons; ++c) {
        std::vector<std::string> a = gate.args();
        for (uint64_t x :
             {uint64_t(map.get()), uint64_t(ctl.get()), uint64_t(n_prod), uint64_t(is_queue)})
            a.push_back(std::to_string(x));
        ps.push_back(start("consumer " + std::to_string(c), "qs_consumer", a, keep));
    }
    BOOST_REQUIRE(gate.open(static_cast<int>(ps.size())));
    finish(ps, kTimeoutMs);
    std::vector<std::vector<uint32_t>> seen(n_prod, std::vector<uint32_t>(k, 0));
    uint64_t total = 0, fulls = 0, empties = 0;
    for (Proc& p : ps) {
        check_ok(p);
        for (const std::string& e : lines(p, "ERR")) BOOST_ERROR(p.name << ": " << e);
        auto st = lines(p, "STATS");
        BOOST_CHECK_MESSAGE(st.size() == 1, p.name << ": no STATS line");
        if (p.name.rfind("producer", 0) == 0) {
            if (!st.empty()) fulls += std::stoull(st[0]);
            continue;
        }
        uint64_t got = 0, empty = 0;
        if (!st.empty()) {
            std::istringstream in(st[0]);
            in >> got >> empty;
        }
        empties += empty;
        const auto vs = lines(p, "V");
        BOOST_CHECK_MESSAGE(vs.size() == got,
                            p.name << ": popped " << got << " but reported " << vs.size());
        for (const std::string& v : vs) {
            std::istringstream in(v);
            uint32_t prod = 0, seq = 0;
            in >> prod >> seq;
            if (prod >= n_prod || seq >= k) {
                BOOST_ERROR(p.name << ": bad value " << v);
                continue;
            }
            ++seen[prod][seq];
            ++total;
        }
    }
    uint64_t lost = 0, dup = 0;
    for (uint32_t p = 0; p < n_prod; ++p)
        for (uint32_t s = 0; s < k; ++s) {
            if (seen[p][s] == 0) ++lost;
            if (seen[p][s] > 1) ++dup;
        }
    BOOST_CHECK_MESSAGE(lost == 0 && dup == 0 && total == uint64_t{n_prod} * k,
                        "popped " << total << " of " << uint64_t{n_prod} * k << ": " << lost
                                  << " lost, " << dup << " duplicated");
    BOOST_TEST_MESSAGE("  map full " << fulls << " times, empty " << empties << " times");
    // Nothing left.
    Item it{};
    BOOST_CHECK_EQUAL(pop(map.get(), &it), -1);
    BOOST_CHECK_EQUAL(errno, ENOENT);
}

constexpr uint32_t kValues = kSanitized ? 1500 : 4000;

BOOST_AUTO_TEST_CASE(queue_many_producers_consumers) {
    run(BPF_MAP_TYPE_QUEUE, 4, 3, kValues, 32);
}

BOOST_AUTO_TEST_CASE(stack_many_producers_consumers) {
    run(BPF_MAP_TYPE_STACK, 4, 3, kValues, 32);
}

BOOST_AUTO_TEST_CASE(queue_single_slot) {
    run(BPF_MAP_TYPE_QUEUE, 3, 3, kValues / 4, 1);
}

BOOST_AUTO_TEST_CASE(stack_single_slot) {
    run(BPF_MAP_TYPE_STACK, 3, 3, kValues / 4, 1);
}

}  // namespace
