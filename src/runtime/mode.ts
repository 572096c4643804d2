// File modes as policies write them. KiveTrap.mode is a YAML/JSON number whose decimal
// digits are meant as octal digits (`mode: 444` means r--r--r--), because YAML 1.2 and
// JSON have no octal literals. Reading 444 as a number would give 0o674 — a plausible
// but wrong mode — so the conversion lives in one checked place.

import { KiveError } from '../errors.ts';

/** Mode given to a created honeytoken when the trap has none: rw-r--r--, like `touch` under umask 022. */
export const DEFAULT_CREATE_MODE = 0o644;

/**
 * Read the decimal digits of `value` as octal digits: 444 -> 0o444, 640 -> 0o640, 0 -> 0.
 * Only permission bits are accepted (0..777); setuid/setgid/sticky are refused on purpose,
 * a honeytoken never needs them. Throws KIVE_INVALID_POLICY for a negative, fractional or
 * too large value or a digit 8 or 9.
 */
export function parseOctalDigits(value: number): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > 777) {
    throw new KiveError('KIVE_INVALID_POLICY', `trap mode ${value}: must be 0 to 777, written as octal digits (e.g. 444 for r--r--r--)`);
  }
  const digits = String(value);
  if (/[89]/.test(digits)) {
    throw new KiveError('KIVE_INVALID_POLICY', `trap mode ${value}: digit 8 or 9 is not octal (write the mode as octal digits, e.g. 640)`);
  }
  return Number.parseInt(digits, 8);
}

/** `0o444` -> "0444", for messages. */
export function formatMode(bits: number): string {
  return '0' + (bits & 0o7777).toString(8).padStart(3, '0');
}
