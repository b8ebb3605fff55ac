#include "tools/inspect/map_layout.hpp"

#include <arpa/inet.h>

#include <cstring>

#include <fmt/format.h>

#include "shm/cpus.hpp"
#include "tools/inspect/formats.hpp"

namespace bpfmap::inspect {

bool is_per_cpu_type(uint32_t map_type) {
    return map_type == BPF_MAP_TYPE_PERCPU_HASH || map_type == BPF_MAP_TYPE_PERCPU_ARRAY ||
           map_type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

ValueLayout value_layout(const struct bpf_map_info& info) {
    ValueLayout l;
    l.value_size = info.value_size;
    l.stride = info.value_size;
    if (is_per_cpu_type(info.type)) {
        l.slots = shm::possible_cpu_count();
        l.stride = shm::percpu_slot_size(info.value_size);
    }
    return l;
}

bool is_lpm(const struct bpf_map_info& info) {
    return info.type == BPF_MAP_TYPE_LPM_TRIE && info.key_size > 4;
}

std::string lpm_key_text(const uint8_t* key, uint32_t key_size) {
    uint32_t prefixlen;
    std::memcpy(&prefixlen, key, sizeof prefixlen);
    const uint8_t* data = key + 4;
    const uint32_t n = key_size - 4;
    char buf[INET6_ADDRSTRLEN];
    if (n == 4 && inet_ntop(AF_INET, data, buf, sizeof buf))
        return fmt::format("{}/{}", buf, prefixlen);
    if (n == 16 && inet_ntop(AF_INET6, data, buf, sizeof buf))
        return fmt::format("{}/{}", buf, prefixlen);
    std::string hex;
    for (uint32_t i = 0; i < n; ++i) hex += fmt::format("{:02x}", data[i]);
    return fmt::format("{}/{}", hex, prefixlen);
}

bool parse_lpm_key(const std::string& word, uint32_t key_size, std::vector<uint8_t>& key) {
    const size_t slash = word.rfind('/');
    if (slash == std::string::npos || key_size <= 4) return false;
    const std::string addr = word.substr(0, slash);
    const uint32_t n = key_size - 4;
    uint8_t data[16];
    if (!((n == 4 && inet_pton(AF_INET, addr.c_str(), data) == 1) ||
          (n == 16 && inet_pton(AF_INET6, addr.c_str(), data) == 1)))
        return false;
    const uint64_t len = parse_unsigned(word.substr(slash + 1), 8 * n, "prefix length");
    const auto prefixlen = static_cast<uint32_t>(len);
    key.assign(key_size, 0);
    std::memcpy(key.data(), &prefixlen, 4);
    std::memcpy(key.data() + 4, data, n);
    return true;
}

}  // namespace bpfmap::inspect
