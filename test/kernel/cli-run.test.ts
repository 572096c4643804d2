// `kive run` as a user runs it, on the real kernel: honeytoken created, an alert for a
// `cat` of it, monitoring following a file renamed over the trap, a clean exit on
// SIGTERM; and the clear refusal when not root. Root only; runs in the QEMU guests too.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { assertKiveAlertV1 } from '../helpers/alert-schema.ts';
import { scaled } from '../kernels/time-scale.ts';
import { findCgroup2Root } from '../../src/runtime/cgroup-tree.ts';

const run = promisify(execFile);
const KIVE = fileURLToPath(new URL('../../bin/kive', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kive-run-'));
chmodSync(dir, 0o755);
after(() => rmSync(dir, { recursive: true, force: true }));
const honey = join(dir, 'honey.txt');
const policy = join(dir, 'policy.yaml');
writeFileSync(
  policy,
  `apiVersion: kivebpf.san7o.github.io/v1
kind: KivePolicy
metadata:
  name: cli-test
spec:
  traps:
    - path: ${honey}
      create: true
      mode: 444
      metadata:
        severity: critical
    - path: ${join(dir, 'by-binary.txt')}
      create: true
      exclude:
        binaries: [${realpathSync('/bin/cat')}]
    - path: ${join(dir, 'planting.txt')}
      create: true
      exclude:
        plantingWindowSeconds: 600
`,
);
// The accessor is placed in the cgroup v2 tree; a guest without one says it cannot.
const cgroupV2 = findCgroup2Root() !== undefined;

test('kive run: honeytoken, alert on cat, follows a replaced file, exits cleanly on SIGTERM', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async () => {
  const child = spawn(KIVE, ['run', '--policy', policy], { stdio: ['ignore', 'pipe', 'pipe'] });
  const alerts: Array<Record<string, any>> = [];
  const logs: string[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => alerts.push(JSON.parse(l)));
  createInterface({ input: child.stderr }).on('line', (l) => logs.push(l));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const waitFor = async <T>(what: string, fn: () => T | undefined, ms = scaled(15_000)): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = fn();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; logs:\n${logs.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await waitFor('monitoring', () => logs.find((l) => l.includes('"msg":"monitoring"')));
    assert.equal(statSync(honey).mode & 0o777, 0o444, 'created with the octal mode');

    await run('cat', [honey]);
    const first = await waitFor('alert for cat', () => alerts.find((a) => a.process?.comm === 'cat'));
    assertKiveAlertV1(first);
    assert.equal(first.metadata.path, honey);
    assert.equal(first.metadata.inode, Number(statSync(honey).ino));
    assert.equal(first.process.binary.endsWith('/cat'), true, first.process.binary);
    assert.equal(first.process.arguments, honey);
    assert.deepEqual(first['custom-metadata'], { severity: 'critical' });
    if (cgroupV2) assert.equal(first.accessor.host, true, JSON.stringify(first.accessor));
    else assert.match(first.accessor['unknown-reason'], /no cgroup v2/);

    // Exclusions: a host binary (only where the accessor is known: it fails closed), and the planting window.
    await run('cat', [join(dir, 'by-binary.txt')]);
    await run('cat', [join(dir, 'planting.txt')]);
    await run('cat', [honey]);
    await waitFor('the alert after the excluded reads', () => (alerts.filter((a) => a.metadata.path === honey).length >= 2 ? true : undefined));
    assert.equal(alerts.filter((a) => a.metadata.path === join(dir, 'planting.txt')).length, 0, 'inside the planting window');
    assert.equal(alerts.filter((a) => a.metadata.path === join(dir, 'by-binary.txt')).length, cgroupV2 ? 0 : 1);

    // replace the file the way editors do: write a new one and rename it over
    writeFileSync(join(dir, 'new'), 'replaced');
    renameSync(join(dir, 'new'), honey);
    const newIno = Number(statSync(honey).ino);
    await waitFor('the trap to follow the new inode', () => logs.find((l) => l.includes('now watching the new inode')));
    await run('cat', [honey]);
    const second = await waitFor('alert for the replaced file', () => alerts.find((a) => a.metadata.inode === newIno));
    assert.equal(second.metadata.path, honey);
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, logs.join('\n'));
  assert.ok(logs.some((l) => l.includes('"msg":"stopping"')));
  const stopped = JSON.parse(logs.find((l) => l.includes('"msg":"stopped"'))!);
  assert.equal(stopped.excluded, cgroupV2 ? 2 : 1, 'each excluded access counted');
});

test('kive run as a non-root user: a clear refusal, nothing created', { skip: process.getuid?.() !== 0 ? 'needs root to switch to an unprivileged user' : false }, async () => {
  const target = join(dir, 'never-created.txt');
  const p = join(dir, 'nonroot.yaml');
  writeFileSync(p, `apiVersion: kivebpf.san7o.github.io/v1\nkind: KivePolicy\nmetadata:\n  name: x\nspec:\n  traps:\n    - path: ${target}\n      create: true\n`);
  chmodSync(p, 0o644);
  const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', KIVE, 'run', '--policy', p]).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(r.code, 1);
  assert.match(r.stderr.split('\n')[0]!, /^kive: .*root/i);
  assert.throws(() => statSync(target));
});
