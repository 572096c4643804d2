// `kive operator`: the three controllers of docs/operator.md in one process.
//  - discover: always on (every node), no election;
//  - loader: elected per kernel (Lease loaderLeaseName(kernel id)), owns the eBPF program;
//  - pod controller: elected per cluster (Lease POD_CONTROLLER), three reconcilers
//    (./pod-controller.ts). The names are in ./names.ts.
// Each part can be switched off. Ownership: runOperator() owns every informer,
// controller, elector and the kernel monitor it starts, and stops all of them when its
// signal aborts, on every path.

import { startAlerting, type Alerting } from '../alerts/core.ts';
import { ProcessCache } from '../alerts/process.ts';
import { nodeAccessorIndex, podContainersById, type AccessorContainer } from '../alerts/accessor.ts';
import type { Accessor } from '../alerts/build.ts';
import type { CallbackOptions } from '../alerts/callback.ts';
import { Spool } from '../alerts/spool.ts';
import type { KiveData, KivePolicy } from '../api/v1/types.ts';
import { createDiscoverReconciler } from '../controllers/discover.ts';
import { createLoaderReconciler } from '../controllers/loader.ts';
import type { Pod } from '../controllers/match.ts';
import { LABELS, labelValue, trapId } from '../controllers/naming.ts';
import { policyKeyOfData } from '../controllers/pod-controller.ts';
import { Controller, specChanged } from '../k8s/controller.ts';
import { Informer } from '../k8s/informer.ts';
import { LeaderElector } from '../k8s/leader.ts';
import type { Logger } from '../k8s/log.ts';
import { KIVE_DATA, KIVE_POLICIES } from '../api/v1/resources.ts';
import { PODS, objectKey, type KubeObject } from '../k8s/resource.ts';
import type { KubeClient } from '../k8s/rest.ts';
import { FileMonitor, type BackendName } from '../kernel/monitor.ts';
import { gapWarning } from '../kernel/backends/index.ts';
import { CriClient } from '../runtime/cri.ts';
import { findContainerPid } from '../runtime/pid.ts';
import { resolveInRoot } from '../runtime/resolve.ts';
import { TrapWatchSet, watchFileInRoot } from '../runtime/watch.ts';
import { loaderLeaseName, POD_CONTROLLER } from './names.ts';
import { runPodController } from './pod-controller.ts';
import { deleteKiveData, discoverWriter } from './writers.ts';
import { TrapModel } from '../traps/model.ts';
import { DEFAULT_MAX_TRAPS } from '../kernel/monitor.ts';
import { kernelSource } from '../metrics/kernel.ts';
import type { KiveMetrics } from '../metrics/metrics.ts';
import { Readiness } from '../metrics/server.ts';
import { EventRecorder } from '../k8s/events.ts';
import { withPolicyEvents } from './policy-events.ts';

export interface OperatorOptions {
  client: KubeClient;
  nodeName: string;
  /** Unique per operator process (the pod name): the leader election identity. */
  identity: string;
  /** Namespace of KiveData and Leases (kivebpf-system by default). */
  namespace: string;
  kernelId: string;
  discover: boolean;
  loader: boolean;
  podController: boolean;
  backend?: BackendName | 'auto';
  maxTraps?: number;
  /** CRI socket; undefined: the first of containerd's and CRI-O's that exists. */
  criEndpoint?: string;
  procRoot?: string;
  /** The host's cgroup v2 tree (accessor identity); default: where cgroup2 is mounted. */
  cgroupRoot?: string;
  /** Leader election timings (client-go defaults unless set). */
  lease?: { durationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  kernelGraceMs?: number;
  log: Logger;
  /** The loader's callback spool directory (spool.ts); none when absent. */
  spoolDir?: string;
  /** The callbacks' signing key and CA bundle (read at start, src/cli/callback-files.ts). */
  callbackFiles?: Pick<CallbackOptions, 'secret' | 'ca'>;
  /** Where alerts go as NDJSON; default stdout (fd 1). */
  alertsFd?: number;
  /** Recorded by controllers, electors, the kernel and the sinks (docs/metrics.md). */
  metrics?: KiveMetrics;
  /** What /readyz reports: informers synced; the program attached while leading. */
  readiness?: Readiness;
}

// Memoized per policy object: the informer replaces the object when the policy changes,
// so a loader resync of N KiveData hashes each policy's traps once, not N times.
const trapIdCache = new WeakMap<KivePolicy, ReadonlySet<string>>();
function trapIdsOf(p: KivePolicy): ReadonlySet<string> {
  let ids = trapIdCache.get(p);
  if (ids === undefined) trapIdCache.set(p, (ids = new Set(p.spec.traps.map((t) => trapId(p, t)))));
  return ids;
}

/** Starts what is enabled and runs until `signal` aborts; then stops all of it. */
export async function runOperator(opts: OperatorOptions, signal: AbortSignal): Promise<void> {
  const stops: Array<() => Promise<void> | void> = [];
  const ready = opts.readiness ?? new Readiness();
  ready.set('policy informer synced', false);
  const policies = new Informer<KivePolicy & KubeObject>({ client: opts.client, resource: KIVE_POLICIES, logger: opts.log, resyncPeriodMs: 5 * 60_000 });
  stops.push(() => policies.stop());
  try {
    policies.start();
    policies.waitForSync(signal).then(() => ready.set('policy informer synced', true), () => {});
    const running: Promise<void>[] = [];
    // This node's pods: what discover matches, and what names an alert's accessor in the loader.
    const pods = new Informer<Pod & KubeObject>({ client: opts.client, resource: PODS, fieldSelector: `spec.nodeName=${opts.nodeName}`, logger: opts.log });
    if (opts.discover || opts.loader) {
      stops.push(() => pods.stop());
      pods.start();
    }
    if (opts.discover) stops.push(await startDiscover(opts, policies, pods));
    if (opts.loader) running.push(elect(opts, loaderLeaseName(opts.kernelId), (s) => runLoader(opts, policies, pods, s), signal));
    if (opts.podController) running.push(elect(opts, POD_CONTROLLER, (s) => runPodController(opts, policies, s), signal));
    opts.log.info({ node: opts.nodeName, kernelId: opts.kernelId, discover: opts.discover, loader: opts.loader, podController: opts.podController }, 'operator started');
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    await Promise.all(running);
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}

/** Runs `work` while this process holds Lease `name`; returns when `signal` aborts. */
async function elect(opts: OperatorOptions, name: string, work: (signal: AbortSignal) => Promise<void>, signal: AbortSignal): Promise<void> {
  const elector = new LeaderElector({
    client: opts.client,
    namespace: opts.namespace,
    name: name.slice(0, 253),
    identity: opts.identity,
    ...(opts.lease ? { leaseDurationMs: opts.lease.durationMs, renewDeadlineMs: opts.lease.renewDeadlineMs, retryPeriodMs: opts.lease.retryPeriodMs } : {}),
    logger: opts.log,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    callbacks: {
      onStartedLeading: (leading) => work(leading),
      onStoppedLeading: () => opts.log.info({ lease: name }, 'stopped leading'),
      onNewLeader: (id) => opts.log.info({ lease: name, leader: id }, 'leader observed'),
    },
  });
  // A leader that loses its lease stops its work (run() returns); campaign again.
  while (!signal.aborted) {
    await elector.run(signal);
    if (!signal.aborted) await new Promise((r) => setTimeout(r, 1_000));
  }
}

async function startDiscover(opts: OperatorOptions, policies: Informer<KivePolicy & KubeObject>, pods: Informer<Pod & KubeObject>): Promise<() => Promise<void>> {
  const { client, log } = opts;
  const data = new Informer<KiveData & KubeObject>({
    client,
    resource: KIVE_DATA,
    namespace: opts.namespace,
    labelSelector: `${LABELS.node}=${labelValue(opts.nodeName)}`,
    indexers: { policy: (d) => [policyKeyOfData(d)] },
    logger: log,
  });
  let cri: CriClient | null = null;
  try {
    cri = await CriClient.connect(opts.criEndpoint !== undefined ? { socket: opts.criEndpoint } : {});
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'no CRI runtime; finding container processes through /proc/*/cgroup');
  }
  // A trap file replaced inside a container re-runs its policy at once (watch.ts); the
  // controller exists by the time any watch fires.
  const watches = new TrapWatchSet(watchFileInRoot, (policyKey) => {
    log.info({ policy: policyKey }, 'trap file changed; re-resolving');
    controller.enqueue(policyKey);
  });
  opts.readiness?.set('discover informers synced', false);
  const events = new EventRecorder({ client, component: 'kive', host: opts.nodeName, logger: log });
  const untrackEvents = opts.metrics?.trackEventRecorder('policies', events);
  const controller: Controller = new Controller({
    name: 'discover',
    logger: log,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    workers: 2,
    reconcile: createDiscoverReconciler({
      nodeName: opts.nodeName,
      kernelId: opts.kernelId,
      namespace: opts.namespace,
      caches: {
        policy: (k) => policies.store.get(k),
        pods: () => pods.store.list(),
        kiveDataOf: (k) => data.store.byIndex('policy', k),
      },
      writer: withPolicyEvents(discoverWriter(client, opts.nodeName), events),
      locate: async (id) => (await findContainerPid(id, { cri, ...(opts.procRoot ? { procRoot: opts.procRoot } : {}) })).pid,
      resolve: resolveInRoot,
      watches,
      log,
      ...(opts.procRoot ? { procRoot: opts.procRoot } : {}),
    }),
  });
  const allPolicies = () => policies.store.keys();
  // Spec and deletion only: the status writes of every node and of the pod controller
  // would each re-run the policy's whole reconcile (bench/scale.ts).
  controller.watch(policies, undefined, { updates: specChanged });
  controller.watch(pods, allPolicies); // any pod change on this node may change any policy's matches
  controller.watch(data, (d) => [policyKeyOfData(d)]); // recreate a KiveData deleted behind our back
  data.start();
  await Promise.all([policies.waitForSync(), pods.waitForSync(), data.waitForSync()]);
  opts.readiness?.set('discover informers synced', true);
  controller.start();
  return async () => {
    await controller.stop();
    await events.flush();
    untrackEvents?.();
    watches.close();
    await data.stop();
    cri?.close();
  };
}

/**
 * The accessor of each event (docs/alerts.md `accessor`): its cgroup placed in the host's
 * cgroup v2 tree, the container named by this node's pods. The pod index is rebuilt on
 * the first lookup after any pod change. The informer outlives a leadership term: stop()
 * takes the handler off it when the term ends.
 */
function nodeAccessors(opts: OperatorOptions, pods: Informer<Pod & KubeObject>): { of: (cgroupId: bigint) => Accessor; stop: () => void } {
  let byId: Map<string, AccessorContainer> | undefined;
  const stop = pods.addEventHandler({ onAdd: () => (byId = undefined), onUpdate: () => (byId = undefined), onDelete: () => (byId = undefined) });
  const index = nodeAccessorIndex({ cgroupRoot: opts.cgroupRoot, log: opts.log, podContainer: (bare) => (byId ??= podContainersById(pods.store.list())).get(bare) });
  return { of: (id) => index.of(id), stop };
}

/** The loader, while leading on this kernel: load the program, keep its map, alert. */
async function runLoader(opts: OperatorOptions, policies: Informer<KivePolicy & KubeObject>, pods: Informer<Pod & KubeObject>, leading: AbortSignal): Promise<void> {
  const { client, log } = opts;
  // Ready only once this leader's program is attached; a process that does not lead
  // this kernel's Lease has no program to attach (runOperator sets it back).
  opts.readiness?.set('loader program attached', false);
  const monitor = await FileMonitor.open({ backend: opts.backend ?? 'auto', ...(opts.maxTraps ? { maxTraps: opts.maxTraps } : {}) });
  const traps = new TrapModel(monitor);
  // KiveData live only in the operator's namespace: watching only there lets the Role
  // (not a ClusterRole) grant them, and a KiveData someone made elsewhere arms nothing.
  const data = new Informer<KiveData & KubeObject>({
    client,
    resource: KIVE_DATA,
    namespace: opts.namespace,
    labelSelector: `${LABELS.kernelId}=${labelValue(opts.kernelId)}`,
    indexers: { policy: (d) => [policyKeyOfData(d)] },
    logger: log,
  });
  const controller = new Controller({
    name: 'loader',
    logger: log,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    reconcile: createLoaderReconciler({
      kernelId: opts.kernelId,
      caches: { kiveData: (k) => data.store.get(k), policy: (k) => policies.store.get(k), policiesSynced: () => policies.hasSynced() },
      traps,
      deleteKiveData: (ns, name) => deleteKiveData(client, ns, name),
      trapIdsOf,
      log,
    }),
  });
  let alerting: Alerting | undefined;
  const alertEvents = new EventRecorder({ client, component: 'kive', host: opts.nodeName, logger: log });
  const untrack = opts.metrics ? [opts.metrics.trackKernel(kernelSource(monitor, opts.maxTraps ?? DEFAULT_MAX_TRAPS)), opts.metrics.trackEventRecorder('alerts', alertEvents)] : [];
  const accessors = nodeAccessors(opts, pods);
  untrack.push(accessors.stop);
  try {
    controller.watch(data);
    // A status write is no reason to re-arm all of a policy's KiveData; a changed or deleted trap is.
    controller.watch(policies, (p) => data.store.byIndex('policy', objectKey(p)).map(objectKey), { updates: specChanged });
    data.start();
    await Promise.all([policies.waitForSync(leading), data.waitForSync(leading)]);
    // Full resync: whatever an earlier loader left in a pinned map or a restart lost,
    // the map becomes exactly the KiveData of this kernel.
    traps.resync();
    for (const k of data.store.keys()) controller.enqueue(k);
    // Opened each time this process leads (the previous term's sink closed it, leaving
    // what it could not deliver). A spool that cannot be opened now costs durability,
    // not alerts: the loader goes on without one. operatorCommand checked the directory.
    const spool = opts.spoolDir === undefined ? undefined : await Spool.open(opts.spoolDir, { log }).catch((err: Error) => {
      log.error({ err: err.message }, 'callback spool unavailable; alerts still queued at exit will be lost');
      return undefined;
    });
    const live = startAlerting({
      env: { kernelId: opts.kernelId, nodeName: opts.nodeName },
      traps,
      ...(opts.metrics ? { countAlert: (policy: string) => opts.metrics!.countAlert(policy) } : {}),
      ...(opts.metrics ? { countExcluded: (policy: string, reason: string) => opts.metrics!.countExcluded(policy, reason) } : {}),
      processes: new ProcessCache({ ...(opts.procRoot ? { procRoot: opts.procRoot } : {}), accessorOf: accessors.of }),
      losses: monitor,
      wallClockMs: (ts) => monitor.wallClockMs(ts),
      log,
      sinks: {
        stdoutFd: opts.alertsFd ?? 1,
        // FileAccessed Events on the pods (src/alerts/k8s-events.ts); its own recorder, so its counts are its own.
        recorder: alertEvents,
        ...(opts.metrics ? { deliveryLatency: (sink: string) => opts.metrics!.deliveryLatency(sink) } : {}),
        callback: { ...opts.callbackFiles, ...(spool ? { spool } : {}) },
      },
    });
    alerting = live;
    if (opts.metrics) untrack.push(opts.metrics.trackSinks(live.fanout.sinks));
    monitor.start((events) => live.pipeline.handle(events));
    live.losses.start();
    controller.start();
    opts.readiness?.set('loader program attached', true);
    log.info({ backend: monitor.backend, attachedTo: monitor.attachedTo, kiveData: data.store.keys().length }, 'loader leading: program attached');
    const gaps = gapWarning(monitor.backend, monitor.gaps);
    if (gaps) log.warn({ backend: monitor.backend, evasions: monitor.gaps }, gaps);
    await new Promise<void>((resolve) => (leading.aborted ? resolve() : leading.addEventListener('abort', () => resolve(), { once: true })));
  } finally {
    if (alerting) {
      monitor.drainNow();
      alerting.stopIntake();
    }
    opts.readiness?.set('loader program attached', true);
    await controller.stop();
    await data.stop();
    for (const off of untrack.splice(0)) off();
    await monitor.close();
    // Bounded (docs/alerts.md, "Delivery"): a stalled stdout or a silent receiver cannot hold up the exit.
    if (alerting) {
      const sinks = await alerting.close(3_000);
      log.info({ alerts: alerting.pipeline.alerts, excluded: alerting.pipeline.excluded, lost: alerting.losses.lost, ...sinks }, 'loader stopped: alert outcomes');
    }
  }
}
