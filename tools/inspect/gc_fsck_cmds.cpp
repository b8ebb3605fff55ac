// gc: destroy what nothing holds or pins, remove stale files; fsck: check maps' invariants.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "tools/inspect/commands.hpp"
#include "tools/inspect/map_ref.hpp"
#include "tools/inspect/segment_view.hpp"

namespace bpfmap::inspect {
namespace {

// The names Store::list_ids() accepts: a map id in [1, INT_MAX], in decimal.
bool is_id_name(const std::string& n) {
    if (n.size() > 10 || !all_digits(n)) return false;
    const unsigned long long v = std::stoull(n);
    return v >= 1 && v <= INT_MAX;
}

std::vector<std::string> stale_entries(const std::string& root) {
    std::vector<std::string> out;
    if (DIR* d = ::opendir((root + "/maps").c_str())) {
        while (struct dirent* e = ::readdir(d)) {
            const std::string n = e->d_name;
            if (n == "." || n == ".." || is_id_name(n)) continue;
            out.push_back(root + "/maps/" + n);
        }
        ::closedir(d);
    }
    std::sort(out.begin(), out.end());
    return out;
}

nlohmann::json map_brief(const std::string& path, uint32_t id) {
    const SegmentFile s = read_segment(path, false);
    nlohmann::json j{{"id", id}, {"segment", path}};
    if (s.valid()) {
        j["type"] = s.type_name();
        j["name"] = s.name();
    } else {
        j["check"] = s.problem;
    }
    return j;
}

std::string brief_text(const nlohmann::json& j) {
    if (j.contains("type"))
        return fmt::format("map {} ({}  name {})", j["id"].get<uint32_t>(),
                           j["type"].get<std::string>(), j["name"].get<std::string>());
    return fmt::format("map {} (invalid segment: {} check failed)", j["id"].get<uint32_t>(),
                       j["check"].get<std::string>());
}

}  // namespace

int cmd_gc(Context& ctx) {
    require_store(ctx);
    expect_end(ctx.args, 0, "gc [--dry-run]");
    shm::Store& store = open_store(ctx);
    nlohmann::json maps = nlohmann::json::array();
    nlohmann::json files = nlohmann::json::array();
    // Store::sweep() is try_destroy() over list_ids(); done id by id here to say which went.
    for (uint32_t id : store.list_ids()) {
        if (!store.is_dead(id)) continue;
        nlohmann::json brief = map_brief(store.map_path(id), id);
        if (ctx.dry_run || store.try_destroy(id)) maps.push_back(std::move(brief));
    }
    for (const std::string& p : stale_entries(ctx.root)) {
        std::error_code ec;
        if (!ctx.dry_run) std::filesystem::remove_all(p, ec);
        if (ec)
            ctx.out.warn(fmt::format("cannot remove {}: {}", p, ec.message()));
        else
            files.push_back(p);
    }
    if (ctx.out.json) {
        ctx.out.print_json({{"dry_run", ctx.dry_run}, {"maps", maps}, {"stale_files", files}});
        return 0;
    }
    const char* verb_map = ctx.dry_run ? "would destroy" : "destroyed";
    const char* verb_file = ctx.dry_run ? "would remove stale file" : "removed stale file";
    std::string s;
    for (const auto& j : maps) s += fmt::format("{} {}\n", verb_map, brief_text(j));
    for (const auto& f : files) s += fmt::format("{} {}\n", verb_file, f.get<std::string>());
    if (maps.empty() && files.empty()) s = "nothing to collect\n";
    ctx.out.print_text(s);
    return 0;
}

int cmd_fsck(Context& ctx) {
    require_store(ctx);
    std::vector<std::string> paths;
    if (ctx.args.empty()) {
        shm::Store& store = open_store(ctx);
        for (uint32_t id : store.list_ids()) paths.push_back(store.map_path(id));
    } else {
        size_t pos = 0;
        const MapSelector sel = parse_selector(ctx.args, pos);
        expect_end(ctx.args, pos, "nothing after MAP");
        paths = selector_paths(ctx, sel);
    }
    nlohmann::json results = nlohmann::json::array();
    bool any = false;
    for (const std::string& path : paths) {
        const SegmentFile s = read_segment(path, true);
        std::vector<std::string> problems;
        if (!s.valid()) {
            problems.push_back(fmt::format("segment: {} check failed", s.problem));
        } else {
            const std::filesystem::path fp(path);
            const std::string base = fp.filename().string();
            if (fp.parent_path() == std::filesystem::path(ctx.root) / "maps" && is_id_name(base) &&
                std::to_string(s.hdr.map_id) != base)
                problems.push_back(fmt::format("header: id {} does not match the file name {}",
                                               s.hdr.map_id, base));
            s.seg.map->check(problems);
        }
        any = any || !problems.empty();
        nlohmann::json j{{"segment", path}, {"ok", problems.empty()}, {"problems", problems}};
        if (s.header_read && s.valid()) {
            j["id"] = s.hdr.map_id;
            j["type"] = s.type_name();
            j["name"] = s.name();
        }
        results.push_back(std::move(j));
    }
    if (ctx.out.json) {
        ctx.out.print_json(results);
    } else {
        std::string out;
        for (const auto& j : results) {
            const std::string who =
                j.contains("id")
                    ? fmt::format("map {} ({}  name {})", j["id"].get<uint32_t>(),
                                  j["type"].get<std::string>(), j["name"].get<std::string>())
                    : j["segment"].get<std::string>();
            if (j["ok"].get<bool>()) {
                out += fmt::format("{}: ok\n", who);
            } else {
                out += fmt::format("{}: {} problem{}\n", who, j["problems"].size(),
                                   j["problems"].size() == 1 ? "" : "s");
                for (const auto& p : j["problems"])
                    out += fmt::format("\t{}\n", p.get<std::string>());
            }
        }
        if (results.empty()) out = "no maps\n";
        ctx.out.print_text(out);
    }
    return any ? 1 : 0;
}

}  // namespace bpfmap::inspect
