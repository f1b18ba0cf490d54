#!/usr/bin/env bash
# The README's first command: install what is needed, build, and trace the
# bundled demo service for a few seconds, printing a live stat summary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-and-demo.sh: needs root (it installs Debian packages and loads BPF programs): run it as root, e.g. 'sudo scripts/setup-and-demo.sh' or 'su -c scripts/setup-and-demo.sh'" >&2
  exit 1
fi
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build"
echo
echo "== cgotrace inspect build/fixtures/demo"
"$root/build/cgotrace" inspect "$root/build/fixtures/demo"
echo
echo "== cgotrace stat --duration 5s -- build/fixtures/demo"
"$root/build/cgotrace" stat --duration 5s -- "$root/build/fixtures/demo"
