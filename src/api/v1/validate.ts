// Validates a KivePolicy the way the API server would, for `kive run` where there is no
// API server: ajv runs the CRD's own schema (schema.ts), each CEL rule through its
// TypeScript twin (rules.ts). Unlike the API server, which prunes unknown fields, we
// refuse them: in a file on disk an unknown field is almost always a typo.

import { Ajv, type ErrorObject } from 'ajv';
import { RULES_BY_CEL } from './rules.ts';
import { policySpecSchema, type Schema } from './schema.ts';
import type { KivePolicySpec } from './types.ts';

/** A deep copy of `schema` where every object with declared properties is closed. */
function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(schema)) out[k] = closeObjects(v);
  if (out.type === 'object' && out.properties !== undefined && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

function buildValidator() {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true });
  // OpenAPI / Kubernetes keywords ajv does not know. Formats are checked by CEL twins.
  ajv.addKeyword({ keyword: 'x-kubernetes-list-type' });
  ajv.addKeyword({ keyword: 'x-kubernetes-list-map-keys' });
  ajv.addFormat('int64', true);
  ajv.addFormat('date-time', true);
  ajv.addKeyword({
    keyword: 'x-kubernetes-validations',
    errors: true,
    validate: function celTwin(
      this: unknown,
      rules: Array<{ rule: string; message: string }>,
      data: unknown,
    ): boolean {
      const failed = rules.filter((r) => {
        const twin = RULES_BY_CEL.get(r.rule);
        if (twin === undefined) throw new Error(`CEL rule without a TypeScript twin: ${r.rule}`);
        return !twin.check(data);
      });
      (celTwin as unknown as { errors: Partial<ErrorObject>[] }).errors = failed.map((r) => ({
        keyword: 'x-kubernetes-validations',
        message: r.message,
        params: {},
      }));
      return failed.length === 0;
    },
  });
  return ajv.compile(closeObjects(policySpecSchema) as Schema);
}

let validator: ReturnType<typeof buildValidator> | undefined;

function describe(err: ErrorObject): string {
  const path = 'spec' + err.instancePath.replace(/\/(\d+)/g, '[$1]').replace(/\//g, '.');
  switch (err.keyword) {
    case 'additionalProperties':
      return `${path}: unknown field "${String(err.params.additionalProperty)}"`;
    case 'required':
      return `${path}: missing required field "${String(err.params.missingProperty)}"`;
    case 'enum':
      return `${path}: must be one of ${(err.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${path}: ${err.message ?? err.keyword}`;
  }
}

/**
 * Checks `spec` against the KivePolicy schema, filling defaults in place (alertVersion).
 * Returns one line per problem; an empty list means valid.
 */
export function validatePolicySpec(spec: unknown): string[] {
  validator ??= buildValidator();
  if (validator(spec)) return [];
  // Ajv reports a failing CEL keyword at the field, so the messages read like the API
  // server's: "spec.traps[0].path: path must be absolute (start with /)".
  return [...new Set((validator.errors ?? []).map(describe))];
}
