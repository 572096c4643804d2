// `kive run` on the tracepoint backend keeps a trap on its file, not just its path
// (issue 9): a trapped file moved away, or kept through a hard link while a decoy takes
// its name, still raises an alert when read, and the move or replacement is an alert
// itself. The attack runs in one shell, faster than any re-check. Root only.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { assertKiveAlertV1 } from '../helpers/alert-schema.ts';
import { startKiveRun, type KiveRun } from '../helpers/kive-run.ts';

const sh = (script: string, cwd: string) => promisify(execFile)('sh', ['-c', script], { cwd });
const root = process.getuid?.() === 0;

/** A directory with secret.txt, trapped by a `kive run` on the tracepoint backend once it says "monitoring". */
async function trapDir(name: string): Promise<{ dir: string; ino: number; kive: KiveRun }> {
  const dir = mkdtempSync(join(tmpdir(), `kive-${name}-`));
  chmodSync(dir, 0o755);
  after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'secret.txt'), 'token\n');
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, `apiVersion: kivebpf.san7o.github.io/v1\nkind: KivePolicy\nmetadata:\n  name: follow\nspec:\n  traps:\n    - path: ${join(dir, 'secret.txt')}\n`);
  const ino = Number(statSync(join(dir, 'secret.txt')).ino);
  const kive = startKiveRun(['--policy', policy, '--backend', 'tracepoint']);
  try {
    await kive.waitFor('"monitoring"', () => kive.logs.find((l) => l.includes('"msg":"monitoring"')));
  } catch (err) {
    await kive.stop();
    throw err;
  }
  return { dir, ino, kive };
}

const readOf = (ino: number) => (a: Record<string, any>) => a.metadata.inode === ino && a.process.comm === 'cat' ? a : undefined;

test('mv secret.txt secret.moved; touch secret.txt; cat secret.moved: alerted, and the move too', { skip: !root && 'needs root' }, async () => {
  const { dir, ino, kive } = await trapDir('follow-mv');
  try {
    await sh('mv secret.txt secret.moved; touch secret.txt; cat secret.moved >/dev/null', dir);
    const read = await kive.waitFor('alert for reading the moved file', () => kive.alerts.find((a) => readOf(ino)(a)));
    assertKiveAlertV1(read);
    const moved = await kive.waitFor('"moved" alert', () => kive.alerts.find((a) => a.metadata.operation === 'moved'));
    assertKiveAlertV1(moved);
    assert.equal(moved.metadata.inode, ino);
    assert.equal(moved.metadata['current-path'], join(dir, 'secret.moved'));
    assert.equal(moved.process.known, false);
    // the new file at the path is armed as well
    await kive.waitFor('the new file armed', () => kive.logs.find((l) => l.includes('now watching the new inode')));
    const fresh = Number(statSync(join(dir, 'secret.txt')).ino);
    await sh('cat secret.txt', dir);
    await kive.waitFor('alert for the new file at the path', () => kive.alerts.find((a) => readOf(fresh)(a)));
  } finally {
    assert.equal(await kive.stop(), 0, kive.logs.join('\n'));
  }
});

test('ln secret.txt .keep; a decoy renamed over secret.txt; cat .keep: alerted, and the replacement too', { skip: !root && 'needs root' }, async () => {
  const { dir, ino, kive } = await trapDir('follow-ln');
  try {
    writeFileSync(join(dir, 'decoy'), 'nothing here\n');
    await sh('ln secret.txt .keep; mv decoy secret.txt; cat .keep >/dev/null', dir);
    const read = await kive.waitFor('alert for reading .keep', () => kive.alerts.find((a) => readOf(ino)(a)));
    assertKiveAlertV1(read);
    const ops = await kive.waitFor('the replacement reported', () => {
      const seen = kive.alerts.filter((a) => a.metadata.inode === ino && a.process.known === false).map((a) => a.metadata.operation);
      return seen.includes('replaced') || seen.includes('moved') ? seen : undefined;
    });
    // Both steps ran before Kive looked: the link count is back to 1 and the name is
    // gone, so it can be `replaced`, or `linked` then `replaced` if it looked between.
    assert.ok(ops.includes('replaced'), `operations: ${ops.join(', ')}`);
  } finally {
    assert.equal(await kive.stop(), 0, kive.logs.join('\n'));
  }
});
