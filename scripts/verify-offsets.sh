#!/usr/bin/env bash
# Checks cgotrace's built-in runtime.g/runtime.m offset table against the DWARF
# of real binaries built by many Go toolchains, for amd64 and arm64.
#
# For each toolchain it builds a tiny cgo program (GOTOOLCHAIN=<version>; the
# toolchain comes from the Go module proxy) into
# <build>/fixtures/offset-matrix/, lists the binaries in
# <build>/fixtures/offset-matrix.txt and runs the unit test
# OffsetsMatrix.TableAndDescriptorsMatchDwarf, which fails on any mismatch
# between DWARF, the table and the binary's own type descriptors. The list stays
# in place, so later unit-test runs keep checking those binaries.
#
# Usage: scripts/verify-offsets.sh [-B build-dir] [goX.Y.Z ...]
#   ARCHES="amd64 arm64" (default) selects target architectures; arm64 needs
#   aarch64-linux-gnu-gcc. Already-built binaries are reused.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build"
if [ "${1:-}" = "-B" ]; then
  BUILD="$(cd "$2" && pwd)"
  shift 2
fi
ARCHES="${ARCHES:-amd64 arm64}"
TOOLCHAINS=("$@")
if [ ${#TOOLCHAINS[@]} -eq 0 ]; then
  # The latest patch of every minor the table covers, the first release of
  # each minor where an offset changed, and both sides of the patch releases
  # that moved m.ncgocall (go1.23.12, go1.24.6).
  TOOLCHAINS=(go1.17.13 go1.18.10 go1.19.13 go1.20.14 go1.21.13 go1.22.0 go1.22.12 go1.23.0
              go1.23.11 go1.23.12 go1.24.0 go1.24.5 go1.24.6 go1.24.13 go1.25.0 go1.25.9
              go1.26.0 go1.26.8 go1.27.0 go1.27.3)
fi

TEST_BIN="$BUILD/tests/cgotrace_unit_tests"
FIXTURES="$BUILD/fixtures"
OUT="$FIXTURES/offset-matrix"
if [ ! -x "$TEST_BIN" ]; then
  echo "verify-offsets: $TEST_BIN not built (ninja -C $BUILD cgotrace_unit_tests)" >&2
  exit 1
fi
mkdir -p "$OUT"

SRC="$(mktemp -d)"
trap 'rm -rf "$SRC"' EXIT
cat >"$SRC/go.mod" <<'EOF'
module offsetprobe

go 1.17
EOF
cat >"$SRC/main.go" <<'EOF'
package main

/*
static int add(int a, int b) { return a + b; }
*/
import "C"

import "fmt"

func main() { fmt.Println(C.add(1, 2)) }
EOF

LIST="$(mktemp)"
echo "# written by scripts/verify-offsets.sh" >"$LIST"
for tc in "${TOOLCHAINS[@]}"; do
  for arch in $ARCHES; do
    case "$arch" in
      amd64) cc=gcc ;;
      arm64) cc=aarch64-linux-gnu-gcc ;;
      *) echo "verify-offsets: unsupported arch $arch" >&2; exit 1 ;;
    esac
    bin="$OUT/$tc-$arch"
    if [ ! -s "$bin" ]; then
      echo "verify-offsets: building $tc $arch"
      # "main.go", not ".": go1.19.13 rejects the package path "." here.
      # GOFLAGS: an empty value would fall back to the go env file, whose
      # -buildvcs=false go1.17 rejects.
      (cd "$SRC" && GOTOOLCHAIN="$tc" GOFLAGS=-mod=mod CGO_ENABLED=1 GOOS=linux GOARCH="$arch" CC="$cc" \
        go build -o "$bin.tmp" main.go)
      mv "$bin.tmp" "$bin"
    fi
    echo "offset-matrix/$tc-$arch" >>"$LIST"
  done
done
chmod 644 "$LIST"
mv "$LIST" "$FIXTURES/offset-matrix.txt"

exec "$TEST_BIN" --gtest_filter='OffsetsMatrix.TableAndDescriptorsMatchDwarf'
