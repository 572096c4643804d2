// Plain YAML scalars typed as kubectl (go-yaml v2) types them; the expected values are
// what `kubectl create --dry-run=server -o json` sends for each (the integration table
// checks a few of them against the real kubectl).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolvePlainLikeKubectl } from '../../src/api/v1/yaml-kubectl.ts';

const cases: Array<[string, unknown]> = [
  ['e500', 'e500'], // the yaml package's 1.1 schema: a number
  ['1e500', '1e500'], // out of float64's range: go-yaml keeps the string
  ['1:20', '1:20'], // no sexagesimal numbers
  ['1e5', 100000],
  ['.5', 0.5],
  ['-1.5e3', -1500],
  ['0444', 292], // leading 0: octal, as Go's ParseInt(s, 0, 64)
  ['0o17', 15],
  ['0x1F', 31],
  ['0b101', 5],
  ['1_000', 1000],
  ['089', 89], // not octal, but a float
  ['yes', true],
  ['Off', false],
  ['~', null],
  ['', null],
  ['2001-1-2', '2001-01-02T00:00:00Z'],
  ['2001-02-30', '2001-02-30'], // not a date
  ['web-1', 'web-1'],
  ['+', '+'],
  ['.', '.'],
  ['.inf', Number.POSITIVE_INFINITY],
];

for (const [input, want] of cases) {
  test(`plain scalar ${JSON.stringify(input)} is ${JSON.stringify(want)} as kubectl reads it`, () => {
    assert.deepEqual(resolvePlainLikeKubectl(input), want);
  });
}
