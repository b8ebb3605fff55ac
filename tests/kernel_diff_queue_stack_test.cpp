// Differential test for BPF_MAP_TYPE_QUEUE and BPF_MAP_TYPE_STACK: the same bpf(2) calls run
// against the real kernel and against bpfmap's bpf() must give the same return value, the same
// errno and the same bytes written back (every output buffer is pre-filled and followed by guard
// bytes, so a write of more than value_size bytes, or any write on failure, is caught).
//
//  * create_errnos: MAP_CREATE with key_size != 0, value_size 0 / 4 MiB / 4 MiB + 1, max_entries
//    0 / huge, every map flag (NO_PREALLOC → EINVAL, the access flags, RDONLY_PROG|WRONLY_PROG,
//    MMAPABLE, ZERO_SEED, ...), map_ifindex, and several wrong parameters at once; on success
//    GET_INFO (type, sizes, max_entries, flags, name) is compared.
//  * sequences: seeded pseudo-random sequences (seed printed) on queues and stacks of several
//    sizes: push with flags 0 / BPF_EXIST (overwrite the oldest when full) / NOEXIST / 3 / 4 /
//    F_LOCK / 1<<32, pop with flags 0 / F_LOCK / 1, peek with flags 0 / F_LOCK, DELETE and
//    GET_NEXT_KEY (with and without a key), a non-NULL key on push/pop/peek (EINVAL), NULL
//    values (EFAULT; a pop with a NULL value still takes the element), bursts that fill the map
//    (E2BIG, then BPF_EXIST overwrites) and drains (ENOENT).
//  * freeze_and_access: FREEZE (peek still works; push, pop, DELETE → EPERM; a second FREEZE →
//    EPERM), RDONLY and WRONLY fds.
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

#include "diff_support.hpp"
#include "test_support.hpp"

BPFMAP_REQUIRES_KERNEL();

namespace {

using namespace bpfmap::test::diff;
using bpfmap::test::uptr;

constexpr unsigned char kFill = 0xA5;
constexpr size_t kGuard = 16;
constexpr uint32_t kKmallocMax = 4u << 20;

struct CreateArgs {
    uint32_t type, key_size, value_size, max_entries, flags;
    uint32_t ifindex = 0;
    const char* name = nullptr;
};

Res create(BpfFn fn, const CreateArgs& c) {
    bpfmap::test::CreateSpec spec;
    spec.type = c.type;
    spec.key_size = c.key_size;
    spec.value_size = c.value_size;
    spec.max_entries = c.max_entries;
    spec.flags = c.flags;
    spec.ifindex = c.ifindex;
    if (c.name) spec.name.assign(c.name, strnlen(c.name, 15));
    union bpf_attr a = bpfmap::test::create_attr(spec);
    return invoke(fn, BPF_MAP_CREATE, &a, sizeof a);
}

std::string describe(const CreateArgs& c) {
    return "type " + std::to_string(c.type) + " ks " + std::to_string(c.key_size) + " vs " +
           std::to_string(c.value_size) + " max " + std::to_string(c.max_entries) + " flags " +
           std::to_string(c.flags) + " ifindex " + std::to_string(c.ifindex);
}

struct Info {
    uint32_t type, key_size, value_size, max_entries, map_flags;
    std::string name;
    bool operator==(const Info&) const = default;
};

Info info_of(BpfFn fn, int fd) {
    struct bpf_map_info info;
    Res r = get_map_info(fn, fd, info);
    BOOST_REQUIRE_MESSAGE(r.ret == 0, "GET_INFO " << show(r));
    return {info.type,       info.key_size,
            info.value_size, info.max_entries,
            info.map_flags,  std::string(info.name, strnlen(info.name, sizeof info.name))};
}

// A map created on both sides with the same parameters; both fds closed at the end.
struct Pair : FdPair {
    explicit Pair(const CreateArgs& c) {
        Res k = create(kKernel, c), l = create(kLibrary, c);
        kfd = k.ret;
        lfd = l.ret;
        BOOST_REQUIRE_MESSAGE(k.ret >= 0 && l.ret >= 0,
                              describe(c) << ": kernel " << show(k) << " library " << show(l));
    }
};

// One element command's result and the bytes of its output buffer (value_size + guard).
struct Out {
    Res r;
    Bytes buf;
    bool operator==(const Out&) const = default;
};

enum class Ptr { Good, Null };

struct Call {
    int cmd;
    bool with_key = false;  // a non-NULL key pointer (keyless maps: EINVAL)
    Ptr value = Ptr::Good;
    uint64_t flags = 0;
};

std::string describe(const Call& c) {
    static const char* names[] = {"CREATE", "LOOKUP", "UPDATE", "DELETE", "GET_NEXT_KEY"};
    std::string n = c.cmd == BPF_MAP_LOOKUP_AND_DELETE_ELEM ? "LOOKUP_AND_DELETE"
                    : c.cmd == BPF_MAP_FREEZE               ? "FREEZE"
                    : c.cmd >= 0 && c.cmd <= 4              ? names[c.cmd]
                                                            : "?";
    return n + (c.with_key ? " key=nonNULL" : "") + (c.value == Ptr::Null ? " value=NULL" : "") +
           " flags=" + std::to_string(c.flags);
}

// `in` is the value pushed (UPDATE); outputs go to a pre-filled buffer.
Out run(BpfFn fn, int fd, uint32_t value_size, const Call& c, const Bytes& in) {
    Out o;
    o.buf.assign(value_size + kGuard, kFill);
    unsigned char key[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    Bytes inbuf = in;
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<uint32_t>(fd);
    if (c.with_key) a.key = uptr(key);
    switch (c.cmd) {
        case BPF_MAP_UPDATE_ELEM:
            a.value = c.value == Ptr::Null ? 0 : uptr(inbuf.data());
            a.flags = c.flags;
            break;
        case BPF_MAP_LOOKUP_ELEM:
        case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
            a.value = c.value == Ptr::Null ? 0 : uptr(o.buf.data());
            a.flags = c.flags;
            break;
        case BPF_MAP_GET_NEXT_KEY:
            a.next_key = c.value == Ptr::Null ? 0 : uptr(o.buf.data());
            break;
        default:  // DELETE, FREEZE: map_fd (and key) only
            break;
    }
    o.r = invoke(fn, c.cmd, &a, sizeof a);
    return o;
}

void compare(const std::string& ctx, const Pair& p, uint32_t value_size, const Call& c,
             const Bytes& in) {
    Out k = run(kKernel, p.kfd, value_size, c, in);
    Out l = run(kLibrary, p.lfd, value_size, c, in);
    BOOST_CHECK_MESSAGE(k.r == l.r, ctx << " " << describe(c) << ": kernel " << show(k.r)
                                        << " library " << show(l.r));
    BOOST_CHECK_MESSAGE(k.buf == l.buf, ctx << " " << describe(c) << ": bytes: kernel "
                                            << hex(k.buf) << " library " << hex(l.buf));
}

constexpr uint32_t Q = BPF_MAP_TYPE_QUEUE;
constexpr uint32_t S = BPF_MAP_TYPE_STACK;

BOOST_AUTO_TEST_CASE(create_errnos) {
    std::vector<CreateArgs> cases;
    for (uint32_t t : {Q, S}) {
        // Good.
        cases.push_back({t, 0, 4, 8, 0});
        cases.push_back({t, 0, 1, 1, 0, 0, "q.name_1"});
        cases.push_back({t, 0, kKmallocMax, 1, 0});
        // key_size.
        for (uint32_t ks : {1u, 4u, 8u, 0xffffffffu}) cases.push_back({t, ks, 4, 8, 0});
        // value_size.
        for (uint32_t vs : {0u, kKmallocMax + 1, 0x7fffffffu, 0xffffffffu})
            cases.push_back({t, 0, vs, 8, 0});
        // max_entries.
        cases.push_back({t, 0, 4, 0, 0});
        cases.push_back({t, 0, kKmallocMax, 0xffffffffu, 0});  // far too much memory: ENOMEM
        cases.push_back({t, 0, 4096, 1u << 30, 0});            // 4 TiB: ENOMEM
        // Each flag alone.
        for (int bit = 0; bit < 20; ++bit) cases.push_back({t, 0, 4, 8, 1u << bit});
        cases.push_back({t, 0, 4, 8, BPF_F_RDONLY | BPF_F_WRONLY});
        cases.push_back({t, 0, 4, 8, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG});
        cases.push_back({t, 0, 4, 8, BPF_F_RDONLY_PROG | BPF_F_RDONLY});
        cases.push_back({t, 0, 4, 8, BPF_F_WRONLY_PROG | BPF_F_WRONLY});
        cases.push_back({t, 0, 4, 8, 1u << 31});
        // Several wrong at once (order of the checks).
        cases.push_back({t, 4, kKmallocMax + 1, 8, 0});
        cases.push_back({t, 0, kKmallocMax + 1, 0, 0});
        cases.push_back({t, 0, kKmallocMax + 1, 8, BPF_F_NO_PREALLOC});
        cases.push_back({t, 0, 0, 0, BPF_F_NO_PREALLOC});
        // Device offload: not for these types.
        cases.push_back({t, 0, 4, 8, 0, 1});
        cases.push_back({t, 0, kKmallocMax + 1, 8, 0, 1});
        cases.push_back({t, 0, 4, 8, 0, 0, "bad-name"});
    }
    for (const CreateArgs& c : cases) {
        Res k = create(kKernel, c), l = create(kLibrary, c);
        const bool same = (k.ret >= 0) == (l.ret >= 0) && k.err == l.err;
        BOOST_CHECK_MESSAGE(same, describe(c) << ": kernel " << show(k) << " library " << show(l));
        if (k.ret >= 0 && l.ret >= 0) {
            Info ki = info_of(kKernel, k.ret), li = info_of(kLibrary, l.ret);
            BOOST_CHECK_MESSAGE(ki == li, describe(c)
                                              << ": GET_INFO differs (flags kernel " << ki.map_flags
                                              << " library " << li.map_flags << ")");
        }
        if (k.ret >= 0) ::close(k.ret);
        if (l.ret >= 0) ::close(l.ret);
    }
}

struct SeqConfig {
    const char* name;
    uint32_t type, value_size, max_entries;
    uint32_t seed;
    int ops;
};

void run_sequence(const SeqConfig& cfg) {
    BOOST_TEST_MESSAGE("sequence " << cfg.name << ": seed " << cfg.seed << ", " << cfg.ops
                                   << " ops");
    Pair p({cfg.type, 0, cfg.value_size, cfg.max_entries, 0});
    std::mt19937 rng(cfg.seed);
    auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
    uint32_t tag = 0;
    auto next_value = [&] {
        Bytes v(cfg.value_size);
        ++tag;
        for (uint32_t i = 0; i < cfg.value_size; ++i)
            v[i] = static_cast<unsigned char>((tag * 131 + i * 7) ^ (tag >> 8));
        return v;
    };
    // Phases: mostly-push (fills up: E2BIG and overwrites) and mostly-pop (drains: ENOENT).
    bool filling = true;
    for (int n = 0; n < cfg.ops; ++n) {
        if (pick(40) == 0) filling = !filling;
        const std::string ctx = std::string(cfg.name) + " seed " + std::to_string(cfg.seed) +
                                " op #" + std::to_string(n);
        Call c{BPF_MAP_LOOKUP_ELEM};
        const uint32_t r = pick(100);
        if (r < (filling ? 45u : 15u)) {
            c.cmd = BPF_MAP_UPDATE_ELEM;
            const uint32_t f = pick(20);
            static const uint64_t bad[] = {
                BPF_NOEXIST,       3,           4, BPF_F_LOCK, BPF_F_LOCK | BPF_EXIST,
                uint64_t{1} << 32, ~uint64_t{0}};
            c.flags = f < 10 ? uint64_t{BPF_ANY} : f < 16 ? uint64_t{BPF_EXIST} : bad[pick(7)];
        } else if (r < 70) {
            c.cmd = BPF_MAP_LOOKUP_AND_DELETE_ELEM;
            const uint32_t f = pick(20);
            c.flags = f < 17 ? 0 : f < 19 ? uint64_t{BPF_F_LOCK} : 1;
        } else if (r < 90) {
            c.cmd = BPF_MAP_LOOKUP_ELEM;
            const uint32_t f = pick(20);
            c.flags = f < 18 ? 0 : f < 19 ? uint64_t{BPF_F_LOCK} : 4;
        } else if (r < 95) {
            c.cmd = BPF_MAP_DELETE_ELEM;
        } else {
            c.cmd = BPF_MAP_GET_NEXT_KEY;
        }
        if (pick(25) == 0) c.with_key = true;
        if (pick(30) == 0) c.value = Ptr::Null;
        compare(ctx, p, cfg.value_size, c, next_value());
    }
    // Drain both: the same elements remain, in the same order.
    for (uint32_t i = 0; i <= cfg.max_entries; ++i)
        compare(std::string(cfg.name) + " drain #" + std::to_string(i), p, cfg.value_size,
                Call{BPF_MAP_LOOKUP_AND_DELETE_ELEM}, {});
}

BOOST_AUTO_TEST_CASE(sequences) {
    const SeqConfig cfgs[] = {
        {"queue-v4-m8", Q, 4, 8, 0x5101, 1500},      {"stack-v4-m8", S, 4, 8, 0x5102, 1500},
        {"queue-v1-m1", Q, 1, 1, 0x5103, 600},       {"stack-v1-m1", S, 1, 1, 0x5104, 600},
        {"queue-v13-m3", Q, 13, 3, 0x5105, 1000},    {"stack-v13-m3", S, 13, 3, 0x5106, 1000},
        {"queue-v64-m31", Q, 64, 31, 0x5107, 1500},  {"stack-v64-m31", S, 64, 31, 0x5108, 1500},
        {"queue-v1000-m5", Q, 1000, 5, 0x5109, 400}, {"stack-v7-m100", S, 7, 100, 0x510a, 1500},
    };
    for (const SeqConfig& c : cfgs) run_sequence(c);
}

// Exact overwrite behaviour when full, checked step by step: for both types BPF_EXIST drops the
// OLDEST element (the kernel advances the tail), so a stack loses its bottom element.
BOOST_AUTO_TEST_CASE(overwrite_when_full) {
    for (uint32_t t : {Q, S}) {
        Pair p({t, 0, 4, 3, 0});
        const std::string ctx = t == Q ? "queue" : "stack";
        auto v = [](uint32_t x) {
            Bytes b(4);
            std::memcpy(b.data(), &x, 4);
            return b;
        };
        for (uint32_t x = 1; x <= 3; ++x)
            compare(ctx, p, 4, Call{BPF_MAP_UPDATE_ELEM, false, Ptr::Good, BPF_ANY}, v(x));
        compare(ctx + " full", p, 4, Call{BPF_MAP_UPDATE_ELEM, false, Ptr::Good, BPF_ANY}, v(4));
        compare(ctx + " full", p, 4, Call{BPF_MAP_UPDATE_ELEM, false, Ptr::Good, BPF_EXIST}, v(5));
        compare(ctx + " full", p, 4, Call{BPF_MAP_UPDATE_ELEM, false, Ptr::Good, BPF_EXIST}, v(6));
        for (int i = 0; i < 4; ++i) {
            compare(ctx + " peek", p, 4, Call{BPF_MAP_LOOKUP_ELEM}, {});
            compare(ctx + " pop", p, 4, Call{BPF_MAP_LOOKUP_AND_DELETE_ELEM}, {});
        }
    }
}

BOOST_AUTO_TEST_CASE(freeze_and_access) {
    for (uint32_t t : {Q, S}) {
        const std::string ctx = t == Q ? "queue" : "stack";
        Pair p({t, 0, 8, 4, 0});
        const Bytes v(8, 0x42);
        compare(ctx, p, 8, Call{BPF_MAP_UPDATE_ELEM}, v);
        compare(ctx, p, 8, Call{BPF_MAP_UPDATE_ELEM}, Bytes(8, 0x43));
        compare(ctx + " freeze", p, 8, Call{BPF_MAP_FREEZE}, {});
        compare(ctx + " frozen", p, 8, Call{BPF_MAP_LOOKUP_ELEM}, {});
        compare(ctx + " frozen", p, 8, Call{BPF_MAP_UPDATE_ELEM}, v);
        compare(ctx + " frozen", p, 8, Call{BPF_MAP_UPDATE_ELEM, false, Ptr::Good, 3}, v);
        compare(ctx + " frozen", p, 8, Call{BPF_MAP_LOOKUP_AND_DELETE_ELEM}, {});
        compare(ctx + " frozen", p, 8, Call{BPF_MAP_LOOKUP_AND_DELETE_ELEM, false, Ptr::Good, 1},
                {});
        compare(ctx + " frozen", p, 8, Call{BPF_MAP_DELETE_ELEM}, {});
        compare(ctx + " frozen", p, 8, Call{BPF_MAP_GET_NEXT_KEY}, {});
        compare(ctx + " frozen", p, 8, Call{BPF_MAP_FREEZE}, {});
        compare(ctx + " frozen", p, 8, Call{BPF_MAP_LOOKUP_ELEM}, {});
    }
    // RDONLY and WRONLY fds.
    for (uint32_t t : {Q, S}) {
        for (uint32_t acc : {uint32_t{BPF_F_RDONLY}, uint32_t{BPF_F_WRONLY}}) {
            const std::string ctx = std::string(t == Q ? "queue" : "stack") +
                                    (acc == BPF_F_RDONLY ? " rdonly" : " wronly");
            Pair p({t, 0, 4, 4, acc});
            const Bytes v(4, 0x11);
            compare(ctx, p, 4, Call{BPF_MAP_UPDATE_ELEM}, v);
            compare(ctx, p, 4, Call{BPF_MAP_LOOKUP_ELEM}, {});
            compare(ctx, p, 4, Call{BPF_MAP_LOOKUP_AND_DELETE_ELEM}, {});
            compare(ctx, p, 4, Call{BPF_MAP_DELETE_ELEM}, {});
            compare(ctx, p, 4, Call{BPF_MAP_GET_NEXT_KEY}, {});
            compare(ctx, p, 4, Call{BPF_MAP_FREEZE}, {});
        }
    }
}

}  // namespace
