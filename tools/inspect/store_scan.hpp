// What only a scan of the system tells: which processes hold a map (fds open on its segment
// file, from /proc/*/fd) and where it is pinned (hard links to its file in the store's root).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace bpfmap::inspect {

using FileKey = std::pair<dev_t, ino_t>;

struct Holder {
    int pid = 0;
    std::string comm;
};

// Every process (but this one) with an fd open on each file, from /proc/*/fd (unreadable
// entries are skipped).
std::map<FileKey, std::vector<Holder>> scan_holders();

// Every regular file under `root` (outside maps/ and the registry) by file identity: the pins.
std::map<FileKey, std::vector<std::string>> scan_pins(const std::string& root);

}  // namespace bpfmap::inspect
