#!/usr/bin/env bash
# Prints the peak resident memory of `cgotrace stat` attached to a program
# with many goroutines (docs/performance.md, Memory):
#   --by func                 the floor: one row per C function, same events
#   --by goid                 default row cap (1000 rows, then "(other)")
#   --by goid --max-rows N    a row for every goroutine
# The fixture is not cgotrace's child (attach by PID), so only cgotrace's own
# peak RSS is measured (GNU time, wait4's ru_maxrss).
# Usage: bench/stat_memory.sh [build-dir] [goroutines] [calls-per-goroutine]  (root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
goroutines=${2:-10000}
calls=${3:-20}
cgotrace=$build/cgotrace
fixture=$build/fixtures/cgocalls
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

wait_for() {  # file pattern pid: waits until pattern is in file, fails if pid dies first
  for _ in $(seq 300); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { echo "stat_memory: process $3 died: $(cat "$1")" >&2; return 1; }
    sleep 0.1
  done
  echo "stat_memory: no '$2' in $1" >&2
  return 1
}

measure() {
  "$fixture" -wait-signal -scenarios=fast -goroutines="$goroutines" -calls="$calls" >"$tmp/fx.out" &
  local fx=$!
  wait_for "$tmp/fx.out" READY "$fx"
  /usr/bin/time -f '%M' -o "$tmp/rss" "$cgotrace" stat -p "$fx" --format json "$@" \
    >"$tmp/stat.json" 2>"$tmp/stat.err" &
  local ct=$!
  wait_for "$tmp/stat.err" 'cgotrace: attached' "$ct"
  kill -USR1 "$fx"
  wait "$fx"
  wait "$ct"
  python3 - "$tmp/stat.json" "$tmp/rss" "$*" <<'PY'
import json, sys
snap = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
kb = int(open(sys.argv[2]).read().split()[-1])
print(f"{sys.argv[3]:<34} {kb / 1024:8.1f} MB peak RSS   rows {len(snap['calls']):6d}   "
      f"events {snap['events']}   lost {snap['lost']}")
PY
}

echo "cgotrace stat -p PID: ${goroutines} goroutines x ${calls} calls, kernel $(uname -r)"
measure --by func
measure --by goid
measure --by goid --max-rows "$goroutines"
