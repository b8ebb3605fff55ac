// bpfmap-inspect, run as a subprocess (fork + exec, stdout/stderr/exit status captured), on maps
// created by this process, by the tool itself and by child processes (spawn_child):
//   help      --help lists every command of the command table and every supported map type;
//             -h works at every level; an unknown command is a one-line error
//   show      text (bpftool's layout) and JSON fields, by id, name and pin; pins; holder pids,
//             including a child process that holds a map it created
//   dump      bpftool's hex layout and "Found N element(s)", JSON, --key/--value-format
//   elements  lookup, update (any/exist/noexist), delete, getnext; pin; create; freeze
//   errors    unknown id/name/pin, foreign and corrupt segments, malformed bytes, wrong sizes,
//             values too long, bad formats: one line on stderr, {"error"} with -j, exit != 0,
//             and the map's file byte for byte unchanged
//   load      dump -j -> create -> load -> dump -j round trip (file and stdin), bad input
//   segment   format, sizes, header check of good, foreign and truncated files; a lock held by
//             a SIGKILLed writer is reported held by its dead tid, and dump still completes
//   gc        --dry-run and gc after a holder is SIGKILLed; stale files; pinned maps stay
//   fsck      clean map: 0; count word and chain corrupted with pwrite: 1 with the violation
//   stream    an ARRAY of 1M entries dumps to "Found 1048576 elements"
//   types     per-CPU values one line per CPU (text) and "values" (JSON), update copying one
//             value to every CPU, dump -j / load round trip; LPM keys shown and accepted as
//             10.1.0.0/16; QUEUE/STACK peek, push (full; 'exist'), pop; BLOOM peek of a value
// Read-only commands leave a map's segment file byte for byte unchanged.
#include <bpfmap/bpf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/internal/test_hooks.h"
#include "shm/map_type.hpp"
#include "shm/segment_format.hpp"
#include "shm/test_hooks.hpp"
#include "test_support.hpp"
#include "tools/inspect/command_table.hpp"

namespace bt = bpfmap::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// ---- Running the tool ---------------------------------------------------------------------

std::string tool_path() {
    if (const char* p = std::getenv("BPFMAP_INSPECT"); p && *p) return p;
    // Fallback: the build tree layout (tests/ and tools/inspect/ side by side).
    return (fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "tools" / "inspect" /
            "bpfmap-inspect")
        .string();
}

struct Run {
    int status = -1;  // exit status, or 128 + signal
    std::string out, err;
    size_t out_lines = 0;
    json js() const {
        try {
            return json::parse(out);
        } catch (const std::exception& e) {
            BOOST_ERROR("stdout is not JSON: " << e.what() << "\n" << out.substr(0, 2000));
            return json();
        }
    }
};

// Runs bpfmap-inspect with `args` (and `input` on stdin). With tail_only, only the last 64 KiB
// of stdout are kept (out_lines counts every line).
Run run_tool(const std::vector<std::string>& args, const std::string& input = {},
             bool tail_only = false) {
    int in[2], out[2], err[2];
    BOOST_REQUIRE(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 &&
                  pipe2(err, O_CLOEXEC) == 0);
    const std::string exe = tool_path();
    std::vector<std::string> argv_s = {exe};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    const pid_t pid = fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        execv(exe.c_str(), argv.data());
        _exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    Run r;
    size_t written = 0;
    int in_fd = in[1];
    if (input.empty()) {
        ::close(in_fd);
        in_fd = -1;
    }
    bool out_open = true, err_open = true;
    char buf[1 << 16];
    while (out_open || err_open) {
        struct pollfd p[3] = {{out_open ? out[0] : -1, POLLIN, 0},
                              {err_open ? err[0] : -1, POLLIN, 0},
                              {in_fd, POLLOUT, 0}};
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[2].revents) {
            const ssize_t n = ::write(in_fd, input.data() + written, input.size() - written);
            if (n > 0) written += static_cast<size_t>(n);
            if (n < 0 && errno != EAGAIN) written = input.size();
            if (written == input.size()) {
                ::close(in_fd);
                in_fd = -1;
            }
        }
        for (int i = 0; i < 2; ++i) {
            if (!p[i].revents) continue;
            const ssize_t n = ::read(i == 0 ? out[0] : err[0], buf, sizeof buf);
            if (n <= 0) {
                (i == 0 ? out_open : err_open) = false;
                continue;
            }
            std::string& dst = i == 0 ? r.out : r.err;
            dst.append(buf, static_cast<size_t>(n));
            if (i == 0) {
                r.out_lines += static_cast<size_t>(std::count(buf, buf + n, '\n'));
                if (tail_only && dst.size() > (1u << 17)) dst.erase(0, dst.size() - (1u << 16));
            }
        }
    }
    if (in_fd >= 0) ::close(in_fd);
    ::close(out[0]);
    ::close(err[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

// The command succeeded and said nothing on stderr.
void check_ok(const Run& r, const std::string& what) {
    BOOST_CHECK_MESSAGE(r.status == 0, what << ": exit " << r.status << ", stderr: " << r.err);
    BOOST_CHECK_MESSAGE(r.err.empty(), what << ": stderr: " << r.err);
}

// A failed command: exit != 0, exactly one line "Error: ..." on stderr mentioning `fragment`;
// with -j also {"error": ...} on stdout.
void check_error(std::vector<std::string> args, const std::string& fragment,
                 const std::string& input = {}) {
    const std::string what = [&] {
        std::string s;
        for (const auto& a : args) s += a + " ";
        return s;
    }();
    const Run r = run_tool(args, input);
    BOOST_CHECK_MESSAGE(r.status != 0, what << ": exit 0, expected an error");
    BOOST_CHECK_MESSAGE(r.err.rfind("Error: ", 0) == 0, what << ": stderr: " << r.err);
    BOOST_CHECK_MESSAGE(std::count(r.err.begin(), r.err.end(), '\n') == 1 && r.err.back() == '\n',
                        what << ": expected one line, got: " << r.err);
    BOOST_CHECK_MESSAGE(r.err.find(fragment) != std::string::npos,
                        what << ": expected '" << fragment << "' in: " << r.err);
    args.insert(args.begin(), "-j");
    const Run j = run_tool(args, input);
    BOOST_CHECK_MESSAGE(j.status != 0, what << "-j: exit 0");
    const json doc = j.js();
    BOOST_CHECK_MESSAGE(doc.is_object() && doc.contains("error") &&
                            doc["error"].get<std::string>().find(fragment) != std::string::npos,
                        what << "-j: stdout: " << j.out);
}

// ---- Maps and files -------------------------------------------------------------------------

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary);
    out << data;
}

// Inverts every bit of one byte of a file. Writing a constant instead would leave the byte as
// it was whenever it already held that constant (a random hash seed byte does, 1 time in 256).
void flip_byte(const std::string& path, off_t offset) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    BOOST_REQUIRE_MESSAGE(fd >= 0, path << ": " << std::strerror(errno));
    unsigned char b = 0;
    BOOST_REQUIRE(pread(fd, &b, 1, offset) == 1);
    b = static_cast<unsigned char>(~b);
    BOOST_REQUIRE(pwrite(fd, &b, 1, offset) == 1);
    ::close(fd);
}

std::string seg_path(const std::string& root, uint32_t id) {
    return root + "/maps/" + std::to_string(id);
}

// A hash map (key 4, value 8) made by this process, with keys 1..n holding value 10 * key.
struct TestMap {
    int fd = -1;
    uint32_t id = 0;
    std::string name;
    TestMap(unsigned type, const std::string& nm, uint32_t n, uint32_t max_entries = 16)
        : name(nm) {
        fd = bt::map_create(type, 4, 8, max_entries, 0, nm.c_str());
        BOOST_REQUIRE_MESSAGE(fd >= 0, "map_create: " << strerror(errno));
        id = bt::map_id(fd);
        for (uint32_t k = 1; k <= n; ++k) {
            const uint64_t v = 10 * k;
            BOOST_REQUIRE(bt::map_update(fd, &k, &v, BPF_ANY) == 0);
        }
    }
    ~TestMap() { ::close(fd); }
    std::string sid() const { return std::to_string(id); }
    std::string path() const { return seg_path(bt::test_root(), id); }
};

// A store root of its own (beside the binary's), removed at the end of the case.
struct OwnRoot {
    std::string root;
    explicit OwnRoot(const std::string& tag) : root(bt::test_root() + "-" + tag) {
        fs::remove_all(root);
        fs::create_directories(root);
    }
    ~OwnRoot() {
        std::error_code ec;
        fs::remove_all(root, ec);
    }
    std::vector<std::string> with(std::vector<std::string> args) const {
        args.insert(args.begin(), {"--root", root});
        return args;
    }
};

// Creates a pinned map in `root` with the tool; returns its id.
uint32_t tool_create(const OwnRoot& r, const std::string& pin, const std::string& type,
                     const std::string& key, const std::string& value, const std::string& entries,
                     const std::string& name) {
    const Run c = run_tool(r.with({"-j", "map", "create", r.root + "/pins/" + pin, "type", type,
                                   "key", key, "value", value, "entries", entries, "name", name}));
    check_ok(c, "map create " + name);
    const json j = c.js();
    BOOST_REQUIRE(j.contains("id"));
    return j["id"].get<uint32_t>();
}

// ---- Children -------------------------------------------------------------------------------

void write_all(int fd, const void* p, size_t n) {
    while (::write(fd, p, n) < 0 && errno == EINTR) {
    }
}

bool read_all(int fd, void* p, size_t n) {
    auto* c = static_cast<char*>(p);
    while (n) {
        const ssize_t r = ::read(fd, c, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        c += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

int g_ready_fd = -1;
void block_in_critical_section() {
    const uint32_t inside = 0xc0ffee;
    write_all(g_ready_fd, &inside, sizeof inside);
    for (;;) pause();
}

}  // namespace

// args: root, ready fd. Creates an unpinned hash map named "held" with one element, writes its
// id to the ready fd, then holds it until killed.
BPFMAP_CHILD(holder) {
    setenv("BPFMAP_ROOT", args.at(0).c_str(), 1);
    const int ready = std::atoi(args.at(1).c_str());
    const int fd = bt::map_create(BPF_MAP_TYPE_HASH, 4, 8, 16, 0, "held");
    if (fd < 0) return 10;
    const uint32_t k = 7;
    const uint64_t v = 70;
    if (bt::map_update(fd, &k, &v, BPF_ANY) != 0) return 11;
    const uint32_t id = bt::map_id(fd);
    write_all(ready, &id, sizeof id);
    for (;;) pause();
}

// args: root, pin path, ready fd. Opens the pinned map and updates key 1 with the crash hook
// set: the hook writes to the ready fd and blocks inside the critical section (lock held,
// sequence count odd) until the parent kills this process.
BPFMAP_CHILD(crasher) {
    setenv("BPFMAP_ROOT", args.at(0).c_str(), 1);
    g_ready_fd = std::atoi(args.at(2).c_str());
    const int fd = bt::obj_get(args.at(1));
    if (fd < 0) return 10;
    bpfmap_test_set_crash_hook(block_in_critical_section);
    const uint32_t k = 1;
    const uint64_t v = 0x1111111122222222ULL;
    bt::map_update(fd, &k, &v, BPF_ANY);
    return 12;  // not reached: the hook blocks
}

BOOST_AUTO_TEST_SUITE(inspect)

BOOST_AUTO_TEST_CASE(help_lists_every_command_and_map_type) {
    BOOST_REQUIRE_MESSAGE(fs::exists(tool_path()), "no bpfmap-inspect at " << tool_path());
    const Run h = run_tool({"--help"});
    check_ok(h, "--help");
    for (const auto& c : bpfmap::inspect::kCommands) {
        const std::string cmd = c.group.empty() ? std::string(c.name)
                                                : std::string(c.group) + " " + std::string(c.name);
        BOOST_CHECK_MESSAGE(h.out.find(cmd) != std::string::npos, "--help lacks " << cmd);
        // Every command has its own -h.
        std::vector<std::string> args;
        if (!c.group.empty()) args.emplace_back(c.group);
        args.emplace_back(c.name);
        args.emplace_back("-h");
        const Run sub = run_tool(args);
        check_ok(sub, cmd + " -h");
        BOOST_CHECK_MESSAGE(sub.out.find(std::string(c.synopsis)) != std::string::npos,
                            cmd << " -h lacks its synopsis: " << sub.out);
    }
    int types = 0;
    for (unsigned t = 0; t < bpfmap::inspect::kMapTypeProbeLimit; ++t) {
        if (const auto* ops = bpfmap::shm::find_map_type(t)) {
            ++types;
            BOOST_CHECK_MESSAGE(h.out.find(ops->name) != std::string::npos,
                                "--help lacks map type " << ops->name);
        }
    }
    BOOST_CHECK_GE(types, 2);
    check_ok(run_tool({"map", "-h"}), "map -h");
    check_ok(run_tool({"segment", "--help"}), "segment --help");
    check_error({"frobnicate"}, "unknown command 'frobnicate'; expected one of: map, segment");
    check_error({"map"}, "'map' needs a command; expected one of: show, list, dump");
    check_error({"map", "shw"}, "unknown map command 'shw'");
    check_error({}, "no command given");
    check_error({"map", "dump", "id", "1", "--key-format", "base64"}, "base64");
}

BOOST_AUTO_TEST_CASE(map_show_text_and_json) {
    TestMap m(BPF_MAP_TYPE_HASH, "show_me", 3);
    const std::string pin = bt::test_root() + "/pins/show_me";
    BOOST_REQUIRE(bt::obj_pin(m.fd, pin) == 0);
    struct stat st;
    BOOST_REQUIRE(::stat(m.path().c_str(), &st) == 0);
    const std::string before = read_file(m.path());

    const Run t = run_tool({"map", "show", "id", m.sid()});
    check_ok(t, "map show id");
    const std::string head = m.sid() + ": hash  name show_me  flags 0x0\n\tkey 4B  value 8B  " +
                             "max_entries 16  memlock " + std::to_string(st.st_size) + "B\n";
    BOOST_CHECK_MESSAGE(t.out.rfind(head, 0) == 0, "got:\n" << t.out);
    BOOST_CHECK(t.out.find("\telements 3\n") != std::string::npos);
    BOOST_CHECK(t.out.find("\tpinned " + pin + "\n") != std::string::npos);
    BOOST_CHECK(t.out.find("(" + std::to_string(getpid()) + ")") != std::string::npos);
    BOOST_CHECK(t.out.find("\tsegment " + m.path()) != std::string::npos);

    for (const std::vector<std::string>& sel :
         {std::vector<std::string>{"id", m.sid()}, {"pinned", pin}}) {
        std::vector<std::string> args = {"-j", "map", "show"};
        args.insert(args.end(), sel.begin(), sel.end());
        const Run r = run_tool(args);
        check_ok(r, "map show -j " + sel[0]);
        const json j = r.js();
        BOOST_CHECK_EQUAL(j["id"].get<uint32_t>(), m.id);
        BOOST_CHECK_EQUAL(j["type"], "hash");
        BOOST_CHECK_EQUAL(j["name"], "show_me");
        BOOST_CHECK_EQUAL(j["flags"].get<uint32_t>(), 0u);
        BOOST_CHECK_EQUAL(j["bytes_key"].get<uint32_t>(), 4u);
        BOOST_CHECK_EQUAL(j["bytes_value"].get<uint32_t>(), 8u);
        BOOST_CHECK_EQUAL(j["max_entries"].get<uint32_t>(), 16u);
        BOOST_CHECK_EQUAL(j["bytes_memlock"].get<int64_t>(), st.st_size);
        BOOST_CHECK_EQUAL(j["bytes_segment"].get<int64_t>(), st.st_size);
        BOOST_CHECK_EQUAL(j["frozen"].get<int>(), 0);
        BOOST_CHECK_EQUAL(j["elements"].get<uint32_t>(), 3u);
        BOOST_CHECK_EQUAL(j["segment"], m.path());
        BOOST_CHECK(j["pins"] == json::array({pin}));
        bool self = false;
        for (const auto& p : j["pids"]) self = self || p["pid"].get<int>() == getpid();
        BOOST_CHECK_MESSAGE(self, "this process holds the map: " << j["pids"].dump());
    }
    // By name, and every map: arrays.
    const Run byname = run_tool({"-j", "map", "list", "name", "show_me"});
    check_ok(byname, "map list name");
    BOOST_CHECK(byname.js().is_array() && byname.js().size() == 1);
    const Run all = run_tool({"-p", "map", "show"});
    check_ok(all, "map show -p");
    bool listed = false;
    for (const auto& j : all.js()) listed = listed || j["id"].get<uint32_t>() == m.id;
    BOOST_CHECK(listed);
    BOOST_CHECK(all.out.find("\n    ") != std::string::npos);  // pretty: indented
    // Inspecting changed nothing.
    check_ok(run_tool({"map", "dump", "id", m.sid()}), "dump");
    check_ok(run_tool({"segment", "show", "id", m.sid()}), "segment show");
    check_ok(run_tool({"fsck", "id", m.sid()}), "fsck");
    BOOST_CHECK(read_file(m.path()) == before);
    ::unlink(pin.c_str());
}

BOOST_AUTO_TEST_CASE(dump_layouts_and_formats) {
    TestMap m(BPF_MAP_TYPE_HASH, "dumped", 3);
    const Run t = run_tool({"map", "dump", "id", m.sid()});
    check_ok(t, "dump");
    for (uint32_t k = 1; k <= 3; ++k) {
        char line[128];
        std::snprintf(line, sizeof line, "key: %02x 00 00 00  value: %02x 00 00 00 00 00 00 00\n",
                      k, 10 * k);
        BOOST_CHECK_MESSAGE(t.out.find(line) != std::string::npos, line << " not in " << t.out);
    }
    BOOST_CHECK(t.out.size() > 17 && t.out.substr(t.out.size() - 17) == "Found 3 elements\n");

    const Run j = run_tool({"-j", "map", "dump", "id", m.sid()});
    check_ok(j, "dump -j");
    const json d = j.js();
    BOOST_REQUIRE(d.is_array() && d.size() == 3);
    for (const auto& e : d) {
        BOOST_REQUIRE(e["key"].is_array() && e["key"].size() == 4);
        BOOST_REQUIRE(e["value"].is_array() && e["value"].size() == 8);
        const uint32_t k =
            static_cast<uint32_t>(std::stoul(e["key"][0].get<std::string>(), nullptr, 16));
        BOOST_CHECK_EQUAL(e["key"][1], "0x00");
        BOOST_CHECK_EQUAL(std::stoul(e["value"][0].get<std::string>(), nullptr, 16), 10 * k);
    }
    const Run f =
        run_tool({"map", "dump", "id", m.sid(), "--key-format", "u32", "--value-format", "u64"});
    check_ok(f, "dump formats");
    BOOST_CHECK(f.out.find("key: 2  value: 20\n") != std::string::npos);
    const Run fj = run_tool(
        {"-j", "map", "dump", "id", m.sid(), "--key-format", "u32", "--value-format", "i64"});
    bool found = false;
    for (const auto& e : fj.js()) found = found || (e["key"] == 3 && e["value"] == 30);
    BOOST_CHECK(found);

    // One element: singular. An empty map: "Found 0 elements" and [].
    TestMap one(BPF_MAP_TYPE_HASH, "one", 1);
    const Run o = run_tool({"map", "dump", "name", "one"});
    BOOST_CHECK(o.out.find("Found 1 element\n") != std::string::npos);
    TestMap none(BPF_MAP_TYPE_HASH, "none", 0);
    BOOST_CHECK_EQUAL(run_tool({"map", "dump", "id", none.sid()}).out, "Found 0 elements\n");
    BOOST_CHECK(run_tool({"-j", "map", "dump", "id", none.sid()}).js() == json::array());
    // Long keys break lines as bpftool does.
    const int big = bt::map_create(BPF_MAP_TYPE_HASH, 20, 4, 4, 0, "wide");
    BOOST_REQUIRE(big >= 0);
    uint8_t key[20];
    for (uint8_t i = 0; i < 20; ++i) key[i] = i;
    const uint32_t v = 0xddccbbaa;
    BOOST_REQUIRE(bt::map_update(big, key, &v, BPF_ANY) == 0);
    const Run w = run_tool({"map", "dump", "id", std::to_string(bt::map_id(big))});
    BOOST_CHECK_EQUAL(w.out,
                      "key:\n00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f\n10 11 12 13\n"
                      "value:\naa bb cc dd\nFound 1 element\n");
    ::close(big);
}

BOOST_AUTO_TEST_CASE(lookup_update_delete_getnext) {
    TestMap m(BPF_MAP_TYPE_HASH, "elems", 1);
    const std::string id = m.sid();
    const Run l = run_tool({"map", "lookup", "id", id, "key", "1", "0", "0", "0"});
    check_ok(l, "lookup");
    BOOST_CHECK_EQUAL(l.out, "key: 01 00 00 00  value: 0a 00 00 00 00 00 00 00\n");
    const Run lj =
        run_tool({"-j", "map", "lookup", "id", id, "key", "hex", "01", "00", "00", "00"});
    BOOST_CHECK(lj.js()["value"][0] == "0x0a");

    check_ok(run_tool({"map", "update", "id", id, "key", "0x02", "0", "0", "0", "value", "hex",
                       "ff00000000000001"}),
             "update hex");
    uint32_t k = 2;
    uint64_t v = 0;
    BOOST_REQUIRE(bt::map_lookup(m.fd, &k, &v) == 0);
    BOOST_CHECK_EQUAL(v, 0x01000000000000ffULL);
    const Run uj = run_tool({"-j", "map", "update", "id", id, "key", "3", "--key-format", "u32",
                             "value", "-5", "--value-format", "i64", "noexist"});
    check_ok(uj, "update u32/i64 noexist");
    BOOST_CHECK(uj.js().is_null());
    k = 3;
    BOOST_REQUIRE(bt::map_lookup(m.fd, &k, &v) == 0);
    BOOST_CHECK_EQUAL(static_cast<int64_t>(v), -5);
    check_error({"map", "update", "id", id, "key", "3", "0", "0", "0", "value", "1", "0", "0", "0",
                 "0", "0", "0", "0", "noexist"},
                "exists");
    check_error({"map", "update", "id", id, "key", "9", "0", "0", "0", "value", "1", "0", "0", "0",
                 "0", "0", "0", "0", "exist"},
                "not found");

    const Run g0 = run_tool({"map", "getnext", "id", id});
    check_ok(g0, "getnext first");
    BOOST_CHECK(g0.out.rfind("key: None\nnext key:\n", 0) == 0);
    // Walk from the first key: three keys, so the first has a next one.
    const json first = run_tool({"-j", "map", "getnext", "id", id}).js();
    BOOST_REQUIRE(first["key"].is_null() && first["next_key"].size() == 4);
    std::vector<std::string> args = {"-j", "map", "getnext", "id", id, "key"};
    for (const auto& b : first["next_key"]) args.push_back(b.get<std::string>());
    const Run gj = run_tool(args);
    check_ok(gj, "getnext -j");
    const json gjj = gj.js();
    BOOST_CHECK(gjj["key"] == first["next_key"]);
    BOOST_CHECK(gjj["next_key"].is_array() && gjj["next_key"].size() == 4);
    BOOST_CHECK(gjj["next_key"] != first["next_key"]);
    // After the last key: an error.
    std::vector<std::string> walk = {"map", "getnext", "id", id, "key"};
    json last = first["next_key"];
    for (int i = 0; i < 2; ++i) {
        std::vector<std::string> a = {"-j", "map", "getnext", "id", id, "key"};
        for (const auto& b : last) a.push_back(b.get<std::string>());
        last = run_tool(a).js()["next_key"];
    }
    for (const auto& b : last) walk.push_back(b.get<std::string>());
    check_error(walk, "no next key");

    check_ok(run_tool({"map", "delete", "id", id, "key", "2", "--key-format", "u32"}), "delete");
    k = 2;
    BOOST_CHECK(bt::map_lookup(m.fd, &k, &v) != 0 && errno == ENOENT);
    check_error({"map", "delete", "id", id, "key", "2", "0", "0", "0"}, "not found");
    check_error({"map", "lookup", "id", id, "key", "2", "0", "0", "0"}, "not found");

    // str keys: NUL-padded, too long refused.
    const int s = bt::map_create(BPF_MAP_TYPE_HASH, 8, 4, 4, 0, "strs");
    BOOST_REQUIRE(s >= 0);
    const std::string sid = std::to_string(bt::map_id(s));
    check_ok(run_tool({"map", "update", "id", sid, "--key-format", "str", "key", "abc", "value",
                       "7", "0", "0", "0"}),
             "update str");
    const Run sl = run_tool({"-j", "map", "dump", "id", sid, "--key-format", "str"});
    BOOST_CHECK(sl.js()[0]["key"] == "abc");
    check_error({"map", "update", "id", sid, "--key-format", "str", "key", "abcdefghi", "value",
                 "7", "0", "0", "0"},
                "longer than");
    ::close(s);
}

BOOST_AUTO_TEST_CASE(pin_create_freeze) {
    TestMap m(BPF_MAP_TYPE_ARRAY, "pinme", 2);
    const std::string pin = bt::test_root() + "/pins/pinme";
    check_ok(run_tool({"map", "pin", "id", m.sid(), pin}), "map pin");
    const Run s = run_tool({"-j", "map", "show", "pinned", pin});
    check_ok(s, "show pinned");
    BOOST_CHECK_EQUAL(s.js()["id"].get<uint32_t>(), m.id);
    check_error({"map", "pin", "id", m.sid(), pin}, "exists");
    check_error({"map", "pin", "id", m.sid(), "/tmp/outside-bpfmap-pin"}, "outside");
    check_error({"map", "pin", "id", m.sid(), bt::test_root() + "/nofolder/x"}, "does not exist");

    const std::string cpin = bt::test_root() + "/pins/created";
    check_ok(run_tool({"map", "create", cpin, "type", "hash", "key", "4", "value", "8", "entries",
                       "1024", "name", "created", "flags", "0x1"}),
             "map create");
    const json c = run_tool({"-j", "map", "show", "pinned", cpin}).js();
    BOOST_CHECK_EQUAL(c["type"], "hash");
    BOOST_CHECK_EQUAL(c["name"], "created");
    BOOST_CHECK_EQUAL(c["max_entries"].get<uint32_t>(), 1024u);
    BOOST_CHECK_EQUAL(c["flags"].get<uint32_t>(), 1u);
    BOOST_CHECK_EQUAL(c["elements"].get<uint32_t>(), 0u);
    BOOST_CHECK(c["pids"].empty());  // pinned only: nobody holds it
    check_error({"map", "create", cpin, "type", "hash", "key", "4", "value", "8", "entries", "4",
                 "name", "again"},
                "exists");
    check_error({"map", "create", bt::test_root() + "/pins/c2", "type", "ringbuf", "key", "4",
                 "value", "8", "entries", "4", "name", "c2"},
                "hash, array");
    check_error({"map", "create", bt::test_root() + "/pins/c2", "type", "array", "key", "8",
                 "value", "8", "entries", "4", "name", "c2"},
                "not valid for type array");
    check_error({"map", "create", bt::test_root() + "/pins/c2", "type", "hash", "key", "4"},
                "missing");
    BOOST_CHECK(!fs::exists(bt::test_root() + "/pins/c2"));

    check_ok(run_tool({"map", "freeze", "pinned", cpin}), "freeze");
    BOOST_CHECK_EQUAL(run_tool({"-j", "map", "show", "pinned", cpin}).js()["frozen"].get<int>(), 1);
    BOOST_CHECK(run_tool({"map", "show", "pinned", cpin}).out.find("\tfrozen\n") !=
                std::string::npos);
    check_error({"map", "update", "pinned", cpin, "key", "1", "0", "0", "0", "value", "1", "0", "0",
                 "0", "0", "0", "0", "0"},
                "frozen");
    check_error({"map", "freeze", "pinned", cpin}, "already frozen");
    ::unlink(cpin.c_str());
    ::unlink(pin.c_str());
}

BOOST_AUTO_TEST_CASE(bad_input_is_one_line_and_changes_nothing) {
    TestMap m(BPF_MAP_TYPE_HASH, "victim", 2);
    const std::string id = m.sid();
    const std::string before = read_file(m.path());
    const std::vector<std::string> v8 = {"value", "1", "0", "0", "0", "0", "0", "0", "0"};
    auto upd = [&](std::vector<std::string> key_words, std::vector<std::string> value_words) {
        std::vector<std::string> a = {"map", "update", "id", id, "key"};
        a.insert(a.end(), key_words.begin(), key_words.end());
        a.insert(a.end(), value_words.begin(), value_words.end());
        return a;
    };
    check_error({"map", "show", "id", "999999"}, "no map with id 999999");
    check_error({"map", "dump", "name", "no_such_map"}, "no map named 'no_such_map'");
    check_error({"map", "dump", "pinned", bt::test_root() + "/pins/nothing"}, "no such file");
    check_error({"map", "dump", "id", "abc"}, "'abc' is not a number");
    check_error({"map", "dump", "idd", "1"}, "expected MAP");
    check_error({"map", "dump"}, "missing MAP");
    check_error(upd({"hex", "zz", "00", "00", "00"}, v8), "'zz' is not hex bytes");
    check_error(upd({"0xzz", "0", "0", "0"}, v8), "'0xzz' is not a byte");
    check_error(upd({"256", "0", "0", "0"}, v8), "'256' is not a byte");
    check_error(upd({"1", "0", "0"}, v8), "expected 4 bytes (the map's key size), got 3");
    check_error(upd({"1", "0", "0", "0"}, {"value", "1", "2", "3", "4", "5", "6", "7", "8", "9"}),
                "expected 8 bytes (the map's value size), got 9");
    check_error(upd({"1", "0", "0", "0"}, {"value", "--value-format", "str", "123456789"}),
                "longer than the map's value size");
    check_error(upd({"1", "0", "0", "0"}, {}), "missing 'value'");
    check_error({"map", "lookup", "id", id, "key", "1", "--key-format", "u64"},
                "needs a 8-byte key");
    check_error({"map", "lookup", "id", id, "key", "4294967296", "--key-format", "u32"},
                "not a u32");
    check_error({"map", "dump", "id", id, "extra"}, "unexpected 'extra'");

    // A foreign file and a corrupt segment.
    const std::string foreign = bt::test_root() + "/pins/foreign";
    write_file(foreign, std::string(4096, 'x'));
    check_error({"map", "show", "pinned", foreign}, "magic number");
    check_error({"map", "dump", "pinned", "/etc/hostname"}, "not inside the store's root");
    TestMap c(BPF_MAP_TYPE_HASH, "corrupt", 1);
    flip_byte(c.path(), 100);  // a byte of the header's hash seed: only the checksum catches it
    const std::string corrupt = read_file(c.path());
    check_error({"map", "dump", "id", c.sid()}, "header checksum");
    BOOST_CHECK(read_file(c.path()) == corrupt);
    BOOST_CHECK(read_file(m.path()) == before);
    ::unlink(foreign.c_str());
}

BOOST_AUTO_TEST_CASE(dump_create_load_round_trip) {
    OwnRoot r("roundtrip");
    for (const std::string type : {"hash", "array"}) {
        tool_create(r, "src_" + type, type, "4", "8", "64", "src_" + type);
        const std::string src = r.root + "/pins/src_" + type;
        for (uint32_t k = 0; k < 40; k += 3)
            check_ok(run_tool(r.with({"map", "update", "pinned", src, "key", std::to_string(k),
                                      "--key-format", "u32", "value",
                                      std::to_string(k * 1000003ULL), "--value-format", "u64"})),
                     "fill");
        const Run d1 = run_tool(r.with({"-j", "map", "dump", "pinned", src}));
        check_ok(d1, "dump -j");
        tool_create(r, "dst_" + type, type, "4", "8", "64", "dst_" + type);
        const std::string dst = r.root + "/pins/dst_" + type;
        const std::string file = r.root + "/dump.json";
        write_file(file, d1.out);
        const Run l = run_tool(r.with({"map", "load", "pinned", dst, file}));
        check_ok(l, "load file");
        const Run d2 = run_tool(r.with({"-j", "map", "dump", "pinned", dst}));
        // Arrays walk in index order: byte for byte identical. A hash map's order depends on its
        // (random) seed: identical as a set of elements.
        if (type == "array") {
            BOOST_CHECK_EQUAL(d1.out, d2.out);
        } else {
            std::vector<json> a = d1.js(), b = d2.js();
            std::sort(a.begin(), a.end());
            std::sort(b.begin(), b.end());
            BOOST_CHECK(a == b);
            BOOST_CHECK_EQUAL(a.size(), 14u);
        }
        // The same from stdin, into a third map.
        tool_create(r, "stdin_" + type, type, "4", "8", "64", "stdin_" + type);
        const std::string dst3 = r.root + "/pins/stdin_" + type;
        const Run l3 = run_tool(r.with({"-j", "map", "load", "pinned", dst3}), d1.out);
        check_ok(l3, "load stdin");
        BOOST_CHECK_EQUAL(l3.js()["loaded"].get<size_t>(), d1.js().size());
        const Run d3 = run_tool(r.with({"-j", "map", "dump", "pinned", dst3}));
        std::vector<json> a = d1.js(), b = d3.js();
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        BOOST_CHECK(a == b);
    }
    // Bad input changes nothing.
    tool_create(r, "empty", "hash", "4", "8", "4", "empty");
    const std::string e = r.root + "/pins/empty";
    const std::vector<std::string> load = r.with({"map", "load", "pinned", e});
    check_error(load, "not valid JSON", "[{\"key\": [");
    check_error(load, "expected a JSON array", "{\"key\": 1}");
    check_error(load, "element 1: key: expected 4 bytes",
                R"([{"key":["0x01","0x00","0x00","0x00"],"value":[1,0,0,0,0,0,0,0]},)"
                R"({"key":["0x01","0x00","0x00"],"value":[1,0,0,0,0,0,0,0]}])");
    check_error(load, "element 0: value: \"0xzz\" is not a byte",
                R"([{"key":[1,0,0,0],"value":["0xzz",0,0,0,0,0,0,0]}])");
    check_error(load, "do not fit",
                R"([{"key":1,"value":1},{"key":2,"value":1},{"key":3,"value":1},)"
                R"({"key":4,"value":1},{"key":5,"value":1}])");
    BOOST_CHECK_EQUAL(run_tool(r.with({"map", "dump", "pinned", e})).out, "Found 0 elements\n");
}

BOOST_AUTO_TEST_CASE(holder_pid_of_a_child_and_gc_after_kill) {
    OwnRoot r("gc");
    bt::SyncPipe ready;
    bt::Child holder = bt::spawn_child("holder", {r.root, std::to_string(ready.wr)}, {ready.wr});
    uint32_t held_id = 0;
    BOOST_REQUIRE(read_all(ready.rd, &held_id, sizeof held_id));
    const uint32_t pinned_id = tool_create(r, "kept", "hash", "4", "8", "4", "kept");

    const Run s = run_tool(r.with({"-j", "map", "show", "id", std::to_string(held_id)}));
    check_ok(s, "show held");
    bool child_listed = false;
    const json sj = s.js();
    for (const auto& p : sj["pids"]) child_listed = child_listed || p["pid"] == holder.pid();
    BOOST_CHECK_MESSAGE(child_listed,
                        "pids: " << s.js()["pids"].dump() << " child " << holder.pid());
    BOOST_CHECK(sj["pins"].empty());
    BOOST_CHECK(run_tool(r.with({"map", "show", "id", std::to_string(held_id)}))
                    .out.find("(" + std::to_string(holder.pid()) + ")") != std::string::npos);

    // While the holder lives, gc has nothing to do.
    const Run g0 = run_tool(r.with({"-j", "gc", "--dry-run"}));
    check_ok(g0, "gc --dry-run (alive)");
    BOOST_CHECK(g0.js()["maps"].empty());

    holder.kill(SIGKILL);
    holder.wait();
    write_file(r.root + "/maps/leftover.tmp", "stale");
    const std::string held_path = seg_path(r.root, held_id);

    // Commands that only look change nothing (observer mode): map show neither lists nor
    // destroys the dead map; the segment-level view sees it as it is.
    const Run shown = run_tool(r.with({"-j", "map", "show"}));
    check_ok(shown, "map show (dead map present)");
    for (const auto& m : shown.js())
        BOOST_CHECK_MESSAGE(m["id"].get<uint32_t>() != held_id, "map show lists the dead map");
    BOOST_CHECK_MESSAGE(fs::exists(held_path), "map show destroyed the dead map");
    const Run seg = run_tool(r.with({"-j", "segment", "show", "id", std::to_string(held_id)}));
    check_ok(seg, "segment show (dead map)");
    BOOST_CHECK_EQUAL(seg.js()["name"], "held");
    BOOST_CHECK_EQUAL(seg.js()["links"].get<int>(), 1);
    check_error(r.with({"map", "dump", "id", std::to_string(held_id)}), "no holder and no pin");

    const Run d = run_tool(r.with({"-j", "gc", "--dry-run"}));
    check_ok(d, "gc --dry-run");
    const json dj = d.js();
    BOOST_CHECK(dj["dry_run"] == true);
    BOOST_REQUIRE_EQUAL(dj["maps"].size(), 1u);
    BOOST_CHECK_EQUAL(dj["maps"][0]["id"].get<uint32_t>(), held_id);
    BOOST_CHECK_EQUAL(dj["maps"][0]["name"], "held");
    BOOST_CHECK(dj["stale_files"] == json::array({r.root + "/maps/leftover.tmp"}));
    BOOST_CHECK(fs::exists(held_path) && fs::exists(r.root + "/maps/leftover.tmp"));
    const Run dt = run_tool(r.with({"gc", "-n"}));
    BOOST_CHECK(dt.out.find("would destroy map " + std::to_string(held_id)) != std::string::npos);

    const Run g = run_tool(r.with({"gc"}));
    check_ok(g, "gc");
    BOOST_CHECK(g.out.find("destroyed map " + std::to_string(held_id)) != std::string::npos);
    BOOST_CHECK(g.out.find("removed stale file") != std::string::npos);
    BOOST_CHECK(!fs::exists(held_path));
    BOOST_CHECK(!fs::exists(r.root + "/maps/leftover.tmp"));
    BOOST_CHECK(fs::exists(seg_path(r.root, pinned_id)));  // pinned: kept
    const Run again = run_tool(r.with({"-j", "gc"}));
    BOOST_CHECK(again.js()["maps"].empty() && again.js()["stale_files"].empty());
    BOOST_CHECK_EQUAL(run_tool(r.with({"gc"})).out, "nothing to collect\n");
}

BOOST_AUTO_TEST_CASE(segment_show_and_dead_lock_holder) {
    OwnRoot r("segments");
    const uint32_t id = tool_create(r, "locked", "hash", "4", "8", "16", "locked");
    const std::string pin = r.root + "/pins/locked";
    check_ok(run_tool(r.with({"map", "update", "pinned", pin, "key", "1", "0", "0", "0", "value",
                              "5", "0", "0", "0", "0", "0", "0", "0"})),
             "update");
    write_file(r.root + "/maps/foreign", std::string(8192, 'F'));
    write_file(r.root + "/maps/77", "short");

    const Run s = run_tool(r.with({"-j", "segment", "show"}));
    check_ok(s, "segment show");
    const json sj = s.js();
    BOOST_CHECK_EQUAL(sj["root"], r.root);
    BOOST_REQUIRE_EQUAL(sj["segments"].size(), 3u);
    const json& good = sj["segments"][0];
    struct stat st;
    BOOST_REQUIRE(::stat(seg_path(r.root, id).c_str(), &st) == 0);
    BOOST_CHECK_EQUAL(good["file"], "maps/" + std::to_string(id));
    BOOST_CHECK_EQUAL(good["format_version"].get<uint32_t>(), bpfmap::shm::kSegmentFormatVersion);
    BOOST_CHECK_EQUAL(good["check"], "ok");
    BOOST_CHECK_EQUAL(good["bytes_memory"].get<int64_t>(), st.st_size);
    BOOST_CHECK_EQUAL(good["bytes_disk"].get<int64_t>(), st.st_blocks * 512);
    BOOST_CHECK_EQUAL(good["links"].get<int>(), 2);
    BOOST_CHECK(!good["locks"].empty());
    for (const auto& l : good["locks"]) BOOST_CHECK_EQUAL(l["state"], "free");
    BOOST_CHECK_EQUAL(sj["segments"][1]["file"], "maps/77");
    BOOST_CHECK(sj["segments"][1]["check"].get<std::string>().find("shorter") != std::string::npos);
    BOOST_CHECK_EQUAL(sj["segments"][2]["file"], "maps/foreign");
    BOOST_CHECK(sj["segments"][2]["valid"] == false);
    BOOST_CHECK(sj["segments"][2]["check"].get<std::string>().find("magic") != std::string::npos);
    const Run st_text = run_tool(r.with({"segment", "list"}));
    check_ok(st_text, "segment list");
    BOOST_CHECK(st_text.out.find("maps/foreign: format ?") != std::string::npos);
    BOOST_CHECK(st_text.out.find("header FAILED: magic number") != std::string::npos);
    BOOST_CHECK(st_text.out.find("header ok") != std::string::npos);
    check_error(r.with({"segment", "show", "id", "12345"}), "no map with id 12345");
    std::filesystem::remove(r.root + "/maps/foreign");
    std::filesystem::remove(r.root + "/maps/77");

    // A writer killed inside its critical section.
    int ready[2];
    BOOST_REQUIRE(pipe2(ready, O_CLOEXEC) == 0);
    bt::Child crasher =
        bt::spawn_child("crasher", {r.root, pin, std::to_string(ready[1])}, {ready[1]});
    ::close(ready[1]);
    uint32_t inside = 0;
    BOOST_REQUIRE(read_all(ready[0], &inside, sizeof inside));
    ::close(ready[0]);
    const pid_t dead = crasher.pid();
    crasher.kill(SIGKILL);
    crasher.wait();

    const Run ds = run_tool(r.with({"-j", "segment", "show", "id", std::to_string(id)}));
    check_ok(ds, "segment show after kill");
    int held = 0;
    const json dsj = ds.js();
    for (const auto& l : dsj["locks"]) {
        if (l["state"] != "held") continue;
        ++held;
        BOOST_CHECK_EQUAL(l["tid"].get<int>(), dead);
        BOOST_CHECK(l["alive"] == false);
    }
    BOOST_CHECK_EQUAL(held, 1);
    const Run dt = run_tool(r.with({"segment", "show", "id", std::to_string(id)}));
    BOOST_CHECK_MESSAGE(
        dt.out.find("held by tid " + std::to_string(dead) + " (DEAD)") != std::string::npos,
        dt.out);
    // fsck sees the dead writer's odd sequence count; dump completes all the same.
    const Run f = run_tool(r.with({"fsck", "pinned", pin}));
    BOOST_CHECK_EQUAL(f.status, 1);
    BOOST_CHECK(f.out.find("sequence count odd") != std::string::npos);
    const Run d = run_tool(r.with({"map", "dump", "pinned", pin}));
    check_ok(d, "dump after kill");
    BOOST_CHECK(d.out.find("Found 1 element\n") != std::string::npos);
    // ... without taking, and so repairing, the dead writer's lock: it is still held by the
    // dead tid, and fsck still sees the odd count.
    const Run after = run_tool(r.with({"segment", "show", "id", std::to_string(id)}));
    BOOST_CHECK_MESSAGE(
        after.out.find("held by tid " + std::to_string(dead) + " (DEAD)") != std::string::npos,
        "the dump repaired the dead writer's lock: " << after.out);
    BOOST_CHECK_EQUAL(run_tool(r.with({"fsck", "pinned", pin})).status, 1);
}

BOOST_AUTO_TEST_CASE(fsck_clean_and_corrupted) {
    OwnRoot r("fsck");
    const uint32_t id = tool_create(r, "f", "hash", "4", "8", "16", "f");
    const std::string pin = r.root + "/pins/f";
    for (int k = 1; k <= 3; ++k)
        check_ok(run_tool(r.with({"map", "update", "pinned", pin, "key", std::to_string(k),
                                  "--key-format", "u32", "value", "1", "--value-format", "u64"})),
                 "fill");
    tool_create(r, "a", "array", "4", "8", "16", "a");
    const Run ok = run_tool(r.with({"fsck"}));
    BOOST_CHECK_EQUAL(ok.status, 0);
    BOOST_CHECK(ok.out.find("map " + std::to_string(id) + " (hash  name f): ok") !=
                std::string::npos);
    const Run okj = run_tool(r.with({"-j", "fsck", "id", std::to_string(id)}));
    BOOST_CHECK_EQUAL(okj.status, 0);
    BOOST_CHECK(okj.js()[0]["ok"] == true);

    // The hash region starts at byte 512; its header's count word is at offset 24 (hash_map.cpp:
    // n_buckets, n_stripes, capacity, elem_size, free_head, bump, count).
    const std::string path = seg_path(r.root, id);
    const int fd = ::open(path.c_str(), O_RDWR);
    BOOST_REQUIRE(fd >= 0);
    uint32_t count = 0;
    BOOST_REQUIRE(pread(fd, &count, 4, 512 + 24) == 4);
    BOOST_CHECK_EQUAL(count, 3u);
    const uint32_t wrong = 5;
    BOOST_REQUIRE(pwrite(fd, &wrong, 4, 512 + 24) == 4);
    const Run bad = run_tool(r.with({"fsck"}));
    BOOST_CHECK_EQUAL(bad.status, 1);
    BOOST_CHECK_MESSAGE(
        bad.out.find("count says 5 elements, the chains hold 3") != std::string::npos, bad.out);
    BOOST_CHECK(bad.out.find("(array  name a): ok") != std::string::npos);
    const Run badj = run_tool(r.with({"-j", "fsck", "name", "f"}));
    BOOST_CHECK_EQUAL(badj.status, 1);
    BOOST_CHECK(badj.js()[0]["ok"] == false && !badj.js()[0]["problems"].empty());
    BOOST_REQUIRE(pwrite(fd, &count, 4, 512 + 24) == 4);
    BOOST_CHECK_EQUAL(run_tool(r.with({"fsck", "id", std::to_string(id)})).status, 0);

    // A chain: point every bucket at element 0, so chains share elements (and hashes mismatch).
    // Buckets follow the header (64 B), the free lock (64 B) and the stripes (64 B each); with
    // max_entries 16 there are 32 buckets and 32 stripes. Each bucket is {seq, head}.
    const uint64_t buckets = 512 + 64 + 64 + 32 * 64;
    for (uint64_t b = 0; b < 32; ++b) {
        const uint32_t zero = 0;
        BOOST_REQUIRE(pwrite(fd, &zero, 4, static_cast<off_t>(buckets + b * 8 + 4)) == 4);
    }
    ::close(fd);
    const Run chain = run_tool(r.with({"fsck", "id", std::to_string(id)}));
    BOOST_CHECK_EQUAL(chain.status, 1);
    BOOST_CHECK_MESSAGE(chain.out.find("reached twice") != std::string::npos, chain.out);

    // A corrupt header is a violation too (not a crash).
    flip_byte(path, 8);  // the format version
    const Run hdr = run_tool(r.with({"fsck", "id", std::to_string(id)}));
    BOOST_CHECK_EQUAL(hdr.status, 1);
    BOOST_CHECK(hdr.out.find("check failed") != std::string::npos);
    check_error(r.with({"fsck", "id", "4242"}), "no map with id 4242");
}

// An ARRAY of values of at most 8 bytes is one word per element (array_map.cpp): no locks to
// show, and fsck finds bytes past value_size that bpfmap never writes.
BOOST_AUTO_TEST_CASE(fsck_word_array) {
    OwnRoot r("fsckword");
    const uint32_t id = tool_create(r, "w", "array", "4", "4", "8", "w");
    check_ok(run_tool(r.with({"map", "update", "pinned", r.root + "/pins/w", "key", "3", "0", "0",
                              "0", "value", "1", "2", "3", "4"})),
             "update");
    const Run s = run_tool(r.with({"-j", "segment", "show"}));
    check_ok(s, "segment show");
    BOOST_REQUIRE_EQUAL(s.js()["segments"].size(), 1u);
    BOOST_CHECK_MESSAGE(s.js()["segments"][0]["locks"].empty(), s.out);
    BOOST_CHECK_EQUAL(run_tool(r.with({"fsck", "id", std::to_string(id)})).status, 0);

    // Region at byte 512: a 64-byte header, then one 8-byte word per element. Element 3's
    // value is bytes 0-3 of its word; byte 6 is padding.
    flip_byte(seg_path(r.root, id), 512 + 64 + 3 * 8 + 6);
    const Run bad = run_tool(r.with({"fsck", "id", std::to_string(id)}));
    BOOST_CHECK_EQUAL(bad.status, 1);
    BOOST_CHECK_MESSAGE(
        bad.out.find("element 3: bytes past value_size are not zero") != std::string::npos,
        bad.out);
    // The value itself still reads as written.
    const Run l = run_tool(
        r.with({"map", "lookup", "pinned", r.root + "/pins/w", "key", "3", "0", "0", "0"}));
    check_ok(l, "lookup");
    BOOST_CHECK_MESSAGE(l.out.find("01 02 03 04") != std::string::npos, l.out);
}

BOOST_AUTO_TEST_CASE(dump_streams_a_million_elements) {
    OwnRoot r("stream");
    tool_create(r, "big", "array", "4", "4", "1048576", "big");
    const Run d = run_tool(r.with({"map", "dump", "pinned", r.root + "/pins/big"}), {}, true);
    check_ok(d, "dump 1M");
    BOOST_CHECK_EQUAL(d.out_lines, 1048577u);
    const std::string tail = "Found 1048576 elements\n";
    BOOST_CHECK(d.out.size() >= tail.size() && d.out.substr(d.out.size() - tail.size()) == tail);
}

// ---- Map types whose keys or values are not plain bytes ---------------------------------

std::string hex8(uint64_t v) {
    std::string s;
    for (int i = 0; i < 8; ++i) {
        char b[4];
        std::snprintf(b, sizeof b, i ? " %02x" : "%02x",
                      static_cast<unsigned>((v >> (8 * i)) & 0xff));
        s += b;
    }
    return s;
}

BOOST_AUTO_TEST_CASE(per_cpu_values_one_line_per_cpu) {
    const unsigned ncpu = bt::possible_cpus();
    for (unsigned type :
         {BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH}) {
        const int fd = bt::map_create(type, 4, 8, 4, 0, "pcpu");
        BOOST_REQUIRE_MESSAGE(fd >= 0, "create type " << type << ": " << strerror(errno));
        const std::string id = std::to_string(bt::map_id(fd));
        const uint32_t k = 2;
        std::vector<uint64_t> v(ncpu);
        for (unsigned c = 0; c < ncpu; ++c) v[c] = 0x100 * (c + 1) + k;
        BOOST_REQUIRE(bt::map_update(fd, &k, v.data(), BPF_ANY) == 0);

        const Run l = run_tool({"map", "lookup", "id", id, "key", "2", "0", "0", "0"});
        check_ok(l, "per-CPU lookup");
        std::string want = "key:\n02 00 00 00\n";
        for (unsigned c = 0; c < ncpu; ++c) {
            char head[32];
            std::snprintf(head, sizeof head, "value (CPU %02u): ", c);
            want += head + hex8(v[c]) + "\n";
        }
        BOOST_CHECK_EQUAL(l.out, want);
        const json j = run_tool({"-j", "map", "lookup", "id", id, "key", "2", "0", "0", "0"}).js();
        BOOST_REQUIRE(j.contains("values") && j["values"].size() == ncpu);
        for (unsigned c = 0; c < ncpu; ++c) {
            BOOST_CHECK_EQUAL(j["values"][c]["cpu"], c);
            BOOST_CHECK_EQUAL(
                std::stoul(j["values"][c]["value"][1].get<std::string>(), nullptr, 16),
                (v[c] >> 8) & 0xff);
        }
        // update: one CPU's value, copied to every CPU (bpftool's rule).
        check_ok(run_tool({"map", "update", "id", id, "key", "1", "--key-format", "u32", "value",
                           "77", "--value-format", "u64"}),
                 "per-CPU update");
        const uint32_t k1 = 1;
        std::vector<uint64_t> got(ncpu, 0);
        BOOST_REQUIRE(bt::map_lookup(fd, &k1, got.data()) == 0);
        for (unsigned c = 0; c < ncpu; ++c) BOOST_CHECK_EQUAL(got[c], 77u);
        // dump -j round trip through load.
        const Run d = run_tool({"-j", "map", "dump", "id", id});
        check_ok(d, "per-CPU dump -j");
        const int fd2 = bt::map_create(type, 4, 8, 4, 0, "pcpu2");
        BOOST_REQUIRE(fd2 >= 0);
        check_ok(run_tool({"map", "load", "id", std::to_string(bt::map_id(fd2))}, d.out),
                 "per-CPU load");
        std::vector<uint64_t> back(ncpu, 0);
        BOOST_REQUIRE(bt::map_lookup(fd2, &k, back.data()) == 0);
        BOOST_CHECK(back == v);
        ::close(fd2);
        ::close(fd);
    }
}

BOOST_AUTO_TEST_CASE(lpm_keys_as_prefixes) {
    const int fd = bt::map_create(BPF_MAP_TYPE_LPM_TRIE, 8, 8, 16, BPF_F_NO_PREALLOC, "routes");
    BOOST_REQUIRE_MESSAGE(fd >= 0, "create LPM: " << strerror(errno));
    const std::string id = std::to_string(bt::map_id(fd));
    check_ok(run_tool({"map", "update", "id", id, "key", "10.1.0.0/16", "value", "5",
                       "--value-format", "u64"}),
             "update by prefix");
    struct {
        uint32_t prefixlen;
        uint8_t addr[4];
    } key = {16, {10, 1, 0, 0}};
    uint64_t v = 0;
    BOOST_REQUIRE(bt::map_lookup(fd, &key, &v) == 0);
    BOOST_CHECK_EQUAL(v, 5u);
    const Run d = run_tool({"map", "dump", "id", id});
    check_ok(d, "LPM dump");
    BOOST_CHECK_EQUAL(d.out, "key: 10.1.0.0/16  value: 05 00 00 00 00 00 00 00\nFound 1 element\n");
    const json j = run_tool({"-j", "map", "dump", "id", id}).js();
    BOOST_REQUIRE(j.is_array() && j.size() == 1);
    BOOST_CHECK_EQUAL(j[0]["prefix"], "10.1.0.0/16");
    BOOST_CHECK(j[0]["key"].is_array() && j[0]["key"].size() == 8);
    // Longest-prefix lookup of an address, then delete by prefix.
    const Run l = run_tool({"map", "lookup", "id", id, "key", "10.1.2.3/32"});
    check_ok(l, "LPM lookup");
    BOOST_CHECK(l.out.find("value: 05") != std::string::npos);
    check_error({"map", "update", "id", id, "key", "10.1.0.0/33", "value", "1", "0", "0", "0", "0",
                 "0", "0", "0"},
                "prefix length");
    check_ok(run_tool({"map", "delete", "id", id, "key", "10.1.0.0/16"}), "LPM delete");
    BOOST_CHECK(bt::map_lookup(fd, &key, &v) != 0 && errno == ENOENT);
    ::close(fd);
}

BOOST_AUTO_TEST_CASE(queue_stack_and_bloom_peek_push_pop) {
    for (unsigned type : {BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK}) {
        const bool queue = type == BPF_MAP_TYPE_QUEUE;
        const int fd = bt::map_create(type, 0, 8, 2, 0, "q");
        BOOST_REQUIRE_MESSAGE(fd >= 0, "create: " << strerror(errno));
        const std::string id = std::to_string(bt::map_id(fd));
        check_error({"map", "peek", "id", id}, "empty");
        check_error({"map", "pop", "id", id}, "empty");
        for (const char* v : {"1", "2"})
            check_ok(run_tool({"map", "push", "id", id, "value", v, "--value-format", "u64"}),
                     "push");
        check_error({"map", "push", "id", id, "value", "3", "--value-format", "u64"}, "full");
        // 'exist' overwrites the oldest when full.
        check_ok(
            run_tool({"map", "push", "id", id, "value", "3", "--value-format", "u64", "exist"}),
            "push exist");
        const Run p = run_tool({"map", "peek", "id", id, "--value-format", "u64"});
        check_ok(p, "peek");
        BOOST_CHECK_EQUAL(p.out, queue ? "value: 2\n" : "value: 3\n");
        const json pj = run_tool({"-j", "map", "pop", "id", id, "--value-format", "u64"}).js();
        BOOST_CHECK_EQUAL(pj["value"], queue ? 2 : 3);
        uint64_t v = 0;
        BOOST_REQUIRE(bt::map_lookup(fd, nullptr, &v) == 0);  // one left
        BOOST_CHECK_EQUAL(v, queue ? 3u : 2u);
        check_error({"map", "dump", "id", id}, "has no keys");
        check_error({"map", "lookup", "id", id, "key", "1"}, "has no keys");
        ::close(fd);
    }
    const int b = bt::map_create(BPF_MAP_TYPE_BLOOM_FILTER, 0, 8, 100, 0, "bloom");
    BOOST_REQUIRE_MESSAGE(b >= 0, "create bloom: " << strerror(errno));
    const std::string id = std::to_string(bt::map_id(b));
    check_ok(run_tool({"map", "push", "id", id, "value", "42", "--value-format", "u64"}), "push");
    const Run yes = run_tool({"map", "peek", "id", id, "value", "42", "--value-format", "u64"});
    check_ok(yes, "bloom peek present");
    BOOST_CHECK(yes.out.rfind("maybe present", 0) == 0);
    uint64_t probe = 42;
    BOOST_CHECK(bt::map_lookup(b, nullptr, &probe) == 0);
    check_error({"map", "peek", "id", id}, "asked about a value");
    check_error({"map", "pop", "id", id}, "cannot be removed");
    ::close(b);
}

BOOST_AUTO_TEST_SUITE_END()
