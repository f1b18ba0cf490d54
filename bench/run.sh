#!/usr/bin/env bash
# Prints the per-call cost of cgotrace on a tight cgo loop:
#   untraced       - the program alone
#   empty probes   - do-nothing BPF programs at cgotrace's sites (kernel floor)
#   cgotrace trace - full tracing, events to /dev/null
#   cgotrace stat  - full tracing, aggregated in userspace
# Usage: bench/run.sh [build-dir] [calls]   (root; run alone, not in parallel)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
calls=${2:-200000}
reps=${REPS:-3}
cgotrace=$build/cgotrace
loop=$build/bench/cgoloop
mkdir -p "$build/bench"
(cd "$here/cgoloop" && CGO_ENABLED=1 go build -o "$loop" .)

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() {
  for _ in $(seq "$reps"); do
    "$@" 2>/dev/null | awk '/^ns_per_call/ {print $2}'
  done | median
}

base=$(measure "$loop" -n "$calls")
floor=$(measure "$cgotrace" trace --empty-probes --format jsonl -o /dev/null -- "$loop" -n "$calls")
traced=$(measure "$cgotrace" trace --format jsonl -o /dev/null -- "$loop" -n "$calls")
stat=$(measure "$cgotrace" stat --format json -- "$loop" -n "$calls")

# In-kernel cost of cgotrace's own BPF programs, per probe hit.
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
bpf_line=$("$cgotrace" trace --format jsonl -o /dev/null -- "$loop" -n "$calls" 2>&1 >/dev/null |
  grep 'BPF programs ran' || true)
sysctl -qw kernel.bpf_stats_enabled="$old_stats"

printf 'calls per run: %s, median of %s runs, kernel %s\n' "$calls" "$reps" "$(uname -r)"
printf '%-28s %10s ns/call\n' "untraced" "$base"
printf '%-28s %10s ns/call\n' "empty probes (kernel floor)" "$floor"
printf '%-28s %10s ns/call\n' "cgotrace trace (jsonl)" "$traced"
printf '%-28s %10s ns/call\n' "cgotrace stat" "$stat"
printf '%s\n' "${bpf_line#cgotrace: }"
awk -v f="$floor" -v t="$traced" -v s="$stat" -v b="$base" 'BEGIN {
  printf "ratio trace/floor: %.2f   stat/floor: %.2f\n", (t-b)/(f-b), (s-b)/(f-b) }'
