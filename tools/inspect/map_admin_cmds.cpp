// Commands that make or change maps as objects: map create | pin | freeze | load.
#include <linux/bpf.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "shm/map_type.hpp"
#include "tools/inspect/command_table.hpp"
#include "tools/inspect/commands.hpp"
#include "tools/inspect/map_layout.hpp"
#include "tools/inspect/map_ref.hpp"

namespace bpfmap::inspect {
namespace {

std::string supported_types() {
    std::string s;
    for (uint32_t t = 0; t < kMapTypeProbeLimit; ++t)
        if (const shm::MapTypeOps* ops = shm::find_map_type(t))
            s += fmt::format("{}{}", s.empty() ? "" : ", ", ops->name);
    return s;
}

const shm::MapTypeOps* type_by_name(const std::string& name) {
    for (uint32_t t = 0; t < kMapTypeProbeLimit; ++t)
        if (const shm::MapTypeOps* ops = shm::find_map_type(t); ops && name == ops->name)
            return ops;
    return nullptr;
}

std::string pin_error(const Context& ctx, const std::string& path, int err) {
    switch (err) {
        case EEXIST:
            return fmt::format("{} exists (expected a new path)", path);
        case ENOENT:
        case ENOTDIR:
            return fmt::format("the folder of {} does not exist (expected an existing folder)",
                               path);
        case EPERM:
            return fmt::format(
                "{} is outside the store's root {} or inside its maps/ folder (expected a path "
                "like {}/pins/NAME)",
                path, ctx.root, ctx.root);
        default:
            return fmt::format("pinning at {} failed: {}", path, errno_text(err));
    }
}

int obj_pin(int fd, const std::string& path) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.bpf_fd = static_cast<uint32_t>(fd);
    a.pathname = reinterpret_cast<uintptr_t>(path.c_str());
    return call_bpf(BPF_OBJ_PIN, a) == 0 ? 0 : errno;
}

// Calls f(index, element) for each element of a JSON array, holding one element at a time.
template <typename F>
void for_each_element(const std::string& text, F f) {
    using Event = nlohmann::json::parse_event_t;
    size_t index = 0;
    auto cb = [&](int depth, Event ev, nlohmann::json& parsed) -> bool {
        if (depth == 0 && (ev == Event::object_start || ev == Event::value))
            throw Error(
                "input: expected a JSON array of {\"key\": ..., \"value\": ...} (the "
                "output of 'map dump -j')");
        if (depth == 1 && (ev == Event::value || ev == Event::array_start))
            throw Error(fmt::format(
                "input: element {} is not an object (expected {{\"key\": ..., \"value\": ...}})",
                index));
        if (depth == 1 && ev == Event::object_end) {
            f(index++, parsed);
            return false;  // done with it: keep memory flat
        }
        return true;
    };
    try {
        const nlohmann::json rest = nlohmann::json::parse(text, cb);
        (void)rest;
    } catch (const nlohmann::json::parse_error& e) {
        throw Error(
            fmt::format("input: not valid JSON at byte {} (expected the output of 'map "
                        "dump -j')",
                        e.byte));
    }
}

}  // namespace

int cmd_map_create(Context& ctx) {
    require_store(ctx);
    const std::string usage =
        "FILE type TYPE key KEY_SIZE value VALUE_SIZE entries MAX_ENTRIES name NAME [flags "
        "FLAGS] [extra N]";
    const std::vector<std::string>& a = ctx.args;
    if (a.empty()) throw Error(fmt::format("missing FILE; expected {}", usage));
    const std::string path = a[0];
    std::map<std::string, std::string> kw;
    for (size_t i = 1; i < a.size(); i += 2) {
        static const std::set<std::string> known = {"type", "key",   "value", "entries",
                                                    "name", "flags", "extra"};
        if (!known.count(a[i]))
            throw Error(fmt::format("unexpected '{}'; expected {}", a[i], usage));
        if (i + 1 >= a.size())
            throw Error(fmt::format("'{}' needs a value; expected {}", a[i], usage));
        if (kw.count(a[i])) throw Error(fmt::format("'{}' given twice", a[i]));
        kw[a[i]] = a[i + 1];
    }
    for (const char* required : {"type", "key", "value", "entries", "name"})
        if (!kw.count(required))
            throw Error(fmt::format("missing '{}'; expected {}", required, usage));
    const shm::MapTypeOps* ops = type_by_name(kw["type"]);
    if (!ops)
        throw Error(fmt::format("type '{}' is not a map type bpfmap supports (expected one of: {})",
                                kw["type"], supported_types()));
    const std::string& name = kw["name"];
    if (name.size() >= BPF_OBJ_NAME_LEN)
        throw Error(fmt::format("name '{}' is {} characters (expected at most {})", name,
                                name.size(), BPF_OBJ_NAME_LEN - 1));
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.map_type = ops->map_type;
    attr.key_size = static_cast<uint32_t>(parse_unsigned(kw["key"], UINT32_MAX, "key size"));
    attr.value_size = static_cast<uint32_t>(parse_unsigned(kw["value"], UINT32_MAX, "value size"));
    attr.max_entries =
        static_cast<uint32_t>(parse_unsigned(kw["entries"], UINT32_MAX, "max_entries"));
    if (kw.count("flags"))
        attr.map_flags = static_cast<uint32_t>(parse_unsigned(kw["flags"], UINT32_MAX, "flags"));
    if (kw.count("extra")) attr.map_extra = parse_unsigned(kw["extra"], UINT64_MAX, "map_extra");
    std::memcpy(attr.map_name, name.data(), name.size());
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) throw Error(pin_error(ctx, path, EEXIST));

    const int fd = call_bpf(BPF_MAP_CREATE, attr);
    if (fd < 0) {
        const int err = errno;
        if (err == EINVAL || err == E2BIG)
            throw Error(fmt::format(
                "creating the {} map failed: {} (key {}, value {}, entries {}, flags {:#x} are "
                "not valid for type {})",
                ops->name, errno_text(err), attr.key_size, attr.value_size, attr.max_entries,
                attr.map_flags, ops->name));
        throw Error(fmt::format("creating the {} map failed: {}", ops->name, errno_text(err)));
    }
    OpenMap m;
    m.fd = fd;  // closed (and so destroyed, unless pinned) when this returns
    if (const int err = obj_pin(fd, path); err != 0) throw Error(pin_error(ctx, path, err));
    union bpf_attr ia;
    std::memset(&ia, 0, sizeof ia);
    struct bpf_map_info info {};
    ia.info.bpf_fd = static_cast<uint32_t>(fd);
    ia.info.info_len = sizeof info;
    ia.info.info = reinterpret_cast<uintptr_t>(&info);
    (void)call_bpf(BPF_OBJ_GET_INFO_BY_FD, ia);
    if (ctx.out.json) ctx.out.print_json({{"id", info.id}, {"pinned", path}});
    return 0;
}

int cmd_map_pin(Context& ctx) {
    require_store(ctx);
    size_t pos = 0;
    const MapSelector sel = parse_selector(ctx.args, pos);
    if (pos >= ctx.args.size()) throw Error("missing FILE; expected MAP FILE");
    const std::string path = ctx.args[pos++];
    expect_end(ctx.args, pos, "nothing after FILE");
    const OpenMap m = open_map(ctx, sel, false);
    if (const int err = obj_pin(m.fd, path); err != 0)
        throw Error(fmt::format("{}: {}", m.what, pin_error(ctx, path, err)));
    if (ctx.out.json) ctx.out.print_json(nullptr);
    return 0;
}

int cmd_map_freeze(Context& ctx) {
    require_store(ctx);
    size_t pos = 0;
    const MapSelector sel = parse_selector(ctx.args, pos);
    expect_end(ctx.args, pos, "nothing after MAP");
    const OpenMap m = open_map(ctx, sel, true);
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<uint32_t>(m.fd);
    if (call_bpf(BPF_MAP_FREEZE, a) != 0) {
        const int err = errno;
        if (err == EBUSY || err == EPERM)
            throw Error(fmt::format("{}: the map is already frozen", m.what));
        throw Error(fmt::format("{}: freeze failed: {}", m.what, errno_text(err)));
    }
    if (ctx.out.json) ctx.out.print_json(nullptr);
    return 0;
}

int cmd_map_load(Context& ctx) {
    require_store(ctx);
    size_t pos = 0;
    const MapSelector sel = parse_selector(ctx.args, pos);
    std::string file = "-";
    if (pos < ctx.args.size()) file = ctx.args[pos++];
    expect_end(ctx.args, pos, "MAP [FILE]");
    std::string text;
    if (file == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
        std::ifstream in(file, std::ios::binary);
        if (!in) throw Error(fmt::format("cannot read {}: {}", file, errno_text(errno)));
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    const OpenMap m = open_map(ctx, sel, true);
    const uint32_t ks = m.info.key_size, vs = m.info.value_size;
    const bool is_array =
        m.info.type == BPF_MAP_TYPE_ARRAY || m.info.type == BPF_MAP_TYPE_PERCPU_ARRAY;
    const ValueLayout layout = value_layout(m.info);
    if (ks == 0)
        throw Error(
            fmt::format("{}: a {} map has no keys to load; use map push", m.what, m.type_name()));

    // First pass: check every element (and that the new keys fit) before changing anything.
    std::set<Bytes> new_keys;
    Bytes scratch(layout.buffer_size());
    // An element of 'map dump -j': {"key", "value"}, or for a per-CPU map {"key", "values":
    // [{"cpu", "value"}...]} (a single "value" is then copied to every CPU, as bpftool does).
    auto element_kv = [&](size_t index, const nlohmann::json& e, Bytes& key, Bytes& value) {
        auto where = [&](const char* what) {
            return fmt::format("input: element {}: {}", index, what);
        };
        const bool per_cpu_values = layout.per_cpu() && e.contains("values");
        if (!e.contains("key") || !(e.contains("value") || per_cpu_values))
            throw Error(where("expected both \"key\" and \"value\""));
        try {
            key = parse_json(e["key"], ks, "key");
            value.assign(layout.buffer_size(), 0);
            if (per_cpu_values) {
                const auto& vals = e["values"];
                if (!vals.is_array() || vals.size() != layout.slots)
                    throw Error(fmt::format("\"values\": expected one per CPU ({})", layout.slots));
                for (uint32_t cpu = 0; cpu < layout.slots; ++cpu) {
                    const Bytes one = parse_json(vals[cpu].at("value"), vs, "value");
                    std::copy(one.begin(), one.end(), value.begin() + cpu * layout.stride);
                }
            } else {
                const Bytes one = parse_json(e["value"], vs, "value");
                for (uint32_t cpu = 0; cpu < layout.slots; ++cpu)
                    std::copy(one.begin(), one.end(), value.begin() + cpu * layout.stride);
            }
        } catch (const nlohmann::json::exception& err) {
            throw Error(fmt::format("input: element {}: {}", index, err.what()));
        } catch (const Error& err) {
            throw Error(fmt::format("input: element {}: {}", index, err.what()));
        }
    };
    size_t total = 0;
    for_each_element(text, [&](size_t index, const nlohmann::json& e) {
        Bytes key, value;
        element_kv(index, e, key, value);
        ++total;
        if (is_array) {
            uint32_t idx;
            std::memcpy(&idx, key.data(), sizeof idx);
            if (idx >= m.info.max_entries)
                throw Error(
                    fmt::format("input: element {}: key {} is out of range (expected 0..{})", index,
                                idx, m.info.max_entries - 1));
            return;
        }
        union bpf_attr a;
        std::memset(&a, 0, sizeof a);
        a.map_fd = static_cast<uint32_t>(m.fd);
        a.key = reinterpret_cast<uintptr_t>(key.data());
        a.value = reinterpret_cast<uintptr_t>(scratch.data());
        if (call_bpf(BPF_MAP_LOOKUP_ELEM, a) != 0 && errno == ENOENT) new_keys.insert(key);
    });
    if (!is_array) {
        uint64_t count = 0;
        {
            union bpf_attr a;
            std::memset(&a, 0, sizeof a);
            a.map_fd = static_cast<uint32_t>(m.fd);
            Bytes k(ks), n(ks);
            bool first = true;
            // Elements present now: a GET_NEXT_KEY walk (no lock, nothing kept).
            for (;;) {
                a.key = first ? 0 : reinterpret_cast<uintptr_t>(k.data());
                a.next_key = reinterpret_cast<uintptr_t>(n.data());
                if (call_bpf(BPF_MAP_GET_NEXT_KEY, a) != 0) break;
                first = false;
                k.swap(n);
                ++count;
            }
        }
        if (count + new_keys.size() > m.info.max_entries)
            throw Error(
                fmt::format("{}: {} new keys do not fit: the map holds {} of max_entries {}",
                            m.what, new_keys.size(), count, m.info.max_entries));
    }
    new_keys.clear();

    // Second pass: apply.
    size_t loaded = 0;
    for_each_element(text, [&](size_t index, const nlohmann::json& e) {
        Bytes key, value;
        element_kv(index, e, key, value);
        union bpf_attr a;
        std::memset(&a, 0, sizeof a);
        a.map_fd = static_cast<uint32_t>(m.fd);
        a.key = reinterpret_cast<uintptr_t>(key.data());
        a.value = reinterpret_cast<uintptr_t>(value.data());
        a.flags = BPF_ANY;
        if (call_bpf(BPF_MAP_UPDATE_ELEM, a) != 0) {
            const int err = errno;
            throw Error(fmt::format("{}: element {}: update failed: {}{} ({} of {} loaded)", m.what,
                                    index, errno_text(err),
                                    err == EPERM ? " (the map is frozen)" : "", loaded, total));
        }
        ++loaded;
    });
    if (ctx.out.json)
        ctx.out.print_json({{"loaded", loaded}});
    else
        ctx.out.print_text(fmt::format("Loaded {} element{}\n", loaded, loaded == 1 ? "" : "s"));
    return 0;
}

}  // namespace bpfmap::inspect
