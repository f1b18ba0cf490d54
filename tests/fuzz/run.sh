#!/usr/bin/env bash
# Runs one libFuzzer target of tests/fuzz for a bounded time (ctest -L fuzz).
#   1. every committed regression input must run clean;
#   2. fuzz for SECONDS from the seeds, under ASan + UBSan, with a
#      per-input timeout: a crash, leak, UB report or hang fails the test and
#      leaves the input in ARTIFACT_DIR, to be committed under REGRESSION_DIR
#      with the fix.
# Usage: run.sh FUZZER SECONDS CORPUS_DIR ARTIFACT_DIR REGRESSION_DIR SEED_DIR...
set -euo pipefail
fuzzer=$1
seconds=$2
corpus=$3
artifacts=$4
regressions=$5
shift 5
name=$(basename "$fuzzer")
mkdir -p "$corpus" "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

shopt -s nullglob
inputs=("$regressions"/*)
if [ "${#inputs[@]}" -gt 0 ]; then
  echo "== $name: ${#inputs[@]} regression inputs"
  if ! "$fuzzer" -timeout=10 -malloc_limit_mb=64 "${inputs[@]}" >"$artifacts/regressions.log" 2>&1; then
    tail -n 60 "$artifacts/regressions.log"
    echo "$name: FAILED on a committed regression input" >&2
    exit 1
  fi
fi

# Whole seed binaries are mutated (libFuzzer would cut them to 1 MB, losing
# the pclntab at their end). One allocation above 64 MB is a failure: no
# parser needs that for the inputs here (a record length once claimed 135 MB
# in a 2 KB file).
max_len=$(find "$@" -type f -printf '%s\n' 2>/dev/null | sort -n | tail -n 1)
max_len=$((${max_len:-0} > 4096 ? ${max_len:-0} : 4096))
echo "== $name: fuzzing for ${seconds}s"
status=0
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=64 \
  -max_len="$max_len" -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "$corpus" "$@" >"$artifacts/log" 2>&1 || status=$?
grep -E '^(#[0-9]+\s+(INITED|DONE)|stat::number_of_executed_units|stat::peak_rss_mb)' \
  "$artifacts/log" || true
if [ "$status" -ne 0 ]; then
  tail -n 60 "$artifacts/log"
  echo "$name: FAILED (status $status). Reproduce: $fuzzer <artifact>; once fixed, commit the" \
    "input from $artifacts/ to $regressions/" >&2
  exit 1
fi
