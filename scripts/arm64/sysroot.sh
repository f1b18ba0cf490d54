#!/usr/bin/env bash
# Unpacks what the arm64 VM test needs from Debian bookworm's arm64 archive,
# without touching the host's dpkg database: a private apt configuration
# (its own lists, arm64 only) downloads the packages and `dpkg -x` unpacks
# them.
#   CACHE/<key>/sysroot  cgotrace's library -dev packages and their
#                        dependencies (cross build, and the VM's /lib), plus
#                        a static busybox
#   CACHE/<key>/kernel   Debian's arm64 kernel package (vmlinuz, modules)
# <key> hashes this script (its package list); an existing entry is reused,
# so the first run fixes the package versions and later runs are offline.
#
# Usage: scripts/arm64/sysroot.sh CACHE     prints CACHE/<key> on stdout
set -euo pipefail

# cgotrace's build dependencies (scripts/install-deps.sh "userspace
# libraries"), the C/C++ runtime, and the VM's shell.
PKGS=(
  libbpf-dev libelf-dev libdw-dev zlib1g-dev libcapstone-dev libfmt-dev libcli11-dev
  libprotobuf-dev prometheus-cpp-dev nlohmann-json3-dev
  libc6-dev libstdc++-12-dev
  busybox-static
)
KERNEL_META=linux-image-arm64
SUITES=(
  "http://deb.debian.org/debian bookworm"
  "http://deb.debian.org/debian bookworm-updates"
  "http://deb.debian.org/debian-security bookworm-security"
)

[ $# -eq 1 ] || {
  sed -n '2,14p' "$0" >&2
  exit 2
}
CACHE=$1
KEY=$(sha256sum "$0" | cut -c1-16)
OUT=$CACHE/$KEY
if [ -f "$OUT/complete" ]; then
  echo "$OUT"
  exit 0
fi
log() { echo "arm64-sysroot: $*" >&2; }

rm -rf "$OUT"
APT=$OUT/apt
mkdir -p "$APT"/etc/apt/{sources.list.d,preferences.d,apt.conf.d} "$APT"/var/lib/apt/lists/partial \
  "$APT"/var/cache/apt/archives/partial "$APT"/var/lib/dpkg "$OUT/debs"
touch "$APT/var/lib/dpkg/status"
for s in "${SUITES[@]}"; do
  echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${s% *} ${s#* } main"
done >"$APT/etc/apt/sources.list"
cat >"$APT/apt.conf" <<CONF
Dir "$APT/";
Dir::State::status "$APT/var/lib/dpkg/status";
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
APT::Install-Recommends "false";
APT::Sandbox::User "root";
CONF
export APT_CONFIG=$APT/apt.conf
log "apt-get update (arm64, private lists in $APT)"
apt-get update -qq >&2

# Every package the list needs, recursively (an empty dpkg status: nothing
# counts as installed).
mapfile -t all < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances "${PKGS[@]}" | grep '^[a-z0-9]' | sort -u)
kernel=$(apt-cache depends "$KERNEL_META" | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -1)
[ -n "$kernel" ] || {
  log "cannot resolve $KERNEL_META"
  exit 1
}
log "downloading ${#all[@]} packages and $kernel"
(cd "$OUT/debs" && apt-get download -qq "${all[@]}" "$kernel" >&2)

mkdir -p "$OUT/sysroot" "$OUT/kernel"
for deb in "$OUT"/debs/*.deb; do
  case "$(basename "$deb")" in
    "$kernel"_*) dpkg -x "$deb" "$OUT/kernel" ;;
    *) dpkg -x "$deb" "$OUT/sysroot" ;;
  esac
done
# Debian's -dev symlinks are absolute (libz.so -> /lib/aarch64-linux-gnu/...):
# make them relative so they resolve inside the sysroot and inside the VM.
while IFS= read -r link; do
  target=$(readlink "$link")
  case "$target" in
    /*) ln -sfnr "$OUT/sysroot$target" "$link" ;;
  esac
done < <(find "$OUT/sysroot" -type l)
ls "$OUT"/kernel/boot/vmlinuz-* >/dev/null
(cd "$OUT/debs" && ls) >"$OUT/packages.txt"
rm -rf "$OUT/debs" "$APT"
touch "$OUT/complete"
log "ready: $OUT ($(du -sh "$OUT" | cut -f1))"
echo "$OUT"
