// Differential test for BPF_MAP_TYPE_LPM_TRIE: the same bpf(2) calls against the real kernel
// (bpfmap::test::kernel_bpf) and against bpfmap's bpf() must give the same return value, the
// same errno and the same bytes written back. Output buffers are pre-filled and followed by
// guard bytes, so bytes written too far or on failure are caught too.
//
//  * create_parameters: key sizes around LPM_KEY_SIZE_MIN/MAX (5..260), value sizes around 1
//    and LPM_VAL_SIZE_MAX (4 MiB - 256 - 24), max_entries 0/1, every map flag with and without
//    the required BPF_F_NO_PREALLOC, RDONLY_PROG|WRONLY_PROG, map_ifindex; on success the
//    GET_INFO bytes (id aside) and the fd's access mode.
//  * sequences_*: seeded pseudo-random sequences (seed in the message) on IPv4 (4 data bytes),
//    IPv6 (16) and odd-sized (3 and 9 bytes) keys: UPDATE with flags 0/1/2 and bad flags,
//    DELETE, LOOKUP, GET_NEXT_KEY from NULL, present, absent and invalid (prefixlen > max) keys,
//    full GET_NEXT_KEY walks, LOOKUP_AND_DELETE (ENOTSUPP), NULL value/next_key pointers and
//    prefixlen > max everywhere. Prefixes are drawn around a few base addresses with random
//    host bits, so nesting, equal prefixes with different host bits, intermediate nodes and
//    full maps (ENOSPC) are frequent. The trie's order is deterministic, so next_key bytes are
//    compared exactly, order included.
//  * host_bits_and_walk_order: the semantics document's examples, deterministic.
//  * no_map_fds_left_open: every kernel map this test created was closed.
#include <bpfmap/bpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <algorithm>
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

constexpr unsigned char kFill = 0xA5;
constexpr size_t kGuard = 16;
constexpr uint32_t kValMax = (4u << 20) - 256 - 24;  // LPM_VAL_SIZE_MAX on x86_64

int g_kernel_maps_open = 0;

struct MapPair {
    int kfd = -1, lfd = -1;
    MapPair() = default;
    MapPair(const MapPair&) = delete;
    MapPair& operator=(const MapPair&) = delete;
    ~MapPair() {
        if (kfd >= 0) {
            ::close(kfd);
            --g_kernel_maps_open;
        }
        if (lfd >= 0) ::close(lfd);
    }
    int fd(BpfFn fn) const { return fn == kKernel ? kfd : lfd; }
};

union bpf_attr create_attr(uint32_t ks, uint32_t vs, uint32_t max, uint32_t flags) {
    bpfmap::test::CreateSpec spec;
    spec.type = BPF_MAP_TYPE_LPM_TRIE;
    spec.key_size = ks;
    spec.value_size = vs;
    spec.max_entries = max;
    spec.flags = flags;
    return bpfmap::test::create_attr(spec);
}

// Creates the map on both sides; both must succeed.
void create_pair(MapPair& m, uint32_t ks, uint32_t vs, uint32_t max) {
    union bpf_attr a = create_attr(ks, vs, max, BPF_F_NO_PREALLOC);
    Res k = invoke(kKernel, BPF_MAP_CREATE, &a, sizeof a);
    a = create_attr(ks, vs, max, BPF_F_NO_PREALLOC);
    Res l = invoke(kLibrary, BPF_MAP_CREATE, &a, sizeof a);
    BOOST_REQUIRE_MESSAGE(k.ret >= 0 && l.ret >= 0,
                          "create ks=" << ks << " vs=" << vs << " max=" << max << ": kernel "
                                       << show(k) << ", library " << show(l));
    m.kfd = k.ret;
    ++g_kernel_maps_open;
    m.lfd = l.ret;
}

// One call's result and the bytes it wrote to its output buffer (with the guard).
struct Out {
    Res res;
    Bytes bytes;
    bool operator==(const Out&) const = default;
};

// The operations, run on one side. Keys and values are inputs; `out_size` bytes of output
// (plus the guard) are pre-filled; null_out passes NULL instead of the output buffer.
struct Call {
    int cmd;
    Bytes key;  // empty: NULL key
    Bytes value;
    uint64_t flags = 0;
    size_t out_size = 0;
    bool null_out = false;

    Out run(BpfFn fn, int fd) const {
        Bytes out(out_size + kGuard, kFill);
        Bytes k = key, v = value;
        union bpf_attr a;
        std::memset(&a, 0, sizeof a);
        a.map_fd = static_cast<__u32>(fd);
        a.key = key.empty() ? 0 : bpfmap::test::uptr(k.data());
        switch (cmd) {
            case BPF_MAP_UPDATE_ELEM:
                a.value = bpfmap::test::uptr(v.data());
                a.flags = flags;
                break;
            case BPF_MAP_LOOKUP_ELEM:
            case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
                a.value = null_out ? 0 : bpfmap::test::uptr(out.data());
                a.flags = flags;
                break;
            case BPF_MAP_GET_NEXT_KEY:
                a.next_key = null_out ? 0 : bpfmap::test::uptr(out.data());
                break;
            default:
                break;
        }
        Out o;
        o.res = invoke(fn, cmd, &a, sizeof a);
        o.bytes = std::move(out);
        return o;
    }
};

std::string describe(const Call& c) {
    return std::string(cmd_name(c.cmd)) + " key=" + (c.key.empty() ? "NULL" : hex(c.key)) +
           (c.cmd == BPF_MAP_UPDATE_ELEM ? " value=" + hex(c.value) : "") +
           " flags=" + std::to_string(c.flags) + (c.null_out ? " out=NULL" : "");
}

// Runs a call on both sides and compares; returns the kernel's result.
struct Differ {
    const MapPair& m;
    std::string ctx;
    int failures = 0;
    int calls = 0;

    Out both(const Call& c) {
        ++calls;
        const Out k = c.run(kKernel, m.kfd);
        const Out l = c.run(kLibrary, m.lfd);
        if (!(k == l) && failures < 20) {
            ++failures;
            BOOST_ERROR(ctx << " call #" << calls << " " << describe(c) << ": kernel "
                            << show(k.res) << " out=" << hex(k.bytes) << ", library " << show(l.res)
                            << " out=" << hex(l.bytes));
        }
        return k;
    }
};

// ---- create ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(kernel_diff_lpm_trie)

BOOST_AUTO_TEST_CASE(create_parameters) {
    struct C {
        uint32_t ks, vs, max, flags;
        uint32_t ifindex = 0;
    };
    const uint32_t np = BPF_F_NO_PREALLOC;
    std::vector<C> cases = {
        {8, 8, 16, np},
        {8, 8, 16, 0},
        {0, 8, 16, np},
        {1, 8, 16, np},
        {4, 8, 16, np},
        {5, 8, 16, np},
        {6, 1, 16, np},
        {20, 8, 16, np},
        {259, 8, 16, np},
        {260, 8, 16, np},
        {261, 8, 16, np},
        {1000, 8, 16, np},
        {8, 0, 16, np},
        {8, 1, 16, np},
        {8, 4096, 16, np},
        {8, kValMax, 1, np},
        {8, kValMax + 1, 1, np},
        {260, kValMax, 1, np},
        {8, 1u << 30, 1, np},
        {8, 8, 0, np},
        {8, 8, 1, np},
        {8, 8, 100000, np},
        {0, 0, 0, 0},
        {4, 8, 0, 0},
        {8, 8, 16, np | BPF_F_NUMA_NODE},
        {8, 8, 16, np | BPF_F_RDONLY},
        {8, 8, 16, np | BPF_F_WRONLY},
        {8, 8, 16, np | BPF_F_RDONLY | BPF_F_WRONLY},
        {8, 8, 16, np | BPF_F_RDONLY_PROG},
        {8, 8, 16, np | BPF_F_WRONLY_PROG},
        {8, 8, 16, np | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG},
        {8, 8, 16, np | BPF_F_ZERO_SEED},
        {8, 8, 16, np | BPF_F_MMAPABLE},
        {8, 8, 16, np | BPF_F_NO_COMMON_LRU},
        {8, 8, 16, np | BPF_F_INNER_MAP},
        {8, 8, 16, np | BPF_F_CLONE},
        {8, 8, 16, np | (1u << 20)},
        {8, 8, 16, BPF_F_NUMA_NODE},
        {8, 8, 16, BPF_F_RDONLY_PROG},
        {4, 8, 16, 0},
        {8, 8, 16, np, 1},
        {8, 8, 16, 0, 1},
        {4, 8, 16, np, 1},
    };
    for (const C& c : cases) {
        union bpf_attr a = create_attr(c.ks, c.vs, c.max, c.flags);
        a.map_ifindex = c.ifindex;
        union bpf_attr b = a;
        const Res k = invoke(kKernel, BPF_MAP_CREATE, &a, sizeof a);
        const Res l = invoke(kLibrary, BPF_MAP_CREATE, &b, sizeof b);
        const std::string what = "create ks=" + std::to_string(c.ks) +
                                 " vs=" + std::to_string(c.vs) + " max=" + std::to_string(c.max) +
                                 " flags=" + std::to_string(c.flags) +
                                 " ifindex=" + std::to_string(c.ifindex);
        BOOST_CHECK_MESSAGE((k.ret >= 0) == (l.ret >= 0) && k.err == l.err,
                            what << ": kernel " << show(k) << ", library " << show(l));
        if (k.ret >= 0 && l.ret >= 0) {
            struct bpf_map_info ki {
            }, li{};
            union bpf_attr q;
            std::memset(&q, 0, sizeof q);
            q.info.bpf_fd = static_cast<__u32>(k.ret);
            q.info.info_len = sizeof ki;
            q.info.info = bpfmap::test::uptr(&ki);
            const Res kq = invoke(kKernel, BPF_OBJ_GET_INFO_BY_FD, &q, sizeof q);
            std::memset(&q, 0, sizeof q);
            q.info.bpf_fd = static_cast<__u32>(l.ret);
            q.info.info_len = sizeof li;
            q.info.info = bpfmap::test::uptr(&li);
            const Res lq = invoke(kLibrary, BPF_OBJ_GET_INFO_BY_FD, &q, sizeof q);
            BOOST_CHECK_MESSAGE(kq == lq, what << " GET_INFO: " << show(kq) << " vs " << show(lq));
            ki.id = li.id = 0;
            BOOST_CHECK_MESSAGE(std::memcmp(&ki, &li, sizeof ki) == 0, what << ": info differs");
            BOOST_CHECK_EQUAL(::fcntl(k.ret, F_GETFL) & O_ACCMODE,
                              ::fcntl(l.ret, F_GETFL) & O_ACCMODE);
        }
        if (k.ret >= 0) ::close(k.ret);
        if (l.ret >= 0) ::close(l.ret);
    }
}

// ---- random sequences --------------------------------------------------------------------

struct Gen {
    std::mt19937_64 rng;
    uint32_t data_size;
    std::vector<Bytes> bases;

    Gen(uint64_t seed, uint32_t ds) : rng(seed), data_size(ds) {
        for (int i = 0; i < 6; ++i) bases.push_back(random_data());
    }
    uint32_t below(uint32_t n) { return static_cast<uint32_t>(rng() % n); }
    Bytes random_data() {
        Bytes d(data_size);
        for (auto& b : d) b = static_cast<unsigned char>(rng());
        return d;
    }
    uint32_t max_prefixlen() const { return data_size * 8; }
    // A prefix length: mostly short enough to nest, sometimes the maximum, rarely invalid.
    uint32_t prefixlen() {
        const uint32_t r = below(100);
        if (r < 2) return max_prefixlen() + 1 + below(3);
        if (r < 4) return 0xffffffffu;
        if (r < 14) return max_prefixlen();
        if (r < 20) return 0;
        return below(std::min<uint32_t>(max_prefixlen(), 40) + 1);
    }
    // Data: a base with some low bits flipped (host bits and near misses).
    Bytes data() {
        Bytes d = bases[below(static_cast<uint32_t>(bases.size()))];
        const uint32_t flips = below(4);
        for (uint32_t i = 0; i < flips; ++i) {
            const uint32_t bit = below(std::min<uint32_t>(max_prefixlen(), 48));
            d[bit / 8] ^= static_cast<unsigned char>(1u << (7 - bit % 8));
        }
        if (below(10) == 0) d = random_data();
        return d;
    }
    Bytes key(uint32_t plen) {
        Bytes k(4 + data_size);
        std::memcpy(k.data(), &plen, 4);
        const Bytes d = data();
        std::memcpy(k.data() + 4, d.data(), data_size);
        return k;
    }
    Bytes key() { return key(prefixlen()); }
};

void run_sequence(uint64_t seed, uint32_t data_size, uint32_t value_size, uint32_t max_entries,
                  int ops) {
    MapPair m;
    create_pair(m, 4 + data_size, value_size, max_entries);
    Gen g(seed, data_size);
    Differ d{m, "seed=" + std::to_string(seed) + " data_size=" + std::to_string(data_size)};
    const size_t ks = 4 + data_size;
    uint64_t vcount = 0;
    auto value = [&] {
        Bytes v(value_size);
        ++vcount;
        for (uint32_t i = 0; i < value_size; ++i)
            v[i] = static_cast<unsigned char>((vcount >> (8 * (i % 8))) + i);
        return v;
    };
    // Keys seen in walks, to get next keys from present elements.
    std::vector<Bytes> present;
    auto full_walk = [&] {
        present.clear();
        Call c{BPF_MAP_GET_NEXT_KEY, {}, {}, 0, ks};
        for (uint32_t steps = 0; steps <= 2 * max_entries + 2; ++steps) {
            const Out o = d.both(c);
            if (o.res.ret != 0) return;
            c.key.assign(o.bytes.begin(), o.bytes.begin() + static_cast<long>(ks));
            present.push_back(c.key);
        }
        BOOST_ERROR(d.ctx << ": walk did not end after " << 2 * max_entries + 2 << " keys");
    };
    bool draining = false;
    for (int i = 0; i < ops && d.failures == 0; ++i) {
        if (i % 200 == 0) draining = !draining && g.below(2) == 0;
        const uint32_t r = g.below(100);
        Call c{BPF_MAP_LOOKUP_ELEM, g.key(), {}, 0, value_size};
        if (r < (draining ? 20u : 40u)) {
            c.cmd = BPF_MAP_UPDATE_ELEM;
            c.value = value();
            const uint32_t f = g.below(40);
            c.flags = f < 20   ? uint64_t{BPF_ANY}
                      : f < 30 ? uint64_t{BPF_NOEXIST}
                      : f < 38 ? uint64_t{BPF_EXIST}
                               : 3 + g.below(5);
            if (f == 39) c.flags = ~uint64_t{0};
            if (!present.empty() && g.below(3) == 0) {
                c.key = present[g.below(static_cast<uint32_t>(present.size()))];
                // Same prefix, other host bits.
                if (g.below(2) && data_size) c.key.back() ^= 0x01;
            }
        } else if (r < (draining ? 60u : 55u)) {
            c.cmd = BPF_MAP_DELETE_ELEM;
            if (!present.empty() && g.below(2) == 0) {
                c.key = present[g.below(static_cast<uint32_t>(present.size()))];
                if (g.below(3) == 0) c.key.back() ^= 0x01;
            }
        } else if (r < 80) {
            c.cmd = BPF_MAP_LOOKUP_ELEM;
            if (g.below(3) == 0) {
                const uint32_t full = g.max_prefixlen();
                std::memcpy(c.key.data(), &full, 4);
            }
            if (g.below(50) == 0) c.null_out = true;
        } else if (r < 93) {
            c.cmd = BPF_MAP_GET_NEXT_KEY;
            c.out_size = ks;
            const uint32_t how = g.below(10);
            if (how == 0) c.key.clear();
            if (how >= 5 && !present.empty())
                c.key = present[g.below(static_cast<uint32_t>(present.size()))];
            if (g.below(50) == 0) c.null_out = true;
        } else if (r < 95) {
            c.cmd = BPF_MAP_LOOKUP_AND_DELETE_ELEM;
            if (!present.empty()) c.key = present[g.below(static_cast<uint32_t>(present.size()))];
        } else if (r < 97) {
            // A fill burst: new prefixes until ENOSPC.
            for (uint32_t j = 0; j < max_entries + 4; ++j) {
                Call u{BPF_MAP_UPDATE_ELEM, g.key(g.below(g.max_prefixlen() + 1)), value(),
                       BPF_NOEXIST, 0};
                if (d.both(u).res.err == ENOSPC) break;
            }
            continue;
        } else {
            full_walk();
            continue;
        }
        d.both(c);
    }
    full_walk();
    BOOST_TEST_MESSAGE(d.ctx << ": " << d.calls << " calls compared");
}

uint64_t base_seed() {
    static const uint64_t s = std::random_device{}();
    return s;
}

BOOST_AUTO_TEST_CASE(sequences_ipv4) {
    for (uint32_t i = 0; i < 4; ++i) run_sequence(base_seed() + i, 4, 8, 24 + 8 * i, 2500);
}

BOOST_AUTO_TEST_CASE(sequences_ipv6) {
    for (uint64_t i = 0; i < 3; ++i) run_sequence(base_seed() + 100 + i, 16, 12, 40, 2500);
}

BOOST_AUTO_TEST_CASE(sequences_odd_sizes) {
    run_sequence(base_seed() + 200, 1, 1, 8, 1500);
    run_sequence(base_seed() + 201, 3, 5, 20, 2000);
    run_sequence(base_seed() + 202, 9, 3, 30, 2000);
    // Tiny maps: ENOSPC on almost every new prefix, replacements of the only element.
    run_sequence(base_seed() + 203, 4, 4, 1, 800);
    run_sequence(base_seed() + 204, 2, 4, 2, 800);
}

// Deterministic: the examples of the semantics document.
BOOST_AUTO_TEST_CASE(host_bits_and_walk_order) {
    MapPair m;
    create_pair(m, 8, 4, 16);
    Differ d{m, "host_bits"};
    auto key = [](uint32_t plen, uint8_t a, uint8_t b, uint8_t c, uint8_t e) {
        Bytes k(8);
        std::memcpy(k.data(), &plen, 4);
        k[4] = a;
        k[5] = b;
        k[6] = c;
        k[7] = e;
        return k;
    };
    const Bytes v1{1, 0, 0, 0}, v2{2, 0, 0, 0};
    d.both({BPF_MAP_UPDATE_ELEM, key(8, 10, 1, 2, 3), v1, BPF_ANY});
    d.both({BPF_MAP_UPDATE_ELEM, key(8, 10, 9, 9, 9), v2, BPF_NOEXIST});
    d.both({BPF_MAP_UPDATE_ELEM, key(8, 10, 9, 9, 9), v2, BPF_ANY});
    d.both({BPF_MAP_GET_NEXT_KEY, {}, {}, 0, 8});
    d.both({BPF_MAP_UPDATE_ELEM, key(32, 10, 0, 0, 1), v1, BPF_ANY});
    d.both({BPF_MAP_UPDATE_ELEM, key(24, 192, 168, 1, 0), v1, BPF_ANY});
    d.both({BPF_MAP_UPDATE_ELEM, key(16, 192, 168, 0, 0), v1, BPF_ANY});
    Bytes k;
    for (int i = 0; i < 6; ++i) {
        const Out o = d.both({BPF_MAP_GET_NEXT_KEY, k, {}, 0, 8});
        if (o.res.ret) break;
        k.assign(o.bytes.begin(), o.bytes.begin() + 8);
    }
    d.both({BPF_MAP_DELETE_ELEM, key(32, 192, 168, 1, 5), {}, 0});
    d.both({BPF_MAP_LOOKUP_ELEM, key(32, 192, 168, 1, 5), {}, 0, 4});
    d.both({BPF_MAP_LOOKUP_ELEM, key(20, 192, 168, 1, 5), {}, 0, 4});
    d.both({BPF_MAP_LOOKUP_ELEM, key(33, 192, 168, 1, 5), {}, 0, 4});
    d.both({BPF_MAP_DELETE_ELEM, key(8, 10, 0, 0, 0), {}, 0});
    d.both({BPF_MAP_DELETE_ELEM, key(8, 10, 0, 0, 0), {}, 0});
    d.both({BPF_MAP_DELETE_ELEM, key(33, 10, 0, 0, 0), {}, 0});
    d.both({BPF_MAP_UPDATE_ELEM, key(33, 10, 0, 0, 0), v1, BPF_ANY});
    d.both({BPF_MAP_UPDATE_ELEM, key(8, 10, 0, 0, 0), v1, 3});
    d.both({BPF_MAP_LOOKUP_AND_DELETE_ELEM, key(24, 192, 168, 1, 0), {}, 0, 4});
    d.both({BPF_MAP_LOOKUP_AND_DELETE_ELEM, key(24, 192, 168, 1, 0), {}, 1, 4});
    d.both({BPF_MAP_GET_NEXT_KEY, key(33, 0, 0, 0, 0), {}, 0, 8});
    d.both({BPF_MAP_GET_NEXT_KEY, key(16, 192, 168, 0, 0), {}, 0, 8});
    d.both({BPF_MAP_GET_NEXT_KEY, key(16, 192, 168, 0, 0), {}, 0, 8, true});
    d.both({BPF_MAP_GET_NEXT_KEY, key(24, 192, 168, 1, 0), {}, 0, 8, true});
    BOOST_CHECK_EQUAL(d.failures, 0);
}

BOOST_AUTO_TEST_CASE(no_map_fds_left_open) {
    BOOST_CHECK_EQUAL(g_kernel_maps_open, 0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
