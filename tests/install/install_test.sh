#!/usr/bin/env bash
# Installs the build into a temporary prefix, builds a separate C program against it with
# find_package(bpfmap) and runs it. Proves the installed headers, library and package config.
set -euo pipefail
build_dir=$1
src_dir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/bpfmap/bpf.h"
test -f "$work/prefix/include/bpfmap/percpu.hpp"
ls "$work/prefix"/lib*/libbpfmap.so >/dev/null
cmake -S "$src_dir/consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
BPFMAP_ROOT="$work/store" "$work/build/consumer"
BPFMAP_ROOT="$work/store" "$work/build/consumer_percpu"
