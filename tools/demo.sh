#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the demo: two separate
# processes share one HASH map through a pin; then bpfmap-inspect shows the map and dumps it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target bpfmap-demo bpfmap-inspect

# A store of its own, removed at the end.
export BPFMAP_ROOT=$(mktemp -d /dev/shm/bpfmap-demo.XXXXXX)
trap 'rm -rf "$BPFMAP_ROOT"' EXIT
bin=build/release/tools
pin="$BPFMAP_ROOT/pins/demo_flows"

echo "== two processes share a map (store: $BPFMAP_ROOT)"
"$bin/demo/bpfmap-demo" "$pin"
if [ -x "$bin/inspect/bpfmap-inspect" ]; then
  echo
  echo "== bpfmap-inspect map show pinned $pin"
  "$bin/inspect/bpfmap-inspect" map show pinned "$pin"
  echo
  echo "== bpfmap-inspect map dump pinned $pin --key-format u32  (last lines)"
  "$bin/inspect/bpfmap-inspect" map dump pinned "$pin" --key-format u32 | tail -n 6
fi
rm -f "$pin"  # unpinned and unreferenced: the map is destroyed
