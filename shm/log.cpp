#include "shm/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <memory>

namespace bpfmap::shm {

spdlog::logger& log() {
    // Created once, on first use; not registered globally so that a program's own spdlog
    // setup (set_level, drop_all, ...) cannot remove or reconfigure it behind our back. Never
    // destroyed: the library logs from its exit-time destructor and from close() during exit.
    static spdlog::logger* logger = [] {
        auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        auto* l = new spdlog::logger("bpfmap", sink);
        l->set_pattern("bpfmap[%P] %l: %v");
        const char* level = std::getenv("BPFMAP_LOG_LEVEL");
        l->set_level(level && *level ? spdlog::level::from_str(level) : spdlog::level::warn);
        return l;
    }();
    return *logger;
}

}  // namespace bpfmap::shm
