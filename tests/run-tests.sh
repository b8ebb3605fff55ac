#!/usr/bin/env bash
# The README's second command: installs what is missing, builds with warnings as errors, runs
# the whole suite, then builds and runs it again under AddressSanitizer + UBSan.
#   BPFMAP_SKIP_ASAN=1  skip the sanitizer pass (quicker local runs)
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install-deps.sh
jobs=$(nproc)

# Every test binary makes its own store under this folder; it goes away even after a crash.
export BPFMAP_TEST_TMP=$(mktemp -d /dev/shm/bpfmap-tests.XXXXXX)
trap 'rm -rf "$BPFMAP_TEST_TMP"' EXIT

cmake --preset default
cmake --build --preset default -j"$jobs"
ctest --preset default -j"$jobs"

if [ "${BPFMAP_SKIP_ASAN:-0}" != 1 ]; then
  cmake --preset asan
  cmake --build --preset asan -j"$jobs"
  ctest --preset asan -j"$jobs"
fi
