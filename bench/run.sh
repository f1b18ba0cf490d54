#!/usr/bin/env bash
# Prints the per-call cost of cgotrace on a tight cgo loop (bench/cgoloop),
# side by side with the kernel floors, for the installed Go and for go1.20
# (whose runtime.cgocall prologue differs):
#   untraced       - the program alone
#   naive floor    - do-nothing BPF programs at runtime.cgocall's entry and
#                    RETs (the first version's sites)
#   planned floor  - do-nothing BPF programs at the planned sites (inspect)
#   trace / stat / record / exporter - cgotrace itself
#   bpf_stats per mode, and what each BPF building block costs (bpf_costs)
#   ... --breakdown - the same with the latency breakdown (its own floor:
#                    empty programs at the --breakdown sites), printed in the
#                    column beside the default
# "added" is ns/call minus untraced; "of naive" is added / naive floor's added.
# Usage: bench/run.sh [build-dir] [calls]   (root; run alone, not in parallel)
# GO_VERSIONS="local go1.20.14" overrides which toolchains are measured.
# RT_PRIO=N runs every measured program (the loop, and cgotrace with the loop
# it launches) at SCHED_FIFO priority N, so builds sharing the machine do not
# preempt the loop in the middle of a run (the host still can).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
calls=${2:-200000}
reps=${REPS:-3}
cgotrace=$build/cgotrace
rt=()
[[ -n ${RT_PRIO:-} ]] && rt=(chrt -f "$RT_PRIO")
mkdir -p "$build/bench"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() {
  local pre=("${rt[@]}")
  [[ $1 == exporter_run ]] && pre=() # it runs the loop with "${rt[@]}" itself
  for _ in $(seq "$reps"); do
    "${pre[@]}" "$@" 2>/dev/null | awk '/^ns_per_call/ {print $2}'
  done | median
}
# The exporter traces every process of the binary; the loop runs under it.
exporter_run() {
  local loop=$1 port=$((20000 + RANDOM % 20000)) pid
  shift
  "$cgotrace" exporter "$@" --binary "$loop" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/metrics" >/dev/null 2>&1 && break
    sleep 0.1
  done
  "${rt[@]}" "$loop" -n "$calls"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

# The exporter's BPF cost from its own metrics, scraped after the loop
# (further arguments: exporter flags, e.g. --breakdown).
exporter_bpf() {
  local loop=$1 port=$((20000 + RANDOM % 20000)) pid m
  shift
  "$cgotrace" exporter "$@" --binary "$loop" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/metrics" >/dev/null 2>&1 && break
    sleep 0.1
  done
  "${rt[@]}" "$loop" -n "$calls" >/dev/null
  m=$(curl -sf "http://127.0.0.1:$port/metrics" || true)
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  awk '/^cgotrace_bpf_program_run_seconds_total / {t = $2}
       /^cgotrace_bpf_program_runs_total / {n = $2}
       /^cgotrace_ringbuf_events_total / {e = $2}
       END { if (n > 0) printf "BPF programs ran %d times, %.0f ns per run (%d ring-buffer events)\n",
               n, t * 1e9 / n, e }' <<<"$m"
}

printf 'calls per run: %s, median of %s runs, kernel %s, %s\n' "$calls" "$reps" "$(uname -r)" \
  "$(date -u +%Y-%m-%d)"
printf '%-10s %-30s %10s %10s %9s %12s %10s %9s\n' go mode ns/call added "of naive" \
  "breakdown" added "of naive"
for tc in ${GO_VERSIONS:-local go1.20.14}; do
  loop=$build/bench/cgoloop-$tc
  (cd "$here/cgoloop" && GOTOOLCHAIN=$tc CGO_ENABLED=1 go build -o "$loop" .)
  ver=$(go version "$loop" | awk '{print $2}')
  rec=$build/bench/cgoloop-$tc.cgotrace
  base=$(measure "$loop" -n "$calls")
  naive=$(measure "$cgotrace" trace --empty-probes --entry-ret-sites --format jsonl -o /dev/null \
    -- "$loop" -n "$calls")
  declare -A r=()
  for bd in "" --breakdown; do
    r[planned$bd]=$(measure "$cgotrace" trace $bd --empty-probes --format jsonl -o /dev/null \
      -- "$loop" -n "$calls")
    r[trace$bd]=$(measure "$cgotrace" trace $bd --format jsonl -o /dev/null -- "$loop" -n "$calls")
    r[stat$bd]=$(measure "$cgotrace" stat $bd --format json -- "$loop" -n "$calls")
    r[record$bd]=$(measure "$cgotrace" record $bd -o "$rec" -- "$loop" -n "$calls")
    r[exporter$bd]=$(measure exporter_run "$loop" $bd)
    rm -f "$rec"
  done
  # One row per mode: default, then --breakdown ("-" where it does not apply).
  row() {
    awk -v g="$ver" -v m="$1" -v v="$2" -v w="${3:-}" -v b="$base" -v n="$naive" '
      function cells(x) {
        if (x == "") return sprintf("%12s %10s %9s", "-", "-", "-")
        return sprintf("%12.0f %10.0f %9s", x, x - b,
          (n - b > 0 ? sprintf("%.2f", (x - b) / (n - b)) : "-"))
      }
      BEGIN {
        printf "%-10s %-30s %10.0f %10.0f %9s %s\n", g, m, v, v - b,
          (n - b > 0 ? sprintf("%.2f", (v - b) / (n - b)) : "-"), cells(w) }'
  }
  row "untraced" "$base"
  row "naive floor (entry + RET)" "$naive"
  row "planned floor (empty probes)" "${r[planned]}" "${r[planned--breakdown]}"
  row "cgotrace trace (jsonl)" "${r[trace]}" "${r[trace--breakdown]}"
  row "cgotrace stat" "${r[stat]}" "${r[stat--breakdown]}"
  row "cgotrace record" "${r[record]}" "${r[record--breakdown]}"
  row "cgotrace exporter" "${r[exporter]}" "${r[exporter--breakdown]}"

  # In-kernel cost of cgotrace's own BPF program per probe hit, per mode
  # (ns per run, start and end hits together, and with --breakdown the C
  # end; the stats add ≈ 63 ns).
  old_stats=$(sysctl -n kernel.bpf_stats_enabled)
  sysctl -qw kernel.bpf_stats_enabled=1
  for mode in trace stat record exporter stat--breakdown exporter--breakdown; do
    case $mode in
    trace) bpf_line=$("${rt[@]}" "$cgotrace" trace --format jsonl -o /dev/null -- "$loop" -n "$calls" 2>&1 \
      >/dev/null | grep 'BPF programs ran' || true) ;;
    stat) bpf_line=$("${rt[@]}" "$cgotrace" stat --format json -- "$loop" -n "$calls" 2>&1 >/dev/null |
      grep 'BPF programs ran' || true) ;;
    record) bpf_line=$("${rt[@]}" "$cgotrace" record -o "$rec" -- "$loop" -n "$calls" 2>&1 >/dev/null |
      grep 'BPF programs ran' || true) ;;
    exporter) bpf_line=$(exporter_bpf "$loop") ;;
    stat--breakdown) bpf_line=$("${rt[@]}" "$cgotrace" stat --breakdown --format json -- "$loop" \
      -n "$calls" 2>&1 >/dev/null | grep 'BPF programs ran' || true) ;;
    exporter--breakdown) bpf_line=$(exporter_bpf "$loop" --breakdown) ;;
    esac
    rm -f "$rec"
    printf '%-10s %-19s %s\n' "$ver" "$mode" "${bpf_line#cgotrace: }"
  done
  sysctl -qw kernel.bpf_stats_enabled="$old_stats"

  # What each building block of that program costs per hit, beside an empty
  # program at the same sites (bench/bpf_costs).
  if [[ -x $build/bench/bpf_costs ]]; then
    "$build/bench/bpf_costs" "$loop" "$calls" "$reps" | sed "s/^/$ver /"
  fi
done
