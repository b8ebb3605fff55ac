#include "tools/inspect/store_scan.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "tools/inspect/context.hpp"

namespace bpfmap::inspect {

namespace fs = std::filesystem;

std::map<FileKey, std::vector<Holder>> scan_holders() {
    std::map<FileKey, std::set<int>> pids;
    const int self = getpid();
    std::error_code ec;
    for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!all_digits(name) || name.size() > 9) continue;
        const int pid = std::stoi(name);
        if (pid == self) continue;
        std::error_code ec2;
        for (fs::directory_iterator fd(it->path() / "fd", ec2), fend; !ec2 && fd != fend;
             fd.increment(ec2)) {
            struct stat st;
            if (::stat(fd->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
            pids[{st.st_dev, st.st_ino}].insert(pid);
        }
    }
    std::map<FileKey, std::vector<Holder>> out;
    for (const auto& [key, set] : pids) {
        for (int pid : set) {
            Holder h;
            h.pid = pid;
            std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
            std::getline(comm, h.comm);
            out[key].push_back(std::move(h));
        }
    }
    return out;
}

std::map<FileKey, std::vector<std::string>> scan_pins(const std::string& root) {
    std::map<FileKey, std::vector<std::string>> out;
    const fs::path maps = fs::path(root) / "maps";
    const fs::path registry = fs::path(root) / "registry";
    std::error_code ec;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    for (fs::recursive_directory_iterator end; !ec && it != end; it.increment(ec)) {
        const fs::path& p = it->path();
        if (p == maps) {
            it.disable_recursion_pending();
            continue;
        }
        if (p == registry) continue;
        struct stat st;
        if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        out[{st.st_dev, st.st_ino}].push_back(p.string());
    }
    for (auto& [key, paths] : out) std::sort(paths.begin(), paths.end());
    return out;
}

}  // namespace bpfmap::inspect
