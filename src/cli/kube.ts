// First contact with a cluster, for `kive operator`: find the kubeconfig and check the
// operator's namespace before anything starts, so that the usual set-up mistakes (no
// kubeconfig, a namespace that does not exist, a service account without its Role) end
// in one line naming the fix and exit 2 (KIVE_CONFIG) instead of a stack trace or
// controllers retrying forever.

import { KubeConfig } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KiveError } from '../errors.ts';
import { ApiError, type Requester } from '../k8s/rest.ts';

export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface KubeConfigSources {
  /** --kubeconfig, when given. */
  flag?: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
  exists?: (path: string) => boolean;
}

function config(message: string): KiveError {
  return new KiveError('KIVE_CONFIG', message);
}

function loadFile(kc: KubeConfig, file: string, label: string): void {
  try {
    kc.loadFromFile(file);
  } catch (err) {
    throw config(`${label} ${file}: not a usable kubeconfig: ${(err as Error).message.split('\n')[0]}`);
  }
}

/**
 * The kubeconfig, in client-node's (and kubectl's) order: --kubeconfig, else every file
 * in $KUBECONFIG, else ~/.kube/config, else the pod's service account. Throws
 * KIVE_CONFIG naming what was tried when none is there or the one found is unusable.
 */
export function loadKubeConfig(sources: KubeConfigSources = {}): KubeConfig {
  const env = sources.env ?? process.env;
  const exists = sources.exists ?? existsSync;
  const kc = new KubeConfig();
  if (sources.flag !== undefined) {
    if (!exists(sources.flag)) throw config(`--kubeconfig ${sources.flag}: no such file`);
    loadFile(kc, sources.flag, '--kubeconfig');
  } else if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(delimiter).filter((f) => f !== '');
    const missing = files.filter((f) => !exists(f));
    if (missing.length > 0) throw config(`$KUBECONFIG names ${missing.join(', ')}: no such file`);
    loadFile(kc, files[0]!, '$KUBECONFIG:');
    for (const f of files.slice(1)) {
      const more = new KubeConfig();
      loadFile(more, f, '$KUBECONFIG:');
      kc.mergeConfig(more);
    }
  } else {
    const home = join(sources.home ?? homedir(), '.kube', 'config');
    if (exists(home)) loadFile(kc, home, 'kubeconfig');
    else if (exists(SERVICE_ACCOUNT_TOKEN) && env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else {
      throw config(
        `no kubeconfig: pass --kubeconfig FILE or set $KUBECONFIG (${home} does not exist, and this is not a pod with a service account token)`,
      );
    }
  }
  if (kc.getCurrentCluster() === null) {
    throw config(`kubeconfig: no current context with a cluster (current-context: ${JSON.stringify(kc.getCurrentContext() ?? '')})`);
  }
  return kc;
}

const LEASES = (ns: string) => `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/leases`;

function apiMessage(err: ApiError): string {
  const m = (err.body as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' ? m : err.message;
}

/**
 * Checks that `namespace` exists and that these credentials may read and write the
 * operator's Leases there, with a list and a dry-run create (nothing is stored): the
 * calls the Role in deploy/ allows, so no extra permission is needed. Throws KIVE_CONFIG
 * for 401, 403 and a missing namespace; KIVE_K8S_API when the server cannot be reached.
 */
export async function checkNamespace(client: Requester, namespace: string, server: string): Promise<void> {
  const explain = (err: unknown, doing: string): never => {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 0) throw new KiveError('KIVE_K8S_API', `cannot reach the API server at ${server}: ${err.message.replace(/^.*?: no response: /, '')}`);
    if (err.status === 401) throw config(`the API server at ${server} rejected the kubeconfig's credentials (401 Unauthorized)`);
    if (err.status === 403) throw config(`no permission to ${doing} in namespace "${namespace}": ${apiMessage(err)}`);
    if (err.status === 404 && (err.body as { details?: { kind?: string } } | undefined)?.details?.kind === 'namespaces') {
      throw config(`namespace "${namespace}" does not exist (create it, or pass --namespace / set $POD_NAMESPACE)`);
    }
    throw err;
  };
  try {
    await client.request({ method: 'GET', path: LEASES(namespace), query: { limit: 1 } });
  } catch (err) {
    explain(err, 'list Leases');
  }
  // A list in a namespace that does not exist is just empty; a create is refused.
  try {
    await client.request({
      method: 'POST',
      path: LEASES(namespace),
      query: { dryRun: 'All' },
      body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'kive-preflight' } },
    });
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) return; // it exists: the namespace does too
    explain(err, 'create Leases');
  }
}
