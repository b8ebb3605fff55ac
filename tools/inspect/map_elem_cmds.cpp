// Element commands: map dump | lookup | update | delete | getnext | peek | push | pop.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "tools/inspect/commands.hpp"
#include "tools/inspect/map_layout.hpp"
#include "tools/inspect/map_ref.hpp"

namespace bpfmap::inspect {
namespace {

struct KeyValue {
    std::vector<std::string> key, value;
    bool has_key = false, has_value = false;
    uint64_t flags = BPF_ANY;
};

bool is_update_flag(const std::string& w) {
    return w == "any" || w == "exist" || w == "noexist";
}

// After MAP: key DATA [value DATA [any|exist|noexist]].
KeyValue parse_kv(const std::vector<std::string>& args, size_t pos, bool key_optional,
                  bool want_value, const std::string& usage) {
    KeyValue kv;
    if (pos >= args.size()) {
        if (key_optional) return kv;
        throw Error(fmt::format("missing 'key'; expected {}", usage));
    }
    if (args[pos] != "key")
        throw Error(fmt::format("unexpected '{}'; expected {}", args[pos], usage));
    kv.has_key = true;
    size_t end = args.size();
    if (want_value && end > pos + 1 && is_update_flag(args[end - 1])) {
        const std::string& f = args[end - 1];
        kv.flags = f == "exist" ? BPF_EXIST : f == "noexist" ? BPF_NOEXIST : BPF_ANY;
        --end;
    }
    size_t i = pos + 1;
    for (; i < end && args[i] != "value"; ++i) kv.key.push_back(args[i]);
    if (i < end) {
        if (!want_value) throw Error(fmt::format("unexpected 'value'; expected {}", usage));
        kv.has_value = true;
        for (++i; i < end; ++i) kv.value.push_back(args[i]);
    }
    if (want_value && !kv.has_value)
        throw Error(fmt::format("missing 'value'; expected {}", usage));
    if (want_value && kv.value.empty())
        throw Error(fmt::format("value: no bytes given; expected {}", usage));
    return kv;
}

// The key as text: LPM prefixes as 10.0.0.0/8 (unless another --key-format was asked for).
std::string key_text(const Context& ctx, const struct bpf_map_info& info, const uint8_t* key) {
    if (is_lpm(info) && ctx.key_format == Format::hex) return lpm_key_text(key, info.key_size);
    return format_text(key, info.key_size, ctx.key_format);
}

// bpftool's print_entry_plain, with --key-format / --value-format for other layouts. Per-CPU
// values: one "value (CPU NN):" line per possible CPU, as bpftool prints them.
std::string entry_text(const Context& ctx, const struct bpf_map_info& info, const uint8_t* key,
                       const uint8_t* value) {
    const ValueLayout l = value_layout(info);
    const bool hex = ctx.key_format == Format::hex && ctx.value_format == Format::hex;
    if (l.per_cpu()) {
        std::string s = fmt::format("key:\n{}\n", key_text(ctx, info, key));
        for (uint32_t cpu = 0; cpu < l.slots; ++cpu)
            s += fmt::format(
                "value (CPU {:02}):{}{}\n", cpu, hex && info.value_size > 16 ? '\n' : ' ',
                format_text(value + cpu * l.stride, info.value_size, ctx.value_format));
        return s;
    }
    const bool break_names = hex && (info.key_size > 16 || info.value_size > 16);
    const bool single_line =
        !hex || (info.key_size + info.value_size <= 24 && !break_names) || is_lpm(info);
    std::string s = "key:";
    s += break_names ? '\n' : ' ';
    s += key_text(ctx, info, key);
    s += single_line ? "  " : "\n";
    s += "value:";
    s += break_names ? '\n' : ' ';
    s += format_text(value, info.value_size, ctx.value_format);
    s += '\n';
    return s;
}

// bpftool's JSON: {"key", "value"}, or {"key", "values": [{"cpu", "value"}...]} for per-CPU
// maps; LPM keys also get "prefix": "10.0.0.0/8" ("key" stays bytes, so 'map load' reads it).
nlohmann::json entry_json(const Context& ctx, const struct bpf_map_info& info, const uint8_t* key,
                          const uint8_t* value) {
    const ValueLayout l = value_layout(info);
    nlohmann::json j = {{"key", format_json(key, info.key_size, ctx.key_format)}};
    if (is_lpm(info)) j["prefix"] = lpm_key_text(key, info.key_size);
    if (!l.per_cpu()) {
        j["value"] = format_json(value, info.value_size, ctx.value_format);
        return j;
    }
    j["values"] = nlohmann::json::array();
    for (uint32_t cpu = 0; cpu < l.slots; ++cpu)
        j["values"].push_back(
            {{"cpu", cpu},
             {"value", format_json(value + cpu * l.stride, info.value_size, ctx.value_format)}});
    return j;
}

int elem_call(int cmd, int fd, const void* key, const void* value_or_next, uint64_t flags = 0) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_fd = static_cast<uint32_t>(fd);
    a.key = reinterpret_cast<uintptr_t>(key);
    if (cmd == BPF_MAP_GET_NEXT_KEY)
        a.next_key = reinterpret_cast<uintptr_t>(value_or_next);
    else
        a.value = reinterpret_cast<uintptr_t>(value_or_next);
    if (cmd != BPF_MAP_DELETE_ELEM && cmd != BPF_MAP_GET_NEXT_KEY) a.flags = flags;
    return call_bpf(cmd, a) == 0 ? 0 : errno;
}

std::string key_words(const Bytes& key) {
    return hex_text(key.data(), static_cast<uint32_t>(key.size()));
}

// A key from the command line: an LPM trie also takes ADDRESS/LEN (10.0.0.0/8, 2001:db8::/32).
Bytes parse_key(const Context& ctx, const OpenMap& m, const std::vector<std::string>& tokens) {
    Bytes key;
    if (is_lpm(m.info) && tokens.size() == 1 && parse_lpm_key(tokens[0], m.info.key_size, key))
        return key;
    return parse_tokens(tokens, ctx.key_format, m.info.key_size, "key");
}

// A value from the command line, as bpftool does it: one CPU's value, copied to every CPU's
// slot for a per-CPU map.
Bytes parse_value(const Context& ctx, const OpenMap& m, const std::vector<std::string>& tokens) {
    const Bytes one = parse_tokens(tokens, ctx.value_format, m.info.value_size, "value");
    const ValueLayout l = value_layout(m.info);
    Bytes all(l.buffer_size());
    for (uint32_t cpu = 0; cpu < l.slots; ++cpu)
        std::copy(one.begin(), one.end(), all.begin() + cpu * l.stride);
    return all;
}

void refuse_keyless(const OpenMap& m, const char* command) {
    if (m.info.key_size == 0)
        throw Error(
            fmt::format("{}: a {} map has no keys, so '{}' does not apply; use map peek, "
                        "map push or map pop",
                        m.what, m.type_name(), command));
}

}  // namespace

int cmd_map_dump(Context& ctx) {
    require_store(ctx);
    size_t pos = 0;
    const MapSelector sel = parse_selector(ctx.args, pos);
    expect_end(ctx.args, pos, "nothing after MAP");
    const OpenMap m = open_map(ctx, sel, false);
    const struct bpf_map_info& info = m.info;
    refuse_keyless(m, "map dump");
    check_format(ctx.key_format, info.key_size, "key");
    check_format(ctx.value_format, info.value_size, "value");

    // A GET_NEXT_KEY walk, printing as it goes: memory stays at one element whatever the size.
    Bytes key(info.key_size), next(info.key_size), value(value_layout(info).buffer_size());
    bool first = true;
    uint64_t found = 0;
    std::string buf;
    if (ctx.out.json) ctx.out.array_begin();
    for (;;) {
        const int err =
            elem_call(BPF_MAP_GET_NEXT_KEY, m.fd, first ? nullptr : key.data(), next.data());
        if (err == ENOENT) break;
        if (err != 0)
            throw Error(fmt::format("{}: walking the keys failed: {}", m.what, errno_text(err)));
        first = false;
        key.swap(next);
        const int lerr = elem_call(BPF_MAP_LOOKUP_ELEM, m.fd, key.data(), value.data());
        if (lerr == ENOENT) continue;  // deleted since GET_NEXT_KEY returned it
        if (lerr != 0)
            throw Error(fmt::format("{}: lookup of key {} failed: {}", m.what, key_words(key),
                                    errno_text(lerr)));
        ++found;
        if (ctx.out.json) {
            ctx.out.array_item(entry_json(ctx, info, key.data(), value.data()));
        } else {
            buf += entry_text(ctx, info, key.data(), value.data());
            if (buf.size() >= (1u << 16)) {
                std::fwrite(buf.data(), 1, buf.size(), stdout);
                buf.clear();
            }
        }
    }
    if (ctx.out.json) {
        ctx.out.array_end();
    } else {
        std::fwrite(buf.data(), 1, buf.size(), stdout);
        fmt::print("Found {} element{}\n", found, found == 1 ? "" : "s");
    }
    return 0;
}

int cmd_map_lookup(Context& ctx) {
    require_store(ctx);
    size_t pos = 0;
    const MapSelector sel = parse_selector(ctx.args, pos);
    const KeyValue kv = parse_kv(ctx.args, pos, false, false, "MAP key DATA");
    const OpenMap m = open_map(ctx, sel, false);
    refuse_keyless(m, "map lookup");
    const Bytes key = parse_key(ctx, m, kv.key);
    check_format(ctx.value_format, m.info.value_size, "value");
    Bytes value(value_layout(m.info).buffer_size());
    const int err = elem_call(BPF_MAP_LOOKUP_ELEM, m.fd, key.data(), value.data());
    if (err == ENOENT) throw Error(fmt::format("{}: key not found: {}", m.what, key_words(key)));
    if (err != 0) throw Error(fmt::format("{}: lookup failed: {}", m.what, errno_text(err)));
    if (ctx.out.json)
        ctx.out.print_json(entry_json(ctx, m.info, key.data(), value.data()));
    else
        ctx.out.print_text(entry_text(ctx, m.info, key.data(), value.data()));
    return 0;
}

int cmd_map_update(Context& ctx) {
    require_store(ctx);
    size_t pos = 0;
    const std::string usage = "MAP key DATA value VALUE [any|exist|noexist]";
    const MapSelector sel = parse_selector(ctx.args, pos);
    const KeyValue kv = parse_kv(ctx.args, pos, false, true, usage);
    const OpenMap m = open_map(ctx, sel, true);
    refuse_keyless(m, "map update");
    const Bytes key = parse_key(ctx, m, kv.key);
    const Bytes value = parse_value(ctx, m, kv.value);
    const int err = elem_call(BPF_MAP_UPDATE_ELEM, m.fd, key.data(), value.data(), kv.flags);
    switch (err) {
        case 0:
            break;
        case EEXIST:
            throw Error(fmt::format("{}: key {} exists (noexist: expected a new key)", m.what,
                                    key_words(key)));
        case ENOENT:
            throw Error(fmt::format("{}: key {} not found (exist: expected an existing key)",
                                    m.what, key_words(key)));
        case E2BIG:
            throw Error(fmt::format(
                "{}: the map is full (max_entries {}){}", m.what, m.info.max_entries,
                m.type_name() == std::string("array") ? "; an array's keys are 0..max_entries-1"
                                                      : ""));
        case EPERM:
            throw Error(fmt::format("{}: the map is frozen (no updates allowed)", m.what));
        default:
            throw Error(fmt::format("{}: update failed: {}", m.what, errno_text(err)));
    }
    if (ctx.out.json) ctx.out.print_json(nullptr);
    return 0;
}

int cmd_map_delete(Context& ctx) {
    require_store(ctx);
    size_t pos = 0;
    const MapSelector sel = parse_selector(ctx.args, pos);
    const KeyValue kv = parse_kv(ctx.args, pos, false, false, "MAP key DATA");
    const OpenMap m = open_map(ctx, sel, true);
    refuse_keyless(m, "map delete");
    const Bytes key = parse_key(ctx, m, kv.key);
    const int err = elem_call(BPF_MAP_DELETE_ELEM, m.fd, key.data(), nullptr);
    if (err == ENOENT) throw Error(fmt::format("{}: key not found: {}", m.what, key_words(key)));
    if (err == EINVAL && m.type_name() == std::string("array"))
        throw Error(fmt::format("{}: elements of an array map cannot be deleted", m.what));
    if (err == EPERM)
        throw Error(fmt::format("{}: the map is frozen (no deletes allowed)", m.what));
    if (err != 0) throw Error(fmt::format("{}: delete failed: {}", m.what, errno_text(err)));
    if (ctx.out.json) ctx.out.print_json(nullptr);
    return 0;
}

int cmd_map_getnext(Context& ctx) {
    require_store(ctx);
    size_t pos = 0;
    const MapSelector sel = parse_selector(ctx.args, pos);
    const KeyValue kv = parse_kv(ctx.args, pos, true, false, "MAP [key DATA]");
    const OpenMap m = open_map(ctx, sel, false);
    refuse_keyless(m, "map getnext");
    Bytes key;
    if (kv.has_key) key = parse_key(ctx, m, kv.key);
    check_format(ctx.key_format, m.info.key_size, "key");
    Bytes next(m.info.key_size);
    const int err =
        elem_call(BPF_MAP_GET_NEXT_KEY, m.fd, kv.has_key ? key.data() : nullptr, next.data());
    if (err == ENOENT)
        throw Error(fmt::format("{}: no next key ({})", m.what,
                                kv.has_key ? "the key given is the last one" : "the map is empty"));
    if (err != 0) throw Error(fmt::format("{}: getnext failed: {}", m.what, errno_text(err)));
    if (ctx.out.json) {
        nlohmann::json j;
        j["key"] = kv.has_key ? format_json(key.data(), m.info.key_size, ctx.key_format)
                              : nlohmann::json();
        j["next_key"] = format_json(next.data(), m.info.key_size, ctx.key_format);
        ctx.out.print_json(j);
    } else {
        // (fmt rather than "\n" + std::string: GCC 12's -O3 misreports that as overlapping.)
        const std::string shown_key = kv.has_key
                                          ? fmt::format("\n{}", key_text(ctx, m.info, key.data()))
                                          : std::string(" None");
        ctx.out.print_text(
            fmt::format("key:{}\nnext key:\n{}\n", shown_key, key_text(ctx, m.info, next.data())));
    }
    return 0;
}

}  // namespace bpfmap::inspect

// Keyless maps (bpftool's map peek | push | pop): QUEUE and STACK hand out their next element;
// a BLOOM_FILTER answers whether a value may have been pushed.
namespace bpfmap::inspect {
namespace {

// After MAP: [value VALUE [exist]]. Returns the value tokens (empty if none); `exist` set if
// the word was given.
std::vector<std::string> parse_value_words(const std::vector<std::string>& args, size_t pos,
                                           bool allow_exist, bool& exist,
                                           const std::string& usage) {
    exist = false;
    if (pos >= args.size()) return {};
    if (args[pos] != "value")
        throw Error(fmt::format("unexpected '{}'; expected {}", args[pos], usage));
    size_t end = args.size();
    if (allow_exist && end > pos + 2 && args[end - 1] == "exist") {
        exist = true;
        --end;
    }
    std::vector<std::string> words(args.begin() + static_cast<long>(pos) + 1,
                                   args.begin() + static_cast<long>(end));
    if (words.empty()) throw Error(fmt::format("value: no bytes given; expected {}", usage));
    return words;
}

void require_keyless(const OpenMap& m, const char* command) {
    if (m.info.key_size != 0)
        throw Error(
            fmt::format("{}: '{}' is for queue, stack and bloom_filter maps; this is a "
                        "{} map (use map lookup / update / delete)",
                        m.what, command, m.type_name()));
}

void print_value(Context& ctx, const OpenMap& m, const Bytes& value) {
    if (ctx.out.json)
        ctx.out.print_json(
            {{"value", format_json(value.data(), m.info.value_size, ctx.value_format)}});
    else
        ctx.out.print_text(fmt::format(
            "value: {}\n", format_text(value.data(), m.info.value_size, ctx.value_format)));
}

}  // namespace

int cmd_map_peek(Context& ctx) {
    require_store(ctx);
    size_t pos = 0;
    const std::string usage = "MAP [value VALUE]";
    const MapSelector sel = parse_selector(ctx.args, pos);
    bool exist;
    const auto words = parse_value_words(ctx.args, pos, false, exist, usage);
    const OpenMap m = open_map(ctx, sel, false);
    require_keyless(m, "map peek");
    check_format(ctx.value_format, m.info.value_size, "value");
    const bool bloom = m.info.type == BPF_MAP_TYPE_BLOOM_FILTER;
    if (bloom != !words.empty())
        throw Error(bloom ? fmt::format("{}: a bloom filter is asked about a value: expected {}",
                                        m.what, "MAP value VALUE")
                          : fmt::format("{}: a {} map's peek takes no value: expected MAP", m.what,
                                        m.type_name()));
    Bytes value = bloom ? parse_value(ctx, m, words) : Bytes(m.info.value_size);
    const int err = elem_call(BPF_MAP_LOOKUP_ELEM, m.fd, nullptr, value.data());
    if (bloom) {
        if (err != 0 && err != ENOENT)
            throw Error(fmt::format("{}: peek failed: {}", m.what, errno_text(err)));
        if (ctx.out.json)
            ctx.out.print_json({{"present", err == 0}});
        else
            ctx.out.print_text(err == 0 ? "maybe present (a bloom filter can say yes wrongly)\n"
                                        : "absent\n");
        return 0;
    }
    if (err == ENOENT) throw Error(fmt::format("{}: the {} is empty", m.what, m.type_name()));
    if (err != 0) throw Error(fmt::format("{}: peek failed: {}", m.what, errno_text(err)));
    print_value(ctx, m, value);
    return 0;
}

int cmd_map_push(Context& ctx) {
    require_store(ctx);
    size_t pos = 0;
    const std::string usage = "MAP value VALUE [exist]";
    const MapSelector sel = parse_selector(ctx.args, pos);
    bool exist;
    const auto words = parse_value_words(ctx.args, pos, true, exist, usage);
    if (words.empty()) throw Error(fmt::format("missing 'value'; expected {}", usage));
    const OpenMap m = open_map(ctx, sel, true);
    require_keyless(m, "map push");
    const Bytes value = parse_value(ctx, m, words);
    const int err =
        elem_call(BPF_MAP_UPDATE_ELEM, m.fd, nullptr, value.data(), exist ? BPF_EXIST : BPF_ANY);
    if (err == E2BIG)
        throw Error(
            fmt::format("{}: the {} is full (max_entries {}); 'exist' overwrites the "
                        "oldest element",
                        m.what, m.type_name(), m.info.max_entries));
    if (err == EPERM) throw Error(fmt::format("{}: the map is frozen (no pushes allowed)", m.what));
    if (err != 0) throw Error(fmt::format("{}: push failed: {}", m.what, errno_text(err)));
    if (ctx.out.json) ctx.out.print_json(nullptr);
    return 0;
}

int cmd_map_pop(Context& ctx) {
    require_store(ctx);
    size_t pos = 0;
    const MapSelector sel = parse_selector(ctx.args, pos);
    expect_end(ctx.args, pos, "nothing after MAP");
    const OpenMap m = open_map(ctx, sel, true);
    require_keyless(m, "map pop");
    check_format(ctx.value_format, m.info.value_size, "value");
    if (m.info.type == BPF_MAP_TYPE_BLOOM_FILTER)
        throw Error(fmt::format("{}: values cannot be removed from a bloom filter", m.what));
    Bytes value(m.info.value_size);
    const int err = elem_call(BPF_MAP_LOOKUP_AND_DELETE_ELEM, m.fd, nullptr, value.data());
    if (err == ENOENT) throw Error(fmt::format("{}: the {} is empty", m.what, m.type_name()));
    if (err == EPERM) throw Error(fmt::format("{}: the map is frozen (no pops allowed)", m.what));
    if (err != 0) throw Error(fmt::format("{}: pop failed: {}", m.what, errno_text(err)));
    print_value(ctx, m, value);
    return 0;
}

}  // namespace bpfmap::inspect
