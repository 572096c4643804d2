// Every command and flag of `kive`, defined once: the parser (node:util parseArgs), each
// command's --help, `kive help` and docs/cli.md (`make docs`; a unit test fails when it
// is stale) are all rendered from these tables. Pure: importing it loads neither libbpf
// nor the Kubernetes client.

import { parseArgs } from 'node:util';
import { KiveError } from '../errors.ts';
import { BACKEND_CHOICES } from '../kernel/backends/index.ts';

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
  /** The value's placeholder in help, e.g. FILE. */
  readonly value?: string;
  /** What applies when the flag is absent, in words (not passed to parseArgs). */
  readonly fallback?: string;
  readonly description: string;
}

export interface CommandSpec<F extends Record<string, FlagSpec> = Record<string, FlagSpec>> {
  readonly name: string;
  readonly summary: string;
  /** Lines after the flag list in --help and the docs. */
  readonly notes?: readonly string[];
  readonly flags: F;
}

const HELP = { help: { type: 'boolean', short: 'h', description: 'print this help and exit' } } as const satisfies Record<string, FlagSpec>;
const backendFlag = {
  type: 'string',
  value: BACKEND_CHOICES.join('|'),
  fallback: 'auto',
  description: 'eBPF backend; auto: the best one this kernel loads (see docs/backends.md)',
} as const satisfies FlagSpec;
const maxTrapsFlag = {
  type: 'string',
  value: 'N',
  fallback: '65536',
  description: 'capacity of the kernel trap map (distinct files armed at once)',
} as const satisfies FlagSpec;
const logFormatFlag = {
  type: 'string',
  value: 'auto|json|text',
  fallback: 'auto',
  description: 'log format on stderr; auto: text when stderr is a terminal, else JSON lines',
} as const satisfies FlagSpec;
const callbackSecretFlag = {
  type: 'string',
  value: 'FILE',
  fallback: 'unsigned',
  description: 'HMAC-SHA256 key (the file\'s bytes, a trailing newline dropped): callbacks carry X-Kive-Signature: sha256=<hex> (docs/alerts.md)',
} as const satisfies FlagSpec;
const callbackCaFlag = { type: 'string', value: 'FILE', fallback: 'the system\'s CAs', description: 'PEM CA bundle trusted for https callbacks' } as const satisfies FlagSpec;
const cgroupRootFlag = {
  type: 'string',
  value: 'DIR',
  fallback: 'where cgroup2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host)',
  description: 'the host\'s cgroup v2 tree, to name the accessing process\'s container in alerts (`accessor`, docs/alerts.md)',
} as const satisfies FlagSpec;
const ms = (description: string, fallback: string) => ({ type: 'string', value: 'MS', fallback, description }) as const satisfies FlagSpec;

export const RUN = {
  name: 'run',
  summary: 'monitor files on this host, no cluster; KiveAlerts go to stdout as NDJSON',
  notes: ['Needs root. Runs until SIGINT or SIGTERM.'],
  flags: {
    policy: { type: 'string', multiple: true, value: 'FILE', description: 'a KivePolicy YAML file (at least one)' },
    backend: backendFlag,
    'max-traps': maxTrapsFlag,
    'cgroup-root': cgroupRootFlag,
    'node-name': { type: 'string', value: 'NAME', fallback: 'the host name', description: 'node name written into alerts' },
    'stdout-buffer-bytes': { type: 'string', value: 'N', fallback: '8 MiB', description: 'how much stdout may hold for a slow reader before alerts are dropped (and counted)' },
    'aggregate-window': { type: 'string', value: 'MS', fallback: '1000', description: 'repeats of one process\'s access to one trap folded into its next alert per window; 0 = off (docs/kernel.md "Floods")' },
    'callback-secret-file': callbackSecretFlag,
    'callback-ca-file': callbackCaFlag,
    'callback-retry-for': ms('how long a callback alert is retried before it counts as failed', '600000 (10 min)'),
    'spool-dir': { type: 'string', value: 'DIR', fallback: 'off: alerts still queued at exit are lost', description: 'keep queued callback alerts in DIR (created 0700) so a restart delivers them; one process per DIR (docs/alerts.md "The spool")' },
    'metrics-address': { type: 'string', value: 'HOST:PORT', fallback: 'off', description: 'serve /metrics, /healthz and /readyz here, e.g. 127.0.0.1:9090 (docs/metrics.md)' },
    'log-format': logFormatFlag,
    ...HELP,
  },
} as const satisfies CommandSpec;

export const PROBE = {
  name: 'probe',
  summary: 'load and attach each eBPF backend, then say which this kernel supports and why not',
  notes: ['Needs root. Exit 0 when some backend works, 1 when none does.'],
  flags: { ...HELP },
} as const satisfies CommandSpec;

export const CRDS = {
  name: 'crds',
  summary: 'print the CustomResourceDefinitions as YAML (or write one file each into a directory)',
  flags: {
    out: { type: 'string', value: 'DIR', fallback: 'stdout', description: 'write kivepolicies and kivedata CRD files into DIR' },
    ...HELP,
  },
} as const satisfies CommandSpec;

export const OPERATOR = {
  name: 'operator',
  summary: 'run the Kubernetes operator (discover, loader and pod controllers); see docs/operator.md',
  notes: [
    'Kubeconfig: --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the pod\'s service account.',
    'A missing kubeconfig, an absent namespace or missing permissions stop it with exit 2.',
  ],
  flags: {
    kubeconfig: { type: 'string', value: 'FILE', fallback: '$KUBECONFIG, ~/.kube/config, in-cluster', description: 'kubeconfig file to use' },
    namespace: { type: 'string', value: 'NS', fallback: '$POD_NAMESPACE, else kivebpf-system', description: 'namespace of the operator\'s Leases and KiveData; must exist' },
    'node-name': { type: 'string', value: 'NAME', fallback: '$NODE_NAME (required)', description: 'the node this operator runs on' },
    identity: { type: 'string', value: 'ID', fallback: '$POD_NAME, else HOSTNAME-PID', description: 'holder identity in leader election Leases' },
    'kernel-id': { type: 'string', value: 'ID', fallback: '/proc/sys/kernel/random/boot_id', description: 'id of the running kernel, which names its loader Lease and KiveData' },
    backend: backendFlag,
    'max-traps': maxTrapsFlag,
    'cri-socket': { type: 'string', value: 'PATH', fallback: 'the first that exists of containerd\'s, k3s\'s and CRI-O\'s', description: 'container runtime (CRI) socket' },
    'proc-root': { type: 'string', value: 'DIR', fallback: '/proc', description: 'where the host\'s /proc is mounted' },
    'cgroup-root': cgroupRootFlag,
    'disable-discover': { type: 'boolean', description: 'do not run the discover controller (every node)' },
    'disable-loader': { type: 'boolean', description: 'do not run the loader (elected per kernel)' },
    'disable-pod-controller': { type: 'boolean', description: 'do not run the pod controller (elected per cluster)' },
    'lease-duration-ms': ms('leader election lease duration (set all three timings or none)', '15000'),
    'renew-deadline-ms': ms('how long a leader retries renewing before it steps down', '10000'),
    'retry-period-ms': ms('pause between leader election attempts', '2000'),
    'kernel-grace-ms': ms('how long a kernel whose loader Lease stopped renewing keeps its KiveData, node reports and Lease', '300000'),
    'spool-dir': { type: 'string', value: 'DIR', fallback: '/var/lib/kive/spool', description: 'keep the loader\'s queued callback alerts in DIR (created 0700) so a restart delivers them (docs/alerts.md "The spool")' },
    'disable-spool': { type: 'boolean', description: 'keep no callback spool: alerts still queued at exit are lost' },
    'metrics-address': { type: 'string', value: 'HOST:PORT', fallback: ':9090 (all interfaces)', description: 'serve /metrics, /healthz and /readyz here (docs/metrics.md)' },
    'disable-metrics': { type: 'boolean', description: 'serve no metrics or health endpoint' },
    'callback-secret-file': callbackSecretFlag,
    'callback-ca-file': callbackCaFlag,
    'log-format': logFormatFlag,
    ...HELP,
  },
} as const satisfies CommandSpec;

export const CLEANUP = {
  name: 'cleanup',
  summary: 'remove Kive from a cluster without leaving anything stuck: the Helm chart\'s pre-delete hook (docs/operator.md "Uninstall")',
  notes: [
    'In order: deletes the operator DaemonSet and waits for its pods to stop; removes Kive\'s finalizer from every KivePolicy (the policies stay);',
    'deletes every KiveData and Kive Lease of the namespace. If the pods do not stop in time, nothing else is changed and it exits 1.',
  ],
  flags: {
    kubeconfig: OPERATOR.flags.kubeconfig,
    namespace: { type: 'string', value: 'NS', fallback: '$POD_NAMESPACE, else kivebpf-system', description: 'the operator\'s namespace (its DaemonSet, KiveData and Leases)' },
    daemonset: { type: 'string', value: 'NAME', fallback: 'kive-operator', description: 'the operator\'s DaemonSet' },
    'timeout-ms': ms('how long to wait for the operator\'s pods to stop', '120000'),
    'log-format': logFormatFlag,
    ...HELP,
  },
} as const satisfies CommandSpec;

/** The commands, in the order help lists them. */
export const COMMANDS: readonly CommandSpec[] = [RUN, PROBE, CRDS, OPERATOR, CLEANUP];

export const LOG_NOTE = 'Logs go to stderr: text on a terminal, else JSON lines (--log-format); set KIVE_LOG_LEVEL (debug, info, warn, error).';

export const EXIT_CODES: ReadonlyArray<readonly [number, string]> = [
  [0, 'success (for run and operator: stopped by SIGINT/SIGTERM, the shutdown finished within its bound)'],
  [1, 'a runtime failure, e.g. no eBPF backend works on this kernel, or a shutdown cut short by its bound'],
  [2, 'bad usage or configuration: unknown flag, invalid policy, missing kubeconfig, absent namespace, no permission'],
  [70, 'a bug in Kive (the stack trace follows)'],
];

/** parseArgs over a command's flags (strict: unknown flags and positionals throw). */
export function parseCommand<F extends Record<string, FlagSpec>>(cmd: CommandSpec<F>, args: string[]) {
  return parseArgs({ args, options: cmd.flags, strict: true, allowPositionals: false }).values;
}

/** Flag `name`'s value as a positive integer; undefined when absent. Throws KIVE_USAGE naming the flag. */
export function positiveInt(name: string, value: string | undefined, unit = ''): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new KiveError('KIVE_USAGE', `--${name} must be a positive integer${unit}, got "${value}"`);
  return n;
}

/** positiveInt for the flags given in milliseconds. */
export const milliseconds = (name: string, value: string | undefined): number | undefined => positiveInt(name, value, ' (milliseconds)');

function flagUsage(name: string, f: FlagSpec): string {
  const short = f.short ? `-${f.short}, ` : '';
  return `${short}--${name}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}`;
}

function flagNotes(f: FlagSpec): string {
  return [f.description, f.multiple ? 'repeatable' : '', f.fallback ? `default: ${f.fallback}` : ''].filter((s) => s).join('; ');
}

/** `kive CMD --help`. */
export function commandHelp(cmd: CommandSpec): string {
  const flags = Object.entries(cmd.flags).map(([name, f]) => [flagUsage(name, f), flagNotes(f)] as const);
  const width = Math.max(...flags.map(([u]) => u.length));
  return [
    `usage: kive ${cmd.name} [flags]`,
    '',
    cmd.summary,
    '',
    'flags:',
    ...flags.map(([u, n]) => `  ${u.padEnd(width)}  ${n}`),
    ...(cmd.notes?.length ? ['', ...cmd.notes] : []),
    '',
    LOG_NOTE,
  ].join('\n');
}

/** `kive help`. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: kive <command> [flags]',
    '       kive <command> --help',
    '       kive --version',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    LOG_NOTE,
  ].join('\n');
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** docs/cli.md, whole. */
export function cliReference(): string {
  const out = [
    '# `kive` command line',
    '',
    '<!-- generated from src/cli/flags.ts by `make docs`; do not edit -->',
    '',
    '`kive <command> --help` prints the same flags; `kive --version` prints the version from',
    '`package.json`. Alerts go to stdout as NDJSON ([alerts.md](alerts.md)).',
    LOG_NOTE,
    '`make run POLICY=FILE` builds, then runs `kive run --policy FILE`; the build\'s output',
    'goes to stderr, so stdout stays pure NDJSON.',
    '',
  ];
  for (const cmd of COMMANDS) {
    out.push(`## kive ${cmd.name}`, '', `${cmd.summary}.`, '', '| flag | default | description |', '| --- | --- | --- |');
    for (const [name, f] of Object.entries(cmd.flags)) {
      out.push(`| \`${cell(flagUsage(name, f))}\` | ${cell(f.fallback ?? '')} | ${cell(f.description)}${f.multiple ? ' (repeatable)' : ''} |`);
    }
    if (cmd.notes?.length) out.push('', ...cmd.notes);
    out.push('');
  }
  out.push('## Exit codes', '', '| code | meaning |', '| --- | --- |', ...EXIT_CODES.map(([c, m]) => `| ${c} | ${m} |`), '');
  return out.join('\n');
}
