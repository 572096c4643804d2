// `kive operator`: configured by NODE_NAME, POD_NAME, POD_NAMESPACE (the Downward API in
// deploy/operator.yaml) and the flags of flags.ts. Checks its kubeconfig and namespace
// first (kube.ts), runs until SIGINT/SIGTERM, then releases its Leases so a successor
// takes over at once.

import { hostname } from 'node:os';
import { KiveError } from '../errors.ts';
import { KubeClient } from '../k8s/rest.ts';
import { parseBackendChoice } from '../kernel/backends/index.ts';
import { createLogger, parseLogFormat } from '../log.ts';
import { KiveMetrics } from '../metrics/metrics.ts';
import { parseListenAddress, Readiness, startMetricsServer, type MetricsServer } from '../metrics/server.ts';
import { runOperator } from '../operator/operator.ts';
import { checkSpoolDir } from '../alerts/spool.ts';
import { readCallbackFiles } from './callback-files.ts';
import { readKernelId } from '../runtime/kernel-id.ts';
import { milliseconds as ms, OPERATOR, parseCommand, positiveInt } from './flags.ts';
import { checkNamespace, loadKubeConfig } from './kube.ts';

/**
 * From SIGTERM to exit, at most; deploy/operator.yaml's terminationGracePeriodSeconds
 * (30 s) leaves room above it. The alert sinks get 3 s of it (docs/alerts.md, "Delivery").
 */
export const SHUTDOWN_BOUND_MS = 20_000;

/** docs/metrics.md; deploy/operator.yaml names the same port. */
export const DEFAULT_METRICS_ADDRESS = ':9090';

/** deploy/operator.yaml mounts the node's /var/lib/kive here (hostPath). */
export const DEFAULT_SPOOL_DIR = '/var/lib/kive/spool';

export async function operatorCommand(args: string[]): Promise<number> {
  const values = parseCommand(OPERATOR, args);
  const nodeName = values['node-name'] ?? process.env.NODE_NAME;
  if (!nodeName) throw new KiveError('KIVE_USAGE', 'operator needs the node name: set NODE_NAME or --node-name');
  const backend = parseBackendChoice(values.backend ?? 'auto');
  const lease = [ms('lease-duration-ms', values['lease-duration-ms']), ms('renew-deadline-ms', values['renew-deadline-ms']), ms('retry-period-ms', values['retry-period-ms'])];
  if (lease.some((v) => v !== undefined) && lease.some((v) => v === undefined)) {
    throw new KiveError('KIVE_USAGE', '--lease-duration-ms, --renew-deadline-ms and --retry-period-ms go together');
  }
  const maxTraps = positiveInt('max-traps', values['max-traps']);
  const kernelGraceMs = ms('kernel-grace-ms', values['kernel-grace-ms']);
  const logFormat = parseLogFormat(values['log-format']);
  if (values['disable-metrics'] && values['metrics-address'] !== undefined) throw new KiveError('KIVE_USAGE', '--metrics-address and --disable-metrics contradict each other');
  const metricsAddress = values['disable-metrics'] ? undefined : parseListenAddress('metrics-address', values['metrics-address'] ?? DEFAULT_METRICS_ADDRESS);
  if (values['disable-spool'] && values['spool-dir'] !== undefined) throw new KiveError('KIVE_USAGE', '--spool-dir and --disable-spool contradict each other');
  // Only the loader sends alerts, so only it needs the spool.
  const spoolDir = values['disable-spool'] || values['disable-loader'] ? undefined : (values['spool-dir'] ?? DEFAULT_SPOOL_DIR);
  // Checked (and created) at start, so a bad directory is one clear line and exit 2; the
  // loader opens it when it leads (operator.ts).
  if (spoolDir !== undefined) checkSpoolDir(spoolDir);
  // Signing key and CA: files, in a cluster from a Secret volume (docs/alerts.md).
  const callbackFiles = await readCallbackFiles({
    ...(values['callback-secret-file'] !== undefined ? { secretFile: values['callback-secret-file'] } : {}),
    ...(values['callback-ca-file'] !== undefined ? { caFile: values['callback-ca-file'] } : {}),
  });
  const namespace = values.namespace ?? process.env.POD_NAMESPACE ?? 'kivebpf-system';
  const kc = loadKubeConfig(values.kubeconfig !== undefined ? { flag: values.kubeconfig } : {});
  const client = new KubeClient(kc);
  await checkNamespace(client, namespace, kc.getCurrentCluster()!.server);
  const log = createLogger(undefined, logFormat);
  const metrics = new KiveMetrics();
  const readiness = new Readiness();
  let server: MetricsServer | undefined;
  if (metricsAddress) {
    server = await startMetricsServer(metricsAddress, metrics, readiness);
    log.info({ address: `${server.address.host}:${server.address.port}` }, 'metrics endpoint listening');
  }
  const stop = new AbortController();
  const onSignal = (sig: string) => {
    log.info({ signal: sig, boundMs: SHUTDOWN_BOUND_MS }, 'stopping');
    stop.abort();
    // Unref'd, so a clean stop exits as soon as it is done; otherwise (an API server that
    // does not answer the Lease release, a stalled output) this holds the bound.
    setTimeout(() => {
      log.error({ boundMs: SHUTDOWN_BOUND_MS }, 'shutdown did not finish in time; exiting');
      process.exit(1);
    }, SHUTDOWN_BOUND_MS).unref();
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  await runOperator(
    {
      client,
      nodeName,
      identity: values.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`,
      namespace,
      kernelId: values['kernel-id'] ?? (await readKernelId()),
      discover: !values['disable-discover'],
      loader: !values['disable-loader'],
      podController: !values['disable-pod-controller'],
      backend,
      log,
      metrics,
      readiness,
      ...(maxTraps !== undefined ? { maxTraps } : {}),
      ...(kernelGraceMs !== undefined ? { kernelGraceMs } : {}),
      ...(spoolDir !== undefined ? { spoolDir } : {}),
      callbackFiles,
      ...(values['cri-socket'] !== undefined ? { criEndpoint: values['cri-socket'] } : {}),
      ...(values['proc-root'] !== undefined ? { procRoot: values['proc-root'] } : {}),
      ...(values['cgroup-root'] !== undefined ? { cgroupRoot: values['cgroup-root'] } : {}),
      ...(lease[0] !== undefined ? { lease: { durationMs: lease[0], renewDeadlineMs: lease[1] as number, retryPeriodMs: lease[2] as number } } : {}),
    },
    stop.signal,
  );
  await server?.close();
  return 0;
}
