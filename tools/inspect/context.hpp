// What every command gets: the global options, the output, the store root and errors.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "shm/store.hpp"
#include "tools/inspect/formats.hpp"
#include "tools/inspect/output.hpp"

namespace bpfmap::inspect {

// A failed command: one line saying what was wrong and what was expected. main() prints it
// (`Error: ...` on stderr, {"error": ...} on stdout with -j) and exits non-zero.
struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Context {
    Output out;
    std::string root;  // the store root in use (--root, $BPFMAP_ROOT or the default)
    Format key_format = Format::hex;
    Format value_format = Format::hex;
    bool dry_run = false;
    std::vector<std::string> args;  // the command's positional arguments
};

// The root in use: `flag` if given, else $BPFMAP_ROOT, else /dev/shm/bpfmap. Exports it as
// BPFMAP_ROOT (before the first bpf() call) so that the library uses the same store.
std::string select_root(const std::string& flag);

// Throws Error unless the root folder exists (inspection never creates a store).
void require_store(const Context& ctx);

// True if `s` is non-empty and all decimal digits.
bool all_digits(const std::string& s);

// The store at ctx.root, opened once (segment-level: list_ids, is_dead, try_destroy, ...).
// Throws Error if it cannot be opened. Call require_store() first.
shm::Store& open_store(const Context& ctx);

// "strerror(errno)" for messages.
std::string errno_text(int err);

}  // namespace bpfmap::inspect
