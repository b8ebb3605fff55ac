// How a map type's keys and values look through bpf(), where it differs from "key_size bytes,
// value_size bytes": per-CPU values (one 8-byte-aligned slot per possible CPU), LPM trie keys
// (prefix length + address, shown as 10.0.0.0/8 or 2001:db8::/32) and keyless types (QUEUE,
// STACK, BLOOM_FILTER). bpftool makes the same distinctions.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bpfmap::inspect {

struct ValueLayout {
    uint32_t value_size = 0;  // bytes of one CPU's value
    uint32_t slots = 1;       // possible CPUs for per-CPU types, else 1
    uint32_t stride = 0;      // bytes between slots: round_up(value_size, 8) for per-CPU types
    uint32_t buffer_size() const { return slots == 1 ? value_size : stride * slots; }
    bool per_cpu() const { return slots > 1 || stride != value_size; }
};

bool is_per_cpu_type(uint32_t map_type);
ValueLayout value_layout(const struct bpf_map_info& info);

bool is_lpm(const struct bpf_map_info& info);
// "10.0.0.0/8" (4 data bytes), "2001:db8::/32" (16), else the data in hex then "/len".
std::string lpm_key_text(const uint8_t* key, uint32_t key_size);
// Parses "ADDRESS/LEN" (IPv4 for 4 data bytes, IPv6 for 16) into a key of key_size bytes.
// False if `word` is not in that form for this key size.
bool parse_lpm_key(const std::string& word, uint32_t key_size, std::vector<uint8_t>& key);

}  // namespace bpfmap::inspect
