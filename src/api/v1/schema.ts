// The OpenAPI v3 schemas of KivePolicy and KiveData, written once. `crds.ts` wraps them
// into CustomResourceDefinitions (deploy/crds/ is generated from here, and a test checks
// the checked-in files are current); `validate.ts` runs the same schema with ajv for
// `kive run`, where each CEL rule is evaluated by its TypeScript twin from rules.ts.
//
// Every array and map has a bound: the API server estimates the worst-case cost of CEL
// rules from them and refuses a CRD whose rules could run unbounded.

import {
  absolutePath,
  callbackHost,
  callbackNoCredentials,
  callbackNoSpaces,
  callbackPort,
  callbackScheme,
  canonicalPath,
  containerNameExact,
  containerNameForm,
  ipAddress,
  labelKeys,
  labelValues,
  metadataKeys,
  namespaceName,
  noControlChars,
  noDotDot,
  noTrailingSlash,
  notUnderProc,
  octalMode,
  plantingWindowNeedsCreate,
  podName,
  type Rule,
} from './rules.ts';

export type Schema = Record<string, unknown>;

export const LIMITS = {
  pathLength: 4096,
  traps: 64,
  matchBlocks: 16,
  labels: 16,
  metadataEntries: 64,
  metadataValueLength: 1024,
  callbackLength: 2048,
  nameLength: 253,
  exclusions: 16,
  plantingWindowSeconds: 600,
} as const;

function celRules(...rules: Rule[]): Schema {
  return { 'x-kubernetes-validations': rules.map((r) => ({ rule: r.rule, message: r.message })) };
}

const stringMap = (maxProperties: number, maxValue: number, extra: Schema = {}): Schema => ({
  type: 'object',
  maxProperties,
  additionalProperties: { type: 'string', maxLength: maxValue },
  ...extra,
});

const matchBlock: Schema = {
  type: 'object',
  description: 'Every item present must match (AND). At least one item.',
  minProperties: 1,
  properties: {
    pod: { type: 'string', minLength: 1, maxLength: LIMITS.nameLength, description: 'Pod name.', ...celRules(podName) },
    namespace: { type: 'string', minLength: 1, maxLength: 63, description: 'Pod namespace.', ...celRules(namespaceName) },
    ip: { type: 'string', maxLength: 45, description: 'Pod IP address.', ...celRules(ipAddress) },
    containerName: {
      type: 'string',
      maxLength: 253,
      description: "Exact container name, 'regex: <RE2>' (unanchored, like Go's regexp) or 'glob: <pattern>'.",
      ...celRules(containerNameForm),
    },
    matchLabels: stringMap(LIMITS.labels, 63, {
      description: 'Pod labels that must all be present with these values.',
      minProperties: 1,
      ...celRules(labelKeys, labelValues),
    }),
  },
};

const pathRules = [absolutePath, noDotDot, canonicalPath, noTrailingSlash, noControlChars];

export const exclusionsSchema: Schema = {
  type: 'object',
  description: 'Accesses that raise no alert; each one is counted (kive_alerts_excluded_total). Kive extension.',
  minProperties: 1,
  properties: {
    binaries: {
      type: 'array',
      minItems: 1,
      maxItems: LIMITS.exclusions,
      description: 'Exact binary paths of host processes (never of processes in a container).',
      items: { type: 'string', minLength: 1, maxLength: LIMITS.pathLength, ...celRules(...pathRules) },
    },
    containers: {
      type: 'array',
      minItems: 1,
      maxItems: LIMITS.exclusions,
      description: "Names of the accessing process's container, in a pod of the file's namespace.",
      items: { type: 'string', minLength: 1, maxLength: 63, ...celRules(containerNameExact) },
    },
    plantingWindowSeconds: {
      type: 'integer',
      minimum: 1,
      maximum: LIMITS.plantingWindowSeconds,
      description: 'Seconds after Kive first created the file (create: true) during which accesses are excluded.',
    },
  },
};

export const trapSchema: Schema = {
  type: 'object',
  required: ['path'],
  ...celRules(plantingWindowNeedsCreate),
  properties: {
    path: {
      type: 'string',
      minLength: 1,
      maxLength: LIMITS.pathLength,
      description: 'Absolute path of the monitored file inside each matched container.',
      ...celRules(...pathRules, notUnderProc),
    },
    create: { type: 'boolean', description: 'Create the file when missing (never truncates).' },
    mode: {
      type: 'integer',
      minimum: 0,
      maximum: 777,
      description: 'Permissions of a created file, as octal digits: 444 is r--r--r--.',
      ...celRules(octalMode),
    },
    callback: {
      type: 'string',
      maxLength: LIMITS.callbackLength,
      description: 'http(s) URL that receives every alert as a JSON POST.',
      ...celRules(callbackScheme, callbackNoCredentials, callbackNoSpaces, callbackHost, callbackPort),
    },
    matchAny: {
      type: 'array',
      minItems: 1,
      maxItems: LIMITS.matchBlocks,
      description: 'Match blocks, OR-ed.',
      items: matchBlock,
    },
    metadata: stringMap(LIMITS.metadataEntries, LIMITS.metadataValueLength, {
      description: "Copied into every alert's custom-metadata.",
      ...celRules(metadataKeys),
    }),
    exclude: exclusionsSchema,
  },
};

export const policySpecSchema: Schema = {
  type: 'object',
  required: ['traps'],
  properties: {
    alertVersion: {
      type: 'string',
      enum: ['v1'],
      default: 'v1',
      description: 'KiveAlert version to emit.',
    },
    traps: { type: 'array', minItems: 1, maxItems: LIMITS.traps, items: trapSchema },
  },
};

const conditionSchema: Schema = {
  type: 'object',
  required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
  properties: {
    type: { type: 'string', maxLength: 316 },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    reason: { type: 'string', maxLength: 1024 },
    message: { type: 'string', maxLength: 32768 },
    lastTransitionTime: { type: 'string', format: 'date-time' },
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
  },
};

const nodeReportSchema: Schema = {
  type: 'object',
  required: ['node'],
  properties: {
    node: { type: 'string', maxLength: LIMITS.nameLength },
    kernelId: { type: 'string', maxLength: 64 },
    observedGeneration: { type: 'integer', format: 'int64' },
    matchedContainers: { type: 'integer' },
    armedTraps: { type: 'integer' },
    pendingContainers: { type: 'integer', description: 'Matched containers not running yet; retried.' },
    problems: {
      type: 'array',
      maxItems: 32,
      items: {
        type: 'object',
        required: ['reason', 'message'],
        properties: {
          reason: { type: 'string', maxLength: 64 },
          message: { type: 'string', maxLength: 1024 },
        },
      },
    },
  },
};

export const policyStatusSchema: Schema = {
  type: 'object',
  properties: {
    observedGeneration: { type: 'integer', format: 'int64' },
    conditions: {
      type: 'array',
      maxItems: 16,
      items: conditionSchema,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    },
    matchedContainers: { type: 'integer', description: 'Containers the traps matched.' },
    armedTraps: { type: 'integer', description: 'KiveData (trap x container) currently armed.' },
    pendingContainers: { type: 'integer', description: 'Matched containers not running yet, over all nodes.' },
    nodes: {
      type: 'array',
      description: "Each node's discover controller reports here (its own field manager); the Ready condition sums them up.",
      maxItems: 5000,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['node'],
      items: nodeReportSchema,
    },
  },
};

const str = (maxLength: number, description: string): Schema => ({ type: 'string', maxLength, description });

export const dataSpecSchema: Schema = {
  type: 'object',
  required: ['inodeNo', 'devId'],
  properties: {
    inodeNo: { type: 'integer', format: 'int64', minimum: 0, description: 'Inode number.' },
    devId: { type: 'integer', format: 'int64', minimum: 0, description: 'Device, kernel encoding (major<<20|minor).' },
    metadata: stringMap(LIMITS.metadataEntries, LIMITS.metadataValueLength),
    // Kive extensions: everything the loader needs to build an alert without a lookup.
    inode: str(20, 'Inode number in decimal; exact where inodeNo would lose precision in JSON clients.'),
    kernelId: str(64, 'boot_id of the kernel this file identity is valid on.'),
    policyName: str(LIMITS.nameLength, 'KivePolicy that owns this trap.'),
    policyNamespace: str(63, 'Namespace of that KivePolicy.'),
    trapId: str(64, 'Stable id of the trap inside its policy.'),
    path: str(LIMITS.pathLength, 'Trap path inside the container.'),
    alertVersion: { type: 'string', enum: ['v1'] },
    callback: str(LIMITS.callbackLength, 'Alert callback URL.'),
    nodeName: str(LIMITS.nameLength, 'Node where the container runs.'),
    podName: str(LIMITS.nameLength, 'Pod name.'),
    podNamespace: str(63, 'Pod namespace.'),
    podUid: str(64, 'Pod UID.'),
    podIp: str(45, 'Pod IP.'),
    containerId: str(256, 'Container id as in the pod status, e.g. containerd://<id>.'),
    containerName: str(LIMITS.nameLength, 'Container name.'),
    exclude: exclusionsSchema,
    plantedAt: { type: 'string', format: 'date-time', description: 'When Kive created this file; opens exclude.plantingWindowSeconds.' },
  },
};
