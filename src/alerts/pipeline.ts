// Kernel events in, alerts out. One call per batch of events: each event becomes one
// alert per trap that watches its file (two traps on one file give two alerts), written
// to stdout and, when the trap has one, to its callback. The trap index is injected:
// `kive run` and the operator's loader each keep their own.
//
// Counting: every alert built goes to stdout (`alerts`), and those of traps with a
// callback also to the callback sink (`callbackAlerts`). Each sink accounts for each
// alert it was given (delivered, dropped or failed: sink.ts); the other writers of
// alerts (file changes, events-lost) are counted by whoever owns them (src/cli/run.ts).

import type { AccessEvent, AlertEnvironment, TrapContext } from './build.ts';
import type { CallbackSink } from './callback.ts';
import type { ProcessCache, ProcessEventFields } from './process.ts';
import { serializeAlert } from './serialize.ts';
import type { AlertLineSink } from './stdout.ts';

export type PipelineEvent = AccessEvent & ProcessEventFields & { tsNs: bigint };

export interface AlertPipelineOptions {
  env: AlertEnvironment;
  /** The traps watching the event's file right now; empty if it was just disarmed. */
  trapsFor: (event: PipelineEvent) => readonly TrapContext[];
  processes: ProcessCache;
  stdout: AlertLineSink;
  callbacks?: CallbackSink;
  wallClockMs: (tsNs: bigint) => number;
}

export class AlertPipeline {
  readonly #o: AlertPipelineOptions;
  /** Alerts built, each handed to stdout. */
  alerts = 0;
  /** Of those, alerts also handed to the callback sink. */
  callbackAlerts = 0;
  /** Events whose file no trap watches any more (a race with disarming, not a loss). */
  unmatched = 0;

  constructor(options: AlertPipelineOptions) {
    this.#o = options;
  }

  handle(events: readonly PipelineEvent[]): void {
    const { env, trapsFor, processes, stdout, callbacks, wallClockMs } = this.#o;
    for (const event of events) {
      const traps = trapsFor(event);
      if (traps.length === 0) {
        this.unmatched++;
        continue;
      }
      const process = processes.lookup(event);
      const time = wallClockMs(event.tsNs);
      for (const trap of traps) {
        const line = serializeAlert(trap, event, process, env, time);
        this.alerts++;
        stdout.pushLine(line);
        if (trap.callback !== undefined && trap.callback !== '' && callbacks !== undefined) {
          this.callbackAlerts++;
          callbacks.send(trap.callback, line);
        }
      }
    }
    stdout.flush();
  }
}
