// Helpers shared by the LPM trie tests: keys (struct bpf_lpm_trie_key: host-order u32
// prefixlen, then big-endian data), a brute-force longest-prefix-match reference, and the
// map's fsck (Map::check) and lock states (support/segment_fsck.hpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "process_helpers.hpp"
#include "segment_fsck.hpp"
#include "test_support.hpp"

namespace bpfmap::test::lpm {

using Bytes = std::vector<unsigned char>;

inline Bytes make_key(uint32_t plen, const Bytes& data) {
    Bytes k(4 + data.size());
    std::memcpy(k.data(), &plen, 4);
    std::memcpy(k.data() + 4, data.data(), data.size());
    return k;
}
inline uint32_t key_plen(const Bytes& k) {
    uint32_t p;
    std::memcpy(&p, k.data(), 4);
    return p;
}
inline Bytes key_data(const Bytes& k) {
    return Bytes(k.begin() + 4, k.end());
}
inline Bytes ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return Bytes{a, b, c, d};
}
inline int bit_of(const Bytes& d, uint32_t i) {
    return (d[i / 8] >> (7 - i % 8)) & 1;
}
// The first plen bits of d, the rest zero: the identity of a prefix.
inline Bytes masked(const Bytes& d, uint32_t plen) {
    Bytes m(d.size(), 0);
    const uint32_t full = plen / 8;
    std::memcpy(m.data(), d.data(), full);
    if (plen % 8) m[full] = static_cast<unsigned char>(d[full] & (0xff00u >> (plen % 8)));
    return m;
}
inline bool prefix_covers(const Bytes& prefix, uint32_t plen, const Bytes& addr) {
    for (uint32_t i = 0; i < plen; ++i)
        if (bit_of(prefix, i) != bit_of(addr, i)) return false;
    return true;
}

// Keys as child arguments: hex text ("" for no bytes) and back.
inline std::string to_hex(const Bytes& b) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (unsigned char c : b) {
        s += d[c >> 4];
        s += d[c & 15];
    }
    return s;
}
inline Bytes from_hex(const std::string& s) {
    Bytes b;
    for (size_t i = 0; i + 1 < s.size(); i += 2)
        b.push_back(static_cast<unsigned char>(std::stoul(s.substr(i, 2), nullptr, 16)));
    return b;
}

// The reference: prefixes (masked data, plen) -> {stored key data verbatim, value}.
struct Reference {
    struct Entry {
        Bytes data;  // as last written, host bits included
        Bytes value;
    };
    std::map<std::pair<uint32_t, Bytes>, Entry> entries;

    static std::pair<uint32_t, Bytes> id(uint32_t plen, const Bytes& d) {
        return {plen, masked(d, plen)};
    }
    bool contains(uint32_t plen, const Bytes& d) const { return entries.count(id(plen, d)); }
    // Longest prefix among entries with prefixlen <= plen covering d.
    std::optional<Entry> lookup(uint32_t plen, const Bytes& d) const {
        for (uint32_t l = plen + 1; l-- > 0;) {
            auto it = entries.find(id(l, d));
            if (it != entries.end()) return it->second;
        }
        return std::nullopt;
    }
    // The kernel's GET_NEXT_KEY order (the trie's post-order): a prefix after every prefix it
    // covers; otherwise the one with a 0 at the first differing bit first.
    static bool walk_before(const std::pair<uint32_t, Bytes>& a,
                            const std::pair<uint32_t, Bytes>& b) {
        const uint32_t m = std::min(a.first, b.first);
        for (uint32_t i = 0; i < m; ++i) {
            const int x = bit_of(a.second, i), y = bit_of(b.second, i);
            if (x != y) return x < y;
        }
        return a.first > b.first;
    }
    // Every element as GET_NEXT_KEY returns it (prefixlen + stored data), in walk order.
    std::vector<Bytes> walk_order() const {
        std::vector<std::pair<uint32_t, Bytes>> ids;
        for (const auto& [k, e] : entries) ids.push_back(k);
        std::sort(ids.begin(), ids.end(), walk_before);
        std::vector<Bytes> out;
        for (const auto& k : ids) out.push_back(make_key(k.first, entries.at(k).data));
        return out;
    }
};

// The map's Map::check() problems, plus any lock held or left owner-died (segment_fsck.hpp's
// fsck of the map behind `fd`, in this test binary's store).
inline std::vector<std::string> fsck(int fd) {
    const uint32_t id = proc::map_id_of(fd);
    if (id == 0) return {"no map id"};
    const Fsck f = fsck_map(id);
    if (f.open_rc != 0) return {f.text()};
    std::vector<std::string> problems = f.problems;
    for (const std::string& l : f.lock_problems()) problems.push_back(l);
    return problems;
}

inline std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += x + "; ";
    return s;
}

}  // namespace bpfmap::test::lpm
