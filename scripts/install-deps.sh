#!/usr/bin/env bash
# Installs every Debian package cgotrace needs to build, test and run its demo.
# Idempotent; run as root (CI and the README's first command call it).
set -euo pipefail

PKGS=(
  # build
  cmake ninja-build g++ pkg-config make
  # BPF toolchain: clang compiles bpf/*.bpf.c, bpftool makes skeletons
  clang llvm bpftool libbpf-dev linux-libc-dev
  # userspace libraries
  libelf-dev libdw-dev zlib1g-dev libcapstone-dev libfmt-dev libcli11-dev
  libprotobuf-dev protobuf-compiler libgtest-dev libgmock-dev nlohmann-json3-dev
  prometheus-cpp-dev libbpfcc-dev
  # lint
  clang-format clang-tidy
  # tests: exporter e2e (real Prometheus, manifest checks), report views in a
  # real browser, arm64 cross analysis
  prometheus python3-yaml chromium
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross linux-libc-dev-arm64-cross
  # tests: the arm64 live tier (scripts/arm64-vm.sh): cross build, VM, initramfs
  g++-aarch64-linux-gnu qemu-system-arm cpio
  # misc tools the tests call
  util-linux procps python3 curl
  # fuzzing: libFuzzer and the sanitizer runtimes for clang (tests/fuzz);
  # GNU time for the stat memory benchmark
  libclang-rt-14-dev time
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: must run as root (apt-get install)" >&2
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# tracefs is where the kernel exposes uprobe events; some VMs do not mount it.
if [ ! -d /sys/kernel/tracing/events ] && ! mountpoint -q /sys/kernel/tracing; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi
