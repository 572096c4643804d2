import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parsePolicies } from '../../src/api/v1/load.ts';
import { RULES_BY_CEL } from '../../src/api/v1/rules.ts';
import { isKiveError } from '../../src/errors.ts';

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

test('every CEL rule has a TypeScript twin that accepts and refuses', () => {
  const samples: Record<string, [unknown, unknown]> = {
    "self.startsWith('/')": ['/a', 'a'],
    "!self.contains('/../') && !self.endsWith('/..')": ['/a..b/..c', '/a/../b'],
    "!self.contains('\\u0000')": ['/a', '/a\0'],
    'self % 10 <= 7 && (self / 10) % 10 <= 7 && (self / 100) % 10 <= 7': [640, 680],
    'isIP(self)': ['::1', 'localhost'],
    'self.all(k, k.size() > 0 && k.size() <= 253)': [{ a: 'b' }, { '': 'b' }],
  };
  for (const rule of RULES_BY_CEL.values()) {
    const pair = samples[rule.rule];
    if (pair === undefined) continue; // URL and containerName rules are covered above
    assert.equal(rule.check(pair[0]), true, rule.rule);
    assert.equal(rule.check(pair[1]), false, rule.rule);
  }
});
