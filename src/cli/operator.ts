// `kive operator`: configured by NODE_NAME, POD_NAME, POD_NAMESPACE (the Downward API in
// deploy/operator.yaml) and flags. Runs until SIGINT/SIGTERM, then releases its Leases so
// a successor takes over at once.

import { KubeConfig } from '@kubernetes/client-node';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { KiveError } from '../errors.ts';
import { KubeClient } from '../k8s/rest.ts';
import { parseBackendChoice } from '../kernel/backends/index.ts';
import { createLogger } from '../log.ts';
import { runOperator } from '../operator/operator.ts';
import { readKernelId } from '../runtime/kernel-id.ts';

/**
 * From SIGTERM to exit, at most; deploy/operator.yaml's terminationGracePeriodSeconds
 * (30 s) leaves room above it. The alert sinks get 3 s of it (docs/alerts.md, "Delivery").
 */
export const SHUTDOWN_BOUND_MS = 20_000;

function ms(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new KiveError('KIVE_USAGE', `--${name} must be a positive integer (milliseconds), got "${v}"`);
  return n;
}

export async function operatorCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      'node-name': { type: 'string' },
      identity: { type: 'string' },
      'kernel-id': { type: 'string' },
      backend: { type: 'string', default: 'auto' },
      'max-traps': { type: 'string' },
      'cri-socket': { type: 'string' },
      'proc-root': { type: 'string' },
      'disable-discover': { type: 'boolean', default: false },
      'disable-loader': { type: 'boolean', default: false },
      'disable-pod-controller': { type: 'boolean', default: false },
      'lease-duration-ms': { type: 'string' },
      'renew-deadline-ms': { type: 'string' },
      'retry-period-ms': { type: 'string' },
      'kernel-grace-ms': { type: 'string' },
    },
  });
  const nodeName = values['node-name'] ?? process.env.NODE_NAME;
  if (!nodeName) throw new KiveError('KIVE_USAGE', 'operator needs the node name: set NODE_NAME or --node-name');
  const backend = parseBackendChoice(values.backend);
  const kc = new KubeConfig();
  if (values.kubeconfig !== undefined) kc.loadFromFile(values.kubeconfig);
  else kc.loadFromDefault(); // in-cluster service account, else $KUBECONFIG / ~/.kube/config
  const lease = [ms('lease-duration-ms', values['lease-duration-ms']), ms('renew-deadline-ms', values['renew-deadline-ms']), ms('retry-period-ms', values['retry-period-ms'])];
  if (lease.some((v) => v !== undefined) && lease.some((v) => v === undefined)) {
    throw new KiveError('KIVE_USAGE', '--lease-duration-ms, --renew-deadline-ms and --retry-period-ms go together');
  }
  const log = createLogger();
  const maxTraps = ms('max-traps', values['max-traps']);
  const kernelGraceMs = ms('kernel-grace-ms', values['kernel-grace-ms']);
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
      client: new KubeClient(kc),
      nodeName,
      identity: values.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`,
      namespace: values.namespace ?? process.env.POD_NAMESPACE ?? 'kivebpf-system',
      kernelId: values['kernel-id'] ?? (await readKernelId()),
      discover: !values['disable-discover'],
      loader: !values['disable-loader'],
      podController: !values['disable-pod-controller'],
      backend,
      log,
      ...(maxTraps !== undefined ? { maxTraps } : {}),
      ...(kernelGraceMs !== undefined ? { kernelGraceMs } : {}),
      ...(values['cri-socket'] !== undefined ? { criEndpoint: values['cri-socket'] } : {}),
      ...(values['proc-root'] !== undefined ? { procRoot: values['proc-root'] } : {}),
      ...(lease[0] !== undefined ? { lease: { durationMs: lease[0], renewDeadlineMs: lease[1] as number, retryPeriodMs: lease[2] as number } } : {}),
    },
    stop.signal,
  );
  return 0;
}
