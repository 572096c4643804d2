// `kive run --policy FILE`: the monitor on one host, no cluster. Reads the policies,
// opens the kernel monitor, arms the traps (creating honeytokens), and turns kernel
// events into KiveAlerts on stdout and callbacks until SIGINT/SIGTERM.

import { hostname } from 'node:os';
import { AlertPipeline } from '../alerts/pipeline.ts';
import { CallbackSink } from '../alerts/callback.ts';
import { ProcessCache } from '../alerts/process.ts';
import { NdjsonWriter } from '../alerts/stdout.ts';
import { loadPolicyFile } from '../api/v1/load.ts';
import type { KivePolicy } from '../api/v1/types.ts';
import { FileMonitor, type BackendName } from '../kernel/monitor.ts';
import type { Logger } from '../log.ts';
import { readKernelId } from '../runtime/kernel-id.ts';
import { resolveInRoot } from '../runtime/resolve.ts';
import { fileChangeAlert, type FileChange } from '../standalone/file-changes.ts';
import { HostTrapSet } from '../standalone/host-traps.ts';

export interface RunOptions {
  policyFiles: string[];
  backend: BackendName | 'auto';
  maxTraps?: number;
  nodeName?: string;
  log: Logger;
}

/** Resolves with the exit code once a signal stopped the monitor. */
export async function runCommand(opts: RunOptions): Promise<number> {
  const { log } = opts;
  // 1. Policies first: bad input fails before anything touches the kernel.
  const policies: KivePolicy[] = [];
  for (const file of opts.policyFiles) policies.push(...(await loadPolicyFile(file)));

  const env = { kernelId: await readKernelId(), nodeName: opts.nodeName ?? hostname() };

  // 2. The kernel side: load, verify and attach the best (or the chosen) backend.
  const monitor = await FileMonitor.open({
    backend: opts.backend,
    ...(opts.maxTraps !== undefined ? { maxTraps: opts.maxTraps } : {}),
  });
  const stdout = new NdjsonWriter(process.stdout, {
    onDrop: (n) => log.error({ dropped: n }, 'stdout is not keeping up; alerts dropped'),
  });
  const callbacks = new CallbackSink({ log });
  let fileChanges = 0;
  // A move, delete, replace, link, chmod or truncate of a trapped file is an alert too.
  const onFileChange = (change: FileChange): void => {
    const line = JSON.stringify(fileChangeAlert(change, env, Date.now()));
    fileChanges++;
    stdout.pushLine(line);
    stdout.flush();
    if (change.trap.callback) callbacks.send(change.trap.callback, line);
  };
  const traps = new HostTrapSet({ map: monitor, resolve: resolveInRoot, log, onFileChange });
  try {
    // 3. Arm the traps. A trap that cannot be armed stops the start: never watch less
    //    than asked without saying so.
    traps.armAll(policies);
    const pipeline = new AlertPipeline({
      env,
      // Kive's own look at a trapped file (the inotify watch that follows it checks read
      // permission, which the permission-hook backends report) is not an access.
      trapsFor: (e) => (e.tgid === process.pid ? [] : traps.trapsFor(e)),
      processes: new ProcessCache(),
      stdout,
      callbacks,
      wallClockMs: (ts) => monitor.wallClockMs(ts),
    });
    // 4. Consume events until a signal arrives.
    monitor.start((events) => pipeline.handle(events));
    log.info(
      { backend: monitor.backend, attachedTo: monitor.attachedTo, traps: policies.reduce((n, p) => n + p.spec.traps.length, 0), files: traps.armedFiles, heldFiles: traps.heldFiles },
      'monitoring',
    );
    const signal = await waitForStop(monitor, log);
    log.info({ signal, alerts: pipeline.alerts, fileChanges, ...countersForLog(monitor) }, 'stopping');
  } finally {
    // 5. One cleanup path for every exit: detach from the kernel, flush what we have.
    traps.close();
    await monitor.close();
    await callbacks.close();
    await stdout.drain();
  }
  return 0;
}

function countersForLog(monitor: FileMonitor): { emitted: string; dropped: string } {
  const c = monitor.counters();
  return { emitted: c.emitted.toString(), dropped: c.dropped.toString() };
}

/** Waits for SIGINT/SIGTERM, reporting kernel-side drops as they happen. */
function waitForStop(monitor: FileMonitor, log: Logger): Promise<string> {
  let reportedDrops = 0n;
  const watchDrops = setInterval(() => {
    const { dropped } = monitor.counters();
    if (dropped > reportedDrops) {
      log.error({ dropped: dropped.toString(), new: (dropped - reportedDrops).toString() }, 'kernel ring buffer was full: events dropped');
      reportedDrops = dropped;
    }
  }, 1_000);
  return new Promise((resolve) => {
    const stop = (sig: string) => {
      clearInterval(watchDrops);
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
