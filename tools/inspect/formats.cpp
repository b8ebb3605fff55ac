#include "tools/inspect/formats.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "tools/inspect/context.hpp"

namespace bpfmap::inspect {
namespace {

bool parse_u64(const std::string& s, uint64_t& out) {
    if (s.empty() || s[0] == '-' || s[0] == '+') return false;
    int base = 10;
    size_t start = 0;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        start = 2;
    } else if (s.size() > 1 && s[0] == '0') {
        base = 8;
        start = 1;
    }
    const char* first = s.data() + start;
    const char* last = s.data() + s.size();
    auto [ptr, ec] = std::from_chars(first, last, out, base);
    return ec == std::errc() && ptr == last;
}

bool parse_i64(const std::string& s, int64_t& out) {
    if (!s.empty() && s[0] == '-') {
        uint64_t mag;
        if (!parse_u64(s.substr(1), mag)) return false;
        if (mag > uint64_t{1} << 63) return false;
        out = mag == uint64_t{1} << 63 ? std::numeric_limits<int64_t>::min()
                                       : -static_cast<int64_t>(mag);
        return true;
    }
    uint64_t v;
    if (!parse_u64(s, v) || v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return false;
    out = static_cast<int64_t>(v);
    return true;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void check_count(size_t got, uint32_t size, const char* what) {
    if (got != size)
        throw Error(fmt::format("{}: expected {} byte{} (the map's {} size), got {}", what, size,
                                size == 1 ? "" : "s", what, got));
}

template <typename T>
Bytes to_bytes(T v) {
    Bytes b(sizeof v);
    std::memcpy(b.data(), &v, sizeof v);
    return b;
}

Bytes string_bytes(const std::string& s, uint32_t size, const char* what) {
    if (s.size() > size)
        throw Error(fmt::format("{}: '{}' is {} bytes, longer than the map's {} size ({} bytes)",
                                what, s, s.size(), what, size));
    Bytes b(size, 0);
    std::memcpy(b.data(), s.data(), s.size());
    return b;
}

Bytes number_bytes(const std::string& tok, Format f, const char* what) {
    if (f == Format::u32) {
        uint64_t v;
        if (!parse_u64(tok, v) || v > std::numeric_limits<uint32_t>::max())
            throw Error(
                fmt::format("{}: '{}' is not a u32 (expected a number 0..4294967295)", what, tok));
        return to_bytes(static_cast<uint32_t>(v));
    }
    if (f == Format::u64) {
        uint64_t v;
        if (!parse_u64(tok, v))
            throw Error(
                fmt::format("{}: '{}' is not a u64 (expected a number 0..2^64-1)", what, tok));
        return to_bytes(v);
    }
    int64_t v;
    if (!parse_i64(tok, v))
        throw Error(
            fmt::format("{}: '{}' is not an i64 (expected a number -2^63..2^63-1)", what, tok));
    return to_bytes(v);
}

}  // namespace

const std::map<std::string, Format>& format_names() {
    static const std::map<std::string, Format> names = {{"hex", Format::hex},
                                                        {"u32", Format::u32},
                                                        {"u64", Format::u64},
                                                        {"i64", Format::i64},
                                                        {"str", Format::str}};
    return names;
}

const char* format_name(Format f) {
    switch (f) {
        case Format::hex:
            return "hex";
        case Format::u32:
            return "u32";
        case Format::u64:
            return "u64";
        case Format::i64:
            return "i64";
        case Format::str:
            return "str";
    }
    return "?";
}

uint64_t parse_unsigned(const std::string& s, uint64_t max, const std::string& what) {
    uint64_t v;
    if (!parse_u64(s, v) || v > max)
        throw Error(fmt::format("{}: '{}' is not a number in 0..{}", what, s, max));
    return v;
}

void check_format(Format f, uint32_t size, const char* what) {
    const uint32_t need = f == Format::u32 ? 4 : (f == Format::u64 || f == Format::i64) ? 8 : 0;
    if (need && need != size)
        throw Error(fmt::format("--{}-format {} needs a {}-byte {}, but the map's {} size is {}",
                                what, format_name(f), need, what, what, size));
}

Bytes parse_tokens(const std::vector<std::string>& tokens, Format f, uint32_t size,
                   const char* what) {
    check_format(f, size, what);
    if (tokens.empty())
        throw Error(
            fmt::format("{}: no bytes given (expected {} bytes after '{}')", what, size, what));
    if (f == Format::u32 || f == Format::u64 || f == Format::i64 || f == Format::str) {
        if (tokens.size() != 1)
            throw Error(fmt::format("{}: expected one {} after '{}' (--{}-format {}), got {}", what,
                                    f == Format::str ? "string" : "number", what, what,
                                    format_name(f), tokens.size()));
        return f == Format::str ? string_bytes(tokens[0], size, what)
                                : number_bytes(tokens[0], f, what);
    }
    Bytes out;
    if (tokens[0] == "hex") {
        for (size_t i = 1; i < tokens.size(); ++i) {
            std::string t = tokens[i];
            if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) t = t.substr(2);
            if (t.size() == 1) t = "0" + t;
            bool ok = !t.empty() && t.size() % 2 == 0;
            for (size_t k = 0; ok && k < t.size(); k += 2) {
                const int hi = hex_digit(t[k]), lo = hex_digit(t[k + 1]);
                if (hi < 0 || lo < 0)
                    ok = false;
                else
                    out.push_back(static_cast<uint8_t>(hi * 16 + lo));
            }
            if (!ok)
                throw Error(fmt::format(
                    "{}: '{}' is not hex bytes (expected pairs of hex digits after 'hex', e.g. "
                    "hex 01 00 00 00)",
                    what, tokens[i]));
        }
    } else {
        for (const std::string& t : tokens) {
            uint64_t v;
            if (!parse_u64(t, v) || v > 255)
                throw Error(fmt::format(
                    "{}: '{}' is not a byte (expected 0..255, 0x00..0xff, or 'hex' followed by "
                    "hex digits)",
                    what, t));
            out.push_back(static_cast<uint8_t>(v));
        }
    }
    check_count(out.size(), size, what);
    return out;
}

Bytes parse_json(const nlohmann::json& j, uint32_t size, const char* what) {
    if (j.is_array()) {
        Bytes out;
        for (const auto& e : j) {
            uint64_t v = 256;
            if (e.is_number_unsigned())
                v = e.get<uint64_t>();
            else if (e.is_number_integer() && e.get<int64_t>() >= 0)
                v = e.get<uint64_t>();
            else if (e.is_string() && !parse_u64(e.get<std::string>(), v))
                v = 256;
            if (v > 255)
                throw Error(fmt::format("{}: {} is not a byte (expected \"0x00\"..\"0xff\")", what,
                                        e.dump()));
            out.push_back(static_cast<uint8_t>(v));
        }
        check_count(out.size(), size, what);
        return out;
    }
    if (j.is_number_unsigned() && size == 4) return number_bytes(j.dump(), Format::u32, what);
    if (j.is_number_unsigned() && size == 8) return number_bytes(j.dump(), Format::u64, what);
    if (j.is_number_integer() && size == 8) return number_bytes(j.dump(), Format::i64, what);
    if (j.is_number_integer() && size == 4) {
        const int64_t v = j.get<int64_t>();
        if (v >= std::numeric_limits<int32_t>::min() && v < 0)
            return to_bytes(static_cast<int32_t>(v));
    }
    if (j.is_string()) return string_bytes(j.get<std::string>(), size, what);
    throw Error(fmt::format(
        "{}: {} cannot be {} bytes (expected an array of bytes like [\"0x01\",...], a number "
        "for a 4- or 8-byte {}, or a string)",
        what, j.dump(), size, what));
}

std::string hex_text(const uint8_t* p, uint32_t n) {
    std::string s;
    s.reserve(n * 3 + n / 8);
    static constexpr char kDigits[] = "0123456789abcdef";
    for (uint32_t i = 0; i < n; ++i) {
        if (i == 0) {
        } else if (i % 16 == 0) {
            s += '\n';
        } else if (i % 8 == 0) {
            s += "  ";
        } else {
            s += ' ';
        }
        s += kDigits[p[i] >> 4];
        s += kDigits[p[i] & 15];
    }
    return s;
}

std::string format_text(const uint8_t* p, uint32_t n, Format f) {
    switch (f) {
        case Format::hex:
            return hex_text(p, n);
        case Format::u32: {
            uint32_t v;
            std::memcpy(&v, p, sizeof v);
            return std::to_string(v);
        }
        case Format::u64: {
            uint64_t v;
            std::memcpy(&v, p, sizeof v);
            return std::to_string(v);
        }
        case Format::i64: {
            int64_t v;
            std::memcpy(&v, p, sizeof v);
            return std::to_string(v);
        }
        case Format::str: {
            std::string s;
            for (uint32_t i = 0; i < n && p[i]; ++i) {
                if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
                    s += static_cast<char>(p[i]);
                else
                    s += fmt::format("\\x{:02x}", p[i]);
            }
            return fmt::format("\"{}\"", s);
        }
    }
    return {};
}

nlohmann::json format_json(const uint8_t* p, uint32_t n, Format f) {
    switch (f) {
        case Format::hex: {
            nlohmann::json a = nlohmann::json::array();
            for (uint32_t i = 0; i < n; ++i) a.push_back(fmt::format("0x{:02x}", p[i]));
            return a;
        }
        case Format::u32: {
            uint32_t v;
            std::memcpy(&v, p, sizeof v);
            return v;
        }
        case Format::u64: {
            uint64_t v;
            std::memcpy(&v, p, sizeof v);
            return v;
        }
        case Format::i64: {
            int64_t v;
            std::memcpy(&v, p, sizeof v);
            return v;
        }
        case Format::str: {
            uint32_t len = 0;
            while (len < n && p[len]) ++len;
            return std::string(reinterpret_cast<const char*>(p), len);
        }
    }
    return nullptr;
}

}  // namespace bpfmap::inspect
