#!/usr/bin/env bash
# Configures and builds cgotrace into build/ (the CLI lands at build/cgotrace).
# Usage: scripts/build.sh [build-dir] [extra cmake args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true
export PATH=$PATH:/usr/local/go/bin
cmake -S "$root" -B "$build" -G Ninja "$@" >/dev/null
# Two cores: two jobs keep memory and the machine responsive.
ninja -C "$build" -j"${CGOTRACE_JOBS:-2}"
