// The commands of bpfmap-inspect, in the order --help lists them. main.cpp builds the command
// line from this table (one handler per row) and the tests check --help against it.
#pragma once

#include <string_view>

namespace bpfmap::inspect {

struct CommandSpec {
    std::string_view group;  // "map", "segment", or "" for a top-level command
    std::string_view name;
    std::string_view synopsis;  // arguments after the command
    std::string_view help;
    bool modifies;  // false: the command runs in observer mode (bpfmap_observe_only)
};

// Map type numbers probed with shm::find_map_type() to list the supported types (the kernel's
// enum bpf_map_type is far below this).
inline constexpr unsigned kMapTypeProbeLimit = 256;

inline constexpr CommandSpec kCommands[] = {
    {"map", "show", "[MAP]", "show one map, or every map of the store", false},
    {"map", "list", "[MAP]", "same as map show", false},
    {"map", "dump", "MAP", "print every element (streams; 'Found N elements' at the end)", false},
    {"map", "lookup", "MAP key DATA", "print the value of one key", false},
    {"map", "update", "MAP key DATA value VALUE [any|exist|noexist]", "set the value of a key",
     true},
    {"map", "delete", "MAP key DATA", "delete one key", true},
    {"map", "getnext", "MAP [key DATA]", "print the key that follows DATA (or the first key)",
     false},
    {"map", "peek", "MAP [value VALUE]",
     "queue/stack: print the next element; bloom_filter: may VALUE be in the set?", false},
    {"map", "push", "MAP value VALUE [exist]",
     "queue/stack/bloom_filter: add VALUE ('exist': overwrite the oldest when full)", true},
    {"map", "pop", "MAP", "queue/stack: print and remove the next element", true},
    {"map", "pin", "MAP FILE", "pin the map at FILE (inside the store's root, outside maps/)",
     true},
    {"map", "create",
     "FILE type TYPE key KEY_SIZE value VALUE_SIZE entries MAX_ENTRIES name NAME [flags FLAGS] "
     "[extra N]",
     "create a map and pin it at FILE", true},
    {"map", "freeze", "MAP", "freeze the map: no more updates or deletes", true},
    {"map", "load", "MAP [FILE]", "update the map from a 'map dump -j' output (FILE or stdin)",
     true},
    {"segment", "show", "[id N | FILE]",
     "the root folder and each segment file: format, sizes, header check, locks", false},
    {"segment", "list", "[id N | FILE]", "same as segment show", false},
    {"", "gc", "[--dry-run]", "destroy maps nothing holds or pins; remove stale files in maps/",
     true},
    {"", "fsck", "[MAP]", "check the invariants of one or every map; exit 1 on violations", false},
};

}  // namespace bpfmap::inspect
