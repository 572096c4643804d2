import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKiveError } from '../../src/errors.ts';
import { formatMode, parseOctalDigits } from '../../src/runtime/mode.ts';

test('parseOctalDigits reads decimal digits as octal', () => {
  const cases: Array<[number, number]> = [
    [444, 0o444], [644, 0o644], [600, 0o600], [777, 0o777], [0, 0], [7, 0o7], [40, 0o40], [400, 0o400],
  ];
  for (const [given, want] of cases) assert.equal(parseOctalDigits(given), want, `mode ${given}`);
  // The trap this guards against: 444 read as a plain number is 0o674.
  assert.notEqual(parseOctalDigits(444), 444);
});

test('parseOctalDigits refuses non-octal digits, out of range and non-integers', () => {
  for (const bad of [8, 9, 448, 490, 780, 778, 1000, 1777, 4755, -1, 44.5, Number.NaN, Infinity]) {
    assert.throws(() => parseOctalDigits(bad), (e) => isKiveError(e, 'KIVE_INVALID_POLICY'), `mode ${bad}`);
  }
});

test('formatMode prints four octal digits', () => {
  assert.equal(formatMode(0o444), '0444');
  assert.equal(formatMode(0o7), '0007');
});
