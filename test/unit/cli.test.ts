// The `kive` command's handling of bad input: one clear line on stderr, a non-zero exit,
// and nothing touched. Runs the built CLI (make build).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const KIVE = fileURLToPath(new URL('../../bin/kive', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kive-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function kive(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(KIVE, args, (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }));
  });
}

function policyFile(name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, body);
  return p;
}

const valid = (path: string, extra = '') => `apiVersion: kivebpf.san7o.github.io/v1
kind: KivePolicy
metadata:
  name: p
spec:
  traps:
    - path: ${path}${extra}
`;

const cases: Array<[string, () => string[], RegExp]> = [
  ['a missing policy file', () => ['run', '--policy', join(dir, 'nope.yaml')], /nope\.yaml: cannot read: no such file/],
  ['invalid YAML', () => ['run', '--policy', policyFile('bad.yaml', 'spec: [\n')], /bad\.yaml: line \d+: invalid YAML/],
  ['a relative path', () => ['run', '--policy', policyFile('rel.yaml', valid('etc/shadow'))], /spec\.traps\[0\]\.path: path must be absolute/],
  ['an unknown field', () => ['run', '--policy', policyFile('unk.yaml', valid('/x', '\n      crate: true'))], /unknown field "crate"/],
  ['a mode that is not octal digits', () => ['run', '--policy', policyFile('mode.yaml', valid('/x', '\n      mode: 448'))], /octal digits/],
  ['no --policy', () => ['run'], /run needs --policy FILE/],
  ['an unknown option', () => ['run', '--polcy', 'x'], /Unknown option '--polcy'/],
  ['an unknown backend', () => ['run', '--policy', 'x', '--backend', 'lsm'], /--backend must be one of/],
  ['an aggregation window that is not milliseconds', () => ['run', '--policy', 'x', '--aggregate-window', '1s'], /--aggregate-window must be milliseconds/],
  ['a negative aggregation window', () => ['run', '--policy', 'x', '--aggregate-window=-1'], /--aggregate-window must be milliseconds/],
  ['an unknown command', () => ['frobnicate'], /unknown command "frobnicate"/],
];

for (const [name, args, message] of cases) {
  test(`kive ${name}: one clear line, exit 2, no output on stdout`, async () => {
    const r = await kive(...args());
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    const first = r.stderr.split('\n')[0]!;
    assert.match(first, /^kive: /);
    assert.match(first, message);
  });
}

test('kive crds prints both CRDs', async () => {
  const r = await kive('crds');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /name: kivepolicies\.kivebpf\.san7o\.github\.io/);
  assert.match(r.stdout, /name: kivedata\.kivebpf\.san7o\.github\.io/);
});
