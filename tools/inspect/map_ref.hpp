// MAP := id N | name NAME | pinned PATH (bpftool's syntax), resolved to map fds through bpf(),
// or to segment files for the segment-level commands.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tools/inspect/context.hpp"

namespace bpfmap::inspect {

struct MapSelector {
    enum Kind { kId, kName, kPinned } kind = kId;
    uint32_t id = 0;
    std::string text;      // the name or the path
    std::string describe;  // "id 3", "name foo", "pinned /x": for messages
};

// Parses MAP at args[pos], advancing pos past it. Throws Error if the words are not a MAP.
MapSelector parse_selector(const std::vector<std::string>& args, size_t& pos);
// Throws Error if args has words left after pos ("usage" says what was expected).
void expect_end(const std::vector<std::string>& args, size_t pos, const std::string& usage);

// A map fd (closed by the destructor) and its BPF_OBJ_GET_INFO_BY_FD.
class OpenMap {
  public:
    OpenMap() = default;
    OpenMap(OpenMap&& o) noexcept : fd(o.fd), info(o.info), what(std::move(o.what)) { o.fd = -1; }
    OpenMap& operator=(OpenMap&& o) noexcept;
    ~OpenMap();

    int fd = -1;
    struct bpf_map_info info {};
    std::string what;  // how the user named it, for messages

    std::string name() const;
    const char* type_name() const;
};

// Opens the maps a selector names (a name can match several) with read or read-write access.
// Throws Error (saying what was wrong) if there is none or it cannot be opened.
std::vector<OpenMap> open_maps(const Context& ctx, const MapSelector& sel, bool write);
// Exactly one map (a name matching several is an error).
OpenMap open_map(const Context& ctx, const MapSelector& sel, bool write);
// Every live map of the store, by ascending id.
std::vector<OpenMap> open_all_maps(const Context& ctx);

// <root>/maps/<id>
std::string segment_path(const std::string& root, uint32_t id);
// The segment files a selector names, without bpf() (fsck and segment show work on maps that
// bpf() refuses). Throws Error if there is none.
std::vector<std::string> selector_paths(const Context& ctx, const MapSelector& sel);

// bpf() with the attr's size.
int call_bpf(int cmd, union bpf_attr& attr);

}  // namespace bpfmap::inspect
