// `kive run --policy FILE`: the monitor on one host, no cluster. Reads the policies,
// opens the kernel monitor, arms the traps (creating honeytokens), and turns kernel
// events into KiveAlerts on stdout and callbacks until SIGINT/SIGTERM.

import { hostname } from 'node:os';
import { AlertPipeline } from '../alerts/pipeline.ts';
import { CallbackSink } from '../alerts/callback.ts';
import { LossReporter } from '../alerts/lost.ts';
import { ProcessCache } from '../alerts/process.ts';
import { NdjsonWriter } from '../alerts/stdout.ts';
import { loadPolicyFile } from '../api/v1/load.ts';
import type { KivePolicy } from '../api/v1/types.ts';
import { FileMonitor, type BackendName } from '../kernel/monitor.ts';
import type { Logger } from '../log.ts';
import { readKernelId } from '../runtime/kernel-id.ts';
import { resolveInRoot } from '../runtime/resolve.ts';
import { HostTrapSet } from '../standalone/host-traps.ts';

export interface RunOptions {
  policyFiles: string[];
  backend: BackendName | 'auto';
  maxTraps?: number;
  /** Kernel aggregation window (MonitorOptions.aggregateWindowMs). */
  aggregateWindowMs?: number;
  nodeName?: string;
  log: Logger;
}

/** Resolves with the exit code once a signal stopped the monitor. */
export async function runCommand(opts: RunOptions): Promise<number> {
  const { log } = opts;
  // 1. Policies first: bad input fails before anything touches the kernel.
  const policies: KivePolicy[] = [];
  for (const file of opts.policyFiles) policies.push(...(await loadPolicyFile(file)));

  // 2. The kernel side: load, verify and attach the best (or the chosen) backend.
  const monitor = await FileMonitor.open({
    backend: opts.backend,
    ...(opts.maxTraps !== undefined ? { maxTraps: opts.maxTraps } : {}),
    ...(opts.aggregateWindowMs !== undefined ? { aggregateWindowMs: opts.aggregateWindowMs } : {}),
  });
  const nodeName = opts.nodeName ?? hostname();
  const traps = new HostTrapSet({ map: monitor, resolve: resolveInRoot, log });
  const stdout = new NdjsonWriter(process.stdout, {
    onDrop: (n) => log.error({ dropped: n }, 'stdout is not keeping up; alerts dropped'),
  });
  const callbacks = new CallbackSink({ log });
  let losses: LossReporter | undefined;
  try {
    // 3. Arm the traps. A trap that cannot be armed stops the start: never watch less
    //    than asked without saying so.
    traps.armAll(policies);
    const env = { kernelId: await readKernelId(), nodeName };
    const pipeline = new AlertPipeline({
      env,
      trapsFor: (e) => traps.trapsFor(e),
      processes: new ProcessCache(),
      stdout,
      callbacks,
      wallClockMs: (ts) => monitor.wallClockMs(ts),
    });
    // 4. Consume events until a signal arrives; kernel-side losses become events-lost alerts.
    losses = new LossReporter({ source: monitor, trapsFor: (key) => traps.trapsFor(key), env, stdout, callbacks, log });
    monitor.start((events) => pipeline.handle(events));
    losses.start();
    log.info(
      { backend: monitor.backend, attachedTo: monitor.attachedTo, traps: policies.reduce((n, p) => n + p.spec.traps.length, 0), files: traps.armedFiles },
      'monitoring',
    );
    const signal = await waitForStop();
    monitor.drainNow();
    losses.stop();
    log.info({ signal, alerts: pipeline.alerts, lost: losses.lost, ...countersForLog(monitor) }, 'stopping');
  } finally {
    // 5. One cleanup path for every exit: detach from the kernel, flush what we have.
    losses?.stop();
    traps.close();
    await monitor.close();
    await callbacks.close();
    await stdout.drain();
  }
  return 0;
}

function countersForLog(monitor: FileMonitor): Record<string, string> {
  return Object.fromEntries(Object.entries(monitor.counters()).map(([k, v]) => [k, v.toString()]));
}

/** Waits for SIGINT/SIGTERM. */
function waitForStop(): Promise<string> {
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
  });
}
