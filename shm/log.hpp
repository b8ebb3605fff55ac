// The one named logger of bpfmap ("bpfmap"). Its level comes from BPFMAP_LOG_LEVEL (trace,
// debug, info, warn, error, critical, off; default warn). Used on create/open/destroy and for
// refused segments; never on the lookup/update path.
#pragma once

#include <spdlog/logger.h>

namespace bpfmap::shm {

spdlog::logger& log();

}  // namespace bpfmap::shm
