// Events the kernel could not deliver become an alert of their own: `events-lost`, with
// the traps they were for and how many. The kernel counts every drop in total and per
// trapped file (bpf/lib/flood.h); LossReporter takes those counts once a second and
// writes one alert per interval that had losses, to every sink that takes an alert of
// the traps concerned (stdout always), so a flood that overran the ring is never silent. `kive run` and the
// operator both use it. The alert's shape is in docs/alerts.md.

import type { FileKey } from '../kernel/contract.ts';
import type { AlertEnvironment, TrapContext } from './build.ts';
import type { AlertOutput } from './core.ts';

/** What a loss report reads: FileMonitor implements it. */
export interface LossSource {
  takeDrops(): Array<{ key: FileKey; lost: bigint }>;
  counters(): { dropped: bigint };
}

export interface LostTrap {
  'kive-policy-name': string;
  path: string;
  pod: { name: string; namespace: string; container: { id: string; name: string } };
  inode: number;
  device: number;
  /** Events lost for this trap's file in this interval. */
  lost: number;
}

export interface EventsLostAlert {
  'kive-alert-version': 'v1';
  'kive-alert-type': 'events-lost';
  timestamp: string;
  metadata: { 'kernel-id': string };
  node: { name: string };
  /** Every event lost in this interval: the traps' files plus `unattributed`. */
  lost: number;
  traps: LostTrap[];
  /** Lost events whose file the kernel could not record or no trap watches any more. */
  unattributed: number;
}

/** How every events-lost alert line begins (JSON.stringify keeps buildLostAlert's key order). */
export const EVENTS_LOST_PREFIX = '{"kive-alert-version":"v1","kive-alert-type":"events-lost"';

export interface FileLoss {
  key: FileKey;
  /** The traps watching the file now (empty if it was disarmed since). */
  traps: readonly TrapContext[];
  lost: number;
}

/** Pure: the events-lost alert for one interval's losses. */
export function buildLostAlert(files: readonly FileLoss[], unattributed: number, env: AlertEnvironment, wallClockMs: number): EventsLostAlert {
  const traps: LostTrap[] = [];
  let stray = unattributed;
  for (const f of files) {
    if (f.traps.length === 0) stray += f.lost;
    for (const t of f.traps) {
      traps.push({
        'kive-policy-name': t.policyName,
        path: t.path,
        pod: { name: t.podName, namespace: t.podNamespace, container: { id: t.containerId, name: t.containerName } },
        // Inodes past 2^53 lose precision here; the path and policy name the trap anyway.
        inode: Number(f.key.ino),
        device: f.key.dev,
        lost: f.lost,
      });
    }
  }
  return {
    'kive-alert-version': 'v1',
    'kive-alert-type': 'events-lost',
    timestamp: new Date(wallClockMs).toISOString(),
    metadata: { 'kernel-id': env.kernelId },
    node: { name: env.nodeName },
    lost: files.reduce((n, f) => n + f.lost, 0) + unattributed,
    traps,
    unattributed: stray,
  };
}

export interface LossReporterOptions {
  source: LossSource;
  /** The traps watching a file now. */
  trapsFor: (key: FileKey) => readonly TrapContext[];
  env: AlertEnvironment;
  out: AlertOutput;
  log: { error(obj: object, msg: string): void };
  /** How often the kernel's counts are taken. Default 1,000 ms. */
  intervalMs?: number;
  now?: () => number;
}

export class LossReporter {
  readonly #o: LossReporterOptions;
  // Cumulative: a drop counted under its file but not yet in the total when one check
  // ran makes that check's total look short; the next one evens it out.
  #attributed = 0;
  #strayReported = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Events reported lost so far. */
  lost = 0;
  /** events-lost alerts written so far. */
  reports = 0;

  constructor(options: LossReporterOptions) {
    this.#o = options;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.check(), this.#o.intervalMs ?? 1_000);
    this.#timer.unref();
  }

  /** Stops the timer after a last check, so losses just before a stop are reported too. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.check();
  }

  /** Takes the kernel's counts; writes and returns an events-lost alert if any were lost. */
  check(): EventsLostAlert | null {
    const { source, trapsFor, env, out, log } = this.#o;
    // The total first, then the files: the kernel counts a drop under its file before
    // the total, so every drop in the total read here is in the files taken next, unless
    // it had no file (a full drop map, or a race with our delete): that is `unattributed`.
    const dropped = Number(source.counters().dropped);
    const drops = source.takeDrops();
    const files = drops.map((d) => ({ key: d.key, traps: trapsFor(d.key), lost: Number(d.lost) }));
    this.#attributed += files.reduce((n, f) => n + f.lost, 0);
    const stray = Math.max(0, dropped - this.#attributed - this.#strayReported);
    this.#strayReported += stray;
    if (files.length === 0 && stray === 0) return null;
    const alert = buildLostAlert(files, stray, env, (this.#o.now ?? Date.now)());
    this.lost += alert.lost;
    this.reports++;
    const line = JSON.stringify(alert);
    out.emit(line, [...new Set(files.flatMap((f) => f.traps))]);
    out.flush();
    log.error(
      { lost: alert.lost, unattributed: alert.unattributed, traps: alert.traps.map((t) => `${t['kive-policy-name']}:${t.path}=${t.lost}`) },
      'kernel events lost (ring buffer full): events-lost alert written',
    );
    return alert;
  }
}
