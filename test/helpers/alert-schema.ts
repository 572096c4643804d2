// Validates alerts against the KiveAlert v1 JSON Schema with ajv (shared by tests).
import { Ajv } from 'ajv';
import { kiveAlertV1Schema } from '../../src/alerts/schema.ts';

const validate = new Ajv({ allErrors: true, strict: true }).compile(kiveAlertV1Schema);

/** Throws with ajv's messages when `alert` is not a KiveAlert v1. */
export function assertKiveAlertV1(alert: unknown): void {
  if (!validate(alert)) {
    throw new Error(`not a KiveAlert v1: ${JSON.stringify(validate.errors)}\n${JSON.stringify(alert)}`);
  }
}
