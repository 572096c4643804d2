import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parsePolicies } from '../../src/api/v1/load.ts';
import { RULES_BY_CEL, containerNameForm, metadataKeys } from '../../src/api/v1/rules.ts';
import { isKiveError } from '../../src/errors.ts';
import { VALIDATION_CASES, caseYaml } from '../helpers/policy-validation-cases.ts';

const sample = readFileSync(new URL('../../examples/design-sample-policy.yaml', import.meta.url), 'utf8');

test('the design document sample policy is valid and gets alertVersion v1 by default', () => {
  const [policy] = parsePolicies(sample.replace('  alertVersion: v1\n', ''), 'sample.yaml');
  assert.equal(policy?.metadata.name, 'kive-sample-policy');
  assert.equal(policy?.spec.alertVersion, 'v1');
  assert.equal(policy?.spec.traps[0]?.mode, 444);
  assert.deepEqual(policy?.spec.traps[0]?.matchAny?.[0]?.matchLabels, { 'security-level': 'high' });
});

// Each case: a change to the sample and the message the user must see.
const bad: Array<[string, string, string, RegExp]> = [
  ['relative path', '- path: /secret.txt', '- path: secret.txt', /spec\.traps\[0\]\.path: path must be absolute/],
  ['.. segment', '- path: /secret.txt', '- path: /etc/../shadow', /'\.\.' segment/],
  ['mode with 9', 'mode: 444', 'mode: 449', /spec\.traps\[0\]\.mode: mode must be written as octal digits/],
  ['mode too large', 'mode: 444', 'mode: 1777', /mode/],
  ['mode with leading 0 (octal in YAML 1.1, as kubectl reads it)', 'mode: 444', 'mode: 0444', /octal digits/],
  ['ftp callback', 'http://my-callback.com/alerts', 'ftp://my-callback.com/alerts', /callback must be an http/],
  ['bad ip', '192.168.0.3', '192.168.0.300', /ip must be an IPv4 or IPv6/],
  ['bad regex', '"regex: .*"', '"regex: (unclosed"', /containerName must be/],
  ['lookahead is not RE2', '"regex: .*"', '"regex: (?=x)"', /containerName must be/],
  ['empty glob', '"regex: .*"', '"glob: "', /containerName must be/],
  ['empty match block', '- pod: nginx-pod', '- {}\n      - pod: nginx-pod', /matchAny\[0\]: must NOT have fewer than 1 properties/],
  [
    'empty matchAny',
    'matchAny:\n      - pod: nginx-pod\n        namespace: default\n        ip: 192.168.0.3\n        containerName: "regex: .*"\n        matchLabels:\n          security-level: high\n',
    'matchAny: []\n',
    /matchAny: must NOT have fewer than 1 items/,
  ],
  ['unknown field', 'create: true', 'create: true\n      crate: true', /unknown field "crate"/],
  ['wrong type', 'create: true', 'create: "yes"', /create: must be boolean/],
  ['bad alertVersion', 'alertVersion: v1', 'alertVersion: v2', /alertVersion: must be one of "v1"/],
  ['missing path', '- path: /secret.txt\n      create: true\n', '- create: true\n', /missing required field "path"/],
  ['wrong kind', 'kind: KivePolicy', 'kind: KiveData', /expected apiVersion .* and kind KivePolicy/],
];

for (const [name, from, to, message] of bad) {
  test(`refused with a clear message: ${name}`, () => {
    const text = sample.replace(from, to);
    assert.notEqual(text, sample, 'the case must change the sample');
    assert.throws(
      () => parsePolicies(text, 'p.yaml'),
      (err: unknown) => isKiveError(err, 'KIVE_INVALID_POLICY') && message.test(err.message) && !err.message.includes('\n'),
    );
  });
}

test('invalid YAML names the line', () => {
  assert.throws(() => parsePolicies('spec:\n  traps: [\n', 'p.yaml'), /p\.yaml: line \d+: invalid YAML/);
});

// The cross-checked table (test/integration/policy-validation.test.ts feeds it to the API
// server too), here against kive run's loader alone.
for (const [i, c] of VALIDATION_CASES.entries()) {
  test(`validation table: ${c.name} is ${c.refuse ? 'refused' : 'accepted'} by kive run`, () => {
    const text = caseYaml(c, i);
    if (c.refuse === undefined) {
      assert.equal(parsePolicies(text, 'p.yaml').length, 1);
      return;
    }
    assert.throws(() => parsePolicies(text, 'p.yaml'), (err: unknown) => isKiveError(err, 'KIVE_INVALID_POLICY') && c.refuse!.test(err.message) && !err.message.includes('\n'));
  });
}

test('every CEL rule refuses at least one case of the table', () => {
  const covered = new Set(VALIDATION_CASES.map((c) => c.rule));
  for (const rule of RULES_BY_CEL.values()) {
    if (rule === containerNameForm || rule === metadataKeys) continue; // covered by the cases above
    assert.ok(covered.has(rule), rule.message);
  }
});
