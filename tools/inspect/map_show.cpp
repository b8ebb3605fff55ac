// map show | list [MAP]: bpftool's layout plus what only bpfmap knows (elements, pins, holders,
// the segment file).
#include <sys/stat.h>

#include <fmt/format.h>

#include "tools/inspect/commands.hpp"
#include "tools/inspect/map_ref.hpp"
#include "tools/inspect/segment_view.hpp"
#include "tools/inspect/store_scan.hpp"

namespace bpfmap::inspect {
namespace {

struct Scans {
    std::map<FileKey, std::vector<Holder>> holders;
    std::map<FileKey, std::vector<std::string>> pins;
};

nlohmann::json map_json(const Context& ctx, const OpenMap& m, const Scans& scans) {
    const struct bpf_map_info& i = m.info;
    const std::string path = segment_path(ctx.root, i.id);
    const SegmentFile s = read_segment(path, true);
    struct stat st {};
    const bool have_st = fstat(m.fd, &st) == 0;
    const FileKey key{st.st_dev, st.st_ino};

    nlohmann::json j;
    j["id"] = i.id;
    j["type"] = m.type_name();
    j["name"] = m.name();
    j["flags"] = i.map_flags;
    j["bytes_key"] = i.key_size;
    j["bytes_value"] = i.value_size;
    j["max_entries"] = i.max_entries;
    j["bytes_memlock"] = have_st ? static_cast<uint64_t>(st.st_size) : 0;
    j["frozen"] = s.frozen() ? 1 : 0;
    j["elements"] = s.attached ? nlohmann::json(s.seg.map->element_count()) : nlohmann::json();
    j["pins"] = nlohmann::json::array();
    if (auto it = scans.pins.find(key); have_st && it != scans.pins.end()) j["pins"] = it->second;
    j["pids"] = nlohmann::json::array();
    if (auto it = scans.holders.find(key); have_st && it != scans.holders.end())
        for (const Holder& h : it->second) j["pids"].push_back({{"pid", h.pid}, {"comm", h.comm}});
    j["segment"] = path;
    j["bytes_segment"] = have_st ? static_cast<uint64_t>(st.st_size) : 0;
    return j;
}

std::string map_text(const nlohmann::json& j) {
    std::string s = fmt::format("{}: {}  name {}  flags {:#x}\n", j["id"].get<uint32_t>(),
                                j["type"].get<std::string>(), j["name"].get<std::string>(),
                                j["flags"].get<uint32_t>());
    s += fmt::format("\tkey {}B  value {}B  max_entries {}  memlock {}B\n",
                     j["bytes_key"].get<uint32_t>(), j["bytes_value"].get<uint32_t>(),
                     j["max_entries"].get<uint32_t>(), j["bytes_memlock"].get<uint64_t>());
    s += fmt::format("\telements {}\n",
                     j["elements"].is_null() ? std::string("?") : j["elements"].dump());
    if (j["frozen"].get<int>()) s += "\tfrozen\n";
    for (const auto& p : j["pins"]) s += fmt::format("\tpinned {}\n", p.get<std::string>());
    if (!j["pids"].empty()) {
        std::string pids;
        for (const auto& h : j["pids"])
            pids += fmt::format("{}{}({})", pids.empty() ? "" : ", ", h["comm"].get<std::string>(),
                                h["pid"].get<int>());
        s += fmt::format("\tpids {}\n", pids);
    }
    s += fmt::format("\tsegment {}  size {}B\n", j["segment"].get<std::string>(),
                     j["bytes_segment"].get<uint64_t>());
    return s;
}

}  // namespace

int cmd_map_show(Context& ctx) {
    require_store(ctx);
    size_t pos = 0;
    std::vector<OpenMap> maps;
    bool single = false;
    if (ctx.args.empty()) {
        maps = open_all_maps(ctx);
    } else {
        const MapSelector sel = parse_selector(ctx.args, pos);
        expect_end(ctx.args, pos, "nothing after MAP");
        maps = open_maps(ctx, sel, false);
        single = sel.kind != MapSelector::kName;
    }
    Scans scans{scan_holders(), scan_pins(ctx.root)};
    nlohmann::json all = nlohmann::json::array();
    for (const OpenMap& m : maps) all.push_back(map_json(ctx, m, scans));
    if (ctx.out.json) {
        ctx.out.print_json(single ? all.at(0) : all);
    } else {
        for (const auto& j : all) ctx.out.print_text(map_text(j));
    }
    return 0;
}

}  // namespace bpfmap::inspect
