// bpfmap-inspect: the command line. Builds one CLI11 subcommand per row of command_table.hpp,
// runs the selected handler, and turns errors into one line (and {"error": ...} with -j).
#include <bpfmap/bpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <bpfmap/bpf.h>
#include "shm/map_type.hpp"

#include "tools/inspect/command_table.hpp"
#include "tools/inspect/commands.hpp"

namespace bpfmap::inspect {
namespace {

using Handler = int (*)(Context&);

// One handler per row of kCommands, same order.
constexpr Handler kHandlers[] = {
    cmd_map_show,     cmd_map_show,    cmd_map_dump,   cmd_map_lookup, cmd_map_update,
    cmd_map_delete,   cmd_map_getnext, cmd_map_peek,   cmd_map_push,   cmd_map_pop,
    cmd_map_pin,      cmd_map_create,  cmd_map_freeze, cmd_map_load,   cmd_segment_show,
    cmd_segment_show, cmd_gc,          cmd_fsck,
};
static_assert(std::size(kHandlers) == std::size(kCommands), "one handler per command");

std::string map_type_names() {
    std::string s;
    for (uint32_t t = 0; t < kMapTypeProbeLimit; ++t)
        if (const shm::MapTypeOps* ops = shm::find_map_type(t))
            s += fmt::format("{}{}", s.empty() ? "" : " | ", ops->name);
    return s;
}

std::string help_footer() {
    std::string s = "\nCommands:\n";
    for (const CommandSpec& c : kCommands) {
        const std::string head =
            fmt::format("{}{}{} {}", c.group, c.group.empty() ? "" : " ", c.name, c.synopsis);
        s += fmt::format("  {}\n      {}\n", head, c.help);
    }
    s += "\n  MAP   := id N | name NAME | pinned PATH\n";
    s += "  DATA  := [hex] BYTES (0x01 1 01; 'hex 01 00' for hex digits), or one number or\n";
    s += "           string with --key-format/--value-format u32 | u64 | i64 | str\n";
    s += fmt::format("  TYPE  := {}   (the map types this build supports)\n", map_type_names());
    s += "\nThe store is --root, else $BPFMAP_ROOT, else /dev/shm/bpfmap. -j/--json and\n"
         "-p/--pretty work with every command. Errors: 'Error: ...' on stderr, exit status 2;\n"
         "fsck exits 1 when it finds violations.\n";
    return s;
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& w : v) s += (s.empty() ? "" : ", ") + w;
    return s;
}

// CLI11's message for a parse error, made specific when the command word itself is wrong.
std::string explain_parse_error(int argc, char** argv, const std::string& cli) {
    std::vector<std::string> words;
    for (int i = 1; i < argc && words.size() < 2; ++i) {
        const std::string a = argv[i];
        if (a == "--") break;
        if (a == "--root" || a == "--key-format" || a == "--value-format") {
            ++i;
            continue;
        }
        if (!a.empty() && a[0] == '-') continue;
        words.push_back(a);
    }
    std::vector<std::string> top;
    for (const CommandSpec& c : kCommands) {
        const std::string w(c.group.empty() ? c.name : c.group);
        if (std::find(top.begin(), top.end(), w) == top.end()) top.push_back(w);
    }
    if (words.empty()) return fmt::format("no command given; expected one of: {}", join(top));
    if (std::find(top.begin(), top.end(), words[0]) == top.end())
        return fmt::format("unknown command '{}'; expected one of: {}", words[0], join(top));
    std::vector<std::string> subs;
    for (const CommandSpec& c : kCommands)
        if (c.group == words[0]) subs.emplace_back(c.name);
    if (!subs.empty() && words.size() < 2)
        return fmt::format("'{}' needs a command; expected one of: {}", words[0], join(subs));
    if (!subs.empty() && std::find(subs.begin(), subs.end(), words[1]) == subs.end())
        return fmt::format("unknown {} command '{}'; expected one of: {}", words[0], words[1],
                           join(subs));
    return fmt::format("{} (see bpfmap-inspect --help)", cli);
}

int run(int argc, char** argv) {
    ::setenv("BPFMAP_LOG_LEVEL", "off", 0);  // our own messages say what went wrong
    Context ctx;
    std::string root_flag;
    CLI::App app{"bpfmap-inspect: bpftool-style inspection of a bpfmap store", "bpfmap-inspect"};
    app.require_subcommand(1);
    app.add_flag("-j,--json", ctx.out.json, "JSON output (bpftool's field names)");
    app.add_flag("-p,--pretty", ctx.out.pretty, "indented JSON output (implies -j)");
    app.add_option("--root", root_flag, "the store's root folder");
    app.footer(help_footer());

    std::vector<std::string> format_words;
    for (const auto& [word, f] : format_names()) format_words.push_back(word);
    std::string key_format = "hex", value_format = "hex";
    std::map<std::string, CLI::App*> groups;
    Handler selected = nullptr;
    bool selected_modifies = false;
    for (size_t i = 0; i < std::size(kCommands); ++i) {
        const CommandSpec& c = kCommands[i];
        CLI::App* parent = &app;
        if (!c.group.empty()) {
            const std::string g(c.group);
            if (!groups.count(g)) {
                CLI::App* grp =
                    app.add_subcommand(g, g == "map" ? "maps through bpf(), as bpftool map"
                                                     : "segment files, read directly");
                grp->require_subcommand(1);
                grp->fallthrough();
                groups[g] = grp;
            }
            parent = groups[g];
        }
        CLI::App* sub = parent->add_subcommand(std::string(c.name), std::string(c.help));
        sub->fallthrough();
        sub->footer(
            fmt::format("\nUsage: bpfmap-inspect {}{}{} {}\n  MAP := id N | name NAME | "
                        "pinned PATH\n  TYPE := {}\n",
                        c.group, c.group.empty() ? "" : " ", c.name, c.synopsis, map_type_names()));
        sub->add_option("ARGS", ctx.args, std::string(c.synopsis))->type_name("");
        if (c.group == "map") {
            sub->add_option("--key-format", key_format, "how keys are read and printed")
                ->check(CLI::IsMember(format_words));
            sub->add_option("--value-format", value_format, "how values are read and printed")
                ->check(CLI::IsMember(format_words));
        }
        if (c.name == "gc")
            sub->add_flag("-n,--dry-run", ctx.dry_run, "list what gc would do; change nothing");
        sub->callback([&selected, &selected_modifies, i] {
            selected = kHandlers[i];
            selected_modifies = kCommands[i].modifies;
        });
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        ctx.out.json = ctx.out.json || ctx.out.pretty;
        ctx.out.error(explain_parse_error(argc, argv, e.what()));
        return 2;
    }
    ctx.out.json = ctx.out.json || ctx.out.pretty;
    ctx.key_format = format_names().at(key_format);
    ctx.value_format = format_names().at(value_format);
    ctx.root = select_root(root_flag);  // before the first bpf() call
    // A command that only looks never changes the store: no reclaim of dead maps (that is gc's
    // job), and readers that never take (or repair) a map's lock.
    if (selected && (!selected_modifies || (selected == cmd_gc && ctx.dry_run)))
        bpfmap_observe_only(1);
    if (!selected) {
        ctx.out.error("no command given (see bpfmap-inspect --help)");
        return 2;
    }
    try {
        return selected(ctx);
    } catch (const Error& e) {
        ctx.out.error(e.what());
        return 2;
    } catch (const std::exception& e) {
        ctx.out.error(fmt::format("unexpected failure: {}", e.what()));
        return 2;
    }
}

}  // namespace
}  // namespace bpfmap::inspect

int main(int argc, char** argv) {
    return bpfmap::inspect::run(argc, argv);
}
