// The alerting core: the one place where kernel events, kernel losses and file changes
// become alerts and reach the sinks. `kive run` and the operator's loader both call
// startAlerting(), so what they alert on, and how they shut down, cannot drift apart.
//
// Fan-out: an alert is serialized once, given its `alert-id` (alert-id.ts), and pushed to each registered sink (sinks.ts) that
// takes it. Shutdown: close(graceMs) closes every sink in parallel with the same grace
// period, so the whole core is bounded by it (docs/alerts.md, "Shutdown is bounded").

import { addAlertId } from './alert-id.ts';
import type { FileKey } from '../kernel/contract.ts';
import type { AlertEnvironment, TrapContext } from './build.ts';
import { LossReporter, type LossSource } from './lost.ts';
import { AlertPipeline, type PipelineEvent } from './pipeline.ts';
import type { ProcessCache } from './process.ts';
import type { AlertSink, SinkContext, SinkFactory, SinkLogger, SinkOutcomes } from './sink.ts';
import { SINKS } from './sinks.ts';
import { fileChangeAlert, type FileChange } from '../standalone/file-changes.ts';
import type { ExclusionReason } from '../traps/exclude.ts';

/** Where built alerts go: every sink that takes them. */
export interface AlertOutput {
  /** `originNs`: the kernel event's timestamp (CLOCK_MONOTONIC), or now when omitted (sink.ts). */
  emit(line: string, traps: readonly TrapContext[], originNs?: bigint): void;
  flush(): void;
}

export class Fanout implements AlertOutput {
  readonly sinks: readonly AlertSink[];
  constructor(sinks: readonly AlertSink[]) {
    this.sinks = sinks;
  }

  /** Gives `line` its alert-id and hands it to every sink that takes one of `traps`. */
  emit(json: string, traps: readonly TrapContext[], originNs: bigint = process.hrtime.bigint()): void {
    const line = addAlertId(json);
    for (const sink of this.sinks) {
      const mine = traps.filter((t) => sink.takes(t));
      if (mine.length > 0 || (traps.length === 0 && sink.takes(null))) {
        sink.push(line, mine, originNs);
      }
    }
  }

  flush(): void {
    for (const sink of this.sinks) sink.flush();
  }
}

export interface AlertingOptions {
  env: AlertEnvironment;
  /** The traps watching a file right now, by its key (kernel events and loss reports). */
  traps: { trapsFor(key: FileKey): readonly TrapContext[] };
  /** An event that is no access to alert on (kive run: its own look at a trapped file). */
  ignore?: (event: PipelineEvent) => boolean;
  /** Called once per alert built, with its trap's policy (the per-policy metric). */
  countAlert?: (policyName: string) => void;
  /** Called once per access a trap's exclusions matched (src/traps/exclude.ts). */
  countExcluded?: (policyName: string, reason: ExclusionReason) => void;
  processes: ProcessCache;
  losses: LossSource;
  wallClockMs: (tsNs: bigint) => number;
  log: SinkLogger;
  /** What the sink factories get (the logger is added). */
  sinks?: Omit<SinkContext, 'log'>;
  /** The registry; tests pass their own. */
  registry?: readonly SinkFactory[];
}

/** Per sink, by name: what it was given and what became of it. */
export type SinkTotals = Record<string, SinkOutcomes & { alerts: number }>;

export interface Alerting {
  readonly pipeline: AlertPipeline;
  readonly losses: LossReporter;
  readonly fanout: Fanout;
  /** Counts of file-change alerts written (kive run's inotify watch). */
  readonly fileChanges: () => number;
  onFileChange(change: FileChange): void;
  /** Takes the last kernel losses and reports them: after the last drain, before the monitor closes. */
  stopIntake(): void;
  /** Closes every sink within `graceMs`; the outcomes per sink, by name. */
  close(graceMs: number): Promise<SinkTotals>;
}

export function startAlerting(o: AlertingOptions): Alerting {
  const sinks: AlertSink[] = [];
  for (const make of o.registry ?? SINKS) {
    const sink = make({ ...o.sinks, log: o.log });
    if (sink !== undefined) sinks.push(sink);
  }
  const fanout = new Fanout(sinks);
  const trapsFor = (e: PipelineEvent): readonly TrapContext[] => (o.ignore?.(e) ? [] : o.traps.trapsFor(e));
  const pipeline = new AlertPipeline({
    env: o.env,
    trapsFor,
    processes: o.processes,
    out: fanout,
    wallClockMs: o.wallClockMs,
    ...(o.countAlert ? { onAlert: (t: TrapContext) => o.countAlert!(t.policyName) } : {}),
    ...(o.countExcluded ? { onExcluded: (t: TrapContext, reason: ExclusionReason) => o.countExcluded!(t.policyName, reason) } : {}),
  });
  const losses = new LossReporter({ source: o.losses, trapsFor: (key) => o.traps.trapsFor(key), env: o.env, out: fanout, log: o.log });
  let fileChanges = 0;
  let closed: Promise<SinkTotals> | undefined;
  return {
    pipeline,
    losses,
    fanout,
    fileChanges: () => fileChanges,
    onFileChange(change) {
      fileChanges++;
      fanout.emit(JSON.stringify(fileChangeAlert(change, o.env, Date.now())), [change.trap]);
      fanout.flush();
    },
    stopIntake() {
      losses.stop();
    },
    close(graceMs) {
      // No last loss check here: the kernel monitor may be closed by now (stopIntake()
      // is for that, before the monitor closes).
      closed ??= (async () => {
        const outcomes = await Promise.all(sinks.map((s) => s.close(graceMs)));
        return Object.fromEntries(sinks.map((s, i) => [s.name, { alerts: s.given, ...(outcomes[i] as SinkOutcomes) }]));
      })();
      return closed;
    },
  };
}
