#!/bin/busybox sh
# /init of the arm64 test VM (scripts/arm64-vm.sh): runs cgotrace against the
# arm64 fixtures on the arm64 kernel and writes every run's outputs to the
# host's results directory (a 9p share). It judges nothing: the host checks
# the outputs against each fixture's own truth (tests/arm64/arm64_test.cpp), so
# a VM that breaks half-way shows up as missing results, never as a pass.
#
# /cases.txt, one run per line:  NAME MODE BINARY ARGS...
#   MODE launch  cgotrace trace -- BINARY -truth=... ARGS
#   MODE attach  BINARY -wait-signal -truth=... ARGS; cgotrace trace -p PID
#   MODE top     BINARY (incgo) -truth=... ARGS; cgotrace top -p PID --once
/bin/busybox mkdir -p /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing
mount -t bpf bpf /sys/fs/bpf

KVER=$(uname -r)
for m in drivers/virtio/virtio_mmio net/9p/9pnet net/9p/9pnet_virtio fs/netfs/netfs \
  fs/fscache/fscache fs/9p/9p; do
  insmod /lib/modules/$KVER/kernel/$m.ko || echo "guest: insmod $m failed"
done
mkdir -p /results
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results /results; then
  echo "guest: cannot mount the results share"
  poweroff -f
fi
R=/results

echo "$(uname -r) $(uname -m)" >$R/kernel.txt
cat /proc/cpuinfo >$R/cpuinfo.txt
echo "guest: kernel $(uname -r) $(uname -m), $(nproc) CPUs"

# Waits up to $3 seconds for a line starting with $2 in file $1.
wait_line() {
  i=0
  while ! grep -q "^$2" "$1" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt $(($3 * 10)) ] && return 1
    sleep 0.1
  done
}

while read -r name mode bin args; do
  case "$name" in '' | '#'*) continue ;; esac
  d=$R/$name
  mkdir -p $d
  start=$(date +%s)
  echo "guest: $name ($mode $bin) ..."
  case "$mode" in
    launch | breakdown)
      flags=""
      # pwait re-executes itself unless GODEBUG has asyncpreemptoff=1: on
      # this 6.1 kernel an exec of the same file from a thread other than the
      # leader loses the per-PID probes (docs/field-notes-corrections.md).
      envs=""
      if [ "$mode" = breakdown ]; then
        flags=--breakdown
        envs=GODEBUG=asyncpreemptoff=1
      fi
      # shellcheck disable=SC2086
      env $envs timeout 600 cgotrace trace $flags --format jsonl --output $d/events.jsonl -- \
        /fixtures/$bin -truth=$d/truth.json $args >$d/cgotrace.out 2>$d/cgotrace.err
      rc=$?
      echo $rc >$d/cgotrace.rc
      # The verifier's log is what tells an arm64 (or old-kernel) BPF
      # failure apart: keep it when the run failed.
      if [ $rc != 0 ]; then
        # shellcheck disable=SC2086
        timeout 600 cgotrace trace --verbose --format jsonl --output /tmp/verbose.jsonl -- \
          /fixtures/$bin -truth=/tmp/verbose.json $args >/dev/null 2>$d/cgotrace-verbose.err
      fi
      ;;
    attach)
      # shellcheck disable=SC2086
      /fixtures/$bin -wait-signal -truth=$d/truth.json -linger=1s $args \
        >$d/fixture.out 2>$d/fixture.err &
      fpid=$!
      if wait_line $d/fixture.out READY 120; then
        timeout 600 cgotrace trace -p $fpid --format jsonl --output $d/events.jsonl \
          >$d/cgotrace.out 2>$d/cgotrace.err &
        cpid=$!
        if wait_line $d/cgotrace.err "cgotrace: attached" 300; then
          kill -USR1 $fpid
        else
          echo "guest: $name: cgotrace never attached" >>$d/guest.err
          kill -9 $fpid
        fi
        wait $cpid
        echo $? >$d/cgotrace.rc
      else
        echo "guest: $name: fixture never became ready" >>$d/guest.err
        kill -9 $fpid
      fi
      wait $fpid
      echo $? >$d/fixture.rc
      ;;
    top)
      # incgo: its goroutines are in C before cgotrace starts sampling.
      # shellcheck disable=SC2086
      /fixtures/$bin -truth=$d/truth.json $args >$d/fixture.out 2>$d/fixture.err &
      fpid=$!
      if wait_line $d/fixture.out READY 120; then
        timeout 300 cgotrace top -p $fpid --once --format json --interval 500ms \
          >$d/top.json 2>$d/cgotrace.err
        rc=$?
        echo $rc >$d/cgotrace.rc
        if [ $rc != 0 ]; then
          timeout 300 cgotrace top -p $fpid --once --format json --verbose \
            >/dev/null 2>$d/cgotrace-verbose.err
        fi
      else
        echo "guest: $name: fixture never became ready" >>$d/guest.err
      fi
      kill -TERM $fpid
      wait $fpid
      echo $? >$d/fixture.rc
      ;;
    *) echo "guest: unknown mode $mode" >>$d/guest.err ;;
  esac
  echo "$(($(date +%s) - start))" >$d/seconds
  echo "guest: $name done in $(cat $d/seconds)s, cgotrace exit $(cat $d/cgotrace.rc 2>/dev/null)"
done </cases.txt

dmesg >$R/dmesg.txt
echo done >$R/complete
sync
umount /results
poweroff -f
