#!/usr/bin/env bash
# Builds one compatibility-matrix fixture: a test program built by one Go
# toolchain in one build mode for one architecture.
#
# Usage: tests/matrix/build-fixture.sh TOOLCHAIN MODE ARCH OUT
#   TOOLCHAIN  goX.Y.Z (fetched through the Go module proxy by GOTOOLCHAIN,
#              cached in the module cache), or "local" for the installed go
#   MODE       default | stripped | pie | extlink | static | race | trimpath |
#              v3 | cxxlib
#   ARCH       amd64 | arm64 (arm64 cross-compiles with aarch64-linux-gnu-gcc)
#   OUT        output path; its base name is the program: cgocalls, or
#              cxxcalls for MODE=cxxlib
#
# Environment: GO (default: go in PATH, else /usr/local/go/bin/go).
#
# Exit status: 0 built (or already built with the same inputs), 1 failed, 2
# usage, 3 the combination does not exist (printed reason on stdout: e.g.
# GOAMD64 before go1.18) - the caller records that, it is not a failure.
#
# Why a temporary module: the committed fixture module (tests/fixtures) says
# `go 1.21` and needs go1.19's sync/atomic types, and `go build -mod=mod` may
# rewrite its go.mod/go.sum. The program's sources and the package every
# fixture shares (tests/fixtures/internal/fixture) are copied into a fresh
# module next to OUT whose go directive the toolchain accepts; for go1.17 and
# go1.18 the fixture's sync/atomic import is redirected to
# tests/matrix/compat/atomic.go. Nothing in the source tree is written.
#
# Caching: OUT.key holds a hash of everything that determines the binary
# (this script, the sources, toolchain, mode, arch); a rebuild happens only
# when it changes.
set -euo pipefail

if [ $# -ne 4 ]; then
  sed -n '2,18p' "$0" >&2
  exit 2
fi
TOOLCHAIN=$1
MODE=$2
ARCH=$3
OUT=$4

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FIXTURES="$(cd "$HERE/../fixtures" && pwd)"
if [ -z "${GO:-}" ]; then
  GO="$(command -v go || echo /usr/local/go/bin/go)"
fi

die() {
  echo "build-fixture: $TOOLCHAIN $MODE $ARCH: $*" >&2
  exit 1
}
unsupported() {
  echo "unsupported: $*"
  exit 3
}

case "$TOOLCHAIN" in
  local) GOTC=local ;;
  go1.*) GOTC=$TOOLCHAIN ;;
  *) die "toolchain must be goX.Y.Z or local" ;;
esac

# The Go minor version decides what the toolchain can build.
if [ "$TOOLCHAIN" = local ]; then
  VERSION="$(GOTOOLCHAIN=local "$GO" env GOVERSION)" || die "cannot run $GO"
else
  VERSION=$TOOLCHAIN
fi
MINOR="$(echo "$VERSION" | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
[ -n "$MINOR" ] || die "cannot parse Go version '$VERSION'"

PROGRAM="$(basename "$OUT")"
case "$MODE" in
  cxxlib) [ "$PROGRAM" = cxxcalls ] || die "MODE=cxxlib builds cxxcalls, not $PROGRAM" ;;
  *) [ "$PROGRAM" = cgocalls ] || die "MODE=$MODE builds cgocalls, not $PROGRAM" ;;
esac

FLAGS=()
ENV=()
case "$MODE" in
  default) ;;
  stripped) FLAGS=("-ldflags=-s -w") ;;
  pie) FLAGS=(-buildmode=pie) ;;
  extlink) FLAGS=(-ldflags=-linkmode=external) ;;
  static) FLAGS=("-ldflags=-linkmode=external -extldflags=-static") ;;
  race)
    [ "$ARCH" = amd64 ] || unsupported "-race is only in the amd64 matrix"
    FLAGS=(-race)
    ;;
  trimpath) FLAGS=(-trimpath) ;;
  v3)
    [ "$ARCH" = amd64 ] || unsupported "GOAMD64 is an amd64 setting"
    # go1.17 ignores GOAMD64: its binary would just be the default build.
    [ "$MINOR" -ge 18 ] || unsupported "GOAMD64 exists since go1.18"
    ENV=(GOAMD64=v3)
    ;;
  cxxlib) ;;
  *) die "unknown mode $MODE" ;;
esac
# The sources sit inside the repository's build directory: without this,
# go1.18+ stamps the repository's git state into the binary (running git to
# get it), so the binary would change with every commit.
[ "$MINOR" -ge 18 ] && FLAGS+=(-buildvcs=false)
case "$ARCH" in
  amd64) CC=gcc CXX=g++ ;;
  arm64)
    CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++
    command -v "$CC" >/dev/null || die "$CC not installed (apt-get install gcc-aarch64-linux-gnu)"
    ;;
  *) die "unknown arch $ARCH" ;;
esac

# The program's sources: its package, the package every fixture shares
# (goroutine id, truth file), plus the C++ library for cxxcalls.
PKGS=("$PROGRAM" internal/fixture)
[ "$PROGRAM" = cxxcalls ] && PKGS+=(cxxlib)
for p in "${PKGS[@]}"; do
  [ -d "$FIXTURES/$p" ] || die "no fixture package $FIXTURES/$p"
done

# Pre-1.21 toolchains read the go directive as a minimum language version
# and may refuse newer syntax claims; give each toolchain its own version
# unless the committed module asks for less.
MODULE_GO="$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$FIXTURES/go.mod")"
[ -n "$MODULE_GO" ] || die "no go directive in $FIXTURES/go.mod"
MODULE_MINOR="${MODULE_GO#1.}"
MODULE_MINOR="${MODULE_MINOR%%.*}"
if [ "$MINOR" -lt "$MODULE_MINOR" ]; then
  GO_DIRECTIVE="1.$MINOR"
else
  GO_DIRECTIVE="$MODULE_GO"
fi
COMPAT_ATOMIC=0
[ "$MINOR" -lt 19 ] && COMPAT_ATOMIC=1

KEY="$(
  {
    echo "toolchain=$VERSION mode=$MODE arch=$ARCH go=$GO_DIRECTIVE compat=$COMPAT_ATOMIC"
    echo "flags=${FLAGS[*]:-} env=${ENV[*]:-}"
    sha256sum "$0" "$HERE/compat/atomic.go"
    for p in "${PKGS[@]}"; do
      find "$FIXTURES/$p" -type f | LC_ALL=C sort | xargs sha256sum
    done
  } | sha256sum | cut -d' ' -f1
)"
if [ -x "$OUT" ] && [ -f "$OUT.key" ] && [ "$(cat "$OUT.key")" = "$KEY" ]; then
  # Up to date: make it newer than its inputs too, so build systems that
  # compare timestamps (ninja) stop asking.
  touch "$OUT"
  exit 0
fi

mkdir -p "$(dirname "$OUT")"
# A fixed path (not mktemp): the path is compiled into the binary, so a
# fixed one keeps rebuilds reproducible and lets the go build cache hit.
SRC="$OUT.src"
rm -rf "$SRC"
mkdir -p "$SRC"
trap 'rm -rf "$SRC"' EXIT
printf 'module cgotrace.test/fixtures\n\ngo %s\n' "$GO_DIRECTIVE" >"$SRC/go.mod"
for p in "${PKGS[@]}"; do
  mkdir -p "$(dirname "$SRC/$p")"
  cp -r "$FIXTURES/$p" "$SRC/$p"
done
if [ "$COMPAT_ATOMIC" = 1 ]; then
  mkdir -p "$SRC/internal/compatatomic"
  cp "$HERE/compat/atomic.go" "$SRC/internal/compatatomic/atomic.go"
  # Only files that use the go1.19 types: code written for go1.17 keeps the
  # real package.
  for f in $(grep -l 'atomic\.\(Int32\|Int64\|Uint32\|Uint64\|Uintptr\|Bool\|Pointer\)\b' \
    "$SRC"/*/*.go || true); do
    sed -i 's#^\(import \|[[:space:]]*\)"sync/atomic"$#\1atomic "cgotrace.test/fixtures/internal/compatatomic"#' "$f"
  done
fi

rm -f "$OUT" "$OUT.key"
start=$(date +%s)
# GOFLAGS/GOWORK from the caller's environment or go env file must not change the
# build (an empty GOFLAGS would fall back to the file, whose -buildvcs=false
# go1.17 rejects), hence a harmless explicit value;
# GOTOOLCHAIN=<version> makes the installed go fetch and run that release.
if ! (cd "$SRC" && env GOTOOLCHAIN="$GOTC" GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=1 GOOS=linux \
  GOARCH="$ARCH" CC="$CC" CXX="$CXX" ${ENV[@]+"${ENV[@]}"} \
  "$GO" build ${FLAGS[@]+"${FLAGS[@]}"} -o "$OUT.tmp" "./$PROGRAM"); then
  rm -f "$OUT.tmp"
  die "go build failed (GOTOOLCHAIN=$GOTC ${ENV[*]:-} go build ${FLAGS[*]:-} ./$PROGRAM;" \
    "a toolchain other than the installed one comes from the Go module proxy, which must be" \
    "reachable the first time)"
fi
# The toolchain that actually ran must be the one asked for: a silent
# fallback to another version would make the whole matrix meaningless.
built="$(GOTOOLCHAIN=local "$GO" version "$OUT.tmp" | awk '{print $2}')"
[ "$built" = "$VERSION" ] || die "built by $built, not $VERSION"
mv "$OUT.tmp" "$OUT"
echo "$KEY" >"$OUT.key"
echo "build-fixture: built $OUT ($VERSION $MODE $ARCH, $(($(date +%s) - start))s)"
