// The `kive` command as a user meets it: --version, --help of every command listing every
// flag, docs/cli.md current, and bad input (flags, policies, kubeconfig) giving one clear
// line on stderr, exit 2 and nothing on stdout. Runs the built CLI (make build).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cliReference, COMMANDS } from '../../src/cli/flags.ts';

const KIVE = fileURLToPath(new URL('../../bin/kive', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kive-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// No kubeconfig reaches the child unless a test gives one: not the caller's, not a pod's.
const { KUBECONFIG: _k, KUBERNETES_SERVICE_HOST: _h, ...cleanEnv } = process.env;
const baseEnv = { ...cleanEnv, HOME: dir };

function kive(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return kiveEnv({}, ...args);
}

function kiveEnv(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // The timeout turns a command that should have stopped (and runs on) into a failure.
    execFile(KIVE, args, { env: { ...baseEnv, ...env }, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? -1) : 0, stdout, stderr }),
    );
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

test('kive --version prints the version of package.json', async () => {
  const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V', 'version']) {
    const r = await kive(flag);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `kive ${version}\n`);
    assert.equal(r.stderr, '');
  }
});

for (const cmd of COMMANDS) {
  test(`kive ${cmd.name} --help lists every flag and exits 0`, async () => {
    const r = await kive(cmd.name, '--help');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, new RegExp(`^usage: kive ${cmd.name} `));
    const listed = [...r.stdout.matchAll(/^ {2}(?:-\w, )?--([a-z-]+)/gm)].map((m) => m[1]);
    assert.deepEqual(listed, Object.keys(cmd.flags));
    assert.equal((await kive('help', cmd.name)).stdout, r.stdout, '`kive help CMD` is the same text');
    assert.equal((await kive(cmd.name, '-h')).stdout, r.stdout);
  });
}

test('kive help lists every command', async () => {
  const r = await kive('help');
  assert.equal(r.code, 0);
  for (const cmd of COMMANDS) assert.match(r.stdout, new RegExp(`^ {2}${cmd.name} `, 'm'));
});

test('docs/cli.md is generated from the flag tables (run `make docs`)', () => {
  assert.equal(readFileSync(join(REPO, 'docs/cli.md'), 'utf8'), cliReference());
});

// The operator stops before touching the cluster when it has no usable kubeconfig.
const operator = (...args: string[]) => ['operator', '--node-name', 'n1', ...args];
const kubeconfigCases: Array<[string, NodeJS.ProcessEnv, () => string[], RegExp]> = [
  ['a --kubeconfig that does not exist', {}, () => operator('--kubeconfig', join(dir, 'nope')), /^kive: --kubeconfig \S+nope: no such file$/],
  ['a $KUBECONFIG that does not exist', { KUBECONFIG: join(dir, 'gone') }, () => operator(), /^kive: \$KUBECONFIG names \S+gone: no such file$/],
  ['no kubeconfig anywhere', {}, () => operator(), /^kive: no kubeconfig: pass --kubeconfig FILE or set \$KUBECONFIG \(\S+\/\.kube\/config does not exist/],
  ['a kubeconfig that is not YAML', {}, () => operator('--kubeconfig', policyFile('kc-bad', '{{{')), /^kive: --kubeconfig \S+kc-bad: not a usable kubeconfig: /],
  ['a kubeconfig without a current context', {}, () => operator('--kubeconfig', policyFile('kc-empty', 'apiVersion: v1\nkind: Config\n')), /^kive: kubeconfig: no current context/],
];
for (const [name, env, args, message] of kubeconfigCases) {
  test(`kive operator with ${name}: one line, exit 2`, async () => {
    const r = await kiveEnv(env, ...args());
    assert.equal(r.stdout, '');
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trimEnd(), message);
  });
}

test('make run keeps make\'s and the build\'s lines off stdout', { timeout: 30 * 60_000 }, async () => {
  // A policy that cannot be read ends `kive run` at once, without root: stdout must be empty.
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    // As a user types it: not nested in this suite's own make (which would add make[1]'s
    // "Entering directory" lines, as any make below another one prints them).
    const { MAKELEVEL: _l, MAKEFLAGS: _f, MFLAGS: _m, ...env } = process.env;
    execFile('make', ['run', `POLICY=${join(dir, 'missing.yaml')}`], { cwd: REPO, env, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
    );
  });
  assert.equal(r.stdout, '', 'stdout carries alerts only');
  assert.match(r.stderr, /tsc -p tsconfig\.json/, 'the build ran, its lines on stderr');
  assert.match(r.stderr, /^kive: \S+missing\.yaml: cannot read: no such file/m);
  assert.notEqual(r.code, 0);
});

test('kive crds prints both CRDs', async () => {
  const r = await kive('crds');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /name: kivepolicies\.kivebpf\.san7o\.github\.io/);
  assert.match(r.stdout, /name: kivedata\.kivebpf\.san7o\.github\.io/);
});
