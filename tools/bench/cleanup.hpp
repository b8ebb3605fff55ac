// bpfmap-bench: resources that must not outlive the run, even on an error or a signal.
//
//  - the temporary BPFMAP_ROOT (when $BPFMAP_ROOT is unset): created under /dev/shm, exported,
//    removed at exit;
//  - the naive baseline's named shared-memory segment;
//  - the worker processes of the row being measured.
//
// RAII objects clean up on the normal and exception paths; a SIGINT/SIGTERM/SIGHUP handler does
// the same with async-signal-safe calls only, then dies of the signal. SIGPIPE (output piped to
// head) is handled the same way.
#pragma once

#include <sys/types.h>

#include <string>

namespace bench {

// Creates, exports and removes (in its destructor) a temporary BPFMAP_ROOT if the variable is
// unset; otherwise leaves the user's root alone.
class TempRoot {
  public:
    TempRoot();  // throws std::system_error on failure
    ~TempRoot();
    TempRoot(const TempRoot&) = delete;
    TempRoot& operator=(const TempRoot&) = delete;
    bool temporary() const { return temporary_; }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
    bool temporary_ = false;
};

// The name of the naive baseline's segment (unique to this process) and its removal.
const char* naive_segment_name();
void remove_naive_segment();

// Worker pids of the running row, killed by the signal handler.
void register_worker(pid_t pid);
void unregister_worker(pid_t pid);

// Installs the signal handlers. Only the process that called it (the parent) cleans up; a
// forked worker must call reset_signals_in_worker() first thing.
void install_signal_cleanup(const TempRoot& root);
void reset_signals_in_worker();

// Removes a directory tree with raw system calls (async-signal-safe). Returns true on success.
bool remove_tree(const char* path);

}  // namespace bench
