#!/usr/bin/env bash
# The README's second command (and all that .ci/run does): every test tier.
#   1. install dependencies, build build/ and run unit + bpf (real BPF, real Go
#      fixtures, as root) tests, the long-run exporter test (label longrun);
#      and the arm64 tier (cgotrace cross-built for arm64, traced live on
#      Debian's arm64 kernel under qemu: scripts/arm64-vm.sh);
#   2. an ASan/UBSan build in build-asan/ running the unit + bpf tests;
#   3. the libFuzzer targets of tests/fuzz in build-fuzz/ (clang, ASan +
#      UBSan), each run for CGOTRACE_FUZZ_SECONDS (default 20);
#   4. clang-format check of all C/C++ sources.
# Benchmarks are not tests: run them with `ctest --test-dir build -L bench`.
# The full Go version x build mode matrix: `ctest --test-dir build -L matrix`
# (scripts/matrix.sh --full); the default run checks its quick subset.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: needs root (it installs Debian packages and the bpf tests load BPF programs): run it as root, e.g. 'sudo scripts/test.sh' or 'su -c scripts/test.sh'" >&2
  exit 1
fi
scripts/install-deps.sh
status=0

echo "== build (RelWithDebInfo)"
scripts/build.sh build
echo "== tests: unit + bpf + longrun + arm64 (qemu VM, scripts/arm64-vm.sh)"
ctest --test-dir build -LE "bench|matrix" --output-on-failure -j1 || status=1

echo "== build (ASan + UBSan)"
scripts/build.sh build-asan -DCGOTRACE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
echo "== tests under sanitizers: unit + bpf (longrun: without sanitizers only, its time bound)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -LE "bench|matrix|arm64|longrun" --output-on-failure -j1 || status=1

echo "== fuzz (libFuzzer under ASan + UBSan, build-fuzz/): ${CGOTRACE_FUZZ_SECONDS:-20}s per target"
cmake -S . -B build-fuzz -G Ninja -DCGOTRACE_FUZZ=ON -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DCGOTRACE_FUZZ_SECONDS="${CGOTRACE_FUZZ_SECONDS:-20}" >/dev/null
ninja -C build-fuzz -j"${CGOTRACE_JOBS:-2}" fuzz_targets
ctest --test-dir build-fuzz -L fuzz --output-on-failure -j1 || status=1

echo "== clang-format"
if ! scripts/lint.sh format; then
  status=1
fi
exit $status
