// One handler per row of command_table.hpp. Each reads ctx.args (its positional words), prints
// its result through ctx.out, throws Error on bad input and returns the exit status.
#pragma once

#include "tools/inspect/context.hpp"

namespace bpfmap::inspect {

int cmd_map_show(Context& ctx);
int cmd_map_dump(Context& ctx);
int cmd_map_lookup(Context& ctx);
int cmd_map_update(Context& ctx);
int cmd_map_delete(Context& ctx);
int cmd_map_getnext(Context& ctx);
int cmd_map_peek(Context& ctx);
int cmd_map_push(Context& ctx);
int cmd_map_pop(Context& ctx);
int cmd_map_pin(Context& ctx);
int cmd_map_create(Context& ctx);
int cmd_map_freeze(Context& ctx);
int cmd_map_load(Context& ctx);
int cmd_segment_show(Context& ctx);
int cmd_gc(Context& ctx);
int cmd_fsck(Context& ctx);

}  // namespace bpfmap::inspect
