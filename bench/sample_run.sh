#!/usr/bin/env bash
# Prints what sampling (cgotrace profile / top) costs:
#  1. the target: a tight cgo loop untraced vs under `cgotrace profile -F 99`
#     (nothing is probed per call, so the ratio should be ~1);
#  2. the tracer: its own CPU time (user + system, the iterator runs in the
#     reader's system time) sampling a process with 1000 threads at 99 Hz,
#     and the exporter's --sample mode on it at 19 Hz.
# Usage: bench/sample_run.sh [build-dir] [calls]   (root; run alone)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
calls=${2:-30000000}
reps=${REPS:-3}
cgotrace=$build/cgotrace
loop=$build/bench/cgoloop
incgo=$build/fixtures/incgo
mkdir -p "$build/bench"
(cd "$here/cgoloop" && CGO_ENABLED=1 go build -o "$loop" .)

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() {
  for _ in $(seq "$reps"); do
    "$@" 2>/dev/null | awk '/^ns_per_call/ {print $2}'
  done | median
}

# Interleaved so both see the same machine load.
base_runs=()
prof_runs=()
for _ in $(seq "$reps"); do
  base_runs+=("$("$loop" -n "$calls" | awk '/^ns_per_call/ {print $2}')")
  prof_runs+=("$("$cgotrace" profile -F 99 --format json -o /dev/null -- "$loop" -n "$calls" \
    2>/dev/null | awk '/^ns_per_call/ {print $2}')")
done
base=$(printf '%s\n' "${base_runs[@]}" | median)
prof=$(printf '%s\n' "${prof_runs[@]}" | median)
printf 'tight cgo loop, %s calls, median of %s interleaved runs, kernel %s\n' "$calls" "$reps" \
  "$(uname -r)"
printf '%-34s %8s ns/call  (runs: %s)\n' "untraced" "$base" "${base_runs[*]}"
printf '%-34s %8s ns/call  (runs: %s)\n' "under cgotrace profile -F 99" "$prof" "${prof_runs[*]}"
awk -v b="$base" -v p="$prof" 'BEGIN { printf "ratio profile/untraced: %.2f\n", p / b }'

# The tracer's own CPU on a process with 1000 threads (blocked in C).
threads=${THREADS:-1000}
secs=${SECS:-10}
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$incgo" -blocked "$threads" -spin=false -tiny=false -truth "$tmp/truth.json" >"$tmp/out" 2>&1 &
pid=$!
for _ in $(seq 600); do [ -s "$tmp/truth.json" ] && break; sleep 0.1; done
[ -s "$tmp/truth.json" ] || { echo "incgo did not start $threads threads" >&2; exit 1; }
for hz in 19 99; do
  /usr/bin/time -f '%U %S %e' -o "$tmp/time" \
    "$cgotrace" profile -p "$pid" -F "$hz" --duration "${secs}s" --format json -o "$tmp/p.json" \
    2>"$tmp/err"
  read -r user sys wall <"$tmp/time"
  rounds=$(sed -n 's/.*"rounds":\([0-9]*\).*/\1/p' "$tmp/p.json")
  tsamples=$(sed -n 's/.*"thread_samples":\([0-9]*\).*/\1/p' "$tmp/p.json")
  awk -v u="$user" -v s="$sys" -v w="$wall" -v r="$rounds" -v t="$tsamples" -v hz="$hz" \
    -v n="$(ls /proc/"$pid"/task | wc -l)" 'BEGIN {
    printf "tracer at %3d Hz on %d threads: %.1f%% of one CPU (user %.2fs sys %.2fs over %.1fs), %d rounds (%.1f/s), %.2f us per thread sample\n",
      hz, n, 100 * (u + s) / w, u, s, w, r, r / w, 1e6 * (u + s) / t }'
done
# The exporter's --sample mode (no probe) on the same process, at its
# default 19 Hz: the whole exporter process (sampling thread, HTTP server
# idle), stopped by SIGINT after the same time.
/usr/bin/time -f '%U %S %e' -o "$tmp/time" \
  timeout -s INT "${secs}s" "$cgotrace" exporter --listen 127.0.0.1:0 -p "$pid" --sample \
  2>"$tmp/err" || true
# time(1) writes "Command exited with non-zero status 124" (timeout's) first.
read -r user sys wall < <(tail -n1 "$tmp/time")
rounds=$(sed -n 's/.*stopping; \([0-9]*\) sampling rounds.*/\1/p' "$tmp/err")
awk -v u="$user" -v s="$sys" -v w="$wall" -v r="${rounds:-0}" \
  -v n="$(ls /proc/"$pid"/task | wc -l)" 'BEGIN {
  printf "exporter --sample at 19 Hz on %d threads: %.1f%% of one CPU (user %.2fs sys %.2fs over %.1fs), %d rounds (%.1f/s)\n",
    n, 100 * (u + s) / w, u, s, w, r, r / w }'
