#include "tools/inspect/context.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace bpfmap::inspect {

std::string select_root(const std::string& flag) {
    std::string root = flag;
    if (root.empty()) {
        const char* env = std::getenv("BPFMAP_ROOT");
        root = env && *env ? env : "/dev/shm/bpfmap";
    }
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    ::setenv("BPFMAP_ROOT", root.c_str(), 1);
    return root;
}

void require_store(const Context& ctx) {
    struct stat st;
    if (::stat(ctx.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw Error(fmt::format(
            "no bpfmap store at {} (the folder does not exist); expected --root or BPFMAP_ROOT "
            "to name a store's root folder",
            ctx.root));
}

bool all_digits(const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

shm::Store& open_store(const Context& ctx) {
    static shm::Store store;
    static bool opened = false;
    if (!opened) {
        if (int rc = store.open(ctx.root); rc != 0)
            throw Error(fmt::format("cannot open the store at {}: {}", ctx.root, errno_text(-rc)));
        opened = true;
    }
    return store;
}

std::string errno_text(int err) {
    return std::strerror(err);
}

}  // namespace bpfmap::inspect
