#include "tools/inspect/map_ref.hpp"

#include <bpfmap/bpf.h>
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "shm/map_type.hpp"
#include "tools/inspect/segment_view.hpp"

namespace bpfmap::inspect {

namespace {

constexpr const char* kMapSyntax = "expected MAP: id N | name NAME | pinned PATH";

bool get_info(int fd, struct bpf_map_info& info) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    std::memset(&info, 0, sizeof info);
    a.info.bpf_fd = static_cast<uint32_t>(fd);
    a.info.info_len = sizeof info;
    a.info.info = reinterpret_cast<uintptr_t>(&info);
    return call_bpf(BPF_OBJ_GET_INFO_BY_FD, a) == 0;
}

OpenMap adopt(int fd, std::string what) {
    OpenMap m;
    m.fd = fd;
    m.what = std::move(what);
    if (!get_info(fd, m.info))
        throw Error(
            fmt::format("{}: reading the map's info failed: {}", m.what, errno_text(errno)));
    return m;
}

// Why bpf() refused the segment at `path`: the failed check, in one line.
std::string diagnose(const std::string& what, const std::string& path, int err) {
    SegmentFile s = read_segment(path, true);
    if (!s.valid())
        return fmt::format(
            "{}: {} is not a valid bpfmap map: {} check failed (expected a segment made by "
            "this build of bpfmap)",
            what, path, s.problem);
    return fmt::format("{}: cannot open the map: {}", what, errno_text(err));
}

int get_fd_by_id(uint32_t id, bool write) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.map_id = id;
    a.open_flags = write ? 0 : BPF_F_RDONLY;
    return call_bpf(BPF_MAP_GET_FD_BY_ID, a);
}

// The ids of the live maps (BPF_MAP_GET_NEXT_ID). Note that libbpfmap destroys maps whose last
// holder died, without a pin, on its first use in a process (and GET_NEXT_ID skips and destroys
// them too): the map commands never see dead maps. The segment-level commands (segment, gc,
// fsck) do not call bpf() and see them as they are.
std::vector<uint32_t> live_ids() {
    std::vector<uint32_t> ids;
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    while (call_bpf(BPF_MAP_GET_NEXT_ID, a) == 0) {
        ids.push_back(a.next_id);
        a.start_id = a.next_id;
        a.next_id = 0;
    }
    if (errno != ENOENT)
        throw Error(fmt::format("listing the store's maps failed: {}", errno_text(errno)));
    return ids;
}

OpenMap open_by_id(const Context& ctx, uint32_t id, bool write, const std::string& what) {
    // Checked before the first bpf() call, which would destroy a dead map (libbpfmap sweeps
    // the store on first use): say what happened to it instead.
    if (open_store(ctx).is_dead(id))
        throw Error(fmt::format(
            "{}: map {} has no holder and no pin (its last holder died); expected a live map "
            "('gc', or the next process to use the store, destroys it)",
            what, id));
    int fd = get_fd_by_id(id, write);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT)
            throw Error(fmt::format("{}: no map with id {} in the store at {} (see 'map show')",
                                    what, id, ctx.root));
        throw Error(diagnose(what, segment_path(ctx.root, id), err));
    }
    return adopt(fd, what);
}

}  // namespace

int call_bpf(int cmd, union bpf_attr& attr) {
    return bpf(cmd, &attr, sizeof attr);
}

OpenMap& OpenMap::operator=(OpenMap&& o) noexcept {
    if (this != &o) {
        if (fd >= 0) ::close(fd);
        fd = o.fd;
        info = o.info;
        what = std::move(o.what);
        o.fd = -1;
    }
    return *this;
}

OpenMap::~OpenMap() {
    if (fd >= 0) ::close(fd);
}

std::string OpenMap::name() const {
    return std::string(info.name, strnlen(info.name, sizeof info.name));
}

const char* OpenMap::type_name() const {
    const shm::MapTypeOps* ops = shm::find_map_type(info.type);
    return ops ? ops->name : "unknown";
}

MapSelector parse_selector(const std::vector<std::string>& args, size_t& pos) {
    if (pos >= args.size()) throw Error(fmt::format("missing MAP; {}", kMapSyntax));
    const std::string& kw = args[pos];
    if (kw != "id" && kw != "name" && kw != "pinned")
        throw Error(fmt::format("'{}' is not a way to name a map; {}", kw, kMapSyntax));
    if (pos + 1 >= args.size()) throw Error(fmt::format("'{}' needs a value; {}", kw, kMapSyntax));
    MapSelector s;
    s.text = args[pos + 1];
    s.describe = kw + " " + s.text;
    if (kw == "id") {
        s.kind = MapSelector::kId;
        s.id = static_cast<uint32_t>(parse_unsigned(s.text, INT_MAX, "map id"));
    } else if (kw == "name") {
        s.kind = MapSelector::kName;
        if (s.text.empty() || s.text.size() >= BPF_OBJ_NAME_LEN)
            throw Error(fmt::format("name '{}': expected 1 to {} characters", s.text,
                                    BPF_OBJ_NAME_LEN - 1));
    } else {
        s.kind = MapSelector::kPinned;
    }
    pos += 2;
    return s;
}

void expect_end(const std::vector<std::string>& args, size_t pos, const std::string& usage) {
    if (pos < args.size())
        throw Error(fmt::format("unexpected '{}'; expected {}", args[pos], usage));
}

std::vector<OpenMap> open_maps(const Context& ctx, const MapSelector& sel, bool write) {
    std::vector<OpenMap> out;
    switch (sel.kind) {
        case MapSelector::kId:
            out.push_back(open_by_id(ctx, sel.id, write, sel.describe));
            break;
        case MapSelector::kName: {
            for (uint32_t id : live_ids()) {
                int fd = get_fd_by_id(id, false);
                if (fd < 0) continue;  // destroyed meanwhile, or refused: not this name
                OpenMap m = adopt(fd, sel.describe);
                if (m.name() != sel.text) continue;
                out.push_back(write ? open_by_id(ctx, id, true, sel.describe) : std::move(m));
            }
            if (out.empty())
                throw Error(fmt::format("{}: no map named '{}' in the store at {} (see 'map show')",
                                        sel.describe, sel.text, ctx.root));
            break;
        }
        case MapSelector::kPinned: {
            union bpf_attr a;
            std::memset(&a, 0, sizeof a);
            a.pathname = reinterpret_cast<uintptr_t>(sel.text.c_str());
            a.file_flags = write ? 0 : BPF_F_RDONLY;
            int fd = call_bpf(BPF_OBJ_GET, a);
            if (fd < 0) {
                const int err = errno;
                if (err == ENOENT)
                    throw Error(
                        fmt::format("{}: no such file (expected the path of a pin)", sel.describe));
                struct stat st;
                if (err == EACCES && ::stat(sel.text.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
                    throw Error(
                        fmt::format("{}: is a folder (expected the path of a pin)", sel.describe));
                char real[PATH_MAX], real_root[PATH_MAX];
                if (err == EACCES && ::realpath(sel.text.c_str(), real) &&
                    ::realpath(ctx.root.c_str(), real_root) &&
                    std::string(real).rfind(std::string(real_root) + "/", 0) != 0)
                    throw Error(fmt::format(
                        "{}: not inside the store's root {} (expected a pin made there)",
                        sel.describe, ctx.root));
                throw Error(diagnose(sel.describe, sel.text, err));
            }
            out.push_back(adopt(fd, sel.describe));
            break;
        }
    }
    return out;
}

OpenMap open_map(const Context& ctx, const MapSelector& sel, bool write) {
    std::vector<OpenMap> maps = open_maps(ctx, sel, write);
    if (maps.size() > 1) {
        std::string ids;
        for (const OpenMap& m : maps)
            ids += fmt::format("{}{}", ids.empty() ? "" : ", ", m.info.id);
        throw Error(fmt::format("{}: {} maps have that name (ids {}); expected one: use id N",
                                sel.describe, maps.size(), ids));
    }
    return std::move(maps.front());
}

std::vector<OpenMap> open_all_maps(const Context& ctx) {
    std::vector<OpenMap> out;
    for (uint32_t id : live_ids()) {
        int fd = get_fd_by_id(id, false);
        if (fd < 0) {
            // Destroyed since the walk (ENOENT), or a segment bpf() refuses: say which and go on.
            const int err = errno;
            if (err != ENOENT)
                ctx.out.warn(diagnose(fmt::format("id {}", id), segment_path(ctx.root, id), err) +
                             "; skipped (see 'segment show')");
            continue;
        }
        out.push_back(adopt(fd, fmt::format("id {}", id)));
    }
    return out;
}

std::string segment_path(const std::string& root, uint32_t id) {
    return root + "/maps/" + std::to_string(id);
}

std::vector<std::string> selector_paths(const Context& ctx, const MapSelector& sel) {
    std::vector<std::string> out;
    struct stat st;
    switch (sel.kind) {
        case MapSelector::kId:
            out.push_back(segment_path(ctx.root, sel.id));
            if (::lstat(out.back().c_str(), &st) != 0)
                throw Error(fmt::format("{}: no map with id {} in the store at {} (no file {})",
                                        sel.describe, sel.id, ctx.root, out.back()));
            break;
        case MapSelector::kPinned:
            if (::stat(sel.text.c_str(), &st) != 0)
                throw Error(fmt::format("{}: {} (expected the path of a pin)", sel.describe,
                                        errno_text(errno)));
            out.push_back(sel.text);
            break;
        case MapSelector::kName: {
            const std::string dir = ctx.root + "/maps";
            if (DIR* d = ::opendir(dir.c_str())) {
                std::vector<std::string> names;
                while (struct dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
                ::closedir(d);
                std::sort(names.begin(), names.end());
                for (const std::string& n : names) {
                    if (n == "." || n == "..") continue;
                    SegmentFile s = read_segment(dir + "/" + n, false);
                    if (s.header_read && s.hdr.magic == shm::kSegmentMagic && s.name() == sel.text)
                        out.push_back(s.path);
                }
            }
            if (out.empty())
                throw Error(fmt::format("{}: no map named '{}' in the store at {}", sel.describe,
                                        sel.text, ctx.root));
            break;
        }
    }
    return out;
}

}  // namespace bpfmap::inspect
