// `kive run` with `create: true` when an unprivileged user owns a directory on the trap's
// path and swaps it for a symlink to another directory (a stand-in for /etc: a decoy in a
// temp dir, never the real one): before start, the start is refused naming the link; while
// running, after the honeytoken was deleted, it is not created again through the link and
// the log names the link. Root only (it switches to `nobody` for the attacker).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { writeHoneytokenPolicy } from '../helpers/kive-run.ts';
import { scaled } from '../kernels/time-scale.ts';

const run = promisify(execFile);
const KIVE = fileURLToPath(new URL('../../bin/kive', import.meta.url));
const NOBODY = 65534;
const skip = process.getuid?.() !== 0 ? 'needs root to switch to an unprivileged user' : false;

const dir = mkdtempSync(join(tmpdir(), 'kive-run-link-'));
chmodSync(dir, 0o755);
after(() => rmSync(dir, { recursive: true, force: true }));
const decoy = join(dir, 'decoy'); // root's, like /etc
const home = join(dir, 'home'); // nobody's: they may rename what is inside
const trapDir = join(home, 'd');
const honey = join(trapDir, 'honey.txt');
mkdirSync(decoy, { mode: 0o755 });
mkdirSync(home, { mode: 0o755 });
chownSync(home, NOBODY, NOBODY);
const policy = join(dir, 'policy.yaml');
writeHoneytokenPolicy(policy, 'link-test', honey);

// The attacker's moves, as nobody: an atomic swap (renameat2 RENAME_EXCHANGE, so that
// the path never goes missing in between) of the real directory and a prepared symlink,
// then, optionally, deleting the honeytoken from the real directory under its new name.
const SWAP = `
const { default: koffi } = await import(process.argv[1]);
const { unlinkSync } = await import('node:fs');
const renameat2 = koffi.load('libc.so.6').func('int renameat2(int, const char *, int, const char *, unsigned int)');
const [a, b, remove] = process.argv.slice(2);
if (renameat2(-100, a, -100, b, 2) !== 0) throw new Error('renameat2: errno ' + koffi.errno());
if (remove) unlinkSync(remove);
`;
async function asNobody(...args: string[]): Promise<void> {
  await run('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '--input-type=module', '-e', SWAP, import.meta.resolve('koffi'), ...args]);
}

function freshTrapDir(): void {
  rmSync(trapDir, { recursive: true, force: true });
  rmSync(join(home, 'swap'), { recursive: true, force: true });
  mkdirSync(trapDir, { mode: 0o755 });
  chownSync(trapDir, NOBODY, NOBODY);
  symlinkSync(decoy, join(home, 'swap'));
  chownSync(join(home, 'swap'), NOBODY, NOBODY); // lchown: the link itself is nobody's
}

const linkRefusal = `${trapDir} is a symbolic link (to ${decoy})`;

test('kive run: a trap directory swapped for a symlink before start is refused, naming it; nothing is created', { skip }, async () => {
  freshTrapDir();
  await asNobody(trapDir, join(home, 'swap'));
  assert.equal(statSync(trapDir, { throwIfNoEntry: false })?.isDirectory(), true, 'stat follows the link to the decoy');
  // A timeout: a start that is not refused runs until stopped.
  const r = await run(KIVE, ['run', '--policy', policy], { timeout: scaled(60_000) }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stderr.includes(linkRefusal), r.stderr);
  assert.deepEqual(readdirSync(decoy), []);
});

test('kive run: after a mid-run swap and delete, the honeytoken is not created through the link, and the log names it', { skip }, async () => {
  freshTrapDir();
  const child = spawn(KIVE, ['run', '--policy', policy], { stdio: ['ignore', 'ignore', 'pipe'] });
  const logs: string[] = [];
  createInterface({ input: child.stderr }).on('line', (l) => logs.push(l));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const waitFor = async <T>(what: string, fn: () => T | undefined, ms = 30_000): Promise<T> => {
    const end = Date.now() + scaled(ms);
    for (;;) {
      const v = fn();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; logs:\n${logs.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await waitFor('monitoring', () => logs.find((l) => l.includes('"msg":"monitoring"')));
    assert.equal(statSync(honey).mode & 0o777, 0o444, 'created in the real directory first');

    // d <-> swap: d is now the link to the decoy, the real directory is "swap".
    await asNobody(trapDir, join(home, 'swap'), join(home, 'swap', 'honey.txt'));
    assert.equal(existsSync(join(home, 'swap', 'honey.txt')), false, 'nobody deleted the honeytoken');
    const line = await waitFor('the refusal naming the link', () => {
      assert.deepEqual(readdirSync(decoy), [], `created through the link; logs:\n${logs.join('\n')}`);
      return logs.find((l) => l.includes(linkRefusal));
    });
    assert.match(line, /"level":(40|50)/, line); // warn or error, not info
    // The watch reacts in milliseconds and the periodic re-check runs every 2 s: give it
    // two of those to do the wrong thing.
    await new Promise((r) => setTimeout(r, 4_500));
    assert.deepEqual(readdirSync(decoy), [], logs.join('\n'));
    assert.equal(child.exitCode, null, 'still monitoring');
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, logs.join('\n'));
});
