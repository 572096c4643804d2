// Kive's Prometheus metrics, one registry per process (docs/metrics.md lists each one).
// Two kinds of source:
//  - pushed: the controller layer, the leader elector and the alert path call the
//    recording methods as things happen (src/k8s/controller.ts's ControllerMetrics);
//  - pulled: counters the kernel or a sink already keeps (FileMonitor.counters(), map
//    sizes, SinkOutcomes, bpf_prog_info run time) are read at scrape time, so they cannot
//    drift from the numbers the stop line prints.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ControllerMetrics, ReconcileOutcome } from '../k8s/controller.ts';
import type { LeaderMetrics } from '../k8s/leader.ts';
import { CallbackSink } from '../alerts/callback.ts';
import type { AlertSink, LatencyObserver, SinkOutcomes } from '../alerts/sink.ts';

/** A recorder's counts (src/k8s/events.ts EventRecorder satisfies it). */
export interface EventCounts {
  readonly created: number;
  readonly aggregated: number;
  /** Refused by the rate limit. */
  readonly dropped: number;
  readonly failed: number;
}

/** Callback queue fill per destination (CallbackSink.queuedPerDestination). */
export type QueueSource = () => ReadonlyMap<string, { entries: number; bytes: number }>;

/** Upper bounds of the delivery latency histogram, seconds: sub-millisecond stdout up to callbacks retried for minutes. */
export const DELIVERY_LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600];

/** What a loaded eBPF program exposes to metrics (FileMonitor satisfies it). */
export interface KernelSource {
  readonly backend: string;
  counters(): Record<string, bigint>;
  /** Traps in the kernel map now, and the map's capacity. */
  mapEntries(): { entries: number; capacity: number };
  /** Per-program run time; zero unless kernel.bpf_stats_enabled=1. */
  programStats(): Array<{ name: string; runTimeNs: bigint; runCount: bigint }>;
}

type Remove = () => void;

function track<T>(set: Set<T>, item: T): Remove {
  set.add(item);
  return () => set.delete(item);
}

export class KiveMetrics implements ControllerMetrics, LeaderMetrics {
  readonly registry = new Registry();
  readonly #kernels = new Set<KernelSource>();
  readonly #sinks = new Set<{ sink: string; outcomes: () => SinkOutcomes }>();
  readonly #queues = new Set<{ controller: string; depth: () => number }>();
  readonly #callbackQueues = new Set<QueueSource>();
  readonly #recorders = new Set<{ recorder: string; counts: EventCounts }>();
  readonly #latency: Histogram<'sink'>;
  readonly #reconciles: Counter<'controller' | 'result'>;
  readonly #reconcileSeconds: Histogram<'controller'>;
  readonly #reconcileErrors: Counter<'controller'>;
  readonly #leader: Gauge<'lease'>;
  readonly #alerts: Counter<'policy'>;
  readonly #excluded: Counter<'policy' | 'reason'>;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'kive_' });
    const kernels = this.#kernels;
    const sinks = this.#sinks;
    const queues = this.#queues;
    const callbackQueues = this.#callbackQueues;
    const recorders = this.#recorders;
    // Summed over sources: two callback sinks (two loaders in one process) naming one destination are one series.
    const callbackFill = (what: 'entries' | 'bytes') =>
      function (this: Gauge<'destination'>) {
        this.reset();
        const sum = new Map<string, number>();
        for (const q of callbackQueues) for (const [d, v] of q()) sum.set(d, (sum.get(d) ?? 0) + v[what]);
        for (const [destination, v] of sum) this.set({ destination }, v);
      };
    new Gauge({
      name: 'kive_callback_queue_alerts',
      help: 'Callback alerts queued or in flight, per destination (the URL without credentials or query)',
      labelNames: ['destination'],
      registers,
      collect: callbackFill('entries'),
    });
    new Gauge({
      name: 'kive_callback_queue_bytes',
      help: 'Bytes of the callback alerts queued or in flight, per destination (the URL without credentials or query)',
      labelNames: ['destination'],
      registers,
      collect: callbackFill('bytes'),
    });
    new Counter({
      name: 'kive_k8s_events_total',
      help: 'Kubernetes Events recorded, per recorder (policies: KivePolicy life cycle; alerts: FileAccessed on pods) by result (created, aggregated into an existing Event\'s count, rate_limited, failed)',
      labelNames: ['recorder', 'result'],
      registers,
      collect() {
        this.reset();
        for (const r of recorders) {
          const c = r.counts;
          for (const [result, n] of [['created', c.created], ['aggregated', c.aggregated], ['rate_limited', c.dropped], ['failed', c.failed]] as const) this.inc({ recorder: r.recorder, result }, n);
        }
      },
    });
    // Mirrors of counters kept elsewhere: reset and set to the source's value on each scrape.
    new Counter({
      name: 'kive_kernel_events_total',
      help: 'Kernel file access events by backend and outcome (emitted to the ring buffer, dropped, aggregated into a later event, ...)',
      labelNames: ['backend', 'counter'],
      registers,
      collect() {
        this.reset();
        for (const k of kernels) for (const [c, v] of Object.entries(k.counters())) this.inc({ backend: k.backend, counter: c }, Number(v));
      },
    });
    new Gauge({
      name: 'kive_trap_map_entries',
      help: 'Files armed in the kernel trap map',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const k of kernels) this.set({ backend: k.backend }, k.mapEntries().entries);
      },
    });
    new Gauge({
      name: 'kive_trap_map_capacity',
      help: 'Capacity of the kernel trap map (--max-traps)',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const k of kernels) this.set({ backend: k.backend }, k.mapEntries().capacity);
      },
    });
    new Counter({
      name: 'kive_bpf_program_run_seconds_total',
      help: 'Time spent in each eBPF program (counts only while kernel.bpf_stats_enabled=1)',
      labelNames: ['backend', 'program'],
      registers,
      collect() {
        this.reset();
        for (const k of kernels) for (const p of k.programStats()) this.inc({ backend: k.backend, program: p.name }, Number(p.runTimeNs) / 1e9);
      },
    });
    new Counter({
      name: 'kive_bpf_program_runs_total',
      help: 'Runs of each eBPF program (counts only while kernel.bpf_stats_enabled=1)',
      labelNames: ['backend', 'program'],
      registers,
      collect() {
        this.reset();
        for (const k of kernels) for (const p of k.programStats()) this.inc({ backend: k.backend, program: p.name }, Number(p.runCount));
      },
    });
    new Counter({
      name: 'kive_sink_alerts_total',
      help: 'Alerts per sink by outcome (delivered, dropped, failed, spooled; docs/alerts.md)',
      labelNames: ['sink', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const s of sinks) for (const [outcome, n] of Object.entries(s.outcomes())) this.inc({ sink: s.sink, outcome }, n);
      },
    });
    new Gauge({
      name: 'kive_workqueue_depth',
      help: 'Keys waiting in a controller\'s work queue',
      labelNames: ['controller'],
      registers,
      collect() {
        this.reset();
        for (const q of queues) this.set({ controller: q.controller }, q.depth());
      },
    });
    this.#reconciles = new Counter({ name: 'kive_reconcile_total', help: 'Reconciles per controller by result (success, requeue, error, terminal)', labelNames: ['controller', 'result'], registers });
    this.#reconcileErrors = new Counter({ name: 'kive_reconcile_errors_total', help: 'Reconciles that threw (retried or terminal)', labelNames: ['controller'], registers });
    this.#reconcileSeconds = new Histogram({
      name: 'kive_reconcile_duration_seconds',
      help: 'Time per reconcile',
      labelNames: ['controller'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    });
    this.#leader = new Gauge({ name: 'kive_leader', help: '1 while this process holds the Lease, else 0', labelNames: ['lease'], registers });
    this.#alerts = new Counter({ name: 'kive_alerts_total', help: 'File access alerts built, per policy name', labelNames: ['policy'], registers });
    this.#excluded = new Counter({
      name: 'kive_alerts_excluded_total',
      help: "Accesses a trap's exclusions matched (no alert), per policy name and reason (binary, container, planting-window)",
      labelNames: ['policy', 'reason'],
      registers,
    });
    this.#latency = new Histogram({
      name: 'kive_alert_delivery_latency_seconds',
      help:
        'Per sink, time from the kernel event\'s timestamp (CLOCK_MONOTONIC; events-lost and file-change alerts: from when the alert was built) to delivery: ' +
        'stdout: write(2) accepted the line\'s newline; callbacks: the 2xx answer (retries included); k8s-events: the API server took the Event',
      labelNames: ['sink'],
      buckets: DELIVERY_LATENCY_BUCKETS,
      registers,
    });
  }

  /** The observer a sink reports its delivered alerts' latency to (one labelled child: no per-alert lookup). */
  deliveryLatency(sink: string): LatencyObserver {
    const child = this.#latency.labels({ sink });
    return (seconds) => child.observe(seconds);
  }

  trackCallbackQueue(source: QueueSource): Remove {
    return track(this.#callbackQueues, source);
  }

  trackEventRecorder(recorder: string, counts: EventCounts): Remove {
    return track(this.#recorders, { recorder, counts });
  }

  observeReconcile(controller: string, result: ReconcileOutcome, seconds: number): void {
    this.#reconciles.inc({ controller, result });
    this.#reconcileSeconds.observe({ controller }, seconds);
    if (result === 'error' || result === 'terminal') this.#reconcileErrors.inc({ controller });
  }

  trackQueue(controller: string, depth: () => number): Remove {
    // Start at zero so a controller's series exist before its first failure.
    for (const result of ['success', 'requeue', 'error', 'terminal'] as const) this.#reconciles.inc({ controller, result }, 0);
    this.#reconcileErrors.inc({ controller }, 0);
    return track(this.#queues, { controller, depth });
  }

  setLeader(lease: string, leading: boolean): void {
    this.#leader.set({ lease }, leading ? 1 : 0);
  }

  trackKernel(source: KernelSource): Remove {
    return track(this.#kernels, source);
  }

  trackSink(sink: string, outcomes: () => SinkOutcomes): Remove {
    return track(this.#sinks, { sink, outcomes });
  }

  /** Every sink's outcomes, and the callback sink's queue per destination. */
  trackSinks(sinks: readonly AlertSink[]): Remove {
    const offs = sinks.map((s) => this.trackSink(s.name, () => s.outcomes));
    for (const s of sinks) if (s instanceof CallbackSink) offs.push(this.trackCallbackQueue(() => s.queuedPerDestination()));
    return () => {
      for (const off of offs) off();
    };
  }

  countAlert(policy: string): void {
    this.#alerts.inc({ policy });
  }

  countExcluded(policy: string, reason: string): void {
    this.#excluded.inc({ policy, reason });
  }
}
