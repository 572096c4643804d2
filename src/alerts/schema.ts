// The JSON Schema of KiveAlert v1 (docs/alerts.md). Tests validate every
// alert they see against it; `docs/alerts.md` shows it. Extra fields are allowed, none of
// these may be missing. Keep in sync with `KiveAlertV1` in src/api/v1/types.ts.

const str = { type: 'string' } as const;
const uint = { type: 'integer', minimum: 0 } as const;

export const kiveAlertV1Schema = {
  $id: 'https://kivebpf.san7o.github.io/schemas/kive-alert-v1.json',
  type: 'object',
  required: [
    'kive-alert-version',
    'kive-policy-name',
    'timestamp',
    'metadata',
    'custom-metadata',
    'pod',
    'node',
    'process',
  ],
  properties: {
    'kive-alert-version': { const: 'v1' },
    'kive-policy-name': str,
    timestamp: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$' },
    metadata: {
      type: 'object',
      required: ['path', 'inode', 'mask', 'kernel-id'],
      properties: { path: str, inode: uint, mask: uint, 'kernel-id': str },
    },
    'custom-metadata': { type: 'object', additionalProperties: str },
    pod: {
      type: 'object',
      required: ['name', 'namespace', 'container'],
      properties: {
        name: str,
        namespace: str,
        container: { type: 'object', required: ['id', 'name'], properties: { id: str, name: str } },
      },
    },
    node: { type: 'object', required: ['name'], properties: { name: str } },
    process: {
      type: 'object',
      required: ['pid', 'tgid', 'uid', 'gid', 'binary', 'cwd', 'arguments'],
      properties: { pid: uint, tgid: uint, uid: uint, gid: uint, binary: str, cwd: str, arguments: str },
    },
  },
} as const;
