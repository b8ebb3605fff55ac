// Element commands on BPF_MAP_TYPE_HASH, with and without BPF_F_NO_PREALLOC
// (kernel-map-semantics.md §2, §4, §5, §6, §9): the order of the common preconditions (flags
// before the fd for LOOKUP/LOOKUP_AND_DELETE, EBADF vs EINVAL, EPERM through RDONLY/WRONLY fds
// from BPF_OBJ_GET file_flags and BPF_MAP_GET_FD_BY_ID open_flags, BPF_F_LOCK, key/value
// copies), the hash rows of UPDATE/LOOKUP/DELETE/LOOKUP_AND_DELETE (flags, EEXIST/ENOENT, full
// map → E2BIG), what is written back (nothing on ENOENT, exactly value_size/key_size bytes),
// GET_NEXT_KEY iteration, and FREEZE. Every row runs against the library and, where bpf() is
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

struct MapCfg {
    const char* name;
    unsigned flags;
};
std::ostream& operator<<(std::ostream& os, const MapCfg& c) {
    return os << c.name;
}
const std::vector<MapCfg> kCfgs = {{"HASH", 0}, {"HASH|NO_PREALLOC", BPF_F_NO_PREALLOC}};

constexpr unsigned kMax = 4;
constexpr __u64 kSentinel = 0xA5A5A5A5A5A5A5A5ull;
const __u64 kBadFlags[] = {3, 8, 1ull << 32, ~0ull, BPF_F_LOCK | 3};

// One row's world: a fresh map (key u32, value u64, max 4) holding keys 1 and 2 (values 101,
// 102), or 1..4 when the row wants a full map. `out` is 16 bytes of sentinel: lookups must
// write exactly the first 8 (value_size).
struct Ctx {
    const Backend& b;
    Fd map;
    __u32 k1 = 1, k2 = 2, k3 = 3, missing = 7;
    __u64 v1 = 101, vnew = 777;
    __u64 out[2] = {kSentinel, kSentinel};
    int fd() const { return map.get(); }
    // The value of key k, or nothing (ENOENT); other results are reported as failures.
    bool has(__u32 k, __u64* v = nullptr) const {
        __u64 tmp = 0;
        Res r = lookup(b, map.get(), &k, &tmp);
        if (v) *v = tmp;
        return r.ret == 0;
    }
};

struct Row {
    std::string name;
    int want;
    std::function<Res(Ctx&)> run;
    std::function<void(Ctx&, const std::string&)> after = {};
    bool full = false;
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
void key_is(Ctx& c, const std::string& l, __u32 k, bool present, __u64 want_value = 0) {
    __u64 v = 0;
    bool has = c.has(k, &v);
    expect_true(l, has == present,
                "key " + std::to_string(k) + (present ? " is missing" : " is present"));
    if (has && present && want_value)
        expect_true(l, v == want_value,
                    "key " + std::to_string(k) + " has value " + std::to_string(v) + ", expected " +
                        std::to_string(want_value));
}

std::vector<Row> rows() {
    std::vector<Row> r = {
        // §2.1: flags before the fd (LOOKUP, LOOKUP_AND_DELETE).
        {"LOOKUP flags=1 on a closed fd (flags before fd)", EINVAL,
         [](Ctx& c) { return lookup(c.b, closed_fd(), &c.k1, c.out, 1); }},
        {"LOOKUP flags=1<<32 on a closed fd", EINVAL,
         [](Ctx& c) { return lookup(c.b, closed_fd(), &c.k1, c.out, 1ull << 32); }},
        {"LOOKUP flags=2 on /dev/null", EINVAL,
         [](Ctx& c) {
             Fd n(dev_null());
             return lookup(c.b, n.get(), &c.k1, c.out, 2);
         }},
        {"LOOKUP_AND_DELETE flags=2 on a closed fd (flags before fd)", EINVAL,
         [](Ctx& c) { return lookup_del(c.b, closed_fd(), &c.k1, c.out, 2); }},
        {"LOOKUP F_LOCK on a closed fd (F_LOCK passes the flags check)", EBADF,
         [](Ctx& c) { return lookup(c.b, closed_fd(), &c.k1, c.out, BPF_F_LOCK); }},
        {"UPDATE flags=3 on a closed fd (flags are the op's)", EBADF,
         [](Ctx& c) { return update(c.b, closed_fd(), &c.k1, &c.vnew, 3); }},
        {"UPDATE NULL key on a closed fd", EBADF,
         [](Ctx& c) { return update(c.b, closed_fd(), nullptr, &c.vnew); }},
        // §2.2: EBADF vs EINVAL.
        {"LOOKUP closed fd", EBADF, [](Ctx& c) { return lookup(c.b, closed_fd(), &c.k1, c.out); }},
        {"LOOKUP fd -1", EBADF, [](Ctx& c) { return lookup(c.b, -1, &c.k1, c.out); }},
        {"UPDATE closed fd", EBADF,
         [](Ctx& c) { return update(c.b, closed_fd(), &c.k1, &c.vnew); }},
        {"DELETE closed fd", EBADF, [](Ctx& c) { return del(c.b, closed_fd(), &c.k1); }},
        {"GET_NEXT_KEY closed fd", EBADF,
         [](Ctx& c) { return next_key(c.b, closed_fd(), &c.k1, c.out); }},
        {"LOOKUP_AND_DELETE closed fd", EBADF,
         [](Ctx& c) { return lookup_del(c.b, closed_fd(), &c.k1, c.out); }},
        {"FREEZE closed fd", EBADF, [](Ctx& c) { return freeze(c.b, closed_fd()); }},
        {"LOOKUP /dev/null", EINVAL,
         [](Ctx& c) {
             Fd n(dev_null());
             return lookup(c.b, n.get(), &c.k1, c.out);
         }},
        {"UPDATE /dev/null", EINVAL,
         [](Ctx& c) {
             Fd n(dev_null());
             return update(c.b, n.get(), &c.k1, &c.vnew);
         }},
        {"UPDATE /dev/null with NULL key and flags=3", EINVAL,
         [](Ctx& c) {
             Fd n(dev_null());
             return update(c.b, n.get(), nullptr, &c.vnew, 3);
         }},
        {"DELETE /dev/null", EINVAL,
         [](Ctx& c) {
             Fd n(dev_null());
             return del(c.b, n.get(), &c.k1);
         }},
        {"GET_NEXT_KEY /dev/null", EINVAL,
         [](Ctx& c) {
             Fd n(dev_null());
             return next_key(c.b, n.get(), &c.k1, c.out);
         }},
        {"LOOKUP_AND_DELETE /dev/null", EINVAL,
         [](Ctx& c) {
             Fd n(dev_null());
             return lookup_del(c.b, n.get(), &c.k1, c.out);
         }},
        {"FREEZE /dev/null", EINVAL,
         [](Ctx& c) {
             Fd n(dev_null());
             return freeze(c.b, n.get());
         }},
        {"LOOKUP on a directory fd (/)", EINVAL,
         [](Ctx& c) {
             Fd d(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
             return lookup(c.b, d.get(), &c.k1, c.out);
         }},
        // §2.4: BPF_F_LOCK without a spin lock.
        {"LOOKUP F_LOCK", EINVAL,
         [](Ctx& c) { return lookup(c.b, c.fd(), &c.k1, c.out, BPF_F_LOCK); }, untouched},
        {"UPDATE F_LOCK on an existing key", EINVAL,
         [](Ctx& c) { return update(c.b, c.fd(), &c.k1, &c.vnew, BPF_F_LOCK); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 1, true, 101); }},
        {"UPDATE F_LOCK|NOEXIST on a new key", EINVAL,
         [](Ctx& c) { return update(c.b, c.fd(), &c.missing, &c.vnew, BPF_F_LOCK | BPF_NOEXIST); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 7, false); }},
        {"UPDATE NULL key with F_LOCK", EINVAL,
         [](Ctx& c) { return update(c.b, c.fd(), nullptr, &c.vnew, BPF_F_LOCK); }},
        {"LOOKUP_AND_DELETE F_LOCK", EINVAL,
         [](Ctx& c) { return lookup_del(c.b, c.fd(), &c.k1, c.out, BPF_F_LOCK); },
         [](Ctx& c, const std::string& l) {
             untouched(c, l);
             key_is(c, l, 1, true, 101);
         }},
        {"LOOKUP_AND_DELETE flags=1", EINVAL,
         [](Ctx& c) { return lookup_del(c.b, c.fd(), &c.k1, c.out, 1); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 1, true, 101); }},
        // §2.5/2.6: key and value copies.
        {"LOOKUP NULL key", EFAULT, [](Ctx& c) { return lookup(c.b, c.fd(), nullptr, c.out); },
         untouched},
        {"UPDATE NULL key", EFAULT, [](Ctx& c) { return update(c.b, c.fd(), nullptr, &c.vnew); }},
        {"UPDATE NULL key, flags=3 (copy before the op's flag check)", EFAULT,
         [](Ctx& c) { return update(c.b, c.fd(), nullptr, &c.vnew, 3); }},
        {"UPDATE NULL key, flags=1<<32", EFAULT,
         [](Ctx& c) { return update(c.b, c.fd(), nullptr, &c.vnew, 1ull << 32); }},
        {"DELETE NULL key", EFAULT, [](Ctx& c) { return del(c.b, c.fd(), nullptr); }},
        {"LOOKUP_AND_DELETE NULL key", EFAULT,
         [](Ctx& c) { return lookup_del(c.b, c.fd(), nullptr, c.out); }, untouched},
        {"UPDATE NULL value, new key", EFAULT,
         [](Ctx& c) { return update(c.b, c.fd(), &c.missing, nullptr); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 7, false); }},
        {"UPDATE NULL value, existing key", EFAULT,
         [](Ctx& c) { return update(c.b, c.fd(), &c.k1, nullptr); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 1, true, 101); }},
        {"UPDATE NULL value, flags=3 (value copy before the op)", EFAULT,
         [](Ctx& c) { return update(c.b, c.fd(), &c.missing, nullptr, 3); }},
        // §2.7: write-back.
        {"LOOKUP missing key (buffer untouched)", ENOENT,
         [](Ctx& c) { return lookup(c.b, c.fd(), &c.missing, c.out); }, untouched},
        {"LOOKUP missing key, NULL value", ENOENT,
         [](Ctx& c) { return lookup(c.b, c.fd(), &c.missing, nullptr); }},
        {"LOOKUP_AND_DELETE missing key (buffer untouched)", ENOENT,
         [](Ctx& c) { return lookup_del(c.b, c.fd(), &c.missing, c.out); }, untouched},
        {"LOOKUP_AND_DELETE missing key, NULL value", ENOENT,
         [](Ctx& c) { return lookup_del(c.b, c.fd(), &c.missing, nullptr); }},
        {"LOOKUP present key, NULL value", EFAULT,
         [](Ctx& c) { return lookup(c.b, c.fd(), &c.k1, nullptr); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 1, true, 101); }},
        {"LOOKUP_AND_DELETE present key, NULL value (deleted anyway)", EFAULT,
         [](Ctx& c) { return lookup_del(c.b, c.fd(), &c.k1, nullptr); },
         [](Ctx& c, const std::string& l) {
             key_is(c, l, 1, false);
             key_is(c, l, 2, true, 102);
         }},
        // §4 HASH.
        {"LOOKUP present key (exactly value_size bytes written)", kOK,
         [](Ctx& c) { return lookup(c.b, c.fd(), &c.k1, c.out); },
         [](Ctx& c, const std::string& l) { value_is(c, l, 101); }},
        {"DELETE present key", kOK, [](Ctx& c) { return del(c.b, c.fd(), &c.k1); },
         [](Ctx& c, const std::string& l) {
             key_is(c, l, 1, false);
             key_is(c, l, 2, true, 102);
         }},
        {"DELETE missing key", ENOENT, [](Ctx& c) { return del(c.b, c.fd(), &c.missing); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 1, true, 101); }},
        {"DELETE twice", ENOENT,
         [](Ctx& c) {
             Res first = del(c.b, c.fd(), &c.k2);
             if (first.ret != 0) return first;
             return del(c.b, c.fd(), &c.k2);
         }},
        {"LOOKUP_AND_DELETE present key", kOK,
         [](Ctx& c) { return lookup_del(c.b, c.fd(), &c.k1, c.out); },
         [](Ctx& c, const std::string& l) {
             value_is(c, l, 101);
             key_is(c, l, 1, false);
             key_is(c, l, 2, true, 102);
         }},
        // §5 HASH flags.
        {"UPDATE ANY new key", kOK,
         [](Ctx& c) { return update(c.b, c.fd(), &c.k3, &c.vnew, BPF_ANY); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 3, true, 777); }},
        {"UPDATE ANY existing key", kOK,
         [](Ctx& c) { return update(c.b, c.fd(), &c.k1, &c.vnew, BPF_ANY); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 1, true, 777); }},
        {"UPDATE NOEXIST new key", kOK,
         [](Ctx& c) { return update(c.b, c.fd(), &c.k3, &c.vnew, BPF_NOEXIST); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 3, true, 777); }},
        {"UPDATE NOEXIST existing key", EEXIST,
         [](Ctx& c) { return update(c.b, c.fd(), &c.k1, &c.vnew, BPF_NOEXIST); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 1, true, 101); }},
        {"UPDATE EXIST existing key", kOK,
         [](Ctx& c) { return update(c.b, c.fd(), &c.k1, &c.vnew, BPF_EXIST); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 1, true, 777); }},
        {"UPDATE EXIST missing key", ENOENT,
         [](Ctx& c) { return update(c.b, c.fd(), &c.missing, &c.vnew, BPF_EXIST); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 7, false); }},
        {"UPDATE after DELETE with NOEXIST", kOK,
         [](Ctx& c) {
             Res d = del(c.b, c.fd(), &c.k1);
             if (d.ret != 0) return d;
             return update(c.b, c.fd(), &c.k1, &c.vnew, BPF_NOEXIST);
         },
         [](Ctx& c, const std::string& l) { key_is(c, l, 1, true, 777); }},
        // Full map (keys 1..4, max 4).
        {"full: UPDATE ANY new key", E2BIG,
         [](Ctx& c) { return update(c.b, c.fd(), &c.missing, &c.vnew, BPF_ANY); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 7, false); }, true},
        {"full: UPDATE NOEXIST new key", E2BIG,
         [](Ctx& c) { return update(c.b, c.fd(), &c.missing, &c.vnew, BPF_NOEXIST); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 7, false); }, true},
        {"full: UPDATE EXIST new key", ENOENT,
         [](Ctx& c) { return update(c.b, c.fd(), &c.missing, &c.vnew, BPF_EXIST); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 7, false); }, true},
        {"full: UPDATE NOEXIST existing key (EEXIST first)", EEXIST,
         [](Ctx& c) { return update(c.b, c.fd(), &c.k1, &c.vnew, BPF_NOEXIST); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 1, true, 101); }, true},
        {"full: UPDATE ANY existing key", kOK,
         [](Ctx& c) { return update(c.b, c.fd(), &c.k1, &c.vnew, BPF_ANY); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 1, true, 777); }, true},
        {"full: UPDATE EXIST existing key", kOK,
         [](Ctx& c) { return update(c.b, c.fd(), &c.k1, &c.vnew, BPF_EXIST); },
         [](Ctx& c, const std::string& l) { key_is(c, l, 1, true, 777); }, true},
        {"full: UPDATE every existing key 3 times", kOK,
         [](Ctx& c) {
             for (int round = 0; round < 3; ++round)
                 for (__u32 k = 1; k <= kMax; ++k) {
                     __u64 v = 1000u * static_cast<unsigned>(round) + k;
                     Res u = update(c.b, c.fd(), &k, &v, BPF_ANY);
                     if (u.ret != 0) return u;
                 }
             return Res{0, 0};
         },
         [](Ctx& c, const std::string& l) {
             for (__u32 k = 1; k <= kMax; ++k) key_is(c, l, k, true, 2000 + k);
         },
         true},
        {"full: DELETE then UPDATE NOEXIST new key", kOK,
         [](Ctx& c) {
             Res d = del(c.b, c.fd(), &c.k2);
             if (d.ret != 0) return d;
             return update(c.b, c.fd(), &c.missing, &c.vnew, BPF_NOEXIST);
         },
         [](Ctx& c, const std::string& l) {
             key_is(c, l, 7, true, 777);
             key_is(c, l, 2, false);
         },
         true},
        {"full: LOOKUP_AND_DELETE then UPDATE ANY new key", kOK,
         [](Ctx& c) {
             Res d = lookup_del(c.b, c.fd(), &c.k1, c.out);
             if (d.ret != 0) return d;
             return update(c.b, c.fd(), &c.missing, &c.vnew, BPF_ANY);
         },
         [](Ctx& c, const std::string& l) { key_is(c, l, 7, true, 777); }, true},
    };
    // Invalid UPDATE flags → EINVAL, on an existing and on a new key; nothing changes.
    for (__u64 f : kBadFlags) {
        r.push_back({"UPDATE flags=" + std::to_string(f) + " on an existing key", EINVAL,
                     [f](Ctx& c) { return update(c.b, c.fd(), &c.k1, &c.vnew, f); },
                     [](Ctx& c, const std::string& l) { key_is(c, l, 1, true, 101); }});
        r.push_back({"UPDATE flags=" + std::to_string(f) + " on a new key", EINVAL,
                     [f](Ctx& c) { return update(c.b, c.fd(), &c.missing, &c.vnew, f); },
                     [](Ctx& c, const std::string& l) { key_is(c, l, 7, false); }});
        r.push_back({"full: UPDATE flags=" + std::to_string(f) + " on a new key", EINVAL,
                     [f](Ctx& c) { return update(c.b, c.fd(), &c.missing, &c.vnew, f); },
                     [](Ctx& c, const std::string& l) { key_is(c, l, 7, false); }, true});
    }
    return r;
}

// A fresh map for one row. Returns false (after reporting) if the setup failed.
bool make_map(Ctx& c, const MapCfg& cfg, bool full, const std::string& label) {
    Res r = create(c.b, BPF_MAP_TYPE_HASH, 4, 8, kMax, cfg.flags);
    c.map = own(r);
    if (!expect(label + " (setup: create)", r, kNewFd)) return false;
    for (__u32 k = 1; k <= (full ? kMax : 2u); ++k) {
        __u64 v = 100 + k;
        if (!expect(label + " (setup: insert key " + std::to_string(k) + ")",
                    update(c.b, c.fd(), &k, &v), kOK))
            return false;
    }
    return true;
}

std::string label_of(const Backend& b, const MapCfg& cfg, const std::string& row) {
    return std::string("[") + b.name + "] " + cfg.name + ": " + row;
}

}  // namespace

BOOST_DATA_TEST_CASE(hash_element_table, bdata::make(kBackends) * bdata::make(kCfgs), backend,
                     cfg) {
    if (!usable(backend)) return;
    for (const Row& row : rows()) {
        const std::string label = label_of(backend, cfg, row.name);
        Ctx c{backend, {}};
        if (!make_map(c, cfg, row.full, label)) continue;
        Res r = row.run(c);
        expect(label, r, row.want);
        if (row.after) row.after(c, label);
    }
}

// §2.3: access through RDONLY / WRONLY fds → EPERM, checked before flags (except LOOKUP's
// early flag check), key copies and type checks.
BOOST_DATA_TEST_CASE(hash_access_table, bdata::make(kBackends) * bdata::make(kCfgs), backend, cfg) {
    if (!usable(backend)) return;
    struct AccessRow {
        const char* name;
        __u32 open_flag;  // BPF_F_RDONLY or BPF_F_WRONLY
        int want;
        std::function<Res(Ctx&, int)> run;
    };
    const std::vector<AccessRow> access_rows = {
        {"RDONLY: UPDATE", BPF_F_RDONLY, EPERM,
         [](Ctx& c, int fd) { return update(c.b, fd, &c.k3, &c.vnew); }},
        {"RDONLY: UPDATE NULL key, flags=3 (EPERM first)", BPF_F_RDONLY, EPERM,
         [](Ctx& c, int fd) { return update(c.b, fd, nullptr, nullptr, 3); }},
        {"RDONLY: UPDATE F_LOCK (EPERM before F_LOCK)", BPF_F_RDONLY, EPERM,
         [](Ctx& c, int fd) { return update(c.b, fd, &c.k1, &c.vnew, BPF_F_LOCK); }},
        {"RDONLY: DELETE present key", BPF_F_RDONLY, EPERM,
         [](Ctx& c, int fd) { return del(c.b, fd, &c.k1); }},
        {"RDONLY: DELETE missing key", BPF_F_RDONLY, EPERM,
         [](Ctx& c, int fd) { return del(c.b, fd, &c.missing); }},
        {"RDONLY: DELETE NULL key", BPF_F_RDONLY, EPERM,
         [](Ctx& c, int fd) { return del(c.b, fd, nullptr); }},
        {"RDONLY: LOOKUP_AND_DELETE", BPF_F_RDONLY, EPERM,
         [](Ctx& c, int fd) { return lookup_del(c.b, fd, &c.k1, c.out); }},
        {"RDONLY: LOOKUP_AND_DELETE F_LOCK (EPERM before F_LOCK)", BPF_F_RDONLY, EPERM,
         [](Ctx& c, int fd) { return lookup_del(c.b, fd, &c.k1, c.out, BPF_F_LOCK); }},
        {"RDONLY: LOOKUP_AND_DELETE flags=1 (flags before fd and access)", BPF_F_RDONLY, EINVAL,
         [](Ctx& c, int fd) { return lookup_del(c.b, fd, &c.k1, c.out, 1); }},
        {"RDONLY: FREEZE", BPF_F_RDONLY, EPERM, [](Ctx& c, int fd) { return freeze(c.b, fd); }},
        {"RDONLY: LOOKUP", BPF_F_RDONLY, kOK,
         [](Ctx& c, int fd) { return lookup(c.b, fd, &c.k1, c.out); }},
        {"RDONLY: GET_NEXT_KEY", BPF_F_RDONLY, kOK,
         [](Ctx& c, int fd) { return next_key(c.b, fd, nullptr, c.out); }},
        {"WRONLY: LOOKUP", BPF_F_WRONLY, EPERM,
         [](Ctx& c, int fd) { return lookup(c.b, fd, &c.k1, c.out); }},
        {"WRONLY: LOOKUP NULL key (EPERM first)", BPF_F_WRONLY, EPERM,
         [](Ctx& c, int fd) { return lookup(c.b, fd, nullptr, nullptr); }},
        {"WRONLY: LOOKUP F_LOCK (EPERM before F_LOCK)", BPF_F_WRONLY, EPERM,
         [](Ctx& c, int fd) { return lookup(c.b, fd, &c.k1, c.out, BPF_F_LOCK); }},
        {"WRONLY: LOOKUP flags=1 (flags before access)", BPF_F_WRONLY, EINVAL,
         [](Ctx& c, int fd) { return lookup(c.b, fd, &c.k1, c.out, 1); }},
        {"WRONLY: GET_NEXT_KEY", BPF_F_WRONLY, EPERM,
         [](Ctx& c, int fd) { return next_key(c.b, fd, &c.k1, c.out); }},
        {"WRONLY: LOOKUP_AND_DELETE", BPF_F_WRONLY, EPERM,
         [](Ctx& c, int fd) { return lookup_del(c.b, fd, &c.k1, c.out); }},
        {"WRONLY: UPDATE", BPF_F_WRONLY, kOK,
         [](Ctx& c, int fd) { return update(c.b, fd, &c.k3, &c.vnew); }},
        {"WRONLY: DELETE", BPF_F_WRONLY, kOK, [](Ctx& c, int fd) { return del(c.b, fd, &c.k2); }},
        {"WRONLY: FREEZE", BPF_F_WRONLY, kOK, [](Ctx& c, int fd) { return freeze(c.b, fd); }},
    };
    for (const AccessRow& row : access_rows) {
        const std::string base = label_of(backend, cfg, row.name);
        // One fresh map per fd source (a FREEZE through one source must not affect the next).
        for (size_t source = 0;; ++source) {
            Ctx c{backend, {}};
            if (!make_map(c, cfg, false, base)) break;
            std::vector<Restricted> fds = restricted_fds(backend, c.fd(), row.open_flag, base);
            if (source >= fds.size()) break;
            const std::string label = base + " via " + fds[source].how;
            expect(label, row.run(c, fds[source].fd.get()), row.want);
            if (row.want == EPERM) {
                // Nothing changed through the restricted fd.
                key_is(c, label, 1, true, 101);
                key_is(c, label, 2, true, 102);
                key_is(c, label, 3, false);
                expect(label + " → the map is not frozen (UPDATE through the creating fd)",
                       update(backend, c.fd(), &c.k1, &c.v1), kOK);
            }
        }
    }
}

// §6 GET_NEXT_KEY on a hash map.
BOOST_DATA_TEST_CASE(hash_get_next_key, bdata::make(kBackends) * bdata::make(kCfgs), backend, cfg) {
    if (!usable(backend)) return;
    const auto L = [&](const std::string& row) { return label_of(backend, cfg, row); };
    Res cr = create(backend, BPF_MAP_TYPE_HASH, 4, 8, 16, cfg.flags);
    Fd map = own(cr);
    if (!expect(L("setup: create (max 16)"), cr, kNewFd)) return;
    const int fd = map.get();
    __u32 out[2] = {0xA5A5A5A5, 0xA5A5A5A5};
    __u32 k1 = 1, absent = 99;

    expect(L("empty map: NULL key"), next_key(backend, fd, nullptr, out), ENOENT);
    expect(L("empty map: key 1"), next_key(backend, fd, &k1, out), ENOENT);
    expect(L("empty map: NULL key, NULL next_key"), next_key(backend, fd, nullptr, nullptr),
           ENOENT);
    expect_true(L("empty map"), out[0] == 0xA5A5A5A5 && out[1] == 0xA5A5A5A5,
                "next_key buffer written");

    std::set<__u32> keys;
    for (__u32 k = 1; k <= 10; ++k) {
        __u64 v = k;
        keys.insert(k);
        if (!expect(L("setup: insert " + std::to_string(k)), update(backend, fd, &k, &v), kOK))
            return;
    }
    // A full walk from NULL visits each key once, then ENOENT; exactly key_size bytes each.
    std::vector<__u32> order;
    const __u32* cur = nullptr;
    __u32 prev = 0;
    for (int i = 0; i < 20; ++i) {
        out[0] = 0xA5A5A5A5;
        out[1] = 0xA5A5A5A5;
        Res r = next_key(backend, fd, cur, out);
        if (r.ret != 0) {
            expect(L("walk: the step after the last key"), r, ENOENT);
            break;
        }
        expect_true(L("walk"), out[1] == 0xA5A5A5A5, "more than key_size bytes written");
        order.push_back(out[0]);
        prev = out[0];
        cur = &prev;
    }
    expect_true(
        L("walk from NULL"),
        std::set<__u32>(order.begin(), order.end()) == keys && order.size() == keys.size(),
        "did not visit keys 1..10 exactly once (" + std::to_string(order.size()) + " steps)");
    if (order.size() != keys.size()) return;
    const __u32 first = order.front(), last = order.back();

    out[0] = 0;
    expect(L("NULL key → first"), next_key(backend, fd, nullptr, out), kOK);
    expect_true(L("NULL key → first"), out[0] == first, "not the first key of the walk");
    out[0] = 0;
    expect(L("absent key 99 → first"), next_key(backend, fd, &absent, out), kOK);
    expect_true(L("absent key 99 → first"), out[0] == first, "did not restart at the first key");
    expect(L("last key → ENOENT"), next_key(backend, fd, &last, out), ENOENT);
    expect(L("last key, NULL next_key → ENOENT"), next_key(backend, fd, &last, nullptr), ENOENT);
    expect(L("first key, NULL next_key (a next exists) → EFAULT"),
           next_key(backend, fd, &first, nullptr), EFAULT);
    expect(L("NULL key, NULL next_key (non-empty) → EFAULT"),
           next_key(backend, fd, nullptr, nullptr), EFAULT);
    {
        AttrBuf u;
        std::memset(&u, 0, sizeof u);
        u.a.map_fd = static_cast<__u32>(fd);
        u.a.key = ptr(&first);
        u.a.next_key = ptr(out);
        u.a.flags = 1;
        expect(L("flags=1 → EINVAL"), raw(backend, BPF_MAP_GET_NEXT_KEY, &u, kAttrSize), EINVAL);
    }
    // Deleting the cursor key restarts the walk at the (new) first key.
    {
        __u32 cursor = order[3];
        expect(L("delete the cursor key"), del(backend, fd, &cursor), kOK);
        __u32 restart = 0, head = 0;
        expect(L("next of the deleted cursor"), next_key(backend, fd, &cursor, &restart), kOK);
        expect(L("NULL after the delete"), next_key(backend, fd, nullptr, &head), kOK);
        expect_true(L("next of the deleted cursor"), restart == head,
                    "did not restart at the first element");
    }
    // Deleting the first element repeatedly empties the map.
    for (int i = 0; i < 20; ++i) {
        __u32 head = 0;
        Res r = next_key(backend, fd, nullptr, &head);
        if (r.ret != 0) {
            expect(L("delete-first loop ends with ENOENT"), r, ENOENT);
            break;
        }
        if (!expect(L("delete-first loop: DELETE"), del(backend, fd, &head), kOK)) break;
    }
    expect(L("emptied map: NULL key"), next_key(backend, fd, nullptr, out), ENOENT);
}

// §6: with ZERO_SEED, identical insertion sequences give identical iteration order.
BOOST_DATA_TEST_CASE(hash_zero_seed_order, bdata::make(kBackends) * bdata::make(kCfgs), backend,
                     cfg) {
    if (!usable(backend)) return;
    std::vector<__u32> orders[2];
    for (auto& order : orders) {
        Res cr = create(backend, BPF_MAP_TYPE_HASH, 4, 8, 64, cfg.flags | BPF_F_ZERO_SEED);
        Fd map = own(cr);
        if (!expect(label_of(backend, cfg, "ZERO_SEED: create"), cr, kNewFd)) return;
        for (__u32 k = 0; k < 40; ++k) {
            __u32 key = k * 7919u;
            __u64 v = k;
            update(backend, map.get(), &key, &v);
        }
        __u32 cur = 0, nk = 0;
        const __u32* p = nullptr;
        while (next_key(backend, map.get(), p, &nk).ret == 0 && order.size() < 100) {
            order.push_back(nk);
            cur = nk;
            p = &cur;
        }
    }
    expect_true(label_of(backend, cfg, "ZERO_SEED: two maps, same inserts"),
                orders[0].size() == 40 && orders[0] == orders[1],
                "different iteration orders (or not 40 keys)");
}

// §9 FREEZE on a hash map.
BOOST_DATA_TEST_CASE(hash_freeze, bdata::make(kBackends) * bdata::make(kCfgs), backend, cfg) {
    if (!usable(backend)) return;
    const auto L = [&](const std::string& row) { return label_of(backend, cfg, row); };
    Ctx c{backend, {}};
    if (!make_map(c, cfg, false, L("freeze"))) return;
    // A fd obtained before the freeze loses write access too.
    __u32 id = map_id(backend, c.fd());
    Fd before = own(fd_by_id(backend, id));
    expect(L("first FREEZE"), freeze(backend, c.fd()), kOK);
    expect(L("second FREEZE (same fd)"), freeze(backend, c.fd()), EPERM);

    struct Later {
        std::string how;
        Fd fd;
    };
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
        expect(L("frozen: UPDATE existing key" + via), update(backend, fd, &c.k1, &c.vnew), EPERM);
        expect(L("frozen: UPDATE new key" + via), update(backend, fd, &c.k3, &c.vnew), EPERM);
        expect(L("frozen: UPDATE flags=3 (EPERM before flags)" + via),
               update(backend, fd, &c.k1, &c.vnew, 3), EPERM);
        expect(L("frozen: UPDATE NULL key" + via), update(backend, fd, nullptr, &c.vnew), EPERM);
        expect(L("frozen: DELETE present key" + via), del(backend, fd, &c.k1), EPERM);
        expect(L("frozen: DELETE missing key" + via), del(backend, fd, &c.missing), EPERM);
        expect(L("frozen: LOOKUP_AND_DELETE" + via), lookup_del(backend, fd, &c.k1, c.out), EPERM);
        expect(L("frozen: FREEZE again" + via), freeze(backend, fd), EPERM);
        c.out[0] = 0;
        expect(L("frozen: LOOKUP still works" + via), lookup(backend, fd, &c.k1, c.out), kOK);
        expect_true(L("frozen: LOOKUP" + via), c.out[0] == 101, "wrong value");
        __u32 nk = 0;
        expect(L("frozen: GET_NEXT_KEY still works" + via), next_key(backend, fd, nullptr, &nk),
               kOK);
        expect(L("frozen: LOOKUP missing key" + via), lookup(backend, fd, &c.missing, c.out),
               ENOENT);
    }
    key_is(c, L("frozen: contents unchanged"), 1, true, 101);
    key_is(c, L("frozen: contents unchanged"), 2, true, 102);
    key_is(c, L("frozen: contents unchanged"), 3, false);
}

// §2.5-2.7 with unreadable / unwritable user memory → EFAULT. The library runs each row in a
// child process, so that a crash is reported (as a signal) instead of ending this binary.
namespace {

// A read-write page followed by a PROT_NONE page: an object at the end of the first page
// straddles into the second.
struct TwoPages {
    unsigned char* p = nullptr;
    TwoPages() {
        void* m = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return;
        p = static_cast<unsigned char*>(m);
        if (mprotect(p + 4096, 4096, PROT_NONE) != 0) {
            munmap(p, 8192);
            p = nullptr;
        }
    }
    ~TwoPages() {
        if (p) munmap(p, 8192);
    }
    TwoPages(const TwoPages&) = delete;
    TwoPages& operator=(const TwoPages&) = delete;
};

const char* const kBadPtrRows[] = {
    "LOOKUP key in a PROT_NONE page",
    "LOOKUP key straddling into a PROT_NONE page",
    "UPDATE key in a PROT_NONE page",
    "UPDATE value in a PROT_NONE page",
    "UPDATE value straddling into a PROT_NONE page",
    "DELETE key in a PROT_NONE page",
    "GET_NEXT_KEY key in a PROT_NONE page",
    "GET_NEXT_KEY next_key in a read-only page",
    "LOOKUP_AND_DELETE key in a PROT_NONE page",
    "LOOKUP value in a read-only page",
    "LOOKUP value straddling into a PROT_NONE page",
    "LOOKUP_AND_DELETE value in a read-only page (deleted anyway)",
};

// Returns the errno (or kChildOk / kChildSetup; 202 = the map changed when it must not).
int bad_ptr_status(const Backend& b, unsigned flags, int row) {
    Res cr = create(b, BPF_MAP_TYPE_HASH, 4, 8, 4, flags);
    Fd map = own(cr);
    if (!map.ok()) return kChildSetup;
    __u32 k1 = 1, k5 = 5;
    __u64 v = 101;
    if (update(b, map.get(), &k1, &v).ret != 0) return kChildSetup;
    Page none(PROT_NONE), ro(PROT_READ);
    TwoPages two;
    if (!none.get() || !ro.get() || !two.p) return kChildSetup;
    unsigned char* straddle4 = two.p + 4096 - 2;  // 2 readable bytes of a 4-byte key
    unsigned char* straddle8 = two.p + 4096 - 4;  // 4 of 8 bytes
    std::memcpy(straddle4, &k1, 2);
    Res r{0, 0};
    switch (row) {
        case 0:
            r = lookup(b, map.get(), none.get(), &v);
            break;
        case 1:
            r = lookup(b, map.get(), straddle4, &v);
            break;
        case 2:
            r = update(b, map.get(), none.get(), &v);
            break;
        case 3:
            r = update(b, map.get(), &k5, none.get());
            break;
        case 4:
            r = update(b, map.get(), &k5, straddle8);
            break;
        case 5:
            r = del(b, map.get(), none.get());
            break;
        case 6:
            r = next_key(b, map.get(), none.get(), &k5);
            break;
        case 7:
            r = next_key(b, map.get(), nullptr, ro.get());
            break;
        case 8:
            r = lookup_del(b, map.get(), none.get(), &v);
            break;
        case 9:
            r = lookup(b, map.get(), &k1, ro.get());
            break;
        case 10:
            r = lookup(b, map.get(), &k1, straddle8);
            break;
        case 11:
            r = lookup_del(b, map.get(), &k1, ro.get());
            break;
        default:
            return kChildSetup;
    }
    // Updates that failed must not have added key 5; lookups must not have removed key 1,
    // except LOOKUP_AND_DELETE of a present key, which deletes before the copy-out.
    __u64 tmp = 0;
    bool has1 = lookup(b, map.get(), &k1, &tmp).ret == 0;
    bool has5 = lookup(b, map.get(), &k5, &tmp).ret == 0;
    if (r.ret != 0 && (has5 || has1 != (row != 11))) return 202;
    if (r.ret == 0) return kChildOk;
    return child_code(r.err);
}

}  // namespace

BPFMAP_CHILD(hash_bad_ptr) {
    if (args.size() != 2) return kChildSetup;
    return bad_ptr_status(Backend{"library", false}, static_cast<unsigned>(std::stoul(args[0])),
                          std::stoi(args[1]));
}

BOOST_DATA_TEST_CASE(hash_bad_pointer_table, bdata::make(kBackends) * bdata::make(kCfgs), backend,
                     cfg) {
    if (!usable(backend)) return;
    for (int row = 0; row < static_cast<int>(std::size(kBadPtrRows)); ++row) {
        const std::string label = label_of(backend, cfg, kBadPtrRows[row]);
        int st = backend.kernel ? bad_ptr_status(backend, cfg.flags, row)
                                : bt::spawn_child("hash_bad_ptr",
                                                  {std::to_string(cfg.flags), std::to_string(row)})
                                      .wait();
        BOOST_CHECK_MESSAGE(st == EFAULT, label + ": expected -1/" + errname(EFAULT) + ", got " +
                                              (st == 202 ? std::string("EFAULT but the map changed")
                                                         : child_status_str(st)));
    }
}

// §2.1/§5, every flags bit on its own: UPDATE of an existing key (NOEXIST → EEXIST, EXIST → 0,
// anything else → EINVAL); LOOKUP and LOOKUP_AND_DELETE (always EINVAL: bad flags, or F_LOCK
// without a spin lock); LOOKUP on a closed fd (EINVAL before EBADF except for F_LOCK).
BOOST_DATA_TEST_CASE(hash_flag_bits_sweep, bdata::make(kBackends) * bdata::make(kCfgs), backend,
                     cfg) {
    if (!usable(backend)) return;
    Ctx c{backend, {}};
    if (!make_map(c, cfg, false, label_of(backend, cfg, "flag bits sweep"))) return;
    std::string bad;
    const int closed = closed_fd();
    for (unsigned bit = 0; bit < 64; ++bit) {
        const __u64 f = 1ull << bit;
        const int want_update = f == BPF_NOEXIST ? EEXIST : f == BPF_EXIST ? kOK : EINVAL;
        const auto check = [&](const char* what, Res r, int want) {
            bool ok = want == kOK ? r.ret == 0 : (r.ret == -1 && r.err == want);
            if (!ok) bad += std::string(" ") + what + "(1<<" + std::to_string(bit) + ")→" + show(r);
        };
        check("UPDATE", update(backend, c.fd(), &c.k1, &c.vnew, f), want_update);
        check("LOOKUP", lookup(backend, c.fd(), &c.k1, c.out, f), EINVAL);
        check("LOOKUP_AND_DELETE", lookup_del(backend, c.fd(), &c.k1, c.out, f), EINVAL);
        check("LOOKUP closed fd", lookup(backend, closed, &c.k1, c.out, f),
              f == BPF_F_LOCK ? EBADF : EINVAL);
    }
    BOOST_CHECK_MESSAGE(bad.empty(), label_of(backend, cfg, "each flags bit alone")
                                         << "; wrong:" << bad);
    key_is(c, label_of(backend, cfg, "flag bits sweep"), 1, true, 777);
}

// §4: write-back is exactly value_size bytes (LOOKUP, LOOKUP_AND_DELETE) and exactly key_size
// bytes (GET_NEXT_KEY), also for sizes that are not a multiple of 8.
BOOST_DATA_TEST_CASE(hash_odd_sizes_write_back, bdata::make(kBackends) * bdata::make(kCfgs),
                     backend, cfg) {
    if (!usable(backend)) return;
    const std::pair<unsigned, unsigned> sizes[] = {{1, 1}, {3, 5}, {7, 13}, {9, 3}, {33, 65}};
    for (const auto& [ks, vs] : sizes) {
        const std::string base = label_of(
            backend, cfg, "key_size " + std::to_string(ks) + ", value_size " + std::to_string(vs));
        Res cr = create(backend, BPF_MAP_TYPE_HASH, ks, vs, 4, cfg.flags);
        Fd map = own(cr);
        if (!expect(base + " (setup: create)", cr, kNewFd)) continue;
        std::vector<unsigned char> key(ks, 0x11), value(vs, 0x22);
        if (!expect(base + ": UPDATE", update(backend, map.get(), key.data(), value.data()), kOK))
            continue;
        std::vector<unsigned char> out(vs + 64, 0xEE);
        expect(base + ": LOOKUP", lookup(backend, map.get(), key.data(), out.data()), kOK);
        expect_true(base + ": LOOKUP", std::equal(value.begin(), value.end(), out.begin()),
                    "wrong value bytes");
        expect_true(
            base + ": LOOKUP",
            std::all_of(out.begin() + vs, out.end(), [](unsigned char b) { return b == 0xEE; }),
            "bytes past value_size were written");
        std::vector<unsigned char> nk(ks + 64, 0xEE);
        expect(base + ": GET_NEXT_KEY(NULL)", next_key(backend, map.get(), nullptr, nk.data()),
               kOK);
        expect_true(base + ": GET_NEXT_KEY(NULL)", std::equal(key.begin(), key.end(), nk.begin()),
                    "wrong key bytes");
        expect_true(
            base + ": GET_NEXT_KEY(NULL)",
            std::all_of(nk.begin() + ks, nk.end(), [](unsigned char b) { return b == 0xEE; }),
            "bytes past key_size were written");
        // A key that differs only in its last byte is another key.
        std::vector<unsigned char> other = key;
        other.back() = 0x12;
        expect(base + ": LOOKUP of a key differing in the last byte",
               lookup(backend, map.get(), other.data(), out.data()), ENOENT);
        std::fill(out.begin(), out.end(), 0xEE);
        expect(base + ": LOOKUP_AND_DELETE", lookup_del(backend, map.get(), key.data(), out.data()),
               kOK);
        expect_true(
            base + ": LOOKUP_AND_DELETE",
            std::equal(value.begin(), value.end(), out.begin()) &&
                std::all_of(out.begin() + vs, out.end(), [](unsigned char b) { return b == 0xEE; }),
            "wrong bytes written (value_size exactly)");
    }
}
