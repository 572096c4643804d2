// The JSON Schema of the chart's values (deploy/helm/kive/values.schema.json), from the
// same definitions as values.ts and the operator's flags. Helm checks values against it on
// install, upgrade, template and lint, so a typo (`backend: fenty`, `criSockett: ...`) is
// one clear error at `helm install` instead of a DaemonSet in CrashLoopBackOff.

import { BACKEND_CHOICES } from '../../src/kernel/backends/index.ts';
import { LOG_FORMATS } from '../../src/log.ts';
import { CRI_SOCKETS, VALUE_DOCS, type Values } from './values.ts';

type Schema = Record<string, unknown>;
const str: Schema = { type: 'string' };
const obj = (properties: Record<string, Schema>): Schema =>
  ({ type: 'object', additionalProperties: false, required: Object.keys(properties), properties });
const int = (minimum: number, maximum?: number): Schema => ({ type: 'integer', minimum, ...(maximum !== undefined ? { maximum } : {}) });

const PROPERTIES: Record<keyof Values, Schema> = {
  // A namespace name is a DNS label (RFC 1123).
  namespace: obj({ name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' }, create: { type: 'boolean' } }),
  image: obj({ repository: { type: 'string', minLength: 1 }, tag: str, pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] } }),
  criSocket: { type: 'string', pattern: `^(auto|${Object.keys(CRI_SOCKETS).join('|')}|/.+)$` },
  resources: { type: 'object' },
  tolerations: { type: 'array', items: { type: 'object' } },
  nodeSelector: { type: 'object', additionalProperties: { type: 'string' } },
  priorityClassName: str,
  backend: { enum: [...BACKEND_CHOICES] },
  metricsPort: int(1, 65535),
  logFormat: { enum: [...LOG_FORMATS] },
  callbackSecret: obj({ name: str, secretKey: str, caKey: str }),
  privileged: { type: 'boolean' },
  terminationGracePeriodSeconds: int(1),
  kernelGraceSeconds: int(1),
  extraArgs: { type: 'array', items: { type: 'string', pattern: '^--' } },
};

export function valuesSchema(): Schema {
  const properties = Object.fromEntries(
    (Object.keys(PROPERTIES) as Array<keyof Values>).map((k) => [k, { description: VALUE_DOCS[k], ...PROPERTIES[k] }]),
  );
  return { $schema: 'https://json-schema.org/draft-07/schema#', title: 'Kive chart values', type: 'object', additionalProperties: false, properties };
}
