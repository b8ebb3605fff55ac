// bpfmap-bench: ns/op of BPF map lookup and update through the library's bpf(), the kernel's
// bpf(2) and a naive shared-memory baseline, side by side, in one run.
//
// Rows: (map type HASH|ARRAY, entries 1K|1M, op lookup|update, 1|2 processes). 4-byte keys,
// 8-byte values. Each map is created and filled before fork and shared by the workers (fd
// inherited across fork; the naive baseline's named segment mapping, likewise). Lookups and
// updates use a precomputed pseudo-random sequence of present keys, the same for every
// implementation. An implementation that cannot run (EPERM for the syscall, ENOSYS from a
// placeholder library, ...) gets "n/a" with the reason in the notes; the others still run.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cleanup.hpp"
#include "maps.hpp"
#include "memory_latency.hpp"
#include "runner.hpp"
#include "shm/map_type.hpp"
#include "type_rows.hpp"

namespace bench {
namespace {

constexpr std::array<const char*, 3> kImplNames{"library", "kernel", "naive"};
enum Impl : std::size_t { kLibrary = 0, kKernel = 1, kNaive = 2 };

struct Options {
    bool quick = false;
    bool json = false;
    bool strict = false;
    std::uint64_t ops = 1'000'000;
    unsigned repeat = 3;  // runs per row; the best (lowest ns/op) is reported
    std::string only;
    std::vector<std::string> impls;  // empty: all
    double timeout_s = 0;            // per row; 0: derived from the op count
};

struct Row {
    MapKind kind;
    std::uint32_t entries;
    Op op;
    unsigned procs;
    std::array<RowResult, 3> impl{};
};

const char* kind_name(MapKind k) {
    return k == MapKind::hash ? "HASH" : "ARRAY";
}
const char* kind_json(MapKind k) {
    return k == MapKind::hash ? "hash" : "array";
}
const char* op_name(Op op) {
    return op == Op::lookup ? "lookup" : "update";
}
std::string entries_name(std::uint32_t n) {
    if (n % (1u << 20) == 0) return fmt::format("{}M", n >> 20);
    if (n % (1u << 10) == 0) return fmt::format("{}K", n >> 10);
    return std::to_string(n);
}

// Reasons an implementation could not run, grouped: "<impl>: <reason>" -> where.
class Notes {
  public:
    void add(Impl impl, const std::string& reason, const std::string& where) {
        std::string key = fmt::format("{}: {}", kImplNames[impl], reason);
        auto it = std::find_if(notes_.begin(), notes_.end(),
                               [&](const auto& n) { return n.first == key; });
        if (it == notes_.end()) {
            notes_.push_back({key, {}});
            it = std::prev(notes_.end());
        }
        it->second.push_back(where);
    }
    bool empty() const { return notes_.empty(); }
    void print(std::FILE* out) const {
        for (const auto& [key, where] : notes_) {
            std::string places;
            for (const auto& w : where) places += (places.empty() ? "" : ", ") + w;
            fmt::print(out, "  {}\n      [{}]\n", key, places);
        }
    }

  private:
    std::vector<std::pair<std::string, std::vector<std::string>>> notes_;
};

std::optional<double> ratio(const RowResult& num, const RowResult& den) {
    if (!num.ok || !den.ok || den.ns_per_op <= 0) return std::nullopt;
    return num.ns_per_op / den.ns_per_op;
}

std::string cell_ns(const RowResult& r) {
    if (!r.ok) return "n/a";
    return r.ns_per_op >= 100 ? fmt::format("{:.0f}", r.ns_per_op)
                              : fmt::format("{:.1f}", r.ns_per_op);
}

std::string cell_ratio(const std::optional<double>& r) {
    return r ? fmt::format("{:.1f}x", *r) : std::string("n/a");
}

std::string json_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20)
                    out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
                else
                    out += c;
        }
    }
    return out;
}

std::string json_number(const std::optional<double>& v) {
    return v ? fmt::format("{:.3f}", *v) : std::string("null");
}

void print_table_header() {
    fmt::print("{:<6} {:>7}  {:<6} {:>5}  {:>13} {:>13} {:>13}  {:>14} {:>13}\n", "map", "entries",
               "op", "procs", "library ns/op", "kernel ns/op", "naive ns/op", "kernel/library",
               "naive/library");
}

void print_row(const Row& r, const Options& o) {
    const auto k = ratio(r.impl[kKernel], r.impl[kLibrary]);
    const auto n = ratio(r.impl[kNaive], r.impl[kLibrary]);
    if (!o.json) {
        fmt::print("{:<6} {:>7}  {:<6} {:>5}  {:>13} {:>13} {:>13}  {:>14} {:>13}\n",
                   kind_name(r.kind), entries_name(r.entries), op_name(r.op), r.procs,
                   cell_ns(r.impl[kLibrary]), cell_ns(r.impl[kKernel]), cell_ns(r.impl[kNaive]),
                   cell_ratio(k), cell_ratio(n));
        return;
    }
    std::string errors;
    for (std::size_t i = 0; i < r.impl.size(); ++i) {
        if (r.impl[i].ok) continue;
        errors += fmt::format("{}\"{}\":\"{}\"", errors.empty() ? "" : ",", kImplNames[i],
                              json_escape(r.impl[i].error));
    }
    auto ns = [](const RowResult& x) {
        return x.ok ? std::optional<double>(x.ns_per_op) : std::nullopt;
    };
    fmt::print(
        "{{\"map\":\"{}\",\"entries\":{},\"op\":\"{}\",\"procs\":{},\"ops_per_proc\":{},\"runs\":{}"
        ","
        "\"library_ns_per_op\":{},\"kernel_ns_per_op\":{},\"naive_ns_per_op\":{},"
        "\"kernel_over_library\":{},\"naive_over_library\":{},\"errors\":{{{}}}}}\n",
        kind_json(r.kind), r.entries, op_name(r.op), r.procs, o.ops, o.repeat,
        json_number(ns(r.impl[kLibrary])), json_number(ns(r.impl[kKernel])),
        json_number(ns(r.impl[kNaive])), json_number(k), json_number(n), errors);
}

// Creates and fills one implementation's map, then measures every row of the group with it;
// the map is destroyed on return (fd closed / segment removed).
template <class M>
void measure(Impl impl, const Workload& w, std::vector<Row>& rows, const Options& o,
             std::uint64_t warmup, Notes& notes) {
    const std::string config = fmt::format("{} {}", kind_name(w.kind), entries_name(w.entries));
    if (!o.impls.empty() &&
        std::find(o.impls.begin(), o.impls.end(), kImplNames[impl]) == o.impls.end()) {
        for (auto& r : rows) r.impl[impl].error = "not selected (--impl)";
        notes.add(impl, "not selected (--impl)", config);
        return;
    }
    M map;
    std::string why;
    try {
        why = map.open(w.kind, w.entries);
        if (why.empty()) why = fill_map(map, w);
    } catch (const std::exception& e) {
        why = fmt::format("setup: {}", e.what());
    }
    if (!why.empty()) {
        for (auto& r : rows) r.impl[impl].error = why;
        notes.add(impl, why, config);
        return;
    }
    for (auto& r : rows) {
        const double timeout = o.timeout_s > 0
                                   ? o.timeout_s
                                   : 10.0 + static_cast<double>((o.ops + warmup) * r.procs) * 20e-6;
        const RowResult best = best_of(
            o.repeat, [&] { return run_row(map, r.op, r.procs, w, o.ops, warmup, timeout); });
        r.impl[impl] = best;
        if (!r.impl[impl].ok)
            notes.add(impl, r.impl[impl].error,
                      fmt::format("{} {} {}p", config, op_name(r.op), r.procs));
    }
}

// Bytes of the library's segment region for a 4-byte-key, 8-byte-value HASH map of `entries`.
std::uint64_t hash_region_bytes(std::uint32_t entries) {
    bpfmap::shm::MapSpec spec;
    spec.map_type = BPF_MAP_TYPE_HASH;
    spec.key_size = 4;
    spec.value_size = 8;
    spec.max_entries = entries;
    const auto* ops = bpfmap::shm::find_map_type(BPF_MAP_TYPE_HASH);
    return ops ? ops->region_size(spec) : 0;
}

// What one dependent random read from a mapping the size of the 1M HASH segment costs here,
// and the best ratio a lookup that needs one such read (and nothing else beyond the 1K path)
// could reach against this run's kernel row.
void print_memory_bound(const Row& h1, const Row& hm, const std::string& dir, const Options& o) {
    const std::uint64_t bytes = hash_region_bytes(hm.entries);
    if (bytes == 0) return;
    const MemoryLatency m =
        measure_memory_latency(dir, bytes, o.quick ? 200'000 : 4'000'000, o.quick ? 1 : 3);
    if (!m.ok) {
        fmt::print("  memory bound: not measured ({})\n", m.error);
        return;
    }
    fmt::print(
        "  one dependent random read from a {} MB shared mapping (the 1M HASH segment's "
        "size): {:.0f} ns\n",
        bytes >> 20, m.ns_per_read);
    if (!h1.impl[kLibrary].ok || !hm.impl[kKernel].ok) return;
    const double floor_ns = h1.impl[kLibrary].ns_per_op + m.ns_per_read;
    fmt::print(
        "  a 1M lookup costs at least the 1K lookup + that read = {:.0f} ns, at most {:.1f}x "
        "the kernel in this run\n",
        floor_ns, hm.impl[kKernel].ns_per_op / floor_ns);
    if (hm.impl[kLibrary].ok)
        fmt::print("  the library's 1M lookup costs its 1K lookup + {:.1f} such reads\n",
                   (hm.impl[kLibrary].ns_per_op - h1.impl[kLibrary].ns_per_op) / m.ns_per_read);
}

void print_summary(const std::vector<Row>& rows, const Options& o, const std::string& dir) {
    auto find = [&](MapKind k, std::uint32_t n, Op op, unsigned p) -> const Row* {
        for (const auto& r : rows)
            if (r.kind == k && r.entries == n && r.op == op && r.procs == p) return &r;
        return nullptr;
    };
    fmt::print("\n2-process scaling (aggregate throughput of 2 processes / 1 process):\n");
    for (const auto& r1 : rows) {
        if (r1.procs != 1) continue;
        const Row* r2 = find(r1.kind, r1.entries, r1.op, 2);
        if (r2 == nullptr) continue;
        fmt::print("  {:<6} {:>3} {:<6}  library {:>6}  kernel {:>6}  naive {:>6}\n",
                   kind_name(r1.kind), entries_name(r1.entries), op_name(r1.op),
                   cell_ratio(ratio(r1.impl[kLibrary], r2->impl[kLibrary])),
                   cell_ratio(ratio(r1.impl[kKernel], r2->impl[kKernel])),
                   cell_ratio(ratio(r1.impl[kNaive], r2->impl[kNaive])));
    }

    const std::uint32_t small = 1u << 10, large = 1u << 20;
    const Row* h1 = find(MapKind::hash, small, Op::lookup, 1);
    const Row* h1p2 = find(MapKind::hash, small, Op::lookup, 2);
    const Row* hm = find(MapKind::hash, large, Op::lookup, 1);
    const Row* hmp2 = find(MapKind::hash, large, Op::lookup, 2);
    if (h1 == nullptr && hm == nullptr) return;
    fmt::print("\nlibrary targets, HASH lookup{}:\n",
               o.quick ? " (--quick: few ops, expect noise)" : "");
    auto check = [](const char* what, const std::optional<double>& v, double target) {
        fmt::print("  {:<44} {:>8}  target >= {:.1f}x  {}\n", what, cell_ratio(v), target,
                   !v ? "n/a" : (*v >= target ? "ok" : "MISSED"));
    };
    if (h1 != nullptr)
        check("1K, 1 process: kernel / library", ratio(h1->impl[kKernel], h1->impl[kLibrary]), 40);
    if (hm != nullptr)
        check("1M, 1 process: kernel / library", ratio(hm->impl[kKernel], hm->impl[kLibrary]), 20);
    if (h1 != nullptr && h1p2 != nullptr)
        check("1K, 2 processes: aggregate / 1 process",
              ratio(h1->impl[kLibrary], h1p2->impl[kLibrary]), 1.6);
    if (hm != nullptr && hmp2 != nullptr)
        check("1M, 2 processes: aggregate / 1 process",
              ratio(hm->impl[kLibrary], hmp2->impl[kLibrary]), 1.6);
    if (h1p2 != nullptr)
        check("1K, 2 processes: naive / library", ratio(h1p2->impl[kNaive], h1p2->impl[kLibrary]),
              3);
    if (hmp2 != nullptr)
        check("1M, 2 processes: naive / library", ratio(hmp2->impl[kNaive], hmp2->impl[kLibrary]),
              3);
    if (h1 != nullptr && hm != nullptr) print_memory_bound(*h1, *hm, dir, o);
}

int run(const Options& o) {
    TempRoot root;
    install_signal_cleanup(root);
    remove_naive_segment();

    const std::uint64_t warmup = std::clamp<std::uint64_t>(o.ops / 4, 1000, 200'000);
    std::FILE* info = o.json ? stderr : stdout;
    fmt::print(info,
               "bpfmap-bench: {} ops per process per row (+{} warm-up), best of {} run{}, 4-byte "
               "keys, 8-byte values, {} CPUs online\nBPFMAP_ROOT={}{}\n",
               o.ops, warmup, o.repeat, o.repeat == 1 ? "" : "s", sysconf(_SC_NPROCESSORS_ONLN),
               root.path(), root.temporary() ? " (temporary, removed at exit)" : "");
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (double load[1]; getloadavg(load, 1) == 1 && load[0] > 0.5 * static_cast<double>(cpus))
        fmt::print(info,
                   "warning: load average {:.1f} on {} CPUs before the run: other processes "
                   "compete for the CPUs and the numbers will be noisy\n",
                   load[0], cpus);
    fmt::print(info,
               "naive baseline: HASH = boost::unordered_map<uint32_t, uint64_t> in a "
               "managed_shared_memory segment behind one interprocess_mutex; ARRAY = a plain "
               "uint64_t array in a managed segment behind one interprocess_mutex\n\n");
    if (!o.json) print_table_header();
    std::fflush(info);

    std::vector<MapKind> kinds;
    if (o.only.empty() || o.only == "core" || o.only == "hash") kinds.push_back(MapKind::hash);
    if (o.only.empty() || o.only == "core" || o.only == "array") kinds.push_back(MapKind::array);

    Notes notes;
    std::vector<Row> all;
    for (MapKind kind : kinds) {
        for (std::uint32_t entries : {1u << 10, 1u << 20}) {
            const Workload w(kind, entries, o.ops);
            std::vector<Row> rows;
            for (Op op : {Op::lookup, Op::update})
                for (unsigned procs : {1u, 2u}) rows.push_back(Row{kind, entries, op, procs});
            measure<BpfMap<LibrarySys>>(kLibrary, w, rows, o, warmup, notes);
            measure<BpfMap<KernelSys>>(kKernel, w, rows, o, warmup, notes);
            if (kind == MapKind::hash)
                measure<NaiveHash>(kNaive, w, rows, o, warmup, notes);
            else
                measure<NaiveArray>(kNaive, w, rows, o, warmup, notes);
            for (const auto& r : rows) print_row(r, o);
            std::fflush(stdout);
            all.insert(all.end(), rows.begin(), rows.end());
        }
    }

    if (!o.json && !all.empty()) print_summary(all, o, root.path());

    bool types_ok = true;
    std::vector<std::string> type_notes;
    if (o.only.empty() || o.only == "types") {
        TypeRowsOptions t;
        t.ops = std::max<std::uint64_t>(o.ops / 4, 1000);
        t.warmup = std::clamp<std::uint64_t>(t.ops / 4, 1000, 50'000);
        t.repeat = o.repeat;
        t.timeout_s = o.timeout_s;
        t.json = o.json;
        auto selected = [&](const char* impl) {
            return o.impls.empty() ||
                   std::find(o.impls.begin(), o.impls.end(), impl) != o.impls.end();
        };
        t.run_library = selected("library");
        t.run_kernel = selected("kernel");
        types_ok = run_type_rows(t, type_notes);
    }
    if (!notes.empty() || !type_notes.empty()) {
        fmt::print(info, "\nnot measured (n/a):\n");
        notes.print(info);
        for (const auto& n : type_notes) fmt::print(info, "  {}\n", n);
    }
    std::fflush(info);
    if (o.strict) {
        const bool core_ok =
            std::all_of(all.begin(), all.end(), [](const Row& r) { return r.impl[kLibrary].ok; });
        if (!core_ok || !types_ok) {
            fmt::print(stderr, "bpfmap-bench: --strict: the library failed some rows\n");
            return 1;
        }
    }
    return 0;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
    bench::Options o;
    CLI::App app{
        "bpfmap-bench: ns/op of BPF map lookup/update (HASH, ARRAY; 1K, 1M entries; 1 and 2 "
        "processes) through the bpfmap library, the kernel's bpf(2) and a naive "
        "Boost.Interprocess baseline"};
    app.add_flag("--quick", o.quick, "Few ops per row, for a smoke run (about 20000)");
    auto* ops = app.add_option("--ops", o.ops, "Ops per process per row (default 1000000)")
                    ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
    auto* repeat = app.add_option("--repeat", o.repeat,
                                  "Runs per row, best reported (default 3; 1 with --quick)")
                       ->check(CLI::Range(1u, 100u));
    app.add_option("--only", o.only,
                   "Only these rows: hash, array, core (both), types (every other map type)")
        ->check(CLI::IsMember({"hash", "array", "core", "types"}));
    app.add_option("--impl", o.impls,
                   "Only these implementations (comma-separated; default: all three)")
        ->delimiter(',')
        ->check(CLI::IsMember({"library", "kernel", "naive"}));
    app.add_flag("--json", o.json,
                 "Machine-readable: one JSON object per row on stdout (notes go to stderr)");
    app.add_flag("--strict", o.strict, "Exit with status 1 if the library fails any row");
    app.add_option("--timeout", o.timeout_s,
                   "Seconds allowed per row before its workers are killed (default: from --ops)")
        ->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);
    if (o.quick && ops->count() == 0) o.ops = 20'000;
    if (o.quick && repeat->count() == 0) o.repeat = 1;

    try {
        return bench::run(o);
    } catch (const std::exception& e) {
        std::fflush(stdout);
        fmt::print(stderr, "bpfmap-bench: {}\n", e.what());
        return 1;
    }
}
