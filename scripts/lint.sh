#!/usr/bin/env bash
# scripts/lint.sh format  - clang-format check of every C/C++ source (fails on diffs)
# scripts/lint.sh tidy    - clang-tidy on userspace sources (needs build/compile_commands.json)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
files() { git ls-files -- '*.h' '*.c' '*.cpp' ':!:tests/fixtures/**' ':!:bench/cgoloop/**'; }
case "${1:-format}" in
  format)
    bad=0
    while read -r f; do
      if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "clang-format: $f needs formatting (clang-format -i $f)"
        bad=1
      fi
    done < <(files)
    exit $bad
    ;;
  tidy)
    git ls-files -- 'userspace/*.cpp' | xargs -P2 -n4 clang-tidy -p build --quiet
    ;;
  *) echo "usage: lint.sh format|tidy" >&2; exit 2 ;;
esac
