// Element commands: map dump | lookup | update | delete | getnext.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "tools/inspect/commands.hpp"
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

// bpftool's print_entry_plain, with --key-format / --value-format for other layouts.
std::string entry_text(const Context& ctx, const struct bpf_map_info& info, const uint8_t* key,
                       const uint8_t* value) {
    const bool hex = ctx.key_format == Format::hex && ctx.value_format == Format::hex;
    const bool break_names = hex && (info.key_size > 16 || info.value_size > 16);
    const bool single_line = !hex || (info.key_size + info.value_size <= 24 && !break_names);
    std::string s = "key:";
    s += break_names ? '\n' : ' ';
    s += format_text(key, info.key_size, ctx.key_format);
    s += single_line ? "  " : "\n";
    s += "value:";
    s += break_names ? '\n' : ' ';
    s += format_text(value, info.value_size, ctx.value_format);
    s += '\n';
    return s;
}

nlohmann::json entry_json(const Context& ctx, const struct bpf_map_info& info, const uint8_t* key,
                          const uint8_t* value) {
    return {{"key", format_json(key, info.key_size, ctx.key_format)},
            {"value", format_json(value, info.value_size, ctx.value_format)}};
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

}  // namespace

int cmd_map_dump(Context& ctx) {
    require_store(ctx);
    size_t pos = 0;
    const MapSelector sel = parse_selector(ctx.args, pos);
    expect_end(ctx.args, pos, "nothing after MAP");
    const OpenMap m = open_map(ctx, sel, false);
    const struct bpf_map_info& info = m.info;
    check_format(ctx.key_format, info.key_size, "key");
    check_format(ctx.value_format, info.value_size, "value");

    // A GET_NEXT_KEY walk, printing as it goes: memory stays at one element whatever the size.
    Bytes key(info.key_size), next(info.key_size), value(info.value_size);
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
    const Bytes key = parse_tokens(kv.key, ctx.key_format, m.info.key_size, "key");
    check_format(ctx.value_format, m.info.value_size, "value");
    Bytes value(m.info.value_size);
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
    const Bytes key = parse_tokens(kv.key, ctx.key_format, m.info.key_size, "key");
    const Bytes value = parse_tokens(kv.value, ctx.value_format, m.info.value_size, "value");
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
    const Bytes key = parse_tokens(kv.key, ctx.key_format, m.info.key_size, "key");
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
    Bytes key;
    if (kv.has_key) key = parse_tokens(kv.key, ctx.key_format, m.info.key_size, "key");
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
        const std::string shown_key =
            kv.has_key
                ? fmt::format("\n{}", format_text(key.data(), m.info.key_size, ctx.key_format))
                : std::string(" None");
        ctx.out.print_text(fmt::format("key:{}\nnext key:\n{}\n", shown_key,
                                       format_text(next.data(), m.info.key_size, ctx.key_format)));
    }
    return 0;
}

}  // namespace bpfmap::inspect
