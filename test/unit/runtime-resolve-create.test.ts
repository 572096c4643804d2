// resolveInRoot with create: a honeytoken is created exactly at the policy's path, never
// through a symlink in any component, whoever owns the directories and whenever the link
// appears (before the call, or while it runs: the race test). Real directories, as roots
// (a container's view) and with root "/" (kive run), always aimed at decoy directories.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isKiveError } from '../../src/errors.ts';
import { resolveInRoot } from '../../src/runtime/resolve.ts';

interface Case {
  /** What resolveInRoot gets as root. */
  root: string;
  /** Host path of that root's "/". */
  base: string;
  /** The decoy directory, as a link inside the root names it. */
  decoyTarget: string;
  /** The decoy directory on the host, to check it stays empty. */
  decoy: string;
}

// Two views of the same layout: a directory used as a container root (links are
// in-root absolute paths), and the host root "/" (links are host paths), as kive run has it.
function cases(t: { after: (fn: () => void) => void }): Case[] {
  const base = mkdtempSync(join(tmpdir(), 'kive-create-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(join(base, 'decoy/p'), { recursive: true });
  mkdirSync(join(base, 'home/u'), { recursive: true });
  return [
    { root: base, base, decoyTarget: '/decoy', decoy: join(base, 'decoy') },
    { root: '/', base, decoyTarget: join(base, 'decoy'), decoy: join(base, 'decoy') },
  ];
}

const inRoot = (c: Case, p: string) => (c.root === '/' ? join(c.base, p) : p);
const unsafe = (component: string, target: string) => (e: unknown) =>
  isKiveError(e, 'KIVE_UNSAFE_PATH') && e.message.includes(`refused: ${component} is a symbolic link (to ${target})`);

function decoyTree(c: Case): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const n of readdirSync(d, { withFileTypes: true })) {
      out.push(`${rel}${n.name}`);
      if (n.isDirectory()) walk(join(d, n.name), `${rel}${n.name}/`);
    }
  };
  walk(c.decoy, '');
  return out.sort();
}

test('a symlinked parent directory is refused, naming it and its target; nothing is created behind it', (t) => {
  for (const c of cases(t)) {
    symlinkSync(c.decoyTarget, join(c.base, 'home/u/d'));
    const path = inRoot(c, '/home/u/d/honey.txt');
    assert.throws(() => resolveInRoot({ root: c.root, path, create: true, mode: 444 }), unsafe(inRoot(c, '/home/u/d'), c.decoyTarget), c.root);
    assert.deepEqual(decoyTree(c), ['p'], c.root);
    rmSync(join(c.base, 'home/u/d'));
  }
});

test('a symlinked grandparent is refused, naming it; nothing is created behind it', (t) => {
  for (const c of cases(t)) {
    symlinkSync(c.decoyTarget, join(c.base, 'home/u/g'));
    const path = inRoot(c, '/home/u/g/p/honey.txt');
    assert.throws(() => resolveInRoot({ root: c.root, path, create: true }), unsafe(inRoot(c, '/home/u/g'), c.decoyTarget), c.root);
    assert.deepEqual(decoyTree(c), ['p'], c.root);
    rmSync(join(c.base, 'home/u/g'));
  }
});

test('a dangling symlinked parent is refused as unsafe, not reported missing', (t) => {
  for (const c of cases(t)) {
    const target = `${c.decoyTarget}/not-yet`;
    symlinkSync(target, join(c.base, 'home/u/d'));
    assert.throws(() => resolveInRoot({ root: c.root, path: inRoot(c, '/home/u/d/honey.txt'), create: true }), unsafe(inRoot(c, '/home/u/d'), target), c.root);
    assert.deepEqual(decoyTree(c), ['p'], c.root);
    rmSync(join(c.base, 'home/u/d'));
  }
});

test('a symlink as the final component is refused; its target is neither created nor touched', (t) => {
  for (const c of cases(t)) {
    symlinkSync(`${c.decoyTarget}/new.txt`, join(c.base, 'home/u/honey.txt'));
    writeFileSync(join(c.decoy, 'p/old.txt'), 'decoy\n');
    symlinkSync(`${c.decoyTarget}/p/old.txt`, join(c.base, 'home/u/old.txt'));
    for (const name of ['honey.txt', 'old.txt']) {
      assert.throws(
        () => resolveInRoot({ root: c.root, path: inRoot(c, `/home/u/${name}`), create: true }),
        (e) => isKiveError(e, 'KIVE_UNSAFE_PATH') && /final component is a symbolic link/.test(e.message),
        `${c.root} ${name}`,
      );
    }
    assert.deepEqual(decoyTree(c), ['p', 'p/old.txt'], c.root);
    assert.equal(readFileSync(join(c.decoy, 'p/old.txt'), 'utf8'), 'decoy\n');
    for (const n of ['home/u/honey.txt', 'home/u/old.txt', 'decoy/p/old.txt']) rmSync(join(c.base, n));
  }
});

test('an existing file is armed as is: never truncated, rewritten or chmod\'ed, also behind a link', (t) => {
  for (const c of cases(t)) {
    mkdirSync(join(c.base, 'home/u/real'));
    const file = join(c.base, 'home/u/real/honey.txt');
    writeFileSync(file, 'keep every byte\n', { mode: 0o600 });
    symlinkSync(c.root === '/' ? join(c.base, 'home/u/real') : '/home/u/real', join(c.base, 'home/u/link'));
    const before = statSync(file, { bigint: true });
    for (const p of ['/home/u/real/honey.txt', '/home/u/link/honey.txt']) {
      const r = resolveInRoot({ root: c.root, path: inRoot(c, p), create: true, mode: 444 });
      assert.equal(r.created, false, p);
      assert.equal(r.ino, before.ino, p);
      // The location is the file's, not the policy's: what logs must name.
      assert.equal(r.resolvedPath, inRoot(c, '/home/u/real/honey.txt'), p);
    }
    const after = statSync(file, { bigint: true });
    assert.equal(readFileSync(file, 'utf8'), 'keep every byte\n');
    assert.deepEqual([after.mode, after.size, after.mtimeNs, after.ctimeNs], [before.mode, before.size, before.mtimeNs, before.ctimeNs]);
    rmSync(join(c.base, 'home/u/real'), { recursive: true });
    rmSync(join(c.base, 'home/u/link'));
  }
});

test('a created file is where the path says, and create needs a file name', (t) => {
  for (const c of cases(t)) {
    const path = inRoot(c, '/home/u/honey.txt');
    const r = resolveInRoot({ root: c.root, path, create: true, mode: 400 });
    assert.equal(r.created, true);
    assert.equal(r.resolvedPath, path);
    assert.equal(statSync(join(c.base, 'home/u/honey.txt'), { bigint: true }).ino, r.ino);
    assert.throws(() => resolveInRoot({ root: c.root, path: inRoot(c, '/home/u/'), create: true }), (e) => isKiveError(e, 'KIVE_INVALID_POLICY'));
    rmSync(join(c.base, 'home/u/honey.txt'));
  }
});

// While another process swaps the directory for a link to the decoy and back as fast as
// it can, every create either lands in the real directory or is refused: the decision
// and the create use the same directory fd, so there is no window between them.
test('a directory swapped for a link while creating never redirects the create (TOCTOU)', async (t) => {
  const c = cases(t)[1]!; // root "/", as kive run
  const real = join(c.base, 'home/u/d');
  mkdirSync(real);
  // A name for the real directory that the swaps cannot move: its fd.
  const realFd = openSync(real, 'r');
  t.after(() => closeSync(realFd));
  const inReal = `/proc/self/fd/${realFd}/honey.txt`;
  symlinkSync(c.decoy, join(c.base, 'home/u/dlink'));
  const swapper = spawn(process.execPath, ['-e', `
    const { renameSync } = require('node:fs');
    const [d, hold, link] = process.argv.slice(1);
    process.stdout.write('ready\\n');
    for (;;) { renameSync(d, hold); renameSync(link, d); renameSync(d, link); renameSync(hold, d); }
  `, real, join(c.base, 'home/u/d.hold'), join(c.base, 'home/u/dlink')], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => swapper.kill('SIGKILL'));
  await new Promise((r) => swapper.stdout.once('data', r));

  const path = join(c.base, 'home/u/d/honey.txt');
  let created = 0;
  let refused = 0;
  const end = Date.now() + 60_000;
  for (let i = 0; (created < 20 || refused < 20) && Date.now() < end; i++) {
    try {
      const r = resolveInRoot({ root: '/', path, create: true });
      if (r.created) {
        created++;
        // The new file is the one in the real directory, whatever its name is right now.
        assert.equal(statSync(inReal, { bigint: true }).ino, r.ino, `created file ${r.resolvedPath} is not in the real directory`);
      }
    } catch (err) {
      if (!isKiveError(err, 'KIVE_UNSAFE_PATH') && !isKiveError(err, 'KIVE_PATH_NOT_FOUND')) throw err;
      if (isKiveError(err, 'KIVE_UNSAFE_PATH')) refused++;
    }
    assert.deepEqual(decoyTree(c), ['p'], `created through the link on attempt ${i}`);
    rmSync(inReal, { force: true });
  }
  swapper.kill('SIGKILL');
  assert.ok(created > 0 && refused > 0, `the swap must have been seen both ways (created ${created}, refused ${refused})`);
});
