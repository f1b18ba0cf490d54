#!/usr/bin/env bash
# The arm64 live tier: cross-builds cgotrace for arm64, boots Debian's arm64
# kernel under qemu-system-aarch64 (TCG: no arm64 hardware needed) with an
# initramfs holding cgotrace, the arm64 fixtures and a static busybox, runs
# real traces there (scripts/arm64/guest-init.sh) and collects every run's
# outputs in WORK/results for the host-side checks (tests/arm64/arm64_test.cpp,
# CTest label `arm64`).
#
# Usage: scripts/arm64-vm.sh [WORK]    (default: build/arm64)
#
# Environment:
#   CGOTRACE_ARM64_CACHE  sysroot + kernel cache (default /var/cache/cgotrace-arm64),
#                         keyed by the hash of scripts/arm64/sysroot.sh
#   CGOTRACE_ARM64_SMP    guest CPUs (default 2)
#   CGOTRACE_ARM64_ONLY   regex: run only the cases whose name matches (debugging)
#   GO                    go binary (default: go in PATH, else /usr/local/go/bin/go)
#
# Needs root only for nothing; needs the host packages qemu-system-arm,
# g++-aarch64-linux-gnu, cpio (scripts/install-deps.sh) and network access to
# deb.debian.org and the Go module proxy on the first run. Exit status 0 when
# the VM ran every case to the end (whether the traces are right is for the
# checks to say), 1 otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mkdir -p "${1:-$root/build/arm64}" && cd "${1:-$root/build/arm64}" && pwd)
CACHE=${CGOTRACE_ARM64_CACHE:-/var/cache/cgotrace-arm64}
SMP=${CGOTRACE_ARM64_SMP:-2}
export PATH=$PATH:/usr/local/go/bin
[ -n "${GO:-}" ] || GO=$(command -v go || echo /usr/local/go/bin/go)
export GO
t0=$(date +%s)
log() { echo "arm64-vm: [$(($(date +%s) - t0))s] $*" >&2; }
die() {
  echo "arm64-vm: $*" >&2
  exit 1
}
for tool in qemu-system-aarch64 aarch64-linux-gnu-g++ cpio; do
  command -v $tool >/dev/null || die "$tool not installed (scripts/install-deps.sh)"
done

# 1. Debian arm64 sysroot and kernel.
BASE=$("$root/scripts/arm64/sysroot.sh" "$CACHE")
SYSROOT=$BASE/sysroot
VMLINUZ=$(ls "$BASE"/kernel/boot/vmlinuz-*)
KVER=${VMLINUZ##*/vmlinuz-}
log "sysroot and kernel $KVER ready ($BASE)"

# 2. cgotrace for arm64 (incremental; ccache when the caller set it up).
cmake -S "$root" -B "$WORK/cross" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
  -DCGOTRACE_ARM64_SYSROOT="$SYSROOT" -DCGOTRACE_TESTS=OFF -DCGOTRACE_SAMPLING=ON -DCGOTRACE_BCC=OFF >/dev/null
ninja -C "$WORK/cross" -j"${CGOTRACE_JOBS:-2}" cgotrace >&2
log "cross-built $WORK/cross/cgotrace"

# 3. The fixtures: the installed Go and the oldest supported release, in the
# build modes whose binaries differ in what cgotrace reads (symbols, PIE).
LOCAL_GO=$(GOTOOLCHAIN=local "$GO" env GOVERSION)
OLDEST=go1.17.13
FX=$WORK/fixtures
for tc in local $OLDEST; do
  v=$tc
  [ "$tc" = local ] && v=$LOCAL_GO
  for mode in default stripped pie; do
    "$root/tests/matrix/build-fixture.sh" "$tc" "$mode" arm64 "$FX/$v/$mode/cgocalls" >&2
  done
done
# incgo (goroutines that stay in C) for `top`: the installed Go, and go1.22
# for a release whose g has no syscallbp (go1.17 cannot build it).
for tc in local go1.22.12; do
  v=$tc
  [ "$tc" = local ] && v=$LOCAL_GO
  mkdir -p "$FX/$v/incgo"
  (cd "$root/tests/fixtures" && env CGO_ENABLED=1 GOARCH=arm64 CC=aarch64-linux-gnu-gcc \
    GOTOOLCHAIN=$tc GOFLAGS="-mod=readonly -buildvcs=false" "$GO" build \
    -o "$FX/$v/incgo/incgo" ./incgo) >&2
done
# pwait (cgo calls that must wait for the P) for --breakdown.
mkdir -p "$FX/$LOCAL_GO/pwait"
(cd "$root/tests/fixtures" && env CGO_ENABLED=1 GOARCH=arm64 CC=aarch64-linux-gnu-gcc \
  GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" "$GO" build \
  -o "$FX/$LOCAL_GO/pwait/pwait" ./pwait) >&2
log "fixtures built ($LOCAL_GO, $OLDEST; incgo $LOCAL_GO, go1.22.12; pwait $LOCAL_GO)"

# 4. The initramfs: busybox, cgotrace and the fixtures with the shared
# libraries they need (from the sysroot), the 9p modules, the cases.
IR=$WORK/initramfs
rm -rf "$IR"
mkdir -p "$IR"/{bin,dev,proc,sys,tmp,fixtures,lib/aarch64-linux-gnu,"lib/modules/$KVER"}
cp "$SYSROOT/bin/busybox" "$IR/bin/busybox"
aarch64-linux-gnu-strip -o "$IR/bin/cgotrace" "$WORK/cross/cgotrace"
cp -r "$FX"/go* "$IR/fixtures/"
find "$IR/fixtures" -name '*.key' -delete
cp "$root/scripts/arm64/guest-init.sh" "$IR/init"
chmod +x "$IR/init"
# Shared libraries: the NEEDED closure of every dynamic binary.
declare -A seen=()
queue=("$IR/bin/cgotrace" $(find "$IR/fixtures" -type f \( -name cgocalls -o -name incgo -o -name pwait \)))
while [ ${#queue[@]} -gt 0 ]; do
  f=${queue[0]}
  queue=("${queue[@]:1}")
  for lib in $(aarch64-linux-gnu-readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [ -n "${seen[$lib]:-}" ] && continue
    seen[$lib]=1
    src=""
    for d in lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu; do
      [ -e "$SYSROOT/$d/$lib" ] && src=$SYSROOT/$d/$lib && break
    done
    [ -n "$src" ] || die "$lib (needed by ${f#"$IR"}) is not in the sysroot"
    cp -L "$src" "$IR/lib/aarch64-linux-gnu/$lib"
    queue+=("$IR/lib/aarch64-linux-gnu/$lib")
  done
done
cp -L "$SYSROOT/lib/ld-linux-aarch64.so.1" "$IR/lib/ld-linux-aarch64.so.1"
for m in drivers/virtio/virtio_mmio net/9p/9pnet net/9p/9pnet_virtio fs/netfs/netfs \
  fs/fscache/fscache fs/9p/9p; do
  mkdir -p "$IR/lib/modules/$KVER/kernel/$(dirname $m)"
  cp "$BASE/kernel/lib/modules/$KVER/kernel/$m.ko" "$IR/lib/modules/$KVER/kernel/$m.ko"
done
# The cases: the arguments of the amd64 tests (tests/e2e/checks.cpp
# ModestCgocallsArgs, trace_test.cpp's short-lived run).
MODEST="-goroutines=4 -calls=1000 -blocking=3 -sleep-us=20000 -depth=2000 -deep-calls=3"
MODEST="$MODEST -callbacks=10 -callback-calls=5 -locked-calls=100 -cstrings=10"
QUICK="-scenarios=fast,cstring -goroutines=2 -calls=50 -cstrings=3"
# Names: tests/arm64/arm64_test.cpp expects exactly these.
{
  for which in installed oldest; do
    v=$LOCAL_GO
    [ $which = oldest ] && v=$OLDEST
    for mode in default stripped pie; do
      echo "$which-$mode launch $v/$mode/cgocalls $MODEST"
    done
    echo "$which-attach attach $v/default/cgocalls $MODEST"
  done
  echo "installed-short launch $LOCAL_GO/default/cgocalls $QUICK"
  echo "installed-top top $LOCAL_GO/incgo/incgo -blocked 3"
  echo "go1.22-top top go1.22.12/incgo/incgo -blocked 3"
  echo "installed-breakdown breakdown $LOCAL_GO/pwait/pwait"
} >"$IR/cases.txt"
if [ -n "${CGOTRACE_ARM64_ONLY:-}" ]; then  # debugging: a subset of the cases
  grep -E "^(${CGOTRACE_ARM64_ONLY}) " "$IR/cases.txt" >"$IR/cases.only" || die "no case matches"
  mv "$IR/cases.only" "$IR/cases.txt"
fi
(cd "$IR" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$WORK/initramfs.cpio"
log "initramfs $(du -h "$WORK/initramfs.cpio" | cut -f1), $(wc -l <"$IR/cases.txt") cases"

# 5. Boot. The guest powers off when done; the timeout only catches a hang.
RES=$WORK/results
rm -rf "$RES"
mkdir -p "$RES"
cp "$IR/cases.txt" "$RES/cases.txt"
boot=$(date +%s)
set +e
timeout "${CGOTRACE_ARM64_TIMEOUT:-1800}" qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on \
  -smp "$SMP" -m 2048 -display none -monitor none -serial stdio -nic none -no-reboot \
  -kernel "$VMLINUZ" -initrd "$WORK/initramfs.cpio" \
  -append "console=ttyAMA0 panic=-1 loglevel=4 rdinit=/init" \
  -fsdev local,id=results,path="$RES",security_model=none \
  -device virtio-9p-device,fsdev=results,mount_tag=results \
  </dev/null | tee "$WORK/console.log" | grep --line-buffered '^guest:' >&2
qemu=${PIPESTATUS[0]}
set -e
echo "$(($(date +%s) - boot))" >"$RES/vm-seconds"
log "VM ran $(cat "$RES/vm-seconds")s (qemu exit $qemu); console: $WORK/console.log"
[ -f "$RES/complete" ] || die "the VM did not finish its cases (see $WORK/console.log)"
log "done: results in $RES"
