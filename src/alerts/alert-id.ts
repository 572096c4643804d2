// Every alert carries a unique id, `alert-id`, the same on stdout and in every POST (and
// in its Idempotency-Key header), so a receiver can drop the duplicates that at-least-once
// delivery implies. It is appended by the core (core.ts) after serialization, so the
// alert builders stay as they are and `serializeAlert` stays byte-identical to
// `JSON.stringify(buildAlert())`.

import { randomUUID } from 'node:crypto';

const KEY = ',"alert-id":"';
// `,"alert-id":"` + a 36-character UUID + `"}`
const TAIL = KEY.length + 36 + 2;

/** `line` (a JSON object) with a fresh `alert-id` as its last field. */
export function addAlertId(line: string, id: string = randomUUID()): string {
  return `${line.slice(0, -1)}${KEY}${id}"}`;
}

/** The id addAlertId() put on `line`, or undefined if it has none. */
export function alertIdOf(line: string): string | undefined {
  if (line.length < TAIL || !line.startsWith(KEY, line.length - TAIL) || !line.endsWith('"}')) return undefined;
  return line.slice(line.length - TAIL + KEY.length, -2);
}
