#include "type_rows.hpp"

#include <bpfmap/bpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <optional>

#include <fmt/format.h>

#include "maps.hpp"
#include "runner.hpp"
#include "shm/cpus.hpp"

namespace bench {
namespace {

constexpr std::uint32_t kEntries = 1024;

enum class TOp { lookup, update, update_evict, push_pop, push, peek, this_cpu_add };

const char* top_name(TOp op) {
    switch (op) {
        case TOp::lookup:
            return "lookup";
        case TOp::update:
            return "update";
        case TOp::update_evict:
            return "update-evict";
        case TOp::push_pop:
            return "push+pop";
        case TOp::push:
            return "push";
        case TOp::peek:
            return "peek";
        case TOp::this_cpu_add:
            return "this_cpu_add";
    }
    return "?";
}

enum class KeyKind { none, hash, index, lpm };

struct TypeCase {
    const char* name;
    __u32 type;
    KeyKind keys;
    __u32 flags;
    bool percpu;
    std::vector<TOp> ops;
};

const std::vector<TypeCase>& type_cases() {
    static const std::vector<TypeCase> cases = {
        {"PERCPU_HASH",
         BPF_MAP_TYPE_PERCPU_HASH,
         KeyKind::hash,
         0,
         true,
         {TOp::lookup, TOp::update, TOp::this_cpu_add}},
        {"PERCPU_ARRAY",
         BPF_MAP_TYPE_PERCPU_ARRAY,
         KeyKind::index,
         0,
         true,
         {TOp::lookup, TOp::update, TOp::this_cpu_add}},
        {"LRU_HASH",
         BPF_MAP_TYPE_LRU_HASH,
         KeyKind::hash,
         0,
         false,
         {TOp::lookup, TOp::update, TOp::update_evict}},
        {"LRU_PERCPU_HASH",
         BPF_MAP_TYPE_LRU_PERCPU_HASH,
         KeyKind::hash,
         0,
         true,
         {TOp::lookup, TOp::update, TOp::update_evict}},
        {"QUEUE", BPF_MAP_TYPE_QUEUE, KeyKind::none, 0, false, {TOp::push_pop}},
        {"STACK", BPF_MAP_TYPE_STACK, KeyKind::none, 0, false, {TOp::push_pop}},
        {"BLOOM_FILTER",
         BPF_MAP_TYPE_BLOOM_FILTER,
         KeyKind::none,
         0,
         false,
         {TOp::push, TOp::peek}},
        {"LPM_TRIE",
         BPF_MAP_TYPE_LPM_TRIE,
         KeyKind::lpm,
         BPF_F_NO_PREALLOC,
         false,
         {TOp::lookup, TOp::update}},
    };
    return cases;
}

std::uint64_t mix(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// struct bpf_lpm_trie_key with 4 data bytes: an IPv4 prefix.
struct LpmKey4 {
    std::uint32_t prefixlen;
    unsigned char addr[4];
};

// The keys and values of one type's rows, precomputed and the same for both implementations.
struct TypeWorkload {
    unsigned key_size = 0;
    unsigned user_value_size = 8;
    std::vector<unsigned char> fill_keys;  // kEntries keys of key_size bytes
    std::vector<std::uint64_t> values;     // BLOOM: the values pushed by the fill
    // Per op kind: the keys (or BLOOM values) the timed ops use, a power-of-two count.
    std::vector<unsigned char> op_keys;
    std::vector<unsigned char> update_keys;  // LPM: the stored prefixes; others: op_keys
    std::vector<unsigned char> evict_keys;
    std::uint64_t mask = 0;

    const void* op_key(std::uint64_t i) const { return &op_keys[(i & mask) * key_size]; }
    const void* update_key(std::uint64_t i) const {
        return update_keys.empty() ? op_key(i) : &update_keys[(i & mask) * key_size];
    }
    const void* evict_key(std::uint64_t i) const { return &evict_keys[(i & mask) * key_size]; }

    TypeWorkload(const TypeCase& c, std::uint64_t ops) {
        key_size = c.keys == KeyKind::none ? 0 : c.keys == KeyKind::lpm ? 8 : 4;
        user_value_size = c.percpu ? 8 * bpfmap::shm::possible_cpu_count() : 8;
        std::uint64_t len = 1024;
        while (len < ops && len < (std::uint64_t{1} << 20)) len <<= 1;
        mask = len - 1;
        std::uint64_t state = 0xB10Cull ^ c.type;
        std::vector<LpmKey4> lpm(kEntries);
        for (std::uint32_t i = 0; i < kEntries; ++i) {
            if (c.keys == KeyKind::lpm) {
                lpm[i].prefixlen = 8 + static_cast<std::uint32_t>(mix(state) % 25);
                const std::uint32_t a = static_cast<std::uint32_t>(mix(state));
                std::memcpy(lpm[i].addr, &a, 4);
                append(fill_keys, &lpm[i], sizeof lpm[i]);
            } else if (c.keys != KeyKind::none) {
                const std::uint32_t k = c.keys == KeyKind::hash ? i * 0x9E3779B1u : i;
                append(fill_keys, &k, 4);
            }
            values.push_back(mix(state));
        }
        for (std::uint64_t j = 0; j < len; ++j) {
            const auto i = static_cast<std::uint32_t>(mix(state) % kEntries);
            if (c.keys == KeyKind::lpm) {
                // An address inside a stored prefix (its own address, all 32 bits).
                LpmKey4 k = lpm[i];
                k.prefixlen = 32;
                append(op_keys, &k, sizeof k);
                append(update_keys, &lpm[i], sizeof lpm[i]);
            } else if (c.keys == KeyKind::none) {
                append(op_keys, &values[i], 8);  // BLOOM: a value that was pushed
            } else {
                append(op_keys, &fill_keys[i * key_size], key_size);
            }
            if (c.keys == KeyKind::hash) {
                const std::uint32_t k =
                    static_cast<std::uint32_t>(mix(state) % (8 * kEntries)) * 0x9E3779B1u;
                append(evict_keys, &k, 4);
            }
        }
        if (c.keys == KeyKind::none) key_size = 8;  // op_key() strides over 8-byte values
    }

    static void append(std::vector<unsigned char>& v, const void* p, std::size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        v.insert(v.end(), b, b + n);
    }
};

template <class Sys>
class TypedMap {
  public:
    static constexpr bool kUserMemory = Sys::kUserMemory;
    TypedMap() = default;
    TypedMap(const TypedMap&) = delete;
    TypedMap& operator=(const TypedMap&) = delete;
    ~TypedMap() {
        if (fd_ >= 0) ::close(fd_);
    }

    std::string open(const TypeCase& c, const TypeWorkload& w) {
        union bpf_attr attr;
        std::memset(&attr, 0, sizeof attr);
        attr.map_type = c.type;
        attr.key_size = c.keys == KeyKind::none ? 0 : w.key_size;
        attr.value_size = 8;
        // LRU maps get room for twice the keys, so that filling them never evicts (the kernel's
        // LRU may evict before max_entries is reached); update-evict then uses 8x the keys.
        attr.max_entries = c.type == BPF_MAP_TYPE_LRU_HASH || c.type == BPF_MAP_TYPE_LRU_PERCPU_HASH
                               ? 2 * kEntries
                               : kEntries;
        attr.map_flags = c.flags;
        if (c.type == BPF_MAP_TYPE_BLOOM_FILTER) attr.map_extra = 5;
        std::strncpy(attr.map_name, "bpfmap_bench", sizeof attr.map_name - 1);
        fd_ = Sys::call(BPF_MAP_CREATE, &attr, sizeof attr);
        if (fd_ < 0)
            return fmt::format("bpf(BPF_MAP_CREATE){} of {} failed: {}", Sys::kCall, c.name,
                               errno_text(errno));
        // Fill: every key (QUEUE/STACK: half full, so push+pop never meets full or empty).
        std::vector<unsigned char> value(w.user_value_size);
        for (std::uint32_t i = 0; i < kEntries; ++i) {
            std::memcpy(value.data(), &w.values[i], 8);
            bool ok = true;
            if (c.keys != KeyKind::none)
                ok = elem(BPF_MAP_UPDATE_ELEM, &w.fill_keys[i * w.key_size], value.data(), 0);
            else if (c.type == BPF_MAP_TYPE_BLOOM_FILTER || i < kEntries / 2)
                ok = elem(BPF_MAP_UPDATE_ELEM, nullptr, value.data(), 0);
            if (!ok) return fmt::format("filling {}: update failed: {}", c.name, errno_text(errno));
        }
        return {};
    }

    int fd() const { return fd_; }

    bool elem(int cmd, const void* key, const void* value, __u64 flags) const {
        union bpf_attr attr;
        std::memset(&attr, 0, kElemAttrSize);
        attr.map_fd = static_cast<__u32>(fd_);
        attr.key = reinterpret_cast<std::uintptr_t>(key);
        attr.value = reinterpret_cast<std::uintptr_t>(value);
        attr.flags = flags;
        return Sys::call(cmd, &attr, kElemAttrSize) == 0;
    }

  private:
    int fd_ = -1;
};

// The timed loop of one op kind: n ops starting at position `start` of the workload.
template <class M>
std::uint64_t run_type_ops(const M& m, TOp op, const TypeWorkload& w, std::uint64_t start,
                           std::uint64_t n, std::int32_t& first_errno) {
    std::vector<unsigned char> value(w.user_value_size);
    std::uint64_t failures = 0;
    auto check = [&](bool ok) {
        if (!ok && failures++ == 0) first_errno = errno;
    };
    const std::uint64_t end = start + n;
    switch (op) {
        case TOp::lookup:
            for (std::uint64_t i = start; i < end; ++i)
                check(m.elem(BPF_MAP_LOOKUP_ELEM, w.op_key(i), value.data(), 0));
            break;
        case TOp::update:
            for (std::uint64_t i = start; i < end; ++i) {
                std::memcpy(value.data(), &i, 8);
                check(m.elem(BPF_MAP_UPDATE_ELEM, w.update_key(i), value.data(), BPF_ANY));
            }
            break;
        case TOp::update_evict:
            for (std::uint64_t i = start; i < end; ++i) {
                std::memcpy(value.data(), &i, 8);
                check(m.elem(BPF_MAP_UPDATE_ELEM, w.evict_key(i), value.data(), BPF_ANY));
            }
            break;
        case TOp::push_pop:
            for (std::uint64_t i = start; i < end; ++i) {
                std::memcpy(value.data(), &i, 8);
                check(m.elem(BPF_MAP_UPDATE_ELEM, nullptr, value.data(), BPF_ANY));
                check(m.elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, nullptr, value.data(), 0));
            }
            break;
        case TOp::push:
            for (std::uint64_t i = start; i < end; ++i)
                check(m.elem(BPF_MAP_UPDATE_ELEM, nullptr, w.op_key(i), BPF_ANY));
            break;
        case TOp::peek:
            for (std::uint64_t i = start; i < end; ++i)
                check(m.elem(BPF_MAP_LOOKUP_ELEM, nullptr, w.op_key(i), 0));
            break;
        case TOp::this_cpu_add:
            for (std::uint64_t i = start; i < end; ++i) {
                if constexpr (M::kUserMemory) {
                    void* slot = bpfmap_this_cpu_ptr(m.fd(), w.op_key(i));
                    check(slot != nullptr);
                    if (slot)
                        __atomic_fetch_add(static_cast<std::uint64_t*>(slot), 1, __ATOMIC_RELAXED);
                } else {
                    // The kernel offers a process no per-CPU access: a whole-value update.
                    std::memcpy(value.data(), &i, 8);
                    check(m.elem(BPF_MAP_UPDATE_ELEM, w.op_key(i), value.data(), BPF_ANY));
                }
            }
            break;
    }
    return failures;
}

template <class M>
RowResult run_type_row(const M& m, TOp op, unsigned procs, const TypeWorkload& w,
                       const TypeRowsOptions& o) {
    const double timeout = o.timeout_s > 0
                               ? o.timeout_s
                               : 10.0 + static_cast<double>((o.ops + o.warmup) * procs) * 40e-6;
    return run_workers(
        procs, o.ops, timeout,
        [&](unsigned worker, const std::function<void()>& barrier, WorkerReport& report) {
            const std::uint64_t start = (w.mask + 1) / 2 * worker;
            std::int32_t err = 0;
            // The warm-up also faults the forked worker's view of the shared pages in.
            const std::uint64_t warm = std::max<std::uint64_t>(o.warmup, 2 * kEntries);
            if (std::uint64_t failed = run_type_ops(m, op, w, start + w.mask / 4, warm, err)) {
                fmt::format_to_n(report.error, sizeof report.error - 1,
                                 "warm-up: {} ops failed, first with {}", failed, errno_text(err));
                return;
            }
            barrier();
            report.start_ns = now_ns();
            report.failures = run_type_ops(m, op, w, start, o.ops, report.first_errno);
            report.end_ns = now_ns();
        });
}

struct TypeRow {
    const TypeCase* c;
    TOp op;
    unsigned procs;
    RowResult impl[2];  // library, kernel
};

template <class Sys>
void measure_type(int impl, const TypeCase& c, const TypeWorkload& w, std::vector<TypeRow>& rows,
                  const TypeRowsOptions& o, std::vector<std::string>& notes) {
    const char* impl_name = impl == 0 ? "library" : "kernel";
    TypedMap<Sys> m;
    std::string why;
    try {
        why = m.open(c, w);
    } catch (const std::exception& e) {
        why = fmt::format("setup: {}", e.what());
    }
    if (!why.empty()) {
        for (auto& r : rows) r.impl[impl].error = why;
        notes.push_back(fmt::format("{}: {} [{}]", impl_name, why, c.name));
        return;
    }
    for (auto& r : rows) {
        const RowResult best =
            best_of(o.repeat, [&] { return run_type_row(m, r.op, r.procs, w, o); });
        r.impl[impl] = best;
        if (!best.ok)
            notes.push_back(fmt::format("{}: {} [{} {} {}p]", impl_name, best.error, c.name,
                                        top_name(r.op), r.procs));
    }
}

std::string ns_cell(const RowResult& r) {
    if (!r.ok) return "n/a";
    return r.ns_per_op >= 100 ? fmt::format("{:.0f}", r.ns_per_op)
                              : fmt::format("{:.1f}", r.ns_per_op);
}

std::optional<double> over(const RowResult& num, const RowResult& den) {
    if (!num.ok || !den.ok || den.ns_per_op <= 0) return std::nullopt;
    return num.ns_per_op / den.ns_per_op;
}

}  // namespace

bool run_type_rows(const TypeRowsOptions& o, std::vector<std::string>& notes) {
    if (!o.json) {
        fmt::print(
            "\nevery other map type: {} entries, 8-byte values (per-CPU: 8 bytes x {} possible "
            "CPUs through bpf()), {} ops per process per row\n",
            kEntries, bpfmap::shm::possible_cpu_count(), o.ops);
        fmt::print("{:<16} {:<13} {:>5}  {:>13} {:>13}  {:>14}\n", "map", "op", "procs",
                   "library ns/op", "kernel ns/op", "kernel/library");
    }
    bool library_ok = true;
    for (const TypeCase& c : type_cases()) {
        const TypeWorkload w(c, o.ops + o.warmup);
        std::vector<TypeRow> rows;
        for (TOp op : c.ops)
            for (unsigned procs : {1u, 2u}) rows.push_back(TypeRow{&c, op, procs, {}});
        if (o.run_library)
            measure_type<LibrarySys>(0, c, w, rows, o, notes);
        else
            for (auto& r : rows) r.impl[0].error = "not selected (--impl)";
        if (o.run_kernel)
            measure_type<KernelSys>(1, c, w, rows, o, notes);
        else
            for (auto& r : rows) r.impl[1].error = "not selected (--impl)";
        for (const auto& r : rows) {
            library_ok = library_ok && (r.impl[0].ok || !o.run_library);
            const auto k = over(r.impl[1], r.impl[0]);
            if (o.json) {
                auto num = [](const RowResult& x) {
                    return x.ok ? fmt::format("{:.3f}", x.ns_per_op) : std::string("null");
                };
                fmt::print(
                    "{{\"section\":\"types\",\"map\":\"{}\",\"entries\":{},\"op\":\"{}\","
                    "\"procs\":{},\"library_ns_per_op\":{},\"kernel_ns_per_op\":{},"
                    "\"kernel_over_library\":{}}}\n",
                    c.name, kEntries, top_name(r.op), r.procs, num(r.impl[0]), num(r.impl[1]),
                    k ? fmt::format("{:.3f}", *k) : std::string("null"));
            } else {
                fmt::print("{:<16} {:<13} {:>5}  {:>13} {:>13}  {:>14}\n", c.name, top_name(r.op),
                           r.procs, ns_cell(r.impl[0]), ns_cell(r.impl[1]),
                           k ? fmt::format("{:.1f}x", *k) : std::string("n/a"));
            }
        }
        std::fflush(stdout);
    }
    return library_ok;
}

}  // namespace bench
