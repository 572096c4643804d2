// The install settings of Kive and their defaults: the one definition behind
// deploy/operator.yaml, deploy/kustomize/ and the Helm chart's values.yaml (all written by
// scripts/gen-deploy.ts). The chart's templates are checked against manifests.ts, for
// these defaults and for every setting changed, by test/integration/deploy-chart.test.ts.

import { readFileSync } from 'node:fs';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * Where the node's CRI runtime listens. `auto` mounts the node's /run read-only and lets
 * the operator try containerd's, k3s's and CRI-O's sockets in turn
 * (src/runtime/cri.ts DEFAULT_CRI_SOCKETS); a name or an absolute path mounts only that
 * socket's directory and passes --cri-socket. Directories, not the socket file: a runtime
 * restart makes a new socket, which a bind mount of the old file would not see.
 */
export const CRI_SOCKETS: Readonly<Record<string, string>> = {
  containerd: '/run/containerd/containerd.sock',
  k3s: '/run/k3s/containerd/containerd.sock',
  crio: '/var/run/crio/crio.sock',
};

/**
 * The capabilities the operator needs instead of `privileged`, each with why. Measured:
 * the image loads and attaches its tracepoint program with exactly these, under
 * containerd's default seccomp profile, read-only root (test/image/image.test.ts).
 */
export const CAPABILITIES: ReadonlyArray<{ name: string; why: string }> = [
  { name: 'BPF', why: 'bpf(2): create the maps, load BTF and the programs (Linux 5.8+)' },
  { name: 'PERFMON', why: 'tracing programs and perf_event_open(2) to attach them to tracepoints; bpf_probe_read_kernel' },
  { name: 'SYS_PTRACE', why: 'read /proc/<pid>/root, exe, cwd and cmdline of other containers\' processes (trap paths are resolved inside each container; alerts name the process)' },
  { name: 'DAC_OVERRIDE', why: 'stat, open and, for `create: true`, create trap files inside containers whatever their owners and modes' },
];

export interface Values {
  namespace: { name: string; create: boolean };
  image: { repository: string; tag: string; pullPolicy: string };
  /** auto, containerd, k3s, crio, or an absolute socket path. */
  criSocket: string;
  resources: { requests: { cpu: string; memory: string }; limits: { memory: string } };
  tolerations: Array<Record<string, unknown>>;
  nodeSelector: Record<string, string>;
  priorityClassName: string;
  /** --backend: auto or a backend name (docs/backends.md). */
  backend: string;
  metricsPort: number;
  /** --log-format: json (what log collectors read), text or auto. */
  logFormat: string;
  /** An existing Secret holding the callback signing key and/or CA bundle (docs/alerts.md). */
  callbackSecret: { name: string; secretKey: string; caKey: string };
  /** Run privileged instead of with CAPABILITIES (kernels 5.8-5.10, or no tracefs mounted on the node). */
  privileged: boolean;
  terminationGracePeriodSeconds: number;
  /** --kernel-grace-ms, in seconds: how long a stopped kernel's KiveData, reports and Lease stay. */
  kernelGraceSeconds: number;
  /** More `kive operator` flags, appended (docs/cli.md). */
  extraArgs: string[];
}

export const DEFAULTS: Values = {
  namespace: { name: 'kivebpf-system', create: true },
  image: { repository: 'kive', tag: '', pullPolicy: 'IfNotPresent' },
  criSocket: 'auto',
  // Measured (docs/performance.md, "The operator image"): 225 MiB RSS idle from the image,
  // with the pod controller's cluster-wide pod cache still small. The limit leaves room
  // for big clusters' caches: an OOM kill stops the monitoring on that node.
  resources: { requests: { cpu: '50m', memory: '300Mi' }, limits: { memory: '768Mi' } },
  tolerations: [{ operator: 'Exists' }],
  nodeSelector: { 'kubernetes.io/os': 'linux' },
  priorityClassName: '',
  backend: 'auto',
  metricsPort: 9090,
  logFormat: 'json',
  callbackSecret: { name: '', secretKey: 'secret', caKey: '' },
  privileged: false,
  // The operator exits at most 20 s after SIGTERM (src/cli/operator.ts SHUTDOWN_BOUND_MS).
  terminationGracePeriodSeconds: 30,
  // Long enough for a node's reboot not to count: the loader renews its Lease every few
  // seconds, and a rebooted node's new kernel writes its own KiveData anyway.
  kernelGraceSeconds: 300,
  extraArgs: [],
};

/** The comment above each top-level key of values.yaml. */
export const VALUE_DOCS: Readonly<Record<keyof Values, string>> = {
  namespace: 'Namespace of the operator, its KiveData and Leases. create: the chart makes it, with Pod Security labels (privileged: hostPID and hostPath need it).',
  image: 'The operator image (`make image`). tag empty: the chart\'s appVersion.',
  criSocket: 'CRI runtime socket: auto (mount the node\'s /run read-only; the operator tries containerd, k3s, CRI-O), containerd, k3s, crio, or an absolute path.',
  resources: 'Measured in docs/performance.md; a busy node with many traps needs more.',
  tolerations: 'Every node by default: a node without the operator has no traps.',
  nodeSelector: 'Nodes to run on.',
  priorityClassName: 'e.g. system-node-critical, so the operator is not evicted before the workloads it watches.',
  backend: 'eBPF backend (--backend): auto, tracepoint, fentry or kprobe (docs/backends.md).',
  metricsPort: 'Port of /metrics, /healthz and /readyz (--metrics-address).',
  logFormat: 'Log format on stderr (--log-format): json, text or auto.',
  callbackSecret: 'An existing Secret (in the operator namespace) with the callback HMAC key (secretKey) and/or a CA bundle for https callbacks (caKey); empty name: none. docs/alerts.md.',
  privileged: 'Run privileged instead of with the least capabilities (docs/operator.md "Capabilities"): kernels 5.8-5.10 (BPF memory under RLIMIT_MEMLOCK), or nodes where tracefs is not mounted. Kive needs Linux 5.8 or later.',
  terminationGracePeriodSeconds: 'Covers the operator\'s 20 s shutdown bound.',
  kernelGraceSeconds: 'How long a kernel whose loader Lease stopped renewing (the node rebooted, left the cluster or lost Kive) keeps its KiveData, node reports and Lease before the pod controller deletes them (--kernel-grace-ms).',
  extraArgs: 'More `kive operator` flags, appended to the chart\'s, e.g. ["--max-traps=131072"] (docs/cli.md).',
};
