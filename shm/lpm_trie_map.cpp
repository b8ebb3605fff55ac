// BPF_MAP_TYPE_LPM_TRIE in a shared-memory segment: the kernel's longest-prefix-match trie
// (kernel/bpf/lpm_trie.c), node for node, so that lookups, exact-match updates and deletes and
// the post-order GET_NEXT_KEY walk give what the kernel gives.
//
// Keys are struct bpf_lpm_trie_key: a host-order u32 prefixlen, then data_size = key_size - 4
// bytes, big-endian bit order (data[0]'s top bit is bit 0). Only the first prefixlen bits are
// compared; the data is stored verbatim, host bits included (10.9.9.9/8 replaces 10.1.2.3/8,
// GET_NEXT_KEY then returns 10.9.9.9/8).
//
// Region layout (offsets from the start of the region):
//
//   LpmHeader      64 B     sizes (validated on attach), root, free list, element count,
//                           the trie's sequence count
//   lock           64 B     one robust mutex: every writer holds it
//   nodes[C]       N B ea.  {child[2], prefixlen, flags, data (rounded to 8), value (rounded
//                           to 8)}; C = 2 * max_entries, handed out from a free list and a bump
//                           index. A trie of n elements has at most n - 1 intermediate nodes
//                           (each has exactly two children), and an update needs at most one
//                           node more while it replaces one, so C nodes always suffice.
//
// Nodes are referred to by index (kNil = none), never by pointer. The trie's shape is exactly
// the kernel's: the same insert cases (empty slot, replace, insert as ancestor, new
// intermediate node) and delete cases (mark intermediate, splice out the intermediate parent,
// replace by the only child), so GET_NEXT_KEY's order is the kernel's.
//
// Concurrency: writers hold `lock` and wrap each change in the trie's sequence count. Readers
// (LOOKUP, GET_NEXT_KEY) take no lock: they read the sequence count, walk, copy, and retry if a
// writer interfered. Every index a reader reads is bounds-checked, every walk is bounded by
// the trie's maximum depth, and bits are extracted only below max_prefixlen, so a reader racing
// with writers of other processes never leaves the region or loops. After kSeqSpinLimit failed
// tries a reader takes the lock (which also repairs after a dead writer).
//
// Crash safety: every change becomes visible to the trie through one final store of a child
// (or root) index, or of a node's flags; new nodes are fully written before. A writer killed
// anywhere therefore leaves a valid trie, possibly with a node allocated but unlinked, or
// unlinked but not yet freed, and a stale element count. The next locker gets EOWNERDEAD and
// rebuilds (holding the lock): it re-walks the trie from the root, cuts any link that breaks
// the trie's invariants (out of range, repeated, prefix not extending the parent's, wrong
// side), splices out intermediate nodes left with fewer than two children, recounts the
// elements and rebuilds the free list from the nodes the trie does not reach.
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "shm/copy.hpp"
#include "shm/log.hpp"
#include "shm/map_type.hpp"
#include "shm/observe.hpp"
#include "shm/robust_mutex.hpp"
#include "shm/segment.hpp"
#include "shm/segment_format.hpp"
#include "shm/seqlock.hpp"
#include "shm/test_hooks.hpp"

namespace bpfmap::shm {
namespace {

constexpr uint32_t kNil = 0xffffffffu;
constexpr uint32_t kLpmMagic = 0x314d504cu;  // "LPM1"
constexpr uint32_t kFlagIM = 1;              // LPM_TREE_NODE_FLAG_IM: an intermediate node

// lpm_trie.c: LPM_DATA_SIZE_MIN/MAX, LPM_KEY_SIZE_MIN/MAX (offsetof(bpf_lpm_trie_key, data)
// is 4), LPM_VAL_SIZE_MAX = KMALLOC_MAX_SIZE (4 MiB on x86_64) - LPM_DATA_SIZE_MAX -
// sizeof(struct lpm_trie_node) (24), LPM_CREATE_FLAG_MASK.
constexpr uint32_t kKeyHeader = 4;
constexpr uint32_t kDataSizeMin = 1;
constexpr uint32_t kDataSizeMax = 256;
constexpr uint32_t kKeySizeMin = kKeyHeader + kDataSizeMin;
constexpr uint32_t kKeySizeMax = kKeyHeader + kDataSizeMax;
constexpr uint32_t kValueSizeMax = (4u << 20) - kDataSizeMax - 24;
constexpr uint32_t kCreateFlagMask = BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_RDONLY |
                                     BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;

struct LpmHeader {
    uint32_t magic;       // kLpmMagic
    uint32_t data_size;   // key_size - 4
    uint32_t value_size;  // as created
    uint32_t node_size;   // bytes per node
    uint32_t capacity;    // nodes in the pool
    uint32_t max_entries;
    std::atomic<uint32_t> root;           // lock for writes: the root node, or kNil
    uint32_t free_head;                   // lock: first free node (linked through child[0])
    uint32_t bump;                        // lock: nodes [bump, capacity) never used
    std::atomic<uint32_t> count;          // lock for writes: elements (non-intermediate nodes)
    SeqCount seq;                         // lock for writes: wraps every change of the trie
    std::atomic<uint32_t> needs_rebuild;  // set when a repair is due (corrupt state seen)
    uint32_t reserved[4];
};
static_assert(sizeof(LpmHeader) == 64);

struct NodeHeader {
    std::atomic<uint32_t> child[2];
    std::atomic<uint32_t> prefixlen;
    std::atomic<uint32_t> flags;
};
static_assert(sizeof(NodeHeader) == 16);

constexpr uint64_t round8(uint64_t x) {
    return (x + 7) & ~uint64_t{7};
}

struct Layout {
    uint32_t data_size, node_size, capacity;
    uint64_t nodes_off, total;
};

Layout layout_of(const MapSpec& s) {
    Layout l{};
    l.data_size = s.key_size - kKeyHeader;
    l.node_size =
        static_cast<uint32_t>(sizeof(NodeHeader) + round8(l.data_size) + round8(s.value_size));
    l.capacity = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{s.max_entries} * 2, kNil - 1));
    l.nodes_off = 2 * 64;
    l.total = l.nodes_off + uint64_t{l.capacity} * l.node_size;
    return l;
}

// trie_alloc's checks: every one is EINVAL.
int lpm_alloc_check(const MapSpec& s) {
    if (s.max_entries == 0 || !(s.map_flags & BPF_F_NO_PREALLOC) ||
        !create_flags_ok(s.map_flags, kCreateFlagMask) || s.key_size < kKeySizeMin ||
        s.key_size > kKeySizeMax || s.value_size < 1 || s.value_size > kValueSizeMax)
        return -EINVAL;
    return 0;
}

// The kernel allocates nodes on demand, so any max_entries is accepted there; here the pool is
// preallocated and its indices are u32. A pool that large would not fit in memory anyway.
int lpm_alloc_limits(MapSpec& s) {
    return uint64_t{s.max_entries} * 2 >= kNil ? -ENOMEM : 0;
}

uint64_t lpm_region_size(const MapSpec& s) {
    return layout_of(s).total;
}

inline uint32_t key_prefixlen(const void* key) {
    uint32_t p;
    std::memcpy(&p, key, sizeof p);
    return p;
}
inline const uint8_t* key_data(const void* key) {
    return static_cast<const uint8_t*>(key) + kKeyHeader;
}
inline int extract_bit(const uint8_t* data, uint32_t index) {
    return (data[index / 8] >> (7 - (index % 8))) & 1;
}

// __longest_prefix_match: the number of leading bits a and b share, at most `limit`.
inline uint32_t prefix_match(const uint8_t* a, const uint8_t* b, uint32_t data_size,
                             uint32_t limit) {
    uint32_t i = 0;
    for (; i + 8 <= data_size; i += 8) {
        uint64_t x, y;
        std::memcpy(&x, a + i, 8);
        std::memcpy(&y, b + i, 8);
        if (x != y) {
            const uint32_t bits =
                i * 8 +
                static_cast<uint32_t>(__builtin_clzll(__builtin_bswap64(x) ^ __builtin_bswap64(y)));
            return bits < limit ? bits : limit;
        }
        if ((i + 8) * 8 >= limit) return limit;
    }
    for (; i < data_size; ++i) {
        const uint32_t d = a[i] ^ b[i];
        if (d) {
            const uint32_t bits = i * 8 + static_cast<uint32_t>(__builtin_clz(d) - 24);
            return bits < limit ? bits : limit;
        }
        if ((i + 1) * 8 >= limit) return limit;
    }
    return limit;
}

// What a lock-free reader's walk returns when what it read is inconsistent (a racing writer,
// or a corrupt region): the reader retries. kBad is never a valid node index (the pool has
// fewer than 0xfffffffe nodes).
constexpr int kRetry = -1000;
constexpr uint32_t kBad = 0xfffffffeu;

class LpmTrie final : public Map {
  public:
    LpmTrie(const SegmentHeader& hdr, std::byte* region, const Layout& l)
        : h_(reinterpret_cast<LpmHeader*>(region)),
          lock_(&reinterpret_cast<PaddedMutex*>(region + 64)->mutex),
          nodes_(region + l.nodes_off),
          key_size_(hdr.key_size),
          data_size_(l.data_size),
          value_size_(hdr.value_size),
          value_off_(static_cast<uint32_t>(sizeof(NodeHeader) + round8(l.data_size))),
          max_prefixlen_(l.data_size * 8),
          max_entries_(hdr.max_entries),
          capacity_(l.capacity),
          node_size_(l.node_size) {}

    int lookup(const void* key, void* value) override {
        const uint32_t plen = key_prefixlen(key);
        if (plen > max_prefixlen_) return -ENOENT;
        for (int tries = 0; tries < kSeqSpinLimit; ++tries) {
            const uint32_t s = h_->seq.read_begin();
            if (SeqCount::busy(s)) {
                cpu_relax();
                continue;
            }
            const uint32_t n = find_lpm(key, plen);
            if (n < capacity_) copy_bytes(value, node(n) + value_off_, value_size_);
            if (!h_->seq.read_retry(s) && n != kBad) return n == kNil ? -ENOENT : 0;
        }
        // A writer inside for too long, or too many retries: wait for it (and repair after
        // it if it died) by taking the lock. An observer reads the trie as it is.
        if (observe_only()) return lookup_once(key, plen, value);
        WriterGuard g(*this);
        return lookup_once(key, plen, value);
    }

    int update(const void* key, const void* value, uint64_t flags) override {
        if (flags > BPF_EXIST) return -EINVAL;
        const uint32_t plen = key_prefixlen(key);
        if (plen > max_prefixlen_) return -EINVAL;
        const uint8_t* kd = key_data(key);
        WriterGuard g(*this);
        const Walk w = walk(kd, plen);
        std::atomic<uint32_t>* const slot = w.slot;
        const uint32_t n = w.n, matchlen = w.matchlen;
        // An empty slot (a free child or an empty trie): the new node goes there.
        if (n == kNil) {
            if (int rc = check_add(flags)) return rc;
            const uint32_t nn = new_node(kd, plen, value);
            if (nn == kNil) return -ENOMEM;
            publish(*slot, nn, +1);
            return 0;
        }
        // The same prefix: a new node replaces it (an element, or an intermediate node that
        // becomes one).
        if (nh(n).prefixlen.load(std::memory_order_relaxed) == matchlen) {
            const bool im = nh(n).flags.load(std::memory_order_relaxed) & kFlagIM;
            if (!im) {
                if (flags == BPF_NOEXIST) return -EEXIST;
            } else if (int rc = check_add(flags)) {
                return rc;
            }
            const uint32_t nn = new_node(kd, plen, value);
            if (nn == kNil) return -ENOMEM;
            nh(nn).child[0].store(nh(n).child[0].load(std::memory_order_relaxed),
                                  std::memory_order_relaxed);
            nh(nn).child[1].store(nh(n).child[1].load(std::memory_order_relaxed),
                                  std::memory_order_relaxed);
            publish(*slot, nn, im ? +1 : 0);
            free_node(n);
            return 0;
        }
        if (int rc = check_add(flags)) return rc;
        // The new prefix is a prefix of the node's: it becomes the node's parent.
        if (matchlen == plen) {
            const uint32_t nn = new_node(kd, plen, value);
            if (nn == kNil) return -ENOMEM;
            nh(nn).child[extract_bit(data(n), matchlen)].store(n, std::memory_order_relaxed);
            publish(*slot, nn, +1);
            return 0;
        }
        // They diverge at bit matchlen: an intermediate node holds both.
        const uint32_t nn = new_node(kd, plen, value);
        if (nn == kNil) return -ENOMEM;
        const uint32_t im = new_node(data(n), matchlen, nullptr);
        if (im == kNil) {
            free_node(nn);
            return -ENOMEM;
        }
        nh(im).flags.store(kFlagIM, std::memory_order_relaxed);
        const int bit = extract_bit(kd, matchlen);
        nh(im).child[bit].store(nn, std::memory_order_relaxed);
        nh(im).child[!bit].store(n, std::memory_order_relaxed);
        publish(*slot, im, +1);
        return 0;
    }

    int delete_elem(const void* key) override {
        const uint32_t plen = key_prefixlen(key);
        if (plen > max_prefixlen_) return -EINVAL;
        const uint8_t* kd = key_data(key);
        WriterGuard g(*this);
        const Walk w = walk(kd, plen);
        std::atomic<uint32_t>* const trim = w.slot;
        std::atomic<uint32_t>* const trim2 = w.parent_slot;
        const uint32_t n = w.n, parent = w.parent, matchlen = w.matchlen;
        if (n == kNil || nh(n).prefixlen.load(std::memory_order_relaxed) != plen ||
            plen != matchlen || (nh(n).flags.load(std::memory_order_relaxed) & kFlagIM))
            return -ENOENT;
        const uint32_t c0 = nh(n).child[0].load(std::memory_order_relaxed);
        const uint32_t c1 = nh(n).child[1].load(std::memory_order_relaxed);
        h_->seq.begin();
        crash_point();  // tests kill a writer here: lock held, sequence count odd, nothing changed
        // Two children: the node stays, as an intermediate one.
        if (c0 != kNil && c1 != kNil) {
            nh(n).flags.store(kFlagIM, std::memory_order_release);
            finish_write(-1);
            return 0;
        }
        // A leaf under an intermediate parent: the parent goes too, its other child moves up.
        if (parent != kNil && (nh(parent).flags.load(std::memory_order_relaxed) & kFlagIM) &&
            c0 == kNil && c1 == kNil) {
            const uint32_t p0 = nh(parent).child[0].load(std::memory_order_relaxed);
            const uint32_t p1 = nh(parent).child[1].load(std::memory_order_relaxed);
            trim2->store(n == p0 ? p1 : p0, std::memory_order_release);
            finish_write(-1);
            free_node(n);
            free_node(parent);
            return 0;
        }
        // Zero or one child: the child (or nothing) takes the node's place.
        trim->store(c0 != kNil ? c0 : c1, std::memory_order_release);
        finish_write(-1);
        free_node(n);
        return 0;
    }

    int get_next_key(const void* key, void* next_key) override {
        std::byte out[kKeySizeMax];
        int rc = kRetry;
        for (int tries = 0; tries < kSeqSpinLimit && rc == kRetry; ++tries) {
            const uint32_t s = h_->seq.read_begin();
            if (SeqCount::busy(s)) {
                cpu_relax();
                continue;
            }
            rc = next_walk(key, out);
            if (h_->seq.read_retry(s)) rc = kRetry;
        }
        if (rc == kRetry) {
            if (observe_only()) {
                rc = next_walk(key, out);
            } else {
                WriterGuard g(*this);
                rc = next_walk(key, out);
            }
            if (rc == kRetry) rc = -ENOENT;  // a corrupt trie
        }
        if (rc == 0) std::memcpy(next_key, out, key_size_);
        return rc;
    }

    // No LOOKUP_AND_DELETE op for tries in the kernel.
    int lookup_and_delete(const void*, void*, uint64_t) override { return -kENOTSUPP; }

    uint32_t element_count() const override { return h_->count.load(std::memory_order_relaxed); }

    void check(std::vector<std::string>& problems) const override {
        auto bad = [&](std::string msg) { problems.push_back(std::move(msg)); };
        if (SeqCount::busy(h_->seq.seq.load()))
            bad("trie: sequence count odd (a writer is inside or died)");
        const uint32_t bump = h_->bump;
        if (bump > capacity_) bad(fmt::format("bump {} exceeds capacity {}", bump, capacity_));
        const uint32_t limit = std::min(bump, capacity_);
        std::vector<uint8_t> seen(capacity_, 0);  // 1: in the trie, 2: on the free list
        uint32_t elements = 0, reached = 0;
        struct Item {
            uint32_t idx;
            uint32_t parent;
            int side;
            uint32_t depth;
        };
        std::vector<Item> stack;
        if (h_->root.load() != kNil) stack.push_back({h_->root.load(), kNil, 0, 0});
        while (!stack.empty()) {
            const Item it = stack.back();
            stack.pop_back();
            const uint32_t n = it.idx;
            if (n >= limit) {
                bad(fmt::format("node index {} out of range (< {})", n, limit));
                continue;
            }
            if (seen[n]) {
                bad(fmt::format("node {} reached twice (a cycle or a shared subtree)", n));
                continue;
            }
            seen[n] = 1;
            ++reached;
            const uint32_t np = nh(n).prefixlen.load();
            const uint32_t fl = nh(n).flags.load();
            const uint32_t c0 = nh(n).child[0].load(), c1 = nh(n).child[1].load();
            if (np > max_prefixlen_)
                bad(fmt::format("node {}: prefixlen {} exceeds {}", n, np, max_prefixlen_));
            if (fl & ~kFlagIM) bad(fmt::format("node {}: unknown flags {:#x}", n, fl));
            if (fl & kFlagIM) {
                if (c0 == kNil || c1 == kNil)
                    bad(fmt::format("node {}: intermediate node without two children", n));
            } else {
                ++elements;
            }
            if (it.parent != kNil) {
                const uint32_t pp = nh(it.parent).prefixlen.load();
                if (np <= pp)
                    bad(fmt::format("node {}: prefixlen {} not longer than its parent's ({})", n,
                                    np, pp));
                else if (pp < max_prefixlen_ &&
                         (prefix_match(data(n), data(it.parent), data_size_, pp) != pp ||
                          extract_bit(data(n), pp) != it.side))
                    bad(fmt::format("node {}: prefix does not extend its parent {} on side {}", n,
                                    it.parent, it.side));
            }
            if (it.depth > max_prefixlen_) {
                bad(fmt::format("node {}: deeper than {} levels", n, max_prefixlen_ + 1));
                continue;
            }
            if (np <= max_prefixlen_) {
                if (c1 != kNil) stack.push_back({c1, n, 1, it.depth + 1});
                if (c0 != kNil) stack.push_back({c0, n, 0, it.depth + 1});
            }
        }
        uint32_t free_count = 0;
        for (uint32_t idx = h_->free_head; idx != kNil; idx = nh(idx).child[0].load()) {
            if (idx >= limit) {
                bad(fmt::format("free list: index {} out of range (< {})", idx, limit));
                break;
            }
            if (seen[idx]) {
                bad(fmt::format("free list: node {} is {}", idx,
                                seen[idx] == 1 ? "also in the trie" : "listed twice"));
                break;
            }
            seen[idx] = 2;
            ++free_count;
        }
        const uint32_t count = h_->count.load();
        if (count != elements)
            bad(fmt::format("count says {} elements, the trie holds {}", count, elements));
        if (elements > max_entries_)
            bad(fmt::format("{} elements exceed max_entries {}", elements, max_entries_));
        if (reached + free_count != limit)
            bad(fmt::format("{} nodes used so far, {} in the trie + {} free: {} lost", limit,
                            reached, free_count, limit - reached - free_count));
        if (h_->needs_rebuild.load())
            bad("a repair after a crash is pending (the next writer does it)");
    }

    std::vector<LockState> lock_states() const override { return {lock_state("trie", *lock_)}; }
    uint32_t user_value_size() const override { return value_size_; }

  private:
    // Holds the writers' lock; repairs the trie if the previous holder died, or if a reader
    // found it in need of repair.
    class WriterGuard {
      public:
        explicit WriterGuard(LpmTrie& m) : m_(m), g_(*m.lock_) {
            if (g_.owner_died()) {
                log().warn("lpm trie: a process died holding the trie lock; repairing");
                m_.rebuild();
                g_.mark_consistent();
            } else if (SeqCount::busy(m_.h_->seq.read_begin()) ||
                       m_.h_->needs_rebuild.load(std::memory_order_relaxed)) [[unlikely]] {
                log().warn("lpm trie: inconsistent state with no writer; repairing");
                m_.rebuild();
            }
        }

      private:
        LpmTrie& m_;
        MutexGuard g_;
    };

    NodeHeader& nh(uint32_t idx) const { return *reinterpret_cast<NodeHeader*>(node(idx)); }
    std::byte* node(uint32_t idx) const { return nodes_ + uint64_t{idx} * node_size_; }
    const uint8_t* data(uint32_t idx) const {
        return reinterpret_cast<const uint8_t*>(node(idx) + sizeof(NodeHeader));
    }
    uint32_t match(uint32_t n, const uint8_t* kd, uint32_t plen) const {
        const uint32_t np = nh(n).prefixlen.load(std::memory_order_relaxed);
        return prefix_match(data(n), kd, data_size_, std::min(np, plen));
    }

    // The writers' walk from the root towards the key `kd`/`plen` (the lock held; update and
    // delete walk alike, as trie_update_elem and trie_delete_elem do): it stops at the first
    // node whose prefix the key does not fully share or that is exactly plen bits long, or at an
    // empty link (n == kNil).
    struct Walk {
        std::atomic<uint32_t>* slot;         // the link to n
        std::atomic<uint32_t>* parent_slot;  // the link to parent (the root link at the root)
        uint32_t n, parent, matchlen;        // parent: kNil at the root
    };
    Walk walk(const uint8_t* kd, uint32_t plen) {
        Walk w{&h_->root, &h_->root, h_->root.load(std::memory_order_relaxed), kNil, 0};
        for (uint32_t depth = 0; w.n != kNil; ++depth) {
            if (w.n >= h_->bump || depth > max_prefixlen_) corrupt();
            w.matchlen = match(w.n, kd, plen);
            const uint32_t np = nh(w.n).prefixlen.load(std::memory_order_relaxed);
            if (np != w.matchlen || np == plen) break;
            w.parent = w.n;
            w.parent_slot = w.slot;
            w.slot = &nh(w.n).child[extract_bit(kd, np)];
            w.n = w.slot->load(std::memory_order_relaxed);
        }
        return w;
    }

    [[noreturn]] void corrupt() {
        h_->needs_rebuild.store(1, std::memory_order_relaxed);
        throw SegmentCorrupt("lpm trie: node index out of range");
    }

    // trie_check_add_elem, without the increment (publish() does it).
    int check_add(uint64_t flags) const {
        if (flags == BPF_EXIST) return -ENOENT;
        if (h_->count.load(std::memory_order_relaxed) >= max_entries_) return -ENOSPC;
        return 0;
    }

    // A node from the pool, filled in and not yet linked anywhere; kNil if the pool is empty.
    uint32_t new_node(const uint8_t* kd, uint32_t plen, const void* value) {
        uint32_t n = kNil;
        if (h_->free_head != kNil && h_->free_head < h_->bump) {
            n = h_->free_head;
            h_->free_head = nh(n).child[0].load(std::memory_order_relaxed);
        } else if (h_->bump < capacity_) {
            n = h_->bump++;
        } else {
            return kNil;
        }
        nh(n).child[0].store(kNil, std::memory_order_relaxed);
        nh(n).child[1].store(kNil, std::memory_order_relaxed);
        nh(n).prefixlen.store(plen, std::memory_order_relaxed);
        nh(n).flags.store(0, std::memory_order_relaxed);
        std::memcpy(node(n) + sizeof(NodeHeader), kd, data_size_);
        if (value) std::memcpy(node(n) + value_off_, value, value_size_);
        return n;
    }

    void free_node(uint32_t n) {
        nh(n).child[0].store(h_->free_head, std::memory_order_relaxed);
        h_->free_head = n;
    }

    // Links a filled-in node with one store, inside the sequence count.
    void publish(std::atomic<uint32_t>& slot, uint32_t n, int count_delta) {
        h_->seq.begin();
        crash_point();  // tests kill a writer here: node allocated and filled, not yet linked
        slot.store(n, std::memory_order_release);
        finish_write(count_delta);
    }

    void finish_write(int count_delta) {
        crash_point();  // tests kill a writer here: the change is linked, count not yet updated
        if (count_delta)
            h_->count.store(h_->count.load(std::memory_order_relaxed) + count_delta,
                            std::memory_order_relaxed);
        h_->seq.end();
    }

    // A child index as a reader may follow it: in range, or kNil. kBad for anything else.
    uint32_t checked(uint32_t idx) const {
        if (idx == kNil || idx < capacity_) return idx;
        return kBad;
    }

    int lookup_once(const void* key, uint32_t plen, void* value) const {
        const uint32_t n = find_lpm(key, plen);
        if (n >= capacity_) return -ENOENT;
        copy_bytes(value, node(n) + value_off_, value_size_);
        return 0;
    }

    // trie_lookup_elem: the longest-prefix match of key among the elements, kNil if none.
    // Lock-free: kRetry if what it read is inconsistent.
    uint32_t find_lpm(const void* key, uint32_t plen) const {
        const uint8_t* kd = key_data(key);
        uint32_t found = kNil;
        uint32_t n = checked(h_->root.load(std::memory_order_acquire));
        for (uint32_t depth = 0; n != kNil; ++depth) {
            if (n == kBad || depth > max_prefixlen_) return kBad;
            const uint32_t np = nh(n).prefixlen.load(std::memory_order_relaxed);
            const uint32_t matchlen = prefix_match(data(n), kd, data_size_, std::min(np, plen));
            if (matchlen == max_prefixlen_) {
                found = n;
                break;
            }
            if (matchlen < np) break;
            if (!(nh(n).flags.load(std::memory_order_relaxed) & kFlagIM)) found = n;
            n = checked(nh(n).child[extract_bit(kd, np)].load(std::memory_order_acquire));
        }
        return found;
    }

    // trie_get_next_key into out; 0, -ENOENT, or kRetry if what it read is inconsistent.
    int next_walk(const void* key, std::byte* out) const {
        uint32_t search_root = checked(h_->root.load(std::memory_order_acquire));
        if (search_root == kNil) return -ENOENT;
        if (search_root == kBad) return kRetry;
        const uint32_t plen = key ? key_prefixlen(key) : 0;
        if (key && plen <= max_prefixlen_) {
            const uint8_t* kd = key_data(key);
            uint32_t stack[kDataSizeMax * 8 + 1];
            int sp = -1;
            uint32_t n = search_root, matchlen = 0, np = 0;
            while (n != kNil) {
                if (n == kBad || sp >= static_cast<int>(max_prefixlen_)) return kRetry;
                stack[++sp] = n;
                np = nh(n).prefixlen.load(std::memory_order_relaxed);
                matchlen = prefix_match(data(n), kd, data_size_, std::min(np, plen));
                if (np != matchlen || np == plen) break;
                n = checked(nh(n).child[extract_bit(kd, np)].load(std::memory_order_acquire));
            }
            if (n != kNil && np == matchlen &&
                !(nh(n).flags.load(std::memory_order_relaxed) & kFlagIM)) {
                // The exact node: the next one in post-order.
                bool found_root = false;
                while (sp > 0) {
                    const uint32_t parent = stack[sp - 1];
                    if (checked(nh(parent).child[0].load(std::memory_order_acquire)) == n) {
                        const uint32_t right =
                            checked(nh(parent).child[1].load(std::memory_order_acquire));
                        if (right == kBad) return kRetry;
                        if (right != kNil) {
                            search_root = right;
                            found_root = true;
                            break;
                        }
                    }
                    if (!(nh(parent).flags.load(std::memory_order_relaxed) & kFlagIM)) {
                        emit(parent, out);
                        return 0;
                    }
                    n = parent;
                    --sp;
                }
                if (!found_root) return -ENOENT;
            }
        }
        // The leftmost element of search_root's subtree: the first one in post-order.
        uint32_t next = kNil;
        uint32_t n = search_root;
        for (uint32_t depth = 0; n != kNil; ++depth) {
            if (n == kBad || depth > max_prefixlen_) return kRetry;
            if (nh(n).flags.load(std::memory_order_relaxed) & kFlagIM) {
                n = checked(nh(n).child[0].load(std::memory_order_acquire));
            } else {
                next = n;
                n = checked(nh(n).child[0].load(std::memory_order_acquire));
                if (n == kNil) n = checked(nh(next).child[1].load(std::memory_order_acquire));
            }
        }
        if (next == kNil) return kRetry;  // an intermediate leaf: not a consistent trie
        emit(next, out);
        return 0;
    }

    void emit(uint32_t n, std::byte* out) const {
        const uint32_t np = nh(n).prefixlen.load(std::memory_order_relaxed);
        std::memcpy(out, &np, sizeof np);
        std::memcpy(out + kKeyHeader, data(n), data_size_);
    }

    // Holding the lock, after a writer died (or an inconsistency was seen): make the trie
    // valid again, recount, and rebuild the free list from what the trie does not reach.
    void rebuild() {
        h_->seq.repair();
        h_->seq.begin();
        const uint32_t bump = std::min(h_->bump, capacity_);
        h_->bump = bump;
        std::vector<uint8_t> seen(capacity_, 0);
        uint32_t elements = 0;
        fix(h_->root, kNil, 0, 0, bump, seen, elements);
        uint32_t free_head = kNil;
        for (uint32_t idx = bump; idx-- > 0;) {
            if (seen[idx]) continue;
            nh(idx).child[0].store(free_head, std::memory_order_relaxed);
            free_head = idx;
        }
        h_->free_head = free_head;
        h_->count.store(elements, std::memory_order_relaxed);
        h_->needs_rebuild.store(0, std::memory_order_relaxed);
        h_->seq.end();
        log().warn("lpm trie rebuilt after a crash: {} elements", elements);
    }

    // Validates the subtree at `slot` (whose parent is `parent`, on `side`): cuts bad links,
    // splices out intermediate nodes with fewer than two children, marks what stays.
    void fix(std::atomic<uint32_t>& slot, uint32_t parent, int side, uint32_t depth, uint32_t bump,
             std::vector<uint8_t>& seen, uint32_t& elements) {
        const uint32_t n = slot.load(std::memory_order_relaxed);
        if (n == kNil) return;
        bool ok = n < bump && !seen[n] && depth <= max_prefixlen_;
        if (ok) {
            const uint32_t np = nh(n).prefixlen.load(std::memory_order_relaxed);
            ok = np <= max_prefixlen_ &&
                 (nh(n).flags.load(std::memory_order_relaxed) & ~kFlagIM) == 0;
            if (ok && parent != kNil) {
                const uint32_t pp = nh(parent).prefixlen.load(std::memory_order_relaxed);
                ok = np > pp && prefix_match(data(n), data(parent), data_size_, pp) == pp &&
                     extract_bit(data(n), pp) == side;
            }
        }
        if (!ok) {
            slot.store(kNil, std::memory_order_relaxed);
            return;
        }
        seen[n] = 1;
        fix(nh(n).child[0], n, 0, depth + 1, bump, seen, elements);
        fix(nh(n).child[1], n, 1, depth + 1, bump, seen, elements);
        if (!(nh(n).flags.load(std::memory_order_relaxed) & kFlagIM)) {
            ++elements;
            return;
        }
        const uint32_t c0 = nh(n).child[0].load(std::memory_order_relaxed);
        const uint32_t c1 = nh(n).child[1].load(std::memory_order_relaxed);
        if (c0 != kNil && c1 != kNil) return;
        // An intermediate node with one child or none: its child (or nothing) replaces it.
        // The child's prefix still extends the grandparent's on this side.
        seen[n] = 0;
        slot.store(c0 != kNil ? c0 : c1, std::memory_order_relaxed);
    }

    LpmHeader* h_;
    RobustMutex* lock_;
    std::byte* nodes_;
    uint32_t key_size_, data_size_, value_size_, value_off_;
    uint32_t max_prefixlen_, max_entries_, capacity_, node_size_;
};

void lpm_init_region(std::byte* region, const MapSpec& spec, uint64_t /*seed*/) {
    const Layout l = layout_of(spec);
    auto* h = new (region) LpmHeader{};
    h->magic = kLpmMagic;
    h->data_size = l.data_size;
    h->value_size = spec.value_size;
    h->node_size = l.node_size;
    h->capacity = l.capacity;
    h->max_entries = spec.max_entries;
    h->root.store(kNil, std::memory_order_relaxed);
    h->free_head = kNil;
    h->bump = 0;
    reinterpret_cast<PaddedMutex*>(region + 64)->mutex.init();
}

std::unique_ptr<Map> lpm_attach(const SegmentHeader& hdr, MapState&, std::byte* region) {
    if (hdr.key_size < kKeySizeMin || hdr.key_size > kKeySizeMax || hdr.value_size < 1 ||
        hdr.value_size > kValueSizeMax || hdr.max_entries == 0) {
        log().warn("lpm trie {}: region header check failed (key, value or max_entries size)",
                   hdr.map_id);
        return nullptr;
    }
    const Layout l = layout_of(spec_of(hdr));
    const auto* h = reinterpret_cast<const LpmHeader*>(region);
    const uint32_t root = h->root.load();
    if (h->magic != kLpmMagic || h->data_size != l.data_size || h->value_size != hdr.value_size ||
        h->node_size != l.node_size || h->capacity != l.capacity ||
        h->max_entries != hdr.max_entries || h->bump > l.capacity ||
        (h->free_head != kNil && h->free_head >= h->bump) || (root != kNil && root >= h->bump) ||
        h->count.load() > hdr.max_entries) {
        log().warn(
            "lpm trie {}: region header check failed (sizes, root or free list out of range)",
            hdr.map_id);
        return nullptr;
    }
    return std::make_unique<LpmTrie>(hdr, region, l);
}

}  // namespace

extern const MapTypeOps kLpmTrieMapOps;
const MapTypeOps kLpmTrieMapOps = {
    BPF_MAP_TYPE_LPM_TRIE, "lpm_trie",      false,           lpm_alloc_check,
    lpm_alloc_limits,      lpm_region_size, lpm_init_region, lpm_attach,
};

}  // namespace bpfmap::shm
