// `kive run --policy FILE`: the monitor on one host, no cluster. Reads the policies,
// opens the kernel monitor, arms the traps (creating honeytokens), and turns kernel
// events into KiveAlerts on stdout and callbacks until SIGINT/SIGTERM.

import { hostname } from 'node:os';
import type { CallbackOptions } from '../alerts/callback.ts';
import { readCallbackFiles } from './callback-files.ts';
import { Spool } from '../alerts/spool.ts';
import { startAlerting } from '../alerts/core.ts';
import { ProcessCache } from '../alerts/process.ts';
import { nodeAccessorIndex } from '../alerts/accessor.ts';
import type { Accessor } from '../alerts/build.ts';
import { loadPolicyFile } from '../api/v1/load.ts';
import type { KivePolicy } from '../api/v1/types.ts';
import { FileMonitor, type BackendName } from '../kernel/monitor.ts';
import { gapWarning } from '../kernel/backends/index.ts';
import type { Logger } from '../log.ts';
import { readKernelId } from '../runtime/kernel-id.ts';
import { resolveInRoot } from '../runtime/resolve.ts';
import { HostTrapSet } from '../standalone/host-traps.ts';
import { DEFAULT_MAX_TRAPS } from '../kernel/monitor.ts';
import { kernelSource } from '../metrics/kernel.ts';
import { KiveMetrics } from '../metrics/metrics.ts';
import { Readiness, startMetricsServer, type MetricsServer } from '../metrics/server.ts';

export interface RunOptions {
  policyFiles: string[];
  backend: BackendName | 'auto';
  maxTraps?: number;
  /** Kernel aggregation window (MonitorOptions.aggregateWindowMs). */
  aggregateWindowMs?: number;
  nodeName?: string;
  /** stdout's bounded buffer for a slow reader (default: 8 MiB). */
  stdoutBufferBytes?: number;
  /** HMAC key file for X-Kive-Signature (--callback-secret-file). */
  callbackSecretFile?: string;
  /** PEM CA bundle for https callbacks (--callback-ca-file). */
  callbackCaFile?: string;
  callbackRetryForMs?: number;
  /** Callback spool directory (--spool-dir); no spool when absent. */
  spoolDir?: string;
  /** Serve /metrics, /healthz and /readyz here (docs/metrics.md); off when absent. */
  metricsAddress?: { host: string; port: number };
  /** The host's cgroup v2 tree (--cgroup-root); default: where cgroup2 is mounted. */
  cgroupRoot?: string;
  log: Logger;
}

/** On a host there are no pods: an accessor is the host or a container, by its runtime id. */
function accessorsOnHost(cgroupRoot: string | undefined, log: Logger): (cgroupId: bigint) => Accessor {
  const index = nodeAccessorIndex({ cgroupRoot, log });
  return (id) => index.of(id);
}

// Shutdown's time bound (docs/alerts.md, "Delivery"): after SIGTERM the sinks get
// SINK_GRACE_MS to deliver what they hold, in parallel; whatever could still hold the
// process up after that (a stalled stderr, a socket) is cut off at SHUTDOWN_BOUND_MS.
export const SINK_GRACE_MS = 3_000;
export const SHUTDOWN_BOUND_MS = 5_000;

/** Resolves with the exit code once a signal stopped the monitor. */
export async function runCommand(opts: RunOptions): Promise<number> {
  const { log } = opts;
  // 1. Policies first: bad input fails before anything touches the kernel.
  const policies: KivePolicy[] = [];
  for (const file of opts.policyFiles) policies.push(...(await loadPolicyFile(file)));

  const callback = await callbackOptions(opts);
  const env = { kernelId: await readKernelId(), nodeName: opts.nodeName ?? hostname() };

  // 2. The kernel side: load, verify and attach the best (or the chosen) backend.
  const monitor = await FileMonitor.open({
    backend: opts.backend,
    ...(opts.maxTraps !== undefined ? { maxTraps: opts.maxTraps } : {}),
    ...(opts.aggregateWindowMs !== undefined ? { aggregateWindowMs: opts.aggregateWindowMs } : {}),
  });
  // A reader that closes stdout (`kive run | head`) ends stdout, not the monitor, when a
  // trap has a callback: alerts still reach someone. With no callback nothing would, and
  // a monitor that alerts no one must not look alive: stop, exit 1 (docs/alerts.md).
  const hasCallbacks = policies.some((p) => p.spec.traps.some((t) => t.callback !== undefined && t.callback !== ''));
  let stdoutGone!: () => void;
  const stdoutClosed = new Promise<string>((resolve) => (stdoutGone = () => resolve('stdout closed')));
  const metrics = opts.metricsAddress ? new KiveMetrics() : undefined;
  const alerting = startAlerting({
    env,
    // Kive's own look at a trapped file (the inotify watch that follows it checks read
    // permission, which the permission-hook backends report) is not an access.
    // Lazy: the trap set is made below, as it reports file changes to this core.
    traps: { trapsFor: (key) => traps.trapsFor(key) },
    ignore: (e) => e.tgid === process.pid,
    ...(metrics ? { countAlert: (policy: string) => metrics.countAlert(policy), countExcluded: (policy: string, reason: string) => metrics.countExcluded(policy, reason) } : {}),
    processes: new ProcessCache({ accessorOf: accessorsOnHost(opts.cgroupRoot, log) }),
    losses: monitor,
    wallClockMs: (ts) => monitor.wallClockMs(ts),
    log,
    sinks: {
      ...(opts.stdoutBufferBytes !== undefined ? { stdoutBufferBytes: opts.stdoutBufferBytes } : {}),
      callback,
      ...(metrics ? { deliveryLatency: (sink: string) => metrics.deliveryLatency(sink) } : {}),
      onStdoutClosed: () => {
        if (hasCallbacks) log.warn({}, 'still monitoring: alerts keep going to the traps\' callbacks');
        else stdoutGone();
      },
    },
  });
  let code = 0;
  // A move, delete, replace, link, chmod or truncate of a trapped file is an alert too.
  const traps = new HostTrapSet({ map: monitor, resolve: resolveInRoot, log, onFileChange: (c) => alerting.onFileChange(c) });
  const readiness = new Readiness();
  let server: MetricsServer | undefined;
  let untrackKernel = (): void => {};
  try {
    if (metrics && opts.metricsAddress) {
      // Not ready until every trap is armed and the program attached and consuming.
      readiness.set('monitoring', false);
      metrics.trackSinks(alerting.fanout.sinks);
      untrackKernel = metrics.trackKernel(kernelSource(monitor, opts.maxTraps ?? DEFAULT_MAX_TRAPS));
      server = await startMetricsServer(opts.metricsAddress, metrics, readiness);
      log.info({ address: `${server.address.host}:${server.address.port}` }, 'metrics endpoint listening');
    }
    // 3. Arm the traps. A trap that cannot be armed stops the start: never watch less
    //    than asked without saying so.
    traps.armAll(policies);
    // 4. Consume events until a signal arrives; kernel-side losses become events-lost alerts.
    monitor.start((events) => alerting.pipeline.handle(events));
    alerting.losses.start();
    readiness.set('monitoring', true);
    log.info(
      { backend: monitor.backend, attachedTo: monitor.attachedTo, traps: policies.reduce((n, p) => n + p.spec.traps.length, 0), files: traps.armedFiles, heldFiles: traps.heldFiles },
      'monitoring',
    );
    const gaps = gapWarning(monitor.backend, monitor.gaps);
    if (gaps) log.warn({ backend: monitor.backend, evasions: monitor.gaps }, gaps);
    const signal = await waitForStop(stdoutClosed);
    if (signal === 'stdout closed') {
      code = 1;
      log.error({}, 'stdout is closed and no trap has a callback: no one would receive alerts; stopping');
    }
    monitor.drainNow();
    alerting.stopIntake();
    log.info({ signal, alerts: alerting.pipeline.alerts, fileChanges: alerting.fileChanges(), lost: alerting.losses.lost, ...countersForLog(monitor) }, 'stopping');
  } finally {
    // 5. One cleanup path for every exit: detach from the kernel while the sinks get a
    //    bounded time to deliver what they hold. The stop line has the exact outcomes.
    // Never cleared: unref'd, it cannot keep the process alive, and if anything else
    // does (a stalled stderr, a leaked socket) the bound still holds.
    setTimeout(() => {
      log.error({ boundMs: SHUTDOWN_BOUND_MS }, 'shutdown did not finish in time; exiting');
      process.exit(1);
    }, SHUTDOWN_BOUND_MS).unref();
    alerting.stopIntake();
    // The sinks' grace runs while Kive detaches from the kernel, not after it: intake has
    // stopped, and on a slow machine (an emulated kernel) the detach alone can take
    // seconds, which would otherwise come out of the bound.
    const sinksClosed = alerting.close(SINK_GRACE_MS);
    traps.close();
    readiness.set('monitoring', false);
    await server?.close();
    untrackKernel();
    const kernel = countersForLog(monitor);
    await monitor.close();
    const sinks = await sinksClosed;
    log.info(
      {
        alerts: alerting.pipeline.alerts,
        fileChanges: alerting.fileChanges(),
        lostAlerts: alerting.losses.reports,
        unmatched: alerting.pipeline.unmatched,
        excluded: alerting.pipeline.excluded,
        lost: alerting.losses.lost,
        // Each sink under its name (stdout, callbacks, ...): alerts, delivered, dropped,
        // failed (and callbacks' spooled). stdout's alerts = alerts + fileChanges +
        // lostAlerts; callbacks' alerts include those queued again from the spool
        // (docs/alerts.md).
        ...sinks,
        kernel,
      },
      'stopped',
    );
  }
  return code;
}

/** The callback knobs from the flags; a secret or CA file that is unusable stops the start. */
async function callbackOptions(opts: RunOptions): Promise<CallbackOptions> {
  const out: CallbackOptions = {};
  if (opts.callbackRetryForMs !== undefined) out.retryForMs = opts.callbackRetryForMs;
  Object.assign(out, await readCallbackFiles({
    ...(opts.callbackSecretFile !== undefined ? { secretFile: opts.callbackSecretFile } : {}),
    ...(opts.callbackCaFile !== undefined ? { caFile: opts.callbackCaFile } : {}),
  }));
  // Last: it takes the directory's lock. An unsafe directory (a symlink, someone else's,
  // open to others) or one another process holds stops the start (exit 2).
  if (opts.spoolDir !== undefined) out.spool = await Spool.open(opts.spoolDir, { log: opts.log });
  return out;
}

function countersForLog(monitor: FileMonitor): Record<string, string> {
  return Object.fromEntries(Object.entries(monitor.counters()).map(([k, v]) => [k, v.toString()]));
}

/** Waits for SIGINT/SIGTERM, or for `other` (stdout closed with no one else to alert). */
function waitForStop(other: Promise<string>): Promise<string> {
  return new Promise((resolve) => {
    const stop = (sig: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(sig);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    void other.then(stop);
  });
}
