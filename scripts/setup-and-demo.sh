#!/usr/bin/env bash
# The README's first command: install what is needed, build, and trace the
# bundled demo service for a few seconds, printing a live stat summary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build"
echo
echo "== cgotrace inspect build/fixtures/demo"
"$root/build/cgotrace" inspect "$root/build/fixtures/demo"
echo
echo "== cgotrace stat --duration 5s -- build/fixtures/demo"
"$root/build/cgotrace" stat --duration 5s -- "$root/build/fixtures/demo"
