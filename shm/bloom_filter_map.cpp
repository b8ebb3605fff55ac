// BPF_MAP_TYPE_BLOOM_FILTER in a shared-memory segment.
//
// A set of values that can only grow and can only be asked "may v be in it?". UPDATE (the
// kernel's push) adds the value's bits; LOOKUP (peek) takes the value as INPUT and answers 0
// (maybe present: every bit set) or -ENOENT (certainly absent). There are no false negatives:
// once a push has returned, every later peek of that value in any process answers 0. DELETE
// and GET_NEXT_KEY are -EOPNOTSUPP, LOOKUP_AND_DELETE -ENOTSUPP (524), as in
// kernel/bpf/bloom_filter.c.
//
// Region layout:
//
//   BloomHeader    64 B     sizes (validated on attach, checked by check())
//   BloomCounter   64 B     the number of successful pushes, on a line of its own
//   words[W]       8 B ea.  the bit array, nr_bits = 64 * W bits, a power of two
//
// Sizing is the kernel's (bloom_map_alloc): k = map_extra hash functions (0 means 5),
// nr_bits = max_entries * k * 7 / 5 (7/5 approximates 1/ln 2: the size that minimises the
// false-positive rate for max_entries values), at least 64, rounded up to a power of two; when
// the product overflows u32 or exceeds 2^31, 2^32 bits (512 MiB). So a full filter (max_entries
// values pushed) has about the kernel's false-positive rate, (1 - e^(-k n / m))^k.
//
// Hashing: one 64-bit digest of the value seeded with the map's hash seed (0 with
// BPF_F_ZERO_SEED; random otherwise, as the kernel's get_random_u32()), then bit i of the k is
// mix64(digest + (i + 1) * golden) & (nr_bits - 1). The kernel instead runs jhash k times with
// seed + i; the bit positions differ, so a never-pushed value may be a false positive here and
// not in the kernel (or the reverse), at the same rate.
//
// Concurrency and crashes: no locks at all. A push sets its bits with atomic fetch_or on 64-bit
// words (so concurrent pushes to one word never lose a bit) and a peek tests them with atomic
// loads. Bits are only ever set, never cleared, so every state of the array is a valid filter:
// a process killed inside a push leaves a subset of that value's bits set (the push never
// returned success; later peeks of that value may answer either way, as for any interrupted
// call) and nothing else changes. Nothing to repair, nothing that can block another process.
// lock_states() is empty.
//
// element_count() is the number of pushes that returned success (each push of a value counts,
// repeats included; a push killed before its last bit does not), saturated at UINT32_MAX. The
// kernel keeps no count; this is only for inspection.
//
// Every bound used on the hot path (the mask, k, the value size) comes from the checksummed
// segment header, not from the mutable region, so a corrupted region can change answers but
// never make an access leave the region.
#include <linux/bpf.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>

#include <fmt/format.h>

#include "shm/hash.hpp"
#include "shm/log.hpp"
#include "shm/map_type.hpp"
#include "shm/segment.hpp"
#include "shm/segment_format.hpp"
#include "shm/test_hooks.hpp"

namespace bpfmap::shm {
namespace {

constexpr uint64_t kBloomMagic = 0x314d4f4f4c425042ULL;  // "BPBLOOM1" little-endian
constexpr uint32_t kCreateFlagMask = BPF_F_NUMA_NODE | BPF_F_ZERO_SEED | BPF_F_RDONLY |
                                     BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;
// KMALLOC_MAX_SIZE on x86-64 (4 MiB): bloom_map_alloc_check's limit for value_size.
constexpr uint32_t kMaxValueSize = 4u << 20;
constexpr uint32_t kDefaultHashFuncs = 5;
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

struct BloomHeader {
    uint64_t magic;          // kBloomMagic
    uint32_t nr_hash_funcs;  // k, 1..15
    uint32_t value_size;
    uint64_t nr_bits;  // a power of two, 64 .. 2^32
    uint64_t n_words;  // nr_bits / 64
    uint64_t reserved[4];
};
static_assert(sizeof(BloomHeader) == 64);

// Only ever incremented (fetch_add) after a push set all its bits.
struct alignas(64) BloomCounter {
    std::atomic<uint64_t> pushes;
};
static_assert(sizeof(BloomCounter) == 64);
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint64_t>) == sizeof(uint64_t));

constexpr uint64_t kCounterOff = sizeof(BloomHeader);
constexpr uint64_t kWordsOff = kCounterOff + sizeof(BloomCounter);

uint32_t hash_funcs_of(const MapSpec& s) {
    const uint32_t k = static_cast<uint32_t>(s.map_extra & 0xF);
    return k ? k : kDefaultHashFuncs;
}

// bloom_map_alloc's bit count, in 64 .. 2^32.
uint64_t nr_bits_of(const MapSpec& s) {
    const uint32_t k = hash_funcs_of(s);
    uint32_t n;
    if (__builtin_mul_overflow(s.max_entries, k, &n) || __builtin_mul_overflow(n / 5, 7u, &n) ||
        n > (1u << 31))
        return uint64_t{1} << 32;
    if (n <= 64) return 64;
    uint64_t bits = 1;
    while (bits < n) bits <<= 1;
    return bits;
}

// bloom_map_alloc_check, then bloom_map_alloc's checks (nothing between them in the kernel
// gives another errno for this type: a map_ifindex is EINVAL as well).
int bloom_alloc_check(const MapSpec& s) {
    if (s.value_size > kMaxValueSize) return -E2BIG;
    if (s.key_size != 0 || s.value_size == 0 || s.max_entries == 0 ||
        !create_flags_ok(s.map_flags, kCreateFlagMask) ||
        (s.map_extra & ~uint64_t{0xF}))  // the low 4 bits are the number of hash functions
        return -EINVAL;
    return 0;
}

uint64_t bloom_region_size(const MapSpec& s) {
    return kWordsOff + nr_bits_of(s) / 8;
}

// One 64-bit digest of the whole value: every input bit affects every output bit (a
// multiply-xorshift round per 8-byte word, the length folded in).
uint64_t digest(const void* value, uint32_t len, uint64_t seed) {
    const auto* p = static_cast<const unsigned char*>(value);
    uint64_t h = seed ^ (kGolden * (uint64_t{len} + 1));
    while (len >= 8) {
        uint64_t v;
        std::memcpy(&v, p, 8);
        h = mix64(h ^ v) + kGolden;
        p += 8;
        len -= 8;
    }
    uint64_t v = 0;
    std::memcpy(&v, p, len);
    return mix64(h ^ v ^ (uint64_t{len} << 56));
}

class BloomFilterMap final : public Map {
  public:
    BloomFilterMap(const SegmentHeader& hdr, std::byte* region, const MapSpec& spec)
        : region_(region),
          counter_(reinterpret_cast<BloomCounter*>(region + kCounterOff)),
          words_(reinterpret_cast<std::atomic<uint64_t>*>(region + kWordsOff)),
          seed_(hdr.hash_seed),
          mask_(nr_bits_of(spec) - 1),
          n_words_(nr_bits_of(spec) / 64),
          k_(hash_funcs_of(spec)),
          value_size_(spec.value_size) {}

    // peek: `value` is the question.
    int lookup(const void*, void* value) override {
        const uint64_t d = digest(value, value_size_, seed_);
        for (uint32_t i = 0; i < k_; ++i) {
            const uint64_t bit = position(d, i);
            if (!(words_[bit >> 6].load(std::memory_order_acquire) & (uint64_t{1} << (bit & 63))))
                return -ENOENT;
        }
        return 0;
    }

    // push.
    int update(const void*, const void* value, uint64_t flags) override {
        if (flags != BPF_ANY) return -EINVAL;
        const uint64_t d = digest(value, value_size_, seed_);
        for (uint32_t i = 0; i < k_; ++i) {
            const uint64_t bit = position(d, i);
            words_[bit >> 6].fetch_or(uint64_t{1} << (bit & 63), std::memory_order_release);
            if (i == 0) crash_point();  // tests kill a pusher here: some of its bits set
        }
        counter_->pushes.fetch_add(1, std::memory_order_relaxed);
        return 0;
    }

    int delete_elem(const void*) override { return -EOPNOTSUPP; }
    int get_next_key(const void*, void*) override { return -EOPNOTSUPP; }
    int lookup_and_delete(const void*, void*, uint64_t) override { return -kENOTSUPP; }

    uint32_t element_count() const override {
        const uint64_t n = counter_->pushes.load(std::memory_order_relaxed);
        return n > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(n);
    }

    // The region header is all there is to check: every bit pattern of the array is a valid
    // filter (bits are only set), and the count has no relation to the bits that must hold
    // (repeated pushes, pushes killed half-way).
    void check(std::vector<std::string>& problems) const override {
        const auto* bh = reinterpret_cast<const BloomHeader*>(region_);
        if (bh->magic != kBloomMagic)
            problems.push_back(
                fmt::format("region header: magic {:#x}, expected {:#x}", bh->magic, kBloomMagic));
        if (bh->nr_hash_funcs != k_)
            problems.push_back(
                fmt::format("region header: {} hash functions, the map's "
                            "map_extra says {}",
                            bh->nr_hash_funcs, k_));
        if (bh->value_size != value_size_)
            problems.push_back(fmt::format("region header: value size {}, the segment says {}",
                                           bh->value_size, value_size_));
        if (bh->nr_bits != mask_ + 1 || bh->n_words != n_words_)
            problems.push_back(fmt::format("region header: {} bits in {} words, expected {} in {}",
                                           bh->nr_bits, bh->n_words, mask_ + 1, n_words_));
    }

    std::vector<LockState> lock_states() const override { return {}; }
    uint32_t user_value_size() const override { return value_size_; }
    bool lookup_reads_value() const override { return true; }

  private:
    uint64_t position(uint64_t d, uint32_t i) const {
        return mix64(d + (uint64_t{i} + 1) * kGolden) & mask_;
    }

    std::byte* region_;
    BloomCounter* counter_;
    std::atomic<uint64_t>* words_;
    uint64_t seed_, mask_, n_words_;
    uint32_t k_, value_size_;
};

// The region arrives zero-filled: an empty bit array and a zero count.
void bloom_init_region(std::byte* region, const MapSpec& spec, uint64_t) {
    auto* bh = new (region) BloomHeader{};
    bh->magic = kBloomMagic;
    bh->nr_hash_funcs = hash_funcs_of(spec);
    bh->value_size = spec.value_size;
    bh->nr_bits = nr_bits_of(spec);
    bh->n_words = bh->nr_bits / 64;
    new (region + kCounterOff) BloomCounter{};
}

std::unique_ptr<Map> bloom_attach(const SegmentHeader& hdr, MapState&, std::byte* region) {
    const MapSpec spec = spec_of(hdr);
    const auto* bh = reinterpret_cast<const BloomHeader*>(region);
    const uint64_t bits = nr_bits_of(spec);
    if (bh->magic != kBloomMagic || bh->nr_hash_funcs != hash_funcs_of(spec) ||
        bh->value_size != hdr.value_size || bh->nr_bits != bits || bh->n_words != bits / 64) {
        log().warn("bloom filter map {}: region header check failed (magic or sizes)", hdr.map_id);
        return nullptr;
    }
    return std::make_unique<BloomFilterMap>(hdr, region, spec);
}

}  // namespace

extern const MapTypeOps kBloomFilterMapOps;
const MapTypeOps kBloomFilterMapOps = {
    BPF_MAP_TYPE_BLOOM_FILTER, "bloom_filter",    false,        bloom_alloc_check, nullptr,
    bloom_region_size,         bloom_init_region, bloom_attach,
};

}  // namespace bpfmap::shm
