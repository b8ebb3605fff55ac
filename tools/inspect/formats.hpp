// Keys and values as bytes: parsing them from the command line (bpftool's syntax) and from
// 'map dump -j' output, and printing them as text (bpftool's hex layout) or JSON.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bpfmap::inspect {

enum class Format { hex, u32, u64, i64, str };

// Names for --key-format / --value-format.
const std::map<std::string, Format>& format_names();
const char* format_name(Format f);

using Bytes = std::vector<uint8_t>;

// Throws Error unless `f` can express `size` bytes (u32: 4, u64/i64: 8; hex and str: any).
// `what` is "key" or "value".
void check_format(Format f, uint32_t size, const char* what);

// Parses command-line tokens into exactly `size` bytes. With Format::hex: bytes as numbers
// (0x01, 1, 01) or 'hex' followed by hex digits (hex 01 00 00 00, hex 01000000). With u32, u64,
// i64: one number. With str: one string, at most `size` bytes, NUL-padded.
Bytes parse_tokens(const std::vector<std::string>& tokens, Format f, uint32_t size,
                   const char* what);

// Parses a key or value from a 'map dump -j' element: an array of bytes ("0x01" or 1), a
// number (u32/u64/i64, by size) or a string (str). Exactly `size` bytes.
Bytes parse_json(const nlohmann::json& j, uint32_t size, const char* what);

// bpftool's fprint_hex: "00 01 02", two spaces every 8 bytes, a new line every 16.
std::string hex_text(const uint8_t* p, uint32_t n);
// Text in format `f` (hex_text for hex).
std::string format_text(const uint8_t* p, uint32_t n, Format f);
// JSON in format `f`: ["0x00", ...] for hex (bpftool's dump format), a number or a string.
nlohmann::json format_json(const uint8_t* p, uint32_t n, Format f);

// Parses an unsigned number (decimal, 0x hex or 0 octal); throws Error naming `what`.
uint64_t parse_unsigned(const std::string& s, uint64_t max, const std::string& what);

}  // namespace bpfmap::inspect
