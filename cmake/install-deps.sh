#!/usr/bin/env bash
# Installs what bpfmap needs to build, test and run on Debian 12, from Debian's packages only.
# Skips apt-get entirely when everything is already there. Run as root (or with sudo).
set -euo pipefail

packages=(
  g++ cmake make                       # toolchain
  libboost-dev libboost-test-dev       # Boost.Interprocess (headers), Boost.Test
  libspdlog-dev libfmt-dev             # logging, formatting
  libcli11-dev nlohmann-json3-dev      # the tools' command lines and JSON output
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "bpfmap: installing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "bpfmap: run as root, or install these first: apt-get install ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
