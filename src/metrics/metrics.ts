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
import type { SinkOutcomes } from '../alerts/sink.ts';

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
  readonly #reconciles: Counter<'controller' | 'result'>;
  readonly #reconcileSeconds: Histogram<'controller'>;
  readonly #reconcileErrors: Counter<'controller'>;
  readonly #leader: Gauge<'lease'>;
  readonly #alerts: Counter<'policy'>;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'kive_' });
    const kernels = this.#kernels;
    const sinks = this.#sinks;
    const queues = this.#queues;
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
      help: 'Alerts per sink by outcome (delivered, dropped, failed; docs/alerts.md)',
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

  countAlert(policy: string): void {
    this.#alerts.inc({ policy });
  }
}
