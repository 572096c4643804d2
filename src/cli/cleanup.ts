// `kive cleanup`: src/operator/cleanup.ts with a kubeconfig (kube.ts) and the flags of
// flags.ts CLEANUP. The Helm chart's pre-delete hook Job runs it in the operator's image.

import { KiveError } from '../errors.ts';
import { ApiError, KubeClient } from '../k8s/rest.ts';
import { createLogger, parseLogFormat } from '../log.ts';
import { cleanupCluster } from '../operator/cleanup.ts';
import { CLEANUP, milliseconds, parseCommand } from './flags.ts';
import { loadKubeConfig } from './kube.ts';

export async function cleanupCommand(args: string[]): Promise<number> {
  const values = parseCommand(CLEANUP, args);
  const timeoutMs = milliseconds('timeout-ms', values['timeout-ms']) ?? 120_000;
  const log = createLogger(undefined, parseLogFormat(values['log-format']));
  const kc = loadKubeConfig(values.kubeconfig !== undefined ? { flag: values.kubeconfig } : {});
  try {
    await cleanupCluster({
      client: new KubeClient(kc),
      namespace: values.namespace ?? process.env.POD_NAMESPACE ?? 'kivebpf-system',
      daemonSet: values.daemonset ?? 'kive-operator',
      timeoutMs,
      log,
    });
  } catch (err) {
    // Credentials the server refuses, or a role without a verb the cleanup sends: a set-up
    // mistake, exit 2 like `kive operator`'s start check (kube.ts).
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      throw new KiveError('KIVE_CONFIG', `${err.message} (kive cleanup needs the rules of the chart's kive-cleanup Role and ClusterRole, scripts/deploy/manifests.ts)`, { cause: err });
    }
    throw err;
  }
  return 0;
}
