// Element commands on BPF_MAP_TYPE_ARRAY (kernel-map-semantics.md §2, §4, §5, §6, §9): the
// common preconditions in order (flags before the fd, EBADF vs EINVAL, EPERM through
// RDONLY/WRONLY fds from BPF_OBJ_GET file_flags and BPF_MAP_GET_FD_BY_ID open_flags before
// the type's own errors, BPF_F_LOCK, key/value copies before the op), the ARRAY rows (fresh
// slots read as zero, idx ≥ max → ENOENT / E2BIG, NOEXIST → EEXIST, DELETE always EINVAL,
// LOOKUP_AND_DELETE → ENOTSUPP (524)), write-back sizes, GET_NEXT_KEY (NULL or out-of-range
// → 0, last → ENOENT) and FREEZE. Every row runs against the library and, where bpf() is
// permitted, against the kernel (OBJ_GET sources are library-only: they need a pin).
#include <bpfmap/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "errno_table.hpp"
#include "test_support.hpp"

using namespace tbl;
namespace bdata = boost::unit_test::data;

namespace {

constexpr unsigned kMax = 4;
constexpr __u64 kSentinel = 0xA5A5A5A5A5A5A5A5ull;
const __u64 kBadFlags[] = {3, 8, 1ull << 32, ~0ull, BPF_F_LOCK | 3};

// One row's world: a fresh ARRAY (key u32, value u64, max 4) with slot 1 = 101 and the other
// slots as created (zero). `out` is 16 bytes of sentinel: lookups write exactly the first 8.
struct Ctx {
    const Backend& b;
    Fd map;
    __u32 i0 = 0, i1 = 1, i3 = 3, i4 = 4, ibig = UINT_MAX, i100 = 100;
    __u64 vnew = 777;
    __u64 out[2] = {kSentinel, kSentinel};
    __u32 kout[2] = {0xA5A5A5A5, 0xA5A5A5A5};
    int fd() const { return map.get(); }
};

struct Row {
    std::string name;
    int want;
    std::function<Res(Ctx&)> run;
    std::function<void(Ctx&, const std::string&)> after = {};
};

int dev_null() {
    return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void untouched(Ctx& c, const std::string& l) {
    expect_true(l, c.out[0] == kSentinel && c.out[1] == kSentinel, "the value buffer was written");
}
void value_is(Ctx& c, const std::string& l, __u64 want) {
    expect_true(l, c.out[0] == want,
                "value " + std::to_string(c.out[0]) + ", expected " + std::to_string(want));
    expect_true(l, c.out[1] == kSentinel, "more than value_size bytes were written");
}
void slot_is(Ctx& c, const std::string& l, __u32 idx, __u64 want) {
    __u64 v = kSentinel;
    Res r = lookup(c.b, c.fd(), &idx, &v);
    expect_true(l, r.ret == 0 && v == want,
                "slot " + std::to_string(idx) + ": " + show(r) + ", value " + std::to_string(v) +
                    ", expected " + std::to_string(want));
}
void slots_unchanged(Ctx& c, const std::string& l) {
    slot_is(c, l, 0, 0);
    slot_is(c, l, 1, 101);
    slot_is(c, l, 3, 0);
}
void next_is(Ctx& c, const std::string& l, __u32 want) {
    expect_true(l, c.kout[0] == want,
                "next_key " + std::to_string(c.kout[0]) + ", expected " + std::to_string(want));
    expect_true(l, c.kout[1] == 0xA5A5A5A5, "more than key_size bytes were written");
}

std::vector<Row> rows() {
    std::vector<Row> r = {
        // §2.1: flags before the fd.
        {"LOOKUP flags=1 on a closed fd (flags before fd)", EINVAL,
         [](Ctx& c) { return lookup(c.b, closed_fd(), &c.i0, c.out, 1); }},
        {"LOOKUP_AND_DELETE flags=2 on a closed fd (flags before fd)", EINVAL,
         [](Ctx& c) { return lookup_del(c.b, closed_fd(), &c.i0, c.out, 2); }},
        {"LOOKUP F_LOCK on a closed fd", EBADF,
         [](Ctx& c) { return lookup(c.b, closed_fd(), &c.i0, c.out, BPF_F_LOCK); }},
        {"UPDATE flags=3 on a closed fd", EBADF,
         [](Ctx& c) { return update(c.b, closed_fd(), &c.i0, &c.vnew, 3); }},
        // §2.2.
        {"LOOKUP closed fd", EBADF, [](Ctx& c) { return lookup(c.b, closed_fd(), &c.i0, c.out); }},
        {"UPDATE closed fd", EBADF,
         [](Ctx& c) { return update(c.b, closed_fd(), &c.i0, &c.vnew); }},
        {"DELETE closed fd", EBADF, [](Ctx& c) { return del(c.b, closed_fd(), &c.i0); }},
        {"GET_NEXT_KEY closed fd", EBADF,
         [](Ctx& c) { return next_key(c.b, closed_fd(), &c.i0, c.kout); }},
        {"LOOKUP_AND_DELETE closed fd", EBADF,
         [](Ctx& c) { return lookup_del(c.b, closed_fd(), &c.i0, c.out); }},
        {"FREEZE closed fd", EBADF, [](Ctx& c) { return freeze(c.b, closed_fd()); }},
        {"LOOKUP /dev/null", EINVAL,
         [](Ctx& c) {
             Fd n(dev_null());
             return lookup(c.b, n.get(), &c.i0, c.out);
         }},
        {"UPDATE /dev/null", EINVAL,
         [](Ctx& c) {
             Fd n(dev_null());
             return update(c.b, n.get(), &c.i0, &c.vnew);
         }},
        {"DELETE /dev/null", EINVAL,
         [](Ctx& c) {
             Fd n(dev_null());
             return del(c.b, n.get(), &c.i0);
         }},
        {"GET_NEXT_KEY /dev/null", EINVAL,
         [](Ctx& c) {
             Fd n(dev_null());
             return next_key(c.b, n.get(), &c.i0, c.kout);
         }},
        {"LOOKUP_AND_DELETE /dev/null", EINVAL,
         [](Ctx& c) {
             Fd n(dev_null());
             return lookup_del(c.b, n.get(), &c.i0, c.out);
         }},
        {"FREEZE /dev/null", EINVAL,
         [](Ctx& c) {
             Fd n(dev_null());
             return freeze(c.b, n.get());
         }},
        // §2.4: BPF_F_LOCK (before the type op's errors).
        {"LOOKUP F_LOCK", EINVAL,
         [](Ctx& c) { return lookup(c.b, c.fd(), &c.i1, c.out, BPF_F_LOCK); }, untouched},
        {"UPDATE F_LOCK", EINVAL,
         [](Ctx& c) { return update(c.b, c.fd(), &c.i1, &c.vnew, BPF_F_LOCK); }, slots_unchanged},
        {"UPDATE F_LOCK, idx ≥ max (F_LOCK before E2BIG)", EINVAL,
         [](Ctx& c) { return update(c.b, c.fd(), &c.i4, &c.vnew, BPF_F_LOCK); }},
        {"UPDATE F_LOCK|NOEXIST (F_LOCK before EEXIST)", EINVAL,
         [](Ctx& c) { return update(c.b, c.fd(), &c.i0, &c.vnew, BPF_F_LOCK | BPF_NOEXIST); }},
        {"LOOKUP_AND_DELETE F_LOCK (flags ≠ 0 before ENOTSUPP)", EINVAL,
         [](Ctx& c) { return lookup_del(c.b, c.fd(), &c.i1, c.out, BPF_F_LOCK); }},
        {"LOOKUP_AND_DELETE flags=1", EINVAL,
         [](Ctx& c) { return lookup_del(c.b, c.fd(), &c.i1, c.out, 1); }},
        // §2.5/2.6: copies before the op.
        {"LOOKUP NULL key", EFAULT, [](Ctx& c) { return lookup(c.b, c.fd(), nullptr, c.out); },
         untouched},
        {"UPDATE NULL key", EFAULT, [](Ctx& c) { return update(c.b, c.fd(), nullptr, &c.vnew); }},
        {"UPDATE NULL key, flags=3", EFAULT,
         [](Ctx& c) { return update(c.b, c.fd(), nullptr, &c.vnew, 3); }},
        {"UPDATE NULL key with F_LOCK", EINVAL,
         [](Ctx& c) { return update(c.b, c.fd(), nullptr, &c.vnew, BPF_F_LOCK); }},
        {"DELETE NULL key (EFAULT before the op's EINVAL)", EFAULT,
         [](Ctx& c) { return del(c.b, c.fd(), nullptr); }},
        {"LOOKUP_AND_DELETE NULL key (EFAULT before ENOTSUPP)", EFAULT,
         [](Ctx& c) { return lookup_del(c.b, c.fd(), nullptr, c.out); }},
        {"UPDATE NULL value", EFAULT, [](Ctx& c) { return update(c.b, c.fd(), &c.i0, nullptr); },
         slots_unchanged},
        {"UPDATE NULL value, idx ≥ max (value copy before E2BIG)", EFAULT,
         [](Ctx& c) { return update(c.b, c.fd(), &c.i4, nullptr); }},
        {"UPDATE NULL value, NOEXIST (value copy before EEXIST)", EFAULT,
         [](Ctx& c) { return update(c.b, c.fd(), &c.i0, nullptr, BPF_NOEXIST); }},
        {"UPDATE NULL value, flags=3", EFAULT,
         [](Ctx& c) { return update(c.b, c.fd(), &c.i0, nullptr, 3); }},
        // §4 ARRAY LOOKUP and write-back.
        {"LOOKUP fresh slot 0 reads zero (exactly value_size bytes)", kOK,
         [](Ctx& c) { return lookup(c.b, c.fd(), &c.i0, c.out); },
         [](Ctx& c, const std::string& l) { value_is(c, l, 0); }},
        {"LOOKUP slot 1", kOK, [](Ctx& c) { return lookup(c.b, c.fd(), &c.i1, c.out); },
         [](Ctx& c, const std::string& l) { value_is(c, l, 101); }},
        {"LOOKUP last slot 3", kOK, [](Ctx& c) { return lookup(c.b, c.fd(), &c.i3, c.out); },
         [](Ctx& c, const std::string& l) { value_is(c, l, 0); }},
        {"LOOKUP idx = max (buffer untouched)", ENOENT,
         [](Ctx& c) { return lookup(c.b, c.fd(), &c.i4, c.out); }, untouched},
        {"LOOKUP idx UINT_MAX", ENOENT, [](Ctx& c) { return lookup(c.b, c.fd(), &c.ibig, c.out); },
         untouched},
        {"LOOKUP idx ≥ max, NULL value", ENOENT,
         [](Ctx& c) { return lookup(c.b, c.fd(), &c.i4, nullptr); }},
        {"LOOKUP slot 1, NULL value", EFAULT,
         [](Ctx& c) { return lookup(c.b, c.fd(), &c.i1, nullptr); }},
        {"LOOKUP fresh slot 0, NULL value", EFAULT,
         [](Ctx& c) { return lookup(c.b, c.fd(), &c.i0, nullptr); }},
        // §4/§5 ARRAY UPDATE.
        {"UPDATE ANY slot 0", kOK,
         [](Ctx& c) { return update(c.b, c.fd(), &c.i0, &c.vnew, BPF_ANY); },
         [](Ctx& c, const std::string& l) { slot_is(c, l, 0, 777); }},
        {"UPDATE EXIST slot 0 (a fresh slot exists)", kOK,
         [](Ctx& c) { return update(c.b, c.fd(), &c.i0, &c.vnew, BPF_EXIST); },
         [](Ctx& c, const std::string& l) { slot_is(c, l, 0, 777); }},
        {"UPDATE EXIST slot 1", kOK,
         [](Ctx& c) { return update(c.b, c.fd(), &c.i1, &c.vnew, BPF_EXIST); },
         [](Ctx& c, const std::string& l) { slot_is(c, l, 1, 777); }},
        {"UPDATE NOEXIST fresh slot 0", EEXIST,
         [](Ctx& c) { return update(c.b, c.fd(), &c.i0, &c.vnew, BPF_NOEXIST); }, slots_unchanged},
        {"UPDATE NOEXIST slot 1", EEXIST,
         [](Ctx& c) { return update(c.b, c.fd(), &c.i1, &c.vnew, BPF_NOEXIST); }, slots_unchanged},
        {"UPDATE idx = max", E2BIG, [](Ctx& c) { return update(c.b, c.fd(), &c.i4, &c.vnew); },
         slots_unchanged},
        {"UPDATE idx UINT_MAX", E2BIG,
         [](Ctx& c) { return update(c.b, c.fd(), &c.ibig, &c.vnew); }},
        {"UPDATE NOEXIST idx = max (E2BIG before NOEXIST)", E2BIG,
         [](Ctx& c) { return update(c.b, c.fd(), &c.i4, &c.vnew, BPF_NOEXIST); }},
        {"UPDATE EXIST idx = max", E2BIG,
         [](Ctx& c) { return update(c.b, c.fd(), &c.i4, &c.vnew, BPF_EXIST); }},
        // §4 ARRAY DELETE: always EINVAL.
        {"DELETE fresh slot 0", EINVAL, [](Ctx& c) { return del(c.b, c.fd(), &c.i0); },
         slots_unchanged},
        {"DELETE slot 1", EINVAL, [](Ctx& c) { return del(c.b, c.fd(), &c.i1); }, slots_unchanged},
        {"DELETE idx = max", EINVAL, [](Ctx& c) { return del(c.b, c.fd(), &c.i4); }},
        {"DELETE idx UINT_MAX", EINVAL, [](Ctx& c) { return del(c.b, c.fd(), &c.ibig); }},
        // §4 ARRAY LOOKUP_AND_DELETE: ENOTSUPP.
        {"LOOKUP_AND_DELETE slot 1", kENOTSUPP,
         [](Ctx& c) { return lookup_del(c.b, c.fd(), &c.i1, c.out); },
         [](Ctx& c, const std::string& l) {
             untouched(c, l);
             slots_unchanged(c, l);
         }},
        {"LOOKUP_AND_DELETE idx = max", kENOTSUPP,
         [](Ctx& c) { return lookup_del(c.b, c.fd(), &c.i4, c.out); }, untouched},
        {"LOOKUP_AND_DELETE slot 1, NULL value", kENOTSUPP,
         [](Ctx& c) { return lookup_del(c.b, c.fd(), &c.i1, nullptr); }, slots_unchanged},
        // §6 ARRAY GET_NEXT_KEY.
        {"GET_NEXT_KEY NULL → 0 (exactly key_size bytes)", kOK,
         [](Ctx& c) { return next_key(c.b, c.fd(), nullptr, c.kout); },
         [](Ctx& c, const std::string& l) { next_is(c, l, 0); }},
        {"GET_NEXT_KEY 0 → 1", kOK, [](Ctx& c) { return next_key(c.b, c.fd(), &c.i0, c.kout); },
         [](Ctx& c, const std::string& l) { next_is(c, l, 1); }},
        {"GET_NEXT_KEY 1 → 2", kOK, [](Ctx& c) { return next_key(c.b, c.fd(), &c.i1, c.kout); },
         [](Ctx& c, const std::string& l) { next_is(c, l, 2); }},
        {"GET_NEXT_KEY last (3) → ENOENT", ENOENT,
         [](Ctx& c) { return next_key(c.b, c.fd(), &c.i3, c.kout); },
         [](Ctx& c, const std::string& l) {
             expect_true(l, c.kout[0] == 0xA5A5A5A5, "next_key buffer written");
         }},
        {"GET_NEXT_KEY idx = max → 0", kOK,
         [](Ctx& c) { return next_key(c.b, c.fd(), &c.i4, c.kout); },
         [](Ctx& c, const std::string& l) { next_is(c, l, 0); }},
        {"GET_NEXT_KEY idx 100 → 0", kOK,
         [](Ctx& c) { return next_key(c.b, c.fd(), &c.i100, c.kout); },
         [](Ctx& c, const std::string& l) { next_is(c, l, 0); }},
        {"GET_NEXT_KEY idx UINT_MAX → 0", kOK,
         [](Ctx& c) { return next_key(c.b, c.fd(), &c.ibig, c.kout); },
         [](Ctx& c, const std::string& l) { next_is(c, l, 0); }},
        {"GET_NEXT_KEY 0, NULL next_key → EFAULT", EFAULT,
         [](Ctx& c) { return next_key(c.b, c.fd(), &c.i0, nullptr); }},
        {"GET_NEXT_KEY NULL, NULL next_key → EFAULT", EFAULT,
         [](Ctx& c) { return next_key(c.b, c.fd(), nullptr, nullptr); }},
        {"GET_NEXT_KEY idx = max, NULL next_key → EFAULT", EFAULT,
         [](Ctx& c) { return next_key(c.b, c.fd(), &c.i4, nullptr); }},
        {"GET_NEXT_KEY last, NULL next_key → ENOENT", ENOENT,
         [](Ctx& c) { return next_key(c.b, c.fd(), &c.i3, nullptr); }},
        {"GET_NEXT_KEY flags=1 → EINVAL", EINVAL,
         [](Ctx& c) {
             AttrBuf u;
             std::memset(&u, 0, sizeof u);
             u.a.map_fd = static_cast<__u32>(c.fd());
             u.a.next_key = ptr(c.kout);
             u.a.flags = 1;
             return raw(c.b, BPF_MAP_GET_NEXT_KEY, &u, kAttrSize);
         }},
    };
    for (__u64 f : kBadFlags) {
        r.push_back({"UPDATE flags=" + std::to_string(f) + " on slot 1", EINVAL,
                     [f](Ctx& c) { return update(c.b, c.fd(), &c.i1, &c.vnew, f); },
                     slots_unchanged});
    }
    return r;
}

bool make_map(Ctx& c, unsigned max, const std::string& label) {
    Res r = create(c.b, BPF_MAP_TYPE_ARRAY, 4, 8, max);
    c.map = own(r);
    if (!expect(label + " (setup: create)", r, kNewFd)) return false;
    __u64 v = 101;
    return max < 2 || expect(label + " (setup: slot 1 = 101)", update(c.b, c.fd(), &c.i1, &v), kOK);
}

std::string label_of(const Backend& b, const std::string& row) {
    return std::string("[") + b.name + "] ARRAY: " + row;
}

struct AccessRow {
    const char* name;
    __u32 open_flag;  // BPF_F_RDONLY or BPF_F_WRONLY
    int want;
    std::function<Res(Ctx&, int)> run;
};

struct Later {
    std::string how;
    Fd fd;
};

}  // namespace

BOOST_DATA_TEST_CASE(array_element_table, bdata::make(kBackends), backend) {
    if (!usable(backend)) return;
    for (const Row& row : rows()) {
        const std::string label = label_of(backend, row.name);
        Ctx c{backend, {}};
        if (!make_map(c, kMax, label)) continue;
        expect(label, row.run(c), row.want);
        if (row.after) row.after(c, label);
    }
}

BOOST_DATA_TEST_CASE(array_max_entries_1_next_key, bdata::make(kBackends), backend) {
    if (!usable(backend)) return;
    Ctx c{backend, {}};
    if (!make_map(c, 1, label_of(backend, "max 1"))) return;
    expect(label_of(backend, "max 1: GET_NEXT_KEY NULL → 0"),
           next_key(backend, c.fd(), nullptr, c.kout), kOK);
    next_is(c, label_of(backend, "max 1: GET_NEXT_KEY NULL → 0"), 0);
    expect(label_of(backend, "max 1: GET_NEXT_KEY 0 → ENOENT"),
           next_key(backend, c.fd(), &c.i0, c.kout), ENOENT);
    expect(label_of(backend, "max 1: GET_NEXT_KEY 1 (out of range) → 0"),
           next_key(backend, c.fd(), &c.i1, c.kout), kOK);
    next_is(c, label_of(backend, "max 1: GET_NEXT_KEY 1 (out of range) → 0"), 0);
    expect(label_of(backend, "max 1: UPDATE idx 1"), update(backend, c.fd(), &c.i1, &c.vnew),
           E2BIG);
    // A full walk visits 0..max-1 in order.
    Ctx w{backend, {}};
    if (!make_map(w, 5, label_of(backend, "max 5 walk"))) return;
    std::vector<__u32> order;
    const __u32* cur = nullptr;
    __u32 prev = 0, nk = 0;
    while (next_key(backend, w.fd(), cur, &nk).ret == 0 && order.size() < 10) {
        order.push_back(nk);
        prev = nk;
        cur = &prev;
    }
    expect_true(label_of(backend, "max 5: walk from NULL"),
                order == std::vector<__u32>({0, 1, 2, 3, 4}), "not 0,1,2,3,4");
}

// §2.3: EPERM through RDONLY / WRONLY fds, before the ARRAY's own errors.
BOOST_DATA_TEST_CASE(array_access_table, bdata::make(kBackends), backend) {
    if (!usable(backend)) return;
    const std::vector<AccessRow> access_rows = {
        {"RDONLY: UPDATE", BPF_F_RDONLY, EPERM,
         [](Ctx& c, int fd) { return update(c.b, fd, &c.i0, &c.vnew); }},
        {"RDONLY: UPDATE idx = max (EPERM before E2BIG)", BPF_F_RDONLY, EPERM,
         [](Ctx& c, int fd) { return update(c.b, fd, &c.i4, &c.vnew); }},
        {"RDONLY: UPDATE NOEXIST (EPERM before EEXIST)", BPF_F_RDONLY, EPERM,
         [](Ctx& c, int fd) { return update(c.b, fd, &c.i0, &c.vnew, BPF_NOEXIST); }},
        {"RDONLY: UPDATE NULL key, NULL value, flags=3", BPF_F_RDONLY, EPERM,
         [](Ctx& c, int fd) { return update(c.b, fd, nullptr, nullptr, 3); }},
        {"RDONLY: DELETE (EPERM before EINVAL)", BPF_F_RDONLY, EPERM,
         [](Ctx& c, int fd) { return del(c.b, fd, &c.i0); }},
        {"RDONLY: LOOKUP_AND_DELETE (EPERM before ENOTSUPP)", BPF_F_RDONLY, EPERM,
         [](Ctx& c, int fd) { return lookup_del(c.b, fd, &c.i1, c.out); }},
        {"RDONLY: FREEZE", BPF_F_RDONLY, EPERM, [](Ctx& c, int fd) { return freeze(c.b, fd); }},
        {"RDONLY: LOOKUP", BPF_F_RDONLY, kOK,
         [](Ctx& c, int fd) { return lookup(c.b, fd, &c.i1, c.out); }},
        {"RDONLY: GET_NEXT_KEY", BPF_F_RDONLY, kOK,
         [](Ctx& c, int fd) { return next_key(c.b, fd, &c.i0, c.kout); }},
        {"WRONLY: LOOKUP", BPF_F_WRONLY, EPERM,
         [](Ctx& c, int fd) { return lookup(c.b, fd, &c.i1, c.out); }},
        {"WRONLY: LOOKUP idx = max (EPERM before ENOENT)", BPF_F_WRONLY, EPERM,
         [](Ctx& c, int fd) { return lookup(c.b, fd, &c.i4, c.out); }},
        {"WRONLY: LOOKUP flags=1 (flags before access)", BPF_F_WRONLY, EINVAL,
         [](Ctx& c, int fd) { return lookup(c.b, fd, &c.i1, c.out, 1); }},
        {"WRONLY: GET_NEXT_KEY", BPF_F_WRONLY, EPERM,
         [](Ctx& c, int fd) { return next_key(c.b, fd, &c.i0, c.kout); }},
        {"WRONLY: LOOKUP_AND_DELETE", BPF_F_WRONLY, EPERM,
         [](Ctx& c, int fd) { return lookup_del(c.b, fd, &c.i1, c.out); }},
        {"WRONLY: UPDATE", BPF_F_WRONLY, kOK,
         [](Ctx& c, int fd) { return update(c.b, fd, &c.i3, &c.vnew); }},
        {"WRONLY: DELETE (access OK → the ARRAY's EINVAL)", BPF_F_WRONLY, EINVAL,
         [](Ctx& c, int fd) { return del(c.b, fd, &c.i1); }},
        {"WRONLY: FREEZE", BPF_F_WRONLY, kOK, [](Ctx& c, int fd) { return freeze(c.b, fd); }},
    };
    for (const AccessRow& row : access_rows) {
        const std::string base = label_of(backend, row.name);
        for (size_t source = 0;; ++source) {
            Ctx c{backend, {}};
            if (!make_map(c, kMax, base)) break;
            std::vector<Restricted> fds = restricted_fds(backend, c.fd(), row.open_flag, base);
            if (source >= fds.size()) break;
            const std::string label = base + " via " + fds[source].how;
            expect(label, row.run(c, fds[source].fd.get()), row.want);
            if (row.want == EPERM) {
                slots_unchanged(c, label);
                expect(label + " → the map is not frozen (UPDATE through the creating fd)",
                       update(backend, c.fd(), &c.i3, &c.vnew), kOK);
            }
        }
    }
}

// §9 FREEZE on an array.
BOOST_DATA_TEST_CASE(array_freeze, bdata::make(kBackends), backend) {
    if (!usable(backend)) return;
    const auto L = [&](const std::string& row) { return label_of(backend, row); };
    Ctx c{backend, {}};
    if (!make_map(c, kMax, L("freeze"))) return;
    __u32 id = map_id(backend, c.fd());
    Fd before = own(fd_by_id(backend, id));
    expect(L("first FREEZE"), freeze(backend, c.fd()), kOK);
    expect(L("second FREEZE (same fd)"), freeze(backend, c.fd()), EPERM);
    std::vector<Later> fds;
    fds.push_back({"a dup of the creating fd", Fd(::dup(c.fd()))});
    if (before.ok()) fds.push_back({"a GET_FD_BY_ID fd from before the freeze", std::move(before)});
    {
        Res r = fd_by_id(backend, id);
        if (expect(L("setup: GET_FD_BY_ID after the freeze"), r, kNewFd))
            fds.push_back({"a GET_FD_BY_ID fd from after the freeze", own(r)});
    }
    if (!backend.kernel) {
        std::string path = pin_path("frozen");
        if (expect(L("setup: OBJ_PIN of the frozen map"), pin(backend, c.fd(), path.c_str()),
                   kOK)) {
            Res r = obj_get(backend, path.c_str());
            if (expect(L("setup: OBJ_GET after the freeze"), r, kNewFd))
                fds.push_back({"an OBJ_GET fd from after the freeze", own(r)});
            bpfmap_unpin(path.c_str());
        }
    }
    for (Later& f : fds) {
        const std::string via = " via " + f.how;
        const int fd = f.fd.get();
        expect(L("frozen: UPDATE" + via), update(backend, fd, &c.i0, &c.vnew), EPERM);
        expect(L("frozen: UPDATE idx = max (EPERM before E2BIG)" + via),
               update(backend, fd, &c.i4, &c.vnew), EPERM);
        expect(L("frozen: UPDATE flags=3 (EPERM before flags)" + via),
               update(backend, fd, &c.i0, &c.vnew, 3), EPERM);
        expect(L("frozen: DELETE (EPERM before EINVAL)" + via), del(backend, fd, &c.i0), EPERM);
        expect(L("frozen: LOOKUP_AND_DELETE (EPERM before ENOTSUPP)" + via),
               lookup_del(backend, fd, &c.i1, c.out), EPERM);
        expect(L("frozen: FREEZE again" + via), freeze(backend, fd), EPERM);
        c.out[0] = 0;
        expect(L("frozen: LOOKUP still works" + via), lookup(backend, fd, &c.i1, c.out), kOK);
        expect_true(L("frozen: LOOKUP" + via), c.out[0] == 101, "wrong value");
        expect(L("frozen: GET_NEXT_KEY still works" + via), next_key(backend, fd, &c.i0, c.kout),
               kOK);
    }
    slots_unchanged(c, L("frozen: contents unchanged"));
}

// Unreadable / unwritable user memory → EFAULT (library rows in a child process).
namespace {

const char* const kBadPtrRows[] = {
    "LOOKUP key in a PROT_NONE page",
    "UPDATE key in a PROT_NONE page",
    "UPDATE value in a PROT_NONE page",
    "UPDATE value in a PROT_NONE page, idx ≥ max (value copy before E2BIG)",
    "DELETE key in a PROT_NONE page (EFAULT before EINVAL)",
    "GET_NEXT_KEY key in a PROT_NONE page",
    "GET_NEXT_KEY next_key in a read-only page",
    "LOOKUP value in a read-only page",
    "LOOKUP_AND_DELETE key in a PROT_NONE page (EFAULT before ENOTSUPP)",
};

int bad_ptr_status(const Backend& b, int row) {
    Res cr = create(b, BPF_MAP_TYPE_ARRAY, 4, 8, kMax);
    Fd map = own(cr);
    if (!map.ok()) return kChildSetup;
    __u32 i1 = 1, i4 = 4;
    __u64 v = 101;
    if (update(b, map.get(), &i1, &v).ret != 0) return kChildSetup;
    Page none(PROT_NONE), ro(PROT_READ);
    if (!none.get() || !ro.get()) return kChildSetup;
    Res r{0, 0};
    switch (row) {
        case 0:
            r = lookup(b, map.get(), none.get(), &v);
            break;
        case 1:
            r = update(b, map.get(), none.get(), &v);
            break;
        case 2:
            r = update(b, map.get(), &i1, none.get());
            break;
        case 3:
            r = update(b, map.get(), &i4, none.get());
            break;
        case 4:
            r = del(b, map.get(), none.get());
            break;
        case 5:
            r = next_key(b, map.get(), none.get(), &i4);
            break;
        case 6:
            r = next_key(b, map.get(), nullptr, ro.get());
            break;
        case 7:
            r = lookup(b, map.get(), &i1, ro.get());
            break;
        case 8:
            r = lookup_del(b, map.get(), none.get(), &v);
            break;
        default:
            return kChildSetup;
    }
    __u64 tmp = 0;
    if (lookup(b, map.get(), &i1, &tmp).ret != 0 || tmp != 101) return 202;
    if (r.ret == 0) return kChildOk;
    return child_code(r.err);
}

}  // namespace

BPFMAP_CHILD(array_bad_ptr) {
    if (args.size() != 1) return kChildSetup;
    return bad_ptr_status(Backend{"library", false}, std::stoi(args[0]));
}

BOOST_DATA_TEST_CASE(array_bad_pointer_table, bdata::make(kBackends), backend) {
    if (!usable(backend)) return;
    for (int row = 0; row < static_cast<int>(std::size(kBadPtrRows)); ++row) {
        const std::string label = label_of(backend, kBadPtrRows[row]);
        int st = backend.kernel ? bad_ptr_status(backend, row)
                                : bt::spawn_child("array_bad_ptr", {std::to_string(row)}).wait();
        BOOST_CHECK_MESSAGE(st == EFAULT, label + ": expected -1/" + errname(EFAULT) + ", got " +
                                              (st == 202 ? std::string("EFAULT but the map changed")
                                                         : child_status_str(st)));
    }
}

// §2.1/§5, every flags bit on its own: UPDATE of slot 1 (NOEXIST → EEXIST, EXIST → 0, anything
// else → EINVAL); LOOKUP (always EINVAL); LOOKUP_AND_DELETE (flags ≠ 0 → EINVAL).
BOOST_DATA_TEST_CASE(array_flag_bits_sweep, bdata::make(kBackends), backend) {
    if (!usable(backend)) return;
    Ctx c{backend, {}};
    if (!make_map(c, kMax, label_of(backend, "flag bits sweep"))) return;
    std::string bad;
    for (unsigned bit = 0; bit < 64; ++bit) {
        const __u64 f = 1ull << bit;
        const int want_update = f == BPF_NOEXIST ? EEXIST : f == BPF_EXIST ? kOK : EINVAL;
        const auto check = [&](const char* what, Res r, int want) {
            bool ok = want == kOK ? r.ret == 0 : (r.ret == -1 && r.err == want);
            if (!ok) bad += std::string(" ") + what + "(1<<" + std::to_string(bit) + ")→" + show(r);
        };
        check("UPDATE", update(backend, c.fd(), &c.i1, &c.vnew, f), want_update);
        check("LOOKUP", lookup(backend, c.fd(), &c.i1, c.out, f), EINVAL);
        check("LOOKUP_AND_DELETE", lookup_del(backend, c.fd(), &c.i1, c.out, f), EINVAL);
    }
    BOOST_CHECK_MESSAGE(bad.empty(), label_of(backend, "each flags bit alone")
                                         << "; wrong:" << bad);
    slot_is(c, label_of(backend, "flag bits sweep"), 1, 777);
}

// §4: write-back is exactly value_size bytes and exactly 4 key bytes, for value sizes that are
// not a multiple of 8; fresh slots read as zero.
BOOST_DATA_TEST_CASE(array_odd_sizes_write_back, bdata::make(kBackends), backend) {
    if (!usable(backend)) return;
    for (unsigned vs : {1u, 3u, 5u, 8u, 9u, 12u, 13u, 4097u}) {
        const std::string base = label_of(backend, "value_size " + std::to_string(vs));
        Res cr = create(backend, BPF_MAP_TYPE_ARRAY, 4, vs, 3);
        Fd map = own(cr);
        if (!expect(base + " (setup: create)", cr, kNewFd)) continue;
        std::vector<unsigned char> out(vs + 64, 0xEE);
        __u32 i0 = 0, i2 = 2;
        expect(base + ": LOOKUP fresh slot 0", lookup(backend, map.get(), &i0, out.data()), kOK);
        expect_true(
            base + ": LOOKUP fresh slot 0",
            std::all_of(out.begin(), out.begin() + vs, [](unsigned char b) { return b == 0; }),
            "a fresh slot does not read as zero");
        expect_true(
            base + ": LOOKUP fresh slot 0",
            std::all_of(out.begin() + vs, out.end(), [](unsigned char b) { return b == 0xEE; }),
            "bytes past value_size were written");
        std::vector<unsigned char> value(vs);
        for (unsigned i = 0; i < vs; ++i) value[i] = static_cast<unsigned char>(i * 7 + 1);
        expect(base + ": UPDATE slot 2", update(backend, map.get(), &i2, value.data()), kOK);
        std::fill(out.begin(), out.end(), 0xEE);
        expect(base + ": LOOKUP slot 2", lookup(backend, map.get(), &i2, out.data()), kOK);
        expect_true(
            base + ": LOOKUP slot 2",
            std::equal(value.begin(), value.end(), out.begin()) &&
                std::all_of(out.begin() + vs, out.end(), [](unsigned char b) { return b == 0xEE; }),
            "wrong bytes written (value_size exactly)");
        // Neighbouring slots are untouched.
        std::fill(out.begin(), out.end(), 0xEE);
        __u32 i1 = 1;
        expect(base + ": LOOKUP slot 1", lookup(backend, map.get(), &i1, out.data()), kOK);
        expect_true(
            base + ": LOOKUP slot 1",
            std::all_of(out.begin(), out.begin() + vs, [](unsigned char b) { return b == 0; }),
            "slot 1 changed by the update of slot 2");
        __u32 nk[2] = {0xA5A5A5A5, 0xA5A5A5A5};
        expect(base + ": GET_NEXT_KEY 0 → 1", next_key(backend, map.get(), &i0, nk), kOK);
        expect_true(base + ": GET_NEXT_KEY 0 → 1", nk[0] == 1 && nk[1] == 0xA5A5A5A5,
                    "wrong next key or more than 4 bytes written");
    }
}
