// segment show | list: the root folder and every file in maps/, read directly (mdb_stat's view):
// format version, sizes on disk and in memory, the header check, and each lock's holder.
#include <dirent.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "tools/inspect/commands.hpp"
#include "tools/inspect/map_ref.hpp"
#include "tools/inspect/segment_view.hpp"

namespace bpfmap::inspect {
namespace {

nlohmann::json lock_json(const LockInfo& l) {
    nlohmann::json j{{"name", l.name}, {"state", l.tid ? "held" : "free"}};
    if (l.tid) {
        j["tid"] = l.tid;
        j["alive"] = l.alive;
        j["owner_died"] = l.owner_died;
    }
    return j;
}

nlohmann::json segment_json(const std::string& root, const std::string& path) {
    const SegmentFile s = read_segment(path, true);
    nlohmann::json j;
    j["file"] = path.rfind(root + "/", 0) == 0 ? path.substr(root.size() + 1) : path;
    j["path"] = path;
    const bool has_magic = s.header_read && s.hdr.magic == shm::kSegmentMagic;
    j["format_version"] = has_magic ? nlohmann::json(s.hdr.format_version) : nlohmann::json();
    j["bytes_disk"] = s.disk_bytes();
    j["bytes_memory"] = s.memory_bytes();
    j["links"] = s.stat_ok ? static_cast<uint64_t>(s.st.st_nlink) : 0;
    j["valid"] = s.valid();
    j["check"] = s.valid() ? std::string("ok") : s.problem;
    if (s.valid()) {
        j["id"] = s.hdr.map_id;
        j["type"] = s.type_name();
        j["name"] = s.name();
        j["bytes_key"] = s.hdr.key_size;
        j["bytes_value"] = s.hdr.value_size;
        j["max_entries"] = s.hdr.max_entries;
        j["flags"] = s.hdr.map_flags;
        j["creator_pid"] = s.hdr.creator_pid;
    }
    if (s.attached) {
        j["frozen"] = s.frozen() ? 1 : 0;
        j["elements"] = s.seg.map->element_count();
        j["locks"] = nlohmann::json::array();
        for (const LockInfo& l : lock_infos(s)) j["locks"].push_back(lock_json(l));
    }
    return j;
}

std::string lock_text(const nlohmann::json& l) {
    if (l["state"] == "free") return fmt::format("\tlock {}: free\n", l["name"].get<std::string>());
    return fmt::format(
        "\tlock {}: held by tid {} ({}){}\n", l["name"].get<std::string>(), l["tid"].get<int>(),
        l["alive"].get<bool>() ? "alive" : "DEAD",
        l["owner_died"].get<bool>() ? ", died inside: the next user repairs it" : "");
}

std::string segment_text(const nlohmann::json& j) {
    std::string s = fmt::format(
        "{}: format {}  disk {}B  memory {}B  links {}  header {}\n", j["file"].get<std::string>(),
        j["format_version"].is_null() ? std::string("?") : j["format_version"].dump(),
        j["bytes_disk"].get<uint64_t>(), j["bytes_memory"].get<uint64_t>(),
        j["links"].get<uint64_t>(),
        j["valid"].get<bool>() ? std::string("ok")
                               : "FAILED: " + j["check"].get<std::string>() + " check failed");
    if (!j["valid"].get<bool>()) return s;
    s += fmt::format("\tid {}  {}  name {}  key {}B  value {}B  max_entries {}  flags {:#x}\n",
                     j["id"].get<uint32_t>(), j["type"].get<std::string>(),
                     j["name"].get<std::string>(), j["bytes_key"].get<uint32_t>(),
                     j["bytes_value"].get<uint32_t>(), j["max_entries"].get<uint32_t>(),
                     j["flags"].get<uint32_t>());
    if (!j.contains("locks")) return s;
    s += fmt::format("\telements {}{}\n", j["elements"].get<uint32_t>(),
                     j["frozen"].get<int>() ? "  frozen" : "");
    size_t free_locks = 0;
    std::string held;
    for (const auto& l : j["locks"]) {
        if (l["state"] == "free")
            ++free_locks;
        else
            held += lock_text(l);
    }
    s += fmt::format("\tlocks {}: {} free, {} held\n", j["locks"].size(), free_locks,
                     j["locks"].size() - free_locks);
    return s + held;
}

// maps/ entries: ids in ascending order first, then any other name.
std::vector<std::string> maps_entries(const std::string& root) {
    std::vector<std::string> names;
    if (DIR* d = ::opendir((root + "/maps").c_str())) {
        while (struct dirent* e = ::readdir(d))
            if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
                names.emplace_back(e->d_name);
        ::closedir(d);
    }
    auto is_num = [](const std::string& n) { return n.size() <= 10 && all_digits(n); };
    std::sort(names.begin(), names.end(), [&](const std::string& a, const std::string& b) {
        if (is_num(a) != is_num(b)) return is_num(a);
        if (is_num(a)) return std::stoull(a) < std::stoull(b);
        return a < b;
    });
    return names;
}

}  // namespace

int cmd_segment_show(Context& ctx) {
    require_store(ctx);
    std::vector<std::string> paths;
    bool single = false;
    if (ctx.args.empty()) {
        for (const std::string& n : maps_entries(ctx.root))
            paths.push_back(ctx.root + "/maps/" + n);
    } else if (ctx.args[0] == "id") {
        size_t pos = 0;
        const MapSelector sel = parse_selector(ctx.args, pos);
        expect_end(ctx.args, pos, "[id N | FILE]");
        paths = selector_paths(ctx, sel);
        single = true;
    } else {
        expect_end(ctx.args, 1, "[id N | FILE]");
        struct stat st;
        if (::lstat(ctx.args[0].c_str(), &st) != 0)
            throw Error(fmt::format("{}: {} (expected a segment file, or id N)", ctx.args[0],
                                    errno_text(errno)));
        paths.push_back(ctx.args[0]);
        single = true;
    }
    nlohmann::json segs = nlohmann::json::array();
    for (const std::string& p : paths) segs.push_back(segment_json(ctx.root, p));
    if (ctx.out.json) {
        if (single)
            ctx.out.print_json(segs.at(0));
        else
            ctx.out.print_json({{"root", ctx.root}, {"segments", segs}});
        return 0;
    }
    if (!single) ctx.out.print_text(fmt::format("root {}  segments {}\n", ctx.root, segs.size()));
    for (const auto& j : segs) ctx.out.print_text(segment_text(j));
    return 0;
}

}  // namespace bpfmap::inspect
