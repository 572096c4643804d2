// Kernel events in, alerts out. One call per batch of events: each event becomes one
// alert per trap that watches its file (two traps on one file give two alerts), written
// to every sink that takes it (core.ts). The trap index is injected: `kive run` and the
// operator's loader each keep their own.
//
// Counting: `alerts` is every alert built, `excluded` every (event, trap) a trap's
// exclusions matched (src/traps/exclude.ts): counted, not alerted. Each sink accounts for
// each alert it was given (delivered, dropped or failed: sink.ts).

import { tenantView, type AccessEvent, type AlertEnvironment, type TrapContext } from './build.ts';
import type { AlertOutput } from './core.ts';
import type { ProcessCache, ProcessEventFields } from './process.ts';
import { serializeAlert } from './serialize.ts';
import { exclusionOf, type ExclusionReason } from '../traps/exclude.ts';

export type PipelineEvent = AccessEvent & ProcessEventFields & { tsNs: bigint };

export interface AlertPipelineOptions {
  env: AlertEnvironment;
  /** The traps watching the event's file right now; empty if it was just disarmed. */
  trapsFor: (event: PipelineEvent) => readonly TrapContext[];
  processes: ProcessCache;
  out: AlertOutput;
  wallClockMs: (tsNs: bigint) => number;
  /** Called once per alert built (the per-policy metric). */
  onAlert?: (trap: TrapContext) => void;
  /** Called once per access a trap's exclusions matched. */
  onExcluded?: (trap: TrapContext, reason: ExclusionReason) => void;
}

export class AlertPipeline {
  readonly #o: AlertPipelineOptions;
  /** Alerts built, each handed to stdout. */
  alerts = 0;
  /** Events whose file no trap watches any more (a race with disarming, not a loss). */
  unmatched = 0;
  /** (event, trap) pairs not alerted because the trap excludes the accessor. */
  excluded = 0;

  constructor(options: AlertPipelineOptions) {
    this.#o = options;
  }

  handle(events: readonly PipelineEvent[]): void {
    const { env, trapsFor, processes, out, wallClockMs, onAlert, onExcluded } = this.#o;
    for (const event of events) {
      const traps = trapsFor(event);
      if (traps.length === 0) {
        this.unmatched++;
        continue;
      }
      const details = processes.lookup(event);
      const time = wallClockMs(event.tsNs);
      for (const trap of traps) {
        const process = tenantView(trap, details);
        const reason = trap.exclude === undefined ? undefined : exclusionOf(trap, process, time);
        if (reason !== undefined) {
          this.excluded++;
          onExcluded?.(trap, reason);
          continue;
        }
        const line = serializeAlert(trap, event, process, env, time);
        this.alerts++;
        onAlert?.(trap);
        out.emit(line, [trap], event.tsNs);
      }
    }
    out.flush();
  }
}
