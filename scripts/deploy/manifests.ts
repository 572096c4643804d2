// Kive's Kubernetes objects for given install settings (values.ts): the reference that
// deploy/operator.yaml and deploy/kustomize/ are rendered from, and that the Helm chart's
// templates must render identically (test/integration/deploy-chart.test.ts).

import { CAPABILITIES, CRI_SOCKETS, VERSION, type Values } from './values.ts';

type Obj = Record<string, unknown>;
const LABELS = { 'app.kubernetes.io/name': 'kivebpf' };
const GROUP = 'kivebpf.san7o.github.io';
export const CALLBACK_DIR = '/etc/kive/callback';
export const SERVICE_ACCOUNT = 'kive-operator';

/** The socket path an explicit criSocket names, or undefined for auto. */
export function criSocketPath(criSocket: string): string | undefined {
  if (criSocket === 'auto') return undefined;
  const path = CRI_SOCKETS[criSocket] ?? criSocket;
  if (!path.startsWith('/')) throw new Error(`criSocket: auto, ${Object.keys(CRI_SOCKETS).join(', ')} or an absolute path, got "${criSocket}"`);
  return path;
}

const dirOf = (path: string) => path.slice(0, path.lastIndexOf('/')) || '/';

/**
 * The RBAC rules, each verb one the operator really sends (src/k8s/informer.ts: list +
 * watch; leader.ts: get, create, update of its Lease; apply.ts: server-side apply and
 * patches; writers.ts: delete; events.ts: create, patch; cli/kube.ts: list Leases and a
 * dry-run create).
 */
export const CLUSTER_RULES: Obj[] = [
  // Informers: the discover controller's pods of its node, the pod controller's all pods.
  { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
  // Events on KivePolicies (TrapArmed, PathNotFound, ...) and FileAccessed on pods, in their namespaces.
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  // Informer; the finalizer is a merge patch.
  { apiGroups: [GROUP], resources: ['kivepolicies'], verbs: ['list', 'watch', 'patch'] },
  // Each node's report and the folded status: server-side apply and a JSON patch.
  { apiGroups: [GROUP], resources: ['kivepolicies/status'], verbs: ['patch'] },
];
export const NAMESPACE_RULES: Obj[] = [
  // Leader election (get, create, update), the pod controller's informer, the start check,
  // the dead-kernel collection (delete, docs/controllers.md).
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] },
  // KiveData live only here: informers, server-side apply (create when new, patch), delete.
  { apiGroups: [GROUP], resources: ['kivedata'], verbs: ['list', 'watch', 'create', 'patch', 'delete'] },
];

/** Where the host's /sys/fs/cgroup is mounted (--cgroup-root; its `unified` child on a hybrid host). */
const HOST_CGROUP = '/host/sys/fs/cgroup';

export function operatorArgs(v: Values): string[] {
  const socket = criSocketPath(v.criSocket);
  const cb = v.callbackSecret;
  return [
    'operator',
    `--backend=${v.backend}`,
    `--metrics-address=:${v.metricsPort}`,
    `--log-format=${v.logFormat}`,
    `--cgroup-root=${HOST_CGROUP}`,
    ...(socket !== undefined ? [`--cri-socket=${socket}`] : []),
    ...(cb.name && cb.secretKey ? [`--callback-secret-file=${CALLBACK_DIR}/${cb.secretKey}`] : []),
    ...(cb.name && cb.caKey ? [`--callback-ca-file=${CALLBACK_DIR}/${cb.caKey}`] : []),
    `--kernel-grace-ms=${v.kernelGraceSeconds * 1000}`,
    ...v.extraArgs,
  ];
}

function securityContext(v: Values): Obj {
  if (v.privileged) return { privileged: true, readOnlyRootFilesystem: true };
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'], add: CAPABILITIES.map((c) => c.name) },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

function volumes(v: Values): { mounts: Obj[]; volumes: Obj[] } {
  const socket = criSocketPath(v.criSocket);
  const cri = socket === undefined ? '/run' : dirOf(socket);
  const list: Array<{ name: string; mountPath: string; readOnly?: boolean; source: Obj }> = [
    // The CRI socket maps a container id to its process (src/runtime/cri.ts).
    { name: 'cri', mountPath: cri, readOnly: true, source: { hostPath: { path: cri, type: 'Directory' } } },
    // tracefs: the tracepoint backend reads tracepoint ids there (mounting it needs CAP_SYS_ADMIN).
    { name: 'tracefs', mountPath: '/sys/kernel/tracing', readOnly: true, source: { hostPath: { path: '/sys/kernel/tracing', type: 'Directory' } } },
    // The host's cgroup tree: an alert's accessor is placed in it (the pod's own /sys/fs/cgroup is its own subtree).
    { name: 'cgroup', mountPath: HOST_CGROUP, readOnly: true, source: { hostPath: { path: '/sys/fs/cgroup', type: 'Directory' } } },
    // The callback spool (--spool-dir /var/lib/kive/spool): queued alerts outlive a restart.
    { name: 'var-lib-kive', mountPath: '/var/lib/kive', source: { hostPath: { path: '/var/lib/kive', type: 'DirectoryOrCreate' } } },
  ];
  if (v.callbackSecret.name) {
    list.push({ name: 'callback', mountPath: CALLBACK_DIR, readOnly: true, source: { secret: { secretName: v.callbackSecret.name, defaultMode: 0o400 } } });
  }
  return {
    mounts: list.map(({ name, mountPath, readOnly }) => ({ name, mountPath, ...(readOnly ? { readOnly } : {}) })),
    volumes: list.map(({ name, source }) => ({ name, ...source })),
  };
}

function daemonSet(v: Values): Obj {
  const ns = v.namespace.name;
  const { mounts, volumes: vols } = volumes(v);
  const env = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'kive-operator', namespace: ns, labels: LABELS },
    spec: {
      selector: { matchLabels: LABELS },
      // An upgrade starts the new pod before the old one stops: the new one syncs its
      // caches while the old keeps the program attached, then takes the loader Lease the old
      // releases on SIGTERM (two operators on one kernel: one loader). The default
      // (maxUnavailable 1) left the node unwatched from the old pod's stop until the new
      // pod had started, synced and attached.
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: LABELS },
        spec: {
          serviceAccountName: SERVICE_ACCOUNT,
          // /proc/<pid>/root resolves a trap path inside a container; /proc/<pid>/{exe,cwd,cmdline} fill the alerts.
          hostPID: true,
          ...(v.priorityClassName ? { priorityClassName: v.priorityClassName } : {}),
          ...(Object.keys(v.nodeSelector).length ? { nodeSelector: v.nodeSelector } : {}),
          ...(v.tolerations.length ? { tolerations: v.tolerations } : {}),
          terminationGracePeriodSeconds: v.terminationGracePeriodSeconds,
          containers: [
            {
              name: 'operator',
              image: `${v.image.repository}:${v.image.tag || VERSION}`,
              imagePullPolicy: v.image.pullPolicy,
              args: operatorArgs(v),
              env: [env('NODE_NAME', 'spec.nodeName'), env('POD_NAME', 'metadata.name'), env('POD_NAMESPACE', 'metadata.namespace')],
              securityContext: securityContext(v),
              ports: [{ name: 'metrics', containerPort: v.metricsPort, protocol: 'TCP' }],
              livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' }, periodSeconds: 10, failureThreshold: 6 },
              // Ready once the informers have synced and, where this pod leads its kernel's loader Lease, the program is attached.
              readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' }, periodSeconds: 5 },
              resources: v.resources,
              volumeMounts: mounts,
            },
          ],
          volumes: vols,
        },
      },
    },
  };
}

/**
 * The cleanup's RBAC: each verb one `kive cleanup` sends (src/operator/cleanup.ts): the
 * DaemonSet deleted, its pods listed while they stop, the finalizer patched off every
 * policy (read again on a conflict), KiveData and Leases listed and deleted.
 */
export const CLEANUP_CLUSTER_RULES: Obj[] = [
  { apiGroups: [GROUP], resources: ['kivepolicies'], verbs: ['list', 'get', 'patch'] },
];
export const CLEANUP_NAMESPACE_RULES: Obj[] = [
  { apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['delete'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
  { apiGroups: [GROUP], resources: ['kivedata'], verbs: ['list', 'delete'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['list', 'delete'] },
];
export const CLEANUP = 'kive-cleanup';

/**
 * The Helm chart's pre-delete hook (chart only: kustomize and `kubectl apply` users run
 * `kive cleanup` themselves, docs/operator.md "Uninstall"). Before Helm deletes anything,
 * a Job running `kive cleanup` in the operator's image stops the operator and removes
 * its finalizers, KiveData and Leases, so nothing is left stuck. Its own ServiceAccount
 * and RBAC (the operator's may not delete its DaemonSet) come first (weight -1); Helm
 * deletes them all once the Job succeeded, and keeps them for a look if it failed.
 */
export function cleanupHook(v: Values): Obj[] {
  const ns = v.namespace.name;
  const hook = (weight: number) => ({
    'helm.sh/hook': 'pre-delete',
    'helm.sh/hook-weight': String(weight),
    'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded',
  });
  const meta = (namespaced: boolean, weight = -1) => ({ name: CLEANUP, ...(namespaced ? { namespace: ns } : {}), labels: LABELS, annotations: hook(weight) });
  const subject = { kind: 'ServiceAccount', name: CLEANUP, namespace: ns };
  const rbac = 'rbac.authorization.k8s.io';
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(true) },
    { apiVersion: `${rbac}/v1`, kind: 'ClusterRole', metadata: meta(false), rules: CLEANUP_CLUSTER_RULES },
    { apiVersion: `${rbac}/v1`, kind: 'ClusterRoleBinding', metadata: meta(false), roleRef: { apiGroup: rbac, kind: 'ClusterRole', name: CLEANUP }, subjects: [subject] },
    { apiVersion: `${rbac}/v1`, kind: 'Role', metadata: meta(true), rules: CLEANUP_NAMESPACE_RULES },
    { apiVersion: `${rbac}/v1`, kind: 'RoleBinding', metadata: meta(true), roleRef: { apiGroup: rbac, kind: 'Role', name: CLEANUP }, subjects: [subject] },
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: meta(true, 0),
      spec: {
        // One try: a failure fails `helm uninstall` with the Job's log to read.
        backoffLimit: 0,
        template: {
          // Not the DaemonSet's labels: nothing selecting the operator's pods sees it.
          metadata: { labels: { 'app.kubernetes.io/name': CLEANUP } },
          spec: {
            serviceAccountName: CLEANUP,
            restartPolicy: 'Never',
            // Where the operator runs, the image is.
            ...(Object.keys(v.nodeSelector).length ? { nodeSelector: v.nodeSelector } : {}),
            ...(v.tolerations.length ? { tolerations: v.tolerations } : {}),
            securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'cleanup',
                image: `${v.image.repository}:${v.image.tag || VERSION}`,
                imagePullPolicy: v.image.pullPolicy,
                // The operator's pods stop within their grace period; a minute more for the
                // garbage collector to get to them.
                args: ['cleanup', `--log-format=${v.logFormat}`, `--timeout-ms=${(v.terminationGracePeriodSeconds + 60) * 1000}`],
                env: [{ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }],
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                // Measured: 175 MiB peak RSS removing 300 finalizers (docs/performance.md).
                resources: { requests: { cpu: '10m', memory: '192Mi' }, limits: { memory: '512Mi' } },
              },
            ],
          },
        },
      },
    },
  ];
}

/** Every object of an install, CRDs excluded (deploy/crds/, the chart's crds/). */
export function manifests(v: Values): Obj[] {
  const ns = v.namespace.name;
  const meta = (name: string, namespaced: boolean) => ({ name, ...(namespaced ? { namespace: ns } : {}), labels: LABELS });
  const subject = { kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: ns };
  const objects: Obj[] = [];
  if (v.namespace.create) {
    // hostPID, hostPath and capabilities beyond the default set need the privileged level.
    const pss = Object.fromEntries(['enforce', 'audit', 'warn'].map((m) => [`pod-security.kubernetes.io/${m}`, 'privileged']));
    objects.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { ...LABELS, ...pss } } });
  }
  objects.push(
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(SERVICE_ACCOUNT, true) },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: meta('kive-operator', false), rules: CLUSTER_RULES },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: meta('kive-operator', false),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kive-operator' }, subjects: [subject],
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta('kive-operator', true), rules: NAMESPACE_RULES },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: meta('kive-operator', true),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kive-operator' }, subjects: [subject],
    },
    daemonSet(v),
  );
  return objects;
}
