// BPF_MAP_TYPE_QUEUE and BPF_MAP_TYPE_STACK through bpfmap's bpf(), single process. The
// expected errnos are the kernel's (kernel-map-semantics.md §3, §4, §5, §9; every one is also
// compared live with the kernel by kernel_diff_queue_stack_test):
//  * create_errnos: key_size != 0, value_size 0 / > 4 MiB (E2BIG), max_entries 0, NO_PREALLOC
//    and every other flag outside NUMA_NODE and the access flags, RDONLY_PROG|WRONLY_PROG, a
//    map too large for the store (ENOMEM); GET_INFO of a good map.
//  * fifo_lifo_order, peek_vs_pop: a queue pops oldest first, a stack newest first; peek returns
//    what the next pop returns and removes nothing.
//  * full_and_overwrite: a full map refuses a push with flags 0 (E2BIG); BPF_EXIST drops the
//    OLDEST element for both types (the stack loses its bottom), many times around the ring.
//  * empty_enoent: peek/pop of an empty map: ENOENT, the caller's buffer untouched.
//  * refused_commands_and_flags: DELETE, GET_NEXT_KEY (EINVAL), a non-NULL key (EINVAL), bad
//    flags (EINVAL), NULL values (EFAULT; a pop with a NULL value still takes the element).
//  * exact_write_back: peek/pop write exactly value_size bytes for sizes 1..4 MiB.
//  * freeze: peek works after FREEZE; push and pop are EPERM.
//  * fsck_counts_locks: check() is clean, element_count() follows pushes and pops across the
//    wrap-around, lock_states() names one free lock ("queue" / "stack").
//  * corrupt_position: head/tail overwritten out of range in the segment file: the next command
//    is EINVAL (never a wild access) and a new attach (the fsck's) refuses the region.
#include <bpfmap/bpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "process_helpers.hpp"
#include "segment_fsck.hpp"
#include "shm/segment_format.hpp"
#include "test_support.hpp"

namespace {

namespace bt = bpfmap::test;
using bt::uptr;
using bt::proc::map_id_of;

constexpr uint32_t Q = BPF_MAP_TYPE_QUEUE;
constexpr uint32_t S = BPF_MAP_TYPE_STACK;
constexpr unsigned char kFill = 0xA5;

const char* tname(uint32_t t) {
    return t == Q ? "queue" : "stack";
}

int elem(int cmd, int fd, const void* key, const void* value, uint64_t flags) {
    return bt::map_elem(cmd, fd, key, value, flags);
}
int push(int fd, const void* v, uint64_t flags = 0) {
    return elem(BPF_MAP_UPDATE_ELEM, fd, nullptr, v, flags);
}
int peek(int fd, void* v, uint64_t flags = 0) {
    return elem(BPF_MAP_LOOKUP_ELEM, fd, nullptr, v, flags);
}
int pop(int fd, void* v, uint64_t flags = 0) {
    return elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, fd, nullptr, v, flags);
}
int del(int fd, const void* key) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<uint32_t>(fd);
    a.key = uptr(key);
    return ::bpf(BPF_MAP_DELETE_ELEM, &a, sizeof a);
}
int next_key(int fd, const void* key, void* next) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<uint32_t>(fd);
    a.key = uptr(key);
    a.next_key = uptr(next);
    return ::bpf(BPF_MAP_GET_NEXT_KEY, &a, sizeof a);
}

// The errno of a call: 0 on success.
int err(int rc) {
    return rc < 0 ? errno : 0;
}

struct Map {
    bt::Fd fd;
    Map(uint32_t type, uint32_t vs, uint32_t max, uint32_t flags = 0)
        : fd(bt::map_create(type, 0, vs, max, flags)) {
        BOOST_REQUIRE_MESSAGE(fd.ok(), "create " << tname(type) << " vs " << vs << " max " << max
                                                 << ": errno " << errno);
    }
    int get() const { return fd.get(); }
};

uint32_t pop_u32(int fd) {
    uint32_t v = 0;
    BOOST_REQUIRE_EQUAL(err(pop(fd, &v)), 0);
    return v;
}

BOOST_AUTO_TEST_CASE(create_errnos) {
    struct Case {
        uint32_t ks, vs, max, flags;
        int want;
    };
    const Case cases[] = {
        {0, 4, 8, 0, 0},
        {0, 1, 1, 0, 0},
        {0, 4u << 20, 1, 0, 0},  // the largest value: KMALLOC_MAX_SIZE
        {4, 4, 8, 0, EINVAL},
        {1, 4, 8, 0, EINVAL},
        {0, 0, 8, 0, EINVAL},
        {0, (4u << 20) + 1, 8, 0, E2BIG},
        {0, 0xffffffffu, 8, 0, E2BIG},
        {0, 4, 0, 0, EINVAL},
        {4, (4u << 20) + 1, 8, 0, EINVAL},  // EINVAL checks come first
        {0, (4u << 20) + 1, 8, BPF_F_NO_PREALLOC, EINVAL},
        {0, 4096, 1u << 30, 0, ENOMEM},  // 4 TiB
        {0, 4u << 20, 0xffffffffu, 0, ENOMEM},
        {0, 4, 8, BPF_F_NO_PREALLOC, EINVAL},
        {0, 4, 8, BPF_F_NO_COMMON_LRU, EINVAL},
        {0, 4, 8, BPF_F_MMAPABLE, EINVAL},
        {0, 4, 8, BPF_F_ZERO_SEED, EINVAL},
        {0, 4, 8, BPF_F_INNER_MAP, EINVAL},
        {0, 4, 8, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG, EINVAL},
        {0, 4, 8, BPF_F_RDONLY | BPF_F_WRONLY, EINVAL},
        {0, 4, 8, 1u << 20, EINVAL},
        {0, 4, 8, BPF_F_RDONLY, 0},
        {0, 4, 8, BPF_F_WRONLY, 0},
        {0, 4, 8, BPF_F_RDONLY_PROG, 0},
        {0, 4, 8, BPF_F_WRONLY_PROG, 0},
        {0, 4, 8, BPF_F_NUMA_NODE, 0},  // numa_node 0
    };
    for (uint32_t t : {Q, S}) {
        for (const Case& c : cases) {
            const int fd = bt::map_create(t, c.ks, c.vs, c.max, c.flags);
            const int e = fd < 0 ? errno : 0;
            BOOST_CHECK_MESSAGE(e == c.want, tname(t) << " ks " << c.ks << " vs " << c.vs << " max "
                                                      << c.max << " flags " << c.flags << ": errno "
                                                      << e << ", want " << c.want);
            if (fd >= 0) ::close(fd);
        }
        // GET_INFO: type, sizes, flags (without RDONLY), name.
        const int fd = bt::map_create(t, 0, 12, 7, BPF_F_RDONLY_PROG, "qs_info");
        BOOST_REQUIRE(fd >= 0);
        struct bpf_map_info info;
        BOOST_REQUIRE_EQUAL(bt::map_info(fd, info), 0);
        BOOST_CHECK_EQUAL(info.type, t);
        BOOST_CHECK_EQUAL(info.key_size, 0u);
        BOOST_CHECK_EQUAL(info.value_size, 12u);
        BOOST_CHECK_EQUAL(info.max_entries, 7u);
        BOOST_CHECK_EQUAL(info.map_flags, uint32_t{BPF_F_RDONLY_PROG});
        BOOST_CHECK_EQUAL(std::string(info.name), "qs_info");
        ::close(fd);
    }
}

BOOST_AUTO_TEST_CASE(fifo_lifo_order) {
    for (uint32_t t : {Q, S}) {
        Map m(t, 4, 16);
        // Interleave so that the ring wraps: push 10, pop 4, push 8, then drain.
        std::deque<uint32_t> model;
        uint32_t next = 1;
        auto do_push = [&](int n) {
            for (int i = 0; i < n; ++i, ++next) {
                BOOST_REQUIRE_EQUAL(err(push(m.get(), &next)), 0);
                model.push_back(next);
            }
        };
        auto do_pop = [&](int n) {
            for (int i = 0; i < n; ++i) {
                uint32_t want;
                if (t == Q) {
                    want = model.front();
                    model.pop_front();
                } else {
                    want = model.back();
                    model.pop_back();
                }
                BOOST_CHECK_EQUAL(pop_u32(m.get()), want);
            }
        };
        do_push(10);
        do_pop(4);
        do_push(8);
        do_pop(3);
        do_push(5);
        do_pop(static_cast<int>(model.size()));
        uint32_t v = 0;
        BOOST_CHECK_EQUAL(err(pop(m.get(), &v)), ENOENT);
    }
}

BOOST_AUTO_TEST_CASE(peek_vs_pop) {
    for (uint32_t t : {Q, S}) {
        Map m(t, 4, 4);
        for (uint32_t x : {7u, 8u, 9u}) BOOST_REQUIRE_EQUAL(err(push(m.get(), &x)), 0);
        const uint32_t first = t == Q ? 7 : 9;
        for (int i = 0; i < 3; ++i) {
            uint32_t v = 0;
            BOOST_CHECK_EQUAL(err(peek(m.get(), &v)), 0);
            BOOST_CHECK_EQUAL(v, first);  // peek removes nothing
        }
        BOOST_CHECK_EQUAL(bt::fsck_map(map_id_of(m.get())).count, 3u);
        BOOST_CHECK_EQUAL(pop_u32(m.get()), first);
        uint32_t v = 0;
        BOOST_CHECK_EQUAL(err(peek(m.get(), &v)), 0);
        BOOST_CHECK_EQUAL(v, 8u);
        BOOST_CHECK_EQUAL(pop_u32(m.get()), 8u);
        BOOST_CHECK_EQUAL(bt::fsck_map(map_id_of(m.get())).count, 1u);
    }
}

BOOST_AUTO_TEST_CASE(full_and_overwrite) {
    for (uint32_t t : {Q, S}) {
        Map m(t, 4, 3);
        for (uint32_t x : {1u, 2u, 3u}) BOOST_REQUIRE_EQUAL(err(push(m.get(), &x)), 0);
        uint32_t x = 4;
        BOOST_CHECK_EQUAL(err(push(m.get(), &x, BPF_ANY)), E2BIG);
        BOOST_CHECK_EQUAL(err(push(m.get(), &x, BPF_NOEXIST)), EINVAL);  // flags before "full"
        x = 5;
        BOOST_CHECK_EQUAL(err(push(m.get(), &x, BPF_EXIST)), 0);  // drops 1, the oldest
        // queue: 2 3 5; stack (top first): 5 3 2.
        const std::vector<uint32_t> want =
            t == Q ? std::vector<uint32_t>{2, 3, 5} : std::vector<uint32_t>{5, 3, 2};
        for (uint32_t w : want) BOOST_CHECK_EQUAL(pop_u32(m.get()), w);
        // Not full: BPF_EXIST just pushes.
        x = 6;
        BOOST_CHECK_EQUAL(err(push(m.get(), &x, BPF_EXIST)), 0);
        BOOST_CHECK_EQUAL(pop_u32(m.get()), 6u);

        // Many times around the ring with BPF_EXIST: the last max_entries pushes remain.
        for (uint32_t k = 100; k < 150; ++k)
            BOOST_REQUIRE_EQUAL(err(push(m.get(), &k, BPF_EXIST)), 0);
        const std::vector<uint32_t> tail =
            t == Q ? std::vector<uint32_t>{147, 148, 149} : std::vector<uint32_t>{149, 148, 147};
        for (uint32_t w : tail) BOOST_CHECK_EQUAL(pop_u32(m.get()), w);
        BOOST_CHECK_EQUAL(err(pop(m.get(), &x)), ENOENT);
        const bt::Fsck f = bt::fsck_map(map_id_of(m.get()));
        BOOST_CHECK_MESSAGE(f.clean(), f.text());
    }
    // max_entries 1.
    for (uint32_t t : {Q, S}) {
        Map m(t, 8, 1);
        uint64_t a = 1, b = 2, v = 0;
        BOOST_CHECK_EQUAL(err(push(m.get(), &a)), 0);
        BOOST_CHECK_EQUAL(err(push(m.get(), &b)), E2BIG);
        BOOST_CHECK_EQUAL(err(push(m.get(), &b, BPF_EXIST)), 0);
        BOOST_CHECK_EQUAL(err(pop(m.get(), &v)), 0);
        BOOST_CHECK_EQUAL(v, 2u);
        BOOST_CHECK_EQUAL(err(pop(m.get(), &v)), ENOENT);
    }
}

BOOST_AUTO_TEST_CASE(empty_enoent) {
    for (uint32_t t : {Q, S}) {
        Map m(t, 16, 4);
        std::vector<unsigned char> buf(32, kFill);
        BOOST_CHECK_EQUAL(err(peek(m.get(), buf.data())), ENOENT);
        BOOST_CHECK_EQUAL(err(pop(m.get(), buf.data())), ENOENT);
        BOOST_CHECK(buf == std::vector<unsigned char>(32, kFill));
        // Empty again after a push and a pop.
        std::vector<unsigned char> v(16, 1);
        BOOST_CHECK_EQUAL(err(push(m.get(), v.data())), 0);
        BOOST_CHECK_EQUAL(err(pop(m.get(), buf.data())), 0);
        std::fill(buf.begin(), buf.end(), kFill);
        BOOST_CHECK_EQUAL(err(pop(m.get(), buf.data())), ENOENT);
        BOOST_CHECK_EQUAL(err(peek(m.get(), nullptr)), ENOENT);  // nothing to write: ENOENT
        BOOST_CHECK(buf == std::vector<unsigned char>(32, kFill));
    }
}

BOOST_AUTO_TEST_CASE(refused_commands_and_flags) {
    for (uint32_t t : {Q, S}) {
        Map m(t, 4, 4);
        uint32_t v = 1, key = 0, next = 0;
        BOOST_REQUIRE_EQUAL(err(push(m.get(), &v)), 0);
        // DELETE and GET_NEXT_KEY: EINVAL, with or without a key.
        BOOST_CHECK_EQUAL(err(del(m.get(), nullptr)), EINVAL);
        BOOST_CHECK_EQUAL(err(del(m.get(), &key)), EINVAL);
        BOOST_CHECK_EQUAL(err(next_key(m.get(), nullptr, &next)), EINVAL);
        BOOST_CHECK_EQUAL(err(next_key(m.get(), &key, &next)), EINVAL);
        BOOST_CHECK_EQUAL(err(next_key(m.get(), nullptr, nullptr)), EINVAL);
        // A key on a keyless map: EINVAL.
        BOOST_CHECK_EQUAL(err(elem(BPF_MAP_UPDATE_ELEM, m.get(), &key, &v, 0)), EINVAL);
        BOOST_CHECK_EQUAL(err(elem(BPF_MAP_LOOKUP_ELEM, m.get(), &key, &v, 0)), EINVAL);
        BOOST_CHECK_EQUAL(err(elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, m.get(), &key, &v, 0)), EINVAL);
        // Push flags: only 0 and BPF_EXIST.
        for (uint64_t f : {uint64_t{BPF_NOEXIST}, uint64_t{3}, uint64_t{4}, uint64_t{BPF_F_LOCK},
                           uint64_t{BPF_F_LOCK | BPF_EXIST}, uint64_t{1} << 32, ~uint64_t{0}})
            BOOST_CHECK_MESSAGE(err(push(m.get(), &v, f)) == EINVAL, "push flags " << f);
        // Pop and peek flags: none (F_LOCK needs a BTF spin lock).
        for (uint64_t f : {uint64_t{1}, uint64_t{2}, uint64_t{BPF_F_LOCK}, uint64_t{1} << 40}) {
            BOOST_CHECK_MESSAGE(err(pop(m.get(), &v, f)) == EINVAL, "pop flags " << f);
            BOOST_CHECK_MESSAGE(err(peek(m.get(), &v, f)) == EINVAL, "peek flags " << f);
        }
        // NULL values: EFAULT. A pop with a NULL value still takes the element (kernel order).
        BOOST_CHECK_EQUAL(err(push(m.get(), nullptr)), EFAULT);
        BOOST_CHECK_EQUAL(err(peek(m.get(), nullptr)), EFAULT);
        BOOST_CHECK_EQUAL(bt::fsck_map(map_id_of(m.get())).count, 1u);
        BOOST_CHECK_EQUAL(err(pop(m.get(), nullptr)), EFAULT);
        BOOST_CHECK_EQUAL(bt::fsck_map(map_id_of(m.get())).count, 0u);
        BOOST_CHECK_EQUAL(err(pop(m.get(), &v)), ENOENT);
    }
}

BOOST_AUTO_TEST_CASE(exact_write_back) {
    for (uint32_t t : {Q, S}) {
        for (uint32_t vs : {1u, 3u, 4u, 7u, 8u, 13u, 1000u, 4u << 20}) {
            Map m(t, vs, vs > 4096 ? 1 : 3);
            std::vector<unsigned char> in(vs);
            for (uint32_t i = 0; i < vs; ++i) in[i] = static_cast<unsigned char>(i * 37 + 11);
            BOOST_REQUIRE_EQUAL(err(push(m.get(), in.data())), 0);
            for (int op = 0; op < 2; ++op) {
                std::vector<unsigned char> out(vs + 64, kFill);
                BOOST_REQUIRE_EQUAL(
                    err(op == 0 ? peek(m.get(), out.data()) : pop(m.get(), out.data())), 0);
                BOOST_CHECK_MESSAGE(std::memcmp(out.data(), in.data(), vs) == 0,
                                    tname(t) << " vs " << vs << " op " << op << ": value");
                bool guard = true;
                for (uint32_t i = vs; i < vs + 64; ++i) guard = guard && out[i] == kFill;
                BOOST_CHECK_MESSAGE(guard, tname(t) << " vs " << vs << " op " << op
                                                    << ": bytes written past value_size");
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(freeze) {
    for (uint32_t t : {Q, S}) {
        Map m(t, 4, 4);
        uint32_t a = 1, b = 2, v = 0;
        BOOST_REQUIRE_EQUAL(err(push(m.get(), &a)), 0);
        BOOST_REQUIRE_EQUAL(err(push(m.get(), &b)), 0);
        union bpf_attr attr;
        std::memset(&attr, 0, sizeof attr);
        attr.map_fd = static_cast<uint32_t>(m.get());
        BOOST_REQUIRE_EQUAL(::bpf(BPF_MAP_FREEZE, &attr, sizeof attr), 0);
        BOOST_CHECK_EQUAL(err(peek(m.get(), &v)), 0);
        BOOST_CHECK_EQUAL(v, t == Q ? 1u : 2u);
        BOOST_CHECK_EQUAL(err(push(m.get(), &a)), EPERM);
        BOOST_CHECK_EQUAL(err(push(m.get(), &a, BPF_EXIST)), EPERM);
        BOOST_CHECK_EQUAL(err(pop(m.get(), &v)), EPERM);
        BOOST_CHECK_EQUAL(err(del(m.get(), nullptr)), EPERM);
        BOOST_CHECK_EQUAL(err(next_key(m.get(), nullptr, &v)), EINVAL);
        BOOST_CHECK_EQUAL(::bpf(BPF_MAP_FREEZE, &attr, sizeof attr), -1);
        BOOST_CHECK_EQUAL(errno, EPERM);
        BOOST_CHECK_EQUAL(bt::fsck_map(map_id_of(m.get())).count, 2u);
    }
}

BOOST_AUTO_TEST_CASE(fsck_counts_locks) {
    for (uint32_t t : {Q, S}) {
        Map m(t, 8, 5);
        const uint32_t id = map_id_of(m.get());
        BOOST_REQUIRE(id != 0);
        uint32_t expect = 0;
        for (uint64_t k = 0; k < 40; ++k) {
            uint64_t v = k;
            if (k % 3 == 2) {
                if (expect > 0) {
                    BOOST_REQUIRE_EQUAL(err(pop(m.get(), &v)), 0);
                    --expect;
                }
            } else {
                BOOST_REQUIRE_EQUAL(err(push(m.get(), &v, BPF_EXIST)), 0);
                if (expect < 5) ++expect;
            }
            const bt::Fsck f = bt::fsck_map(id);
            BOOST_REQUIRE_MESSAGE(f.clean(), f.text());
            BOOST_CHECK_EQUAL(f.count, expect);
        }
        const bt::Fsck f = bt::fsck_map(id);
        BOOST_REQUIRE_EQUAL(f.locks.size(), 1u);
        BOOST_CHECK_EQUAL(f.locks[0].name, tname(t));  // "queue" / "stack"
        BOOST_CHECK_EQUAL(f.locks[0].owner_tid, 0);
        BOOST_CHECK(!f.locks[0].owner_died);
    }
}

// Offset of the position word (head low, tail high) in the region: QsHeader's {magic, type,
// value_size, slot_size: 4 B each; n_slots: 8 B} come first.
constexpr off_t kPosOffset = bpfmap::shm::kRegionOffset + 24;

BOOST_AUTO_TEST_CASE(corrupt_position) {
    for (uint32_t t : {Q, S}) {
        Map m(t, 4, 4);
        uint32_t v = 9;
        BOOST_REQUIRE_EQUAL(err(push(m.get(), &v)), 0);
        const uint32_t id = map_id_of(m.get());
        const std::string path = bt::test_root() + "/maps/" + std::to_string(id);
        bt::Fd f(::open(path.c_str(), O_RDWR | O_CLOEXEC));
        BOOST_REQUIRE(f.ok());
        uint64_t pos = 0;
        BOOST_REQUIRE_EQUAL(::pread(f.get(), &pos, 8, kPosOffset), 8);
        BOOST_REQUIRE_EQUAL(pos, 1u);  // head 1, tail 0: the layout this test assumes
        for (uint64_t bad : {uint64_t{5}, uint64_t{7} << 32, ~uint64_t{0}}) {
            BOOST_REQUIRE_EQUAL(::pwrite(f.get(), &bad, 8, kPosOffset), 8);
            BOOST_CHECK_EQUAL(err(push(m.get(), &v)), EINVAL);
            BOOST_CHECK_EQUAL(err(pop(m.get(), &v)), EINVAL);
            BOOST_CHECK_EQUAL(err(peek(m.get(), &v)), EINVAL);
            const bt::Fsck fk = bt::fsck_map(id);  // a fresh attach refuses the region
            BOOST_CHECK_MESSAGE(fk.open_rc == -EINVAL, fk.text());
        }
        // Restored: usable again, fsck clean.
        BOOST_REQUIRE_EQUAL(::pwrite(f.get(), &pos, 8, kPosOffset), 8);
        BOOST_CHECK_EQUAL(pop_u32(m.get()), 9u);
        const bt::Fsck fk = bt::fsck_map(id);
        BOOST_CHECK_MESSAGE(fk.clean(), fk.text());
    }
}

}  // namespace
