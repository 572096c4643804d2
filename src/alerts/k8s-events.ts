// Alerts as Kubernetes Events on the pod whose container holds the file (the operator's
// loader; `kive run` has no API server, so no recorder and no sink). One Event per alert,
// through the EventRecorder (src/k8s/events.ts), which aggregates repeats of one
// (pod, type, reason, message) into a count and rate-limits per pod as client-go does.
//
// - An access alert: a Warning `FileAccessed` whose message names the trap's path and
//   policy, the container, the operation and the process (binary, comm, uid). It has no
//   pid or arguments, so the same kind of access again raises the count of one Event
//   instead of making a new one (the alert itself has the details).
// - An events-lost alert: a Warning `FileAccessEventsLost` on each pod among its traps,
//   naming only that pod's traps; no counts, so one flood is one Event with a count.
// - Tenancy: the Event lives in the pod's namespace and says nothing the alert's own
//   `pod` section does not: never another pod, namespace, or the accessing process's pod.
// - The hot path pays only for the recorder's rate-limit check: the message is built
//   (and the alert parsed) only when the rate limit lets the Event through.
//
// Outcomes: delivered = the Event was created or its count raised, dropped = refused by
// the rate limit (or handed over after close), failed = the API server refused the
// write, or it was still pending when close()'s grace ran out.

import type { EventRecorder, ObjectReference, RecordOutcome } from '../k8s/events.ts';
import type { TrapContext } from './build.ts';
import { EVENTS_LOST_PREFIX } from './lost.ts';
import { secondsSince, type AlertSink, type LatencyObserver, type SinkFactory, type SinkOutcomes } from './sink.ts';

/** What this sink needs of a recorder. */
export type AlertEventRecorder = Pick<EventRecorder, 'record'>;

export const ACCESS_REASON = 'FileAccessed';
export const LOST_REASON = 'FileAccessEventsLost';
/** Any one field of a message is cut to this many characters (the recorder caps the whole at 1024). */
const MAX_FIELD = 256;
/** Traps named in one events-lost Event. */
const MAX_LOST_TRAPS = 5;

function cut(s: string): string {
  return s.length > MAX_FIELD ? `${s.slice(0, MAX_FIELD - 3)}...` : s;
}

const MAY = [
  [4, 'read'],
  [2, 'write'],
  [8, 'append'],
  [1, 'exec'],
] as const;

/** `open (read)`, `exec`, ...: the operation and the MAY_* bits in words. */
export function accessWords(operation: string, mask: number): string {
  const bits = MAY.filter(([bit]) => (mask & bit) !== 0).map(([, word]) => word);
  return bits.length > 0 ? `${operation} (${bits.join(', ')})` : operation;
}

interface AlertFields {
  metadata?: { operation?: string; mask?: number };
  process?: { binary?: string; comm?: string; uid?: number; known?: boolean };
}

/** The FileAccessed message for one alert of `trap` (`line`: the alert's JSON). */
export function accessMessage(trap: TrapContext, line: string): string {
  let a: AlertFields = {};
  try {
    a = JSON.parse(line) as AlertFields;
  } catch {
    // An alert line is always JSON; if not, the Event still names the file and policy.
  }
  const p = a.process ?? {};
  const who = p.binary || p.comm ? `${cut(p.binary || p.comm || '')} (comm ${cut(p.comm ?? '')}, uid ${p.uid ?? '?'})` : 'an unknown process';
  const what = accessWords(a.metadata?.operation ?? 'access', a.metadata?.mask ?? 0);
  return `${cut(trap.path)} (KivePolicy ${cut(trap.policyName)}) in container ${cut(trap.containerName)}: ${what} by ${who}`;
}

/** The FileAccessEventsLost message for the traps of one pod. */
export function lostMessage(traps: readonly TrapContext[]): string {
  const named = traps.slice(0, MAX_LOST_TRAPS).map((t) => `${cut(t.path)} (KivePolicy ${cut(t.policyName)}, container ${cut(t.containerName)})`);
  const more = traps.length > MAX_LOST_TRAPS ? ` and ${traps.length - MAX_LOST_TRAPS} more` : '';
  const node = traps[0]?.nodeName ? ` on node ${cut(traps[0].nodeName)}` : '';
  return `file access events were lost${node} (the kernel's ring buffer was full): accesses to ${named.join(', ')}${more} may not have been alerted; the node's events-lost alert has the counts`;
}

function podOf(t: TrapContext): ObjectReference {
  return { apiVersion: 'v1', kind: 'Pod', name: t.podName, namespace: t.podNamespace, ...(t.podUid ? { uid: t.podUid } : {}) };
}

export class KubeEventSink implements AlertSink {
  readonly name = 'k8s-events';
  given = 0;
  readonly outcomes: SinkOutcomes = { delivered: 0, dropped: 0, failed: 0 };
  readonly #recorder: AlertEventRecorder;
  readonly #latency: LatencyObserver | undefined;
  #pending = 0;
  #closed = false;
  #idle: (() => void) | undefined;

  constructor(recorder: AlertEventRecorder, options: { latency?: LatencyObserver } = {}) {
    this.#recorder = recorder;
    this.#latency = options.latency;
  }

  /** Traps of a pod: an Event needs an object to be on. */
  takes(trap: TrapContext | null): boolean {
    return trap !== null && trap.podName !== '' && trap.podNamespace !== '';
  }

  push(line: string, traps: readonly TrapContext[], originNs: bigint = process.hrtime.bigint()): void {
    if (line.startsWith(EVENTS_LOST_PREFIX)) {
      const byPod = new Map<string, TrapContext[]>();
      for (const t of traps) {
        const key = `${t.podNamespace}/${t.podName}`;
        const list = byPod.get(key);
        if (list) list.push(t);
        else byPod.set(key, [t]);
      }
      for (const list of byPod.values()) this.#record(podOf(list[0]!), LOST_REASON, () => lostMessage(list), originNs);
      return;
    }
    // The pipeline hands one trap per access alert.
    for (const t of traps) this.#record(podOf(t), ACCESS_REASON, () => accessMessage(t, line), originNs);
  }

  flush(): void {}

  #record(pod: ObjectReference, reason: string, message: () => string, originNs: bigint): void {
    this.given++;
    if (this.#closed) {
      this.outcomes.dropped++;
      return;
    }
    this.#pending++;
    this.#recorder.record(pod, 'Warning', reason, message, (outcome) => this.#done(outcome, originNs));
  }

  #done(outcome: RecordOutcome, originNs: bigint): void {
    if (this.#pending === 0) return; // after close() gave up on it: already counted as failed
    this.#pending--;
    if (outcome === 'created' || outcome === 'aggregated') {
      this.outcomes.delivered++;
      this.#latency?.(secondsSince(originNs));
    } else if (outcome === 'rate-limited') this.outcomes.dropped++;
    else this.outcomes.failed++;
    if (this.#pending === 0) this.#idle?.();
  }

  async close(graceMs: number): Promise<SinkOutcomes> {
    this.#closed = true;
    if (this.#pending > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((r) => (this.#idle = r)), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      this.outcomes.failed += this.#pending;
      this.#pending = 0;
    }
    return { ...this.outcomes };
  }
}

export const kubeEventSinkFactory: SinkFactory = (ctx) =>
  ctx.recorder === undefined ? undefined : new KubeEventSink(ctx.recorder, ctx.deliveryLatency !== undefined ? { latency: ctx.deliveryLatency('k8s-events') } : {});
