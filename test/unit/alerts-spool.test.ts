// The callback spool (src/alerts/spool.ts) and the callback sink with one: a file per
// queued alert, removed at its final outcome, kept at shutdown (counted as spooled),
// queued again by the next sink with the same body and Idempotency-Key; bounded, safe
// modes, corrupt files deleted, one process per directory.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { addAlertId, alertIdOf } from '../../src/alerts/alert-id.ts';
import { CallbackSink } from '../../src/alerts/callback.ts';
import type { PostOptions, PostResult } from '../../src/alerts/http-post.ts';
import { checkSpoolDir, Spool } from '../../src/alerts/spool.ts';
import type { KiveError } from '../../src/errors.ts';

const root = mkdtempSync(join(tmpdir(), 'kive-spool-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `s${n++}`, 'spool');

const alert = (i: number) => addAlertId(JSON.stringify({ 'kive-alert-version': 'v1', i }));
const URL_A = 'http://127.0.0.1:9/a';
const URL_B = 'http://127.0.0.1:9/b';
const fast = { baseBackoffMs: 5, maxBackoffMs: 20, warnEveryMs: 0 };
/** The alert files, oldest first. */
const files = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

function logs() {
  const lines: Array<{ msg: string; obj: Record<string, unknown> }> = [];
  const push = (obj: object, msg: string) => void lines.push({ msg, obj: obj as Record<string, unknown> });
  return { lines, log: { warn: push, info: push } };
}

/** A receiver the test switches: 'down' answers 503, 'never' never answers, else the status. */
function receiver(state: { mode: 'down' | 'never' | number }) {
  const got: Array<{ url: string; body: string; key: string | undefined }> = [];
  const post = (url: URL, body: string, o: PostOptions): Promise<PostResult> => {
    if (state.mode === 'never') return new Promise(() => {});
    if (state.mode === 'down') return Promise.resolve({ status: 503 });
    got.push({ url: url.href, body, key: o.headers['idempotency-key'] });
    return Promise.resolve({ status: state.mode });
  };
  return { got, post };
}

/**
 * Another Node process running `body` (an ES module) with the spool, the callback sink,
 * addAlertId and a few node:fs calls imported; `args` are its process.argv[1...].
 */
function child(body: string, args: string[]) {
  const src = (f: string) => JSON.stringify(new URL(`../../src/alerts/${f}`, import.meta.url).href);
  const script = [
    `import { closeSync, existsSync, openSync, unlinkSync } from 'node:fs';`,
    `const { Spool } = await import(${src('spool.ts')});`,
    `const { CallbackSink } = await import(${src('callback.ts')});`,
    `const { addAlertId } = await import(${src('alert-id.ts')});`,
    body,
  ].join('\n');
  const proc = spawn(process.execPath, ['--no-memory-protection-keys', '--input-type=module', '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, exited, stdout: () => out, stderr: () => err };
}

async function until(what: string, fn: () => boolean, ms = 5_000): Promise<void> {
  for (const end = Date.now() + ms; !fn(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('one 0600 file per queued alert in a 0700 directory, removed when it is delivered or finally fails', async () => {
  const dir = freshDir();
  const spool = await Spool.open(dir);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  const state: { mode: 'down' | 'never' | number } = { mode: 'down' };
  const rx = receiver(state);
  const sink = new CallbackSink({ ...fast, post: rx.post, spool });
  const bodies = [alert(0), alert(1), alert(2)];
  for (const b of bodies) sink.send(URL_A, b);
  await spool.settle(1_000);
  const names = files(dir);
  assert.equal(names.length, 3);
  for (const [i, name] of names.entries()) {
    const body = bodies[i] as string;
    assert.match(name, new RegExp(`^\\d{12}-${alertIdOf(body)}\\.json$`), 'oldest first, named by sequence and alert-id');
    assert.equal(statSync(join(dir, name)).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, name), 'utf8')), { v: 1, url: URL_A, id: alertIdOf(body), body });
  }
  state.mode = 200;
  await sink.drain();
  await spool.settle(1_000);
  assert.deepEqual(files(dir), [], 'delivered: the files are gone');
  state.mode = 400;
  sink.send(URL_A, alert(3));
  await sink.drain();
  await spool.settle(1_000);
  assert.deepEqual(files(dir), [], 'a final 4xx: the file is gone');
  assert.deepEqual(await sink.close(100), { delivered: 3, failed: 1, dropped: 0, spooled: 0 });
  assert.deepEqual(readdirSync(dir), [], 'the lock is released at close');
});

test('shutdown during an outage keeps the files (spooled, not failed); the next start delivers each once, same body and Idempotency-Key', async () => {
  const dir = freshDir();
  const state: { mode: 'down' | 'never' | number } = { mode: 'never' };
  const first = new CallbackSink({ ...fast, concurrencyPerUrl: 2, post: receiver(state).post, spool: await Spool.open(dir) });
  const bodies = Array.from({ length: 5 }, (_, i) => alert(i));
  for (const b of bodies) first.send(i2url(b), b);
  const out = await first.close(50);
  assert.deepEqual(out, { delivered: 0, failed: 0, dropped: 0, spooled: 5 }, 'in flight and queued alike');
  assert.equal(first.perDestination()[URL_A]?.spooled, 3);
  assert.equal(files(dir).length, 5);

  const { lines, log } = logs();
  const back: { mode: 'down' | 'never' | number } = { mode: 200 };
  const rx = receiver(back);
  const second = new CallbackSink({ ...fast, post: rx.post, spool: await Spool.open(dir), log });
  assert.equal(second.given, 5, 'what the spool held counts as given');
  await second.drain();
  assert.deepEqual(await second.close(100), { delivered: 5, failed: 0, dropped: 0, spooled: 0 });
  assert.deepEqual(rx.got.map((g) => g.body).sort(), [...bodies].sort());
  for (const g of rx.got) {
    assert.equal(g.key, alertIdOf(g.body));
    assert.equal(g.url, i2url(g.body), 'to the URL it was queued for');
  }
  assert.deepEqual(files(dir), []);
  assert.ok(lines.some((l) => l.msg === 'callback spool: alerts of an earlier run queued again' && l.obj.alerts === 5));
});
/** Alerts 0, 2, 4 to A; 1, 3 to B. */
function i2url(body: string): string {
  return (JSON.parse(body) as { i: number }).i % 2 === 0 ? URL_A : URL_B;
}

test('a crash (SIGKILL) leaves whole files; a new process queues them again in order, and its own files sort after them', async () => {
  const dir = freshDir();
  // A process that queues three alerts for a receiver that never answers, then is killed.
  const crashed = child(`
    const sink = new CallbackSink({ post: () => new Promise(() => {}), spool: await Spool.open(process.argv[1]) });
    for (let i = 0; i < 3; i++) sink.send(${JSON.stringify(URL_A)}, addAlertId(JSON.stringify({ 'kive-alert-version': 'v1', i })));
    setInterval(() => {}, 1_000);`, [dir]);
  try {
    await until('three files', () => existsSync(dir) && files(dir).length === 3, 20_000);
  } finally {
    crashed.proc.kill('SIGKILL');
  }
  await crashed.exited;
  writeFileSync(join(dir, `${files(dir)[0]}.tmp`), '{"v":1,"url'); // a write cut short
  const before = files(dir);
  const state: { mode: 'down' | 'never' | number } = { mode: 'down' };
  const rx = receiver(state);
  const spool = await Spool.open(dir);
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), 'the torn temporary file is deleted');
  const sink = new CallbackSink({ ...fast, concurrencyPerUrl: 1, post: rx.post, spool });
  sink.send(URL_A, alert(3));
  await spool.settle(1_000);
  const now = files(dir);
  assert.equal(now.length, 4);
  assert.deepEqual(now.slice(0, 3), before, 'the old files are the ones queued again');
  assert.ok((now.at(-1) as string) > (before.at(-1) as string), `a new file sorts after the old ones: ${now}`);
  state.mode = 200;
  await sink.drain();
  assert.deepEqual(rx.got.map((g) => (JSON.parse(g.body) as { i: number }).i), [0, 1, 2, 3], 'oldest first');
  await sink.close(100);
});

test('the spool has the queue\'s bound: the overflow at start is dropped, counted and deleted; an evicted alert\'s file goes', async () => {
  const dir = freshDir();
  const writer = new CallbackSink({ ...fast, post: receiver({ mode: 'never' }).post, spool: await Spool.open(dir) });
  for (let i = 0; i < 5; i++) writer.send(URL_A, alert(i));
  assert.equal((await writer.close(20)).spooled, 5);

  const { lines, log } = logs();
  const state: { mode: 'down' | 'never' | number } = { mode: 'down' };
  const spool = await Spool.open(dir);
  const sink = new CallbackSink({ ...fast, maxQueued: 3, concurrencyPerUrl: 1, post: receiver(state).post, spool, log });
  assert.equal(sink.given, 5);
  assert.equal(sink.outcomes.dropped, 2);
  assert.equal(sink.queued.entries, 3);
  assert.ok(lines.some((l) => l.msg === 'callback spool: alerts of an earlier run queued again' && l.obj.dropped === 2));
  await spool.settle(1_000);
  assert.equal(files(dir).length, 3, 'never more files than the queue holds');
  // Full: an alert for A is dropped unwritten; one for B takes the place of A's oldest.
  sink.send(URL_A, alert(5));
  sink.send(URL_B, alert(6));
  await spool.settle(1_000);
  const names = files(dir);
  assert.equal(names.length, 3);
  assert.deepEqual(names.map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')).url).sort(), [URL_A, URL_A, URL_B], 'A\'s oldest made room for B');
  assert.equal(sink.outcomes.dropped, 4);
  const out = await sink.close(20);
  assert.equal(out.delivered + out.dropped + out.failed + (out.spooled ?? 0), sink.given);
  assert.equal(out.spooled, 3);
});

test('unreadable files are deleted and logged once with their count; other files are left alone', async () => {
  const dir = freshDir();
  await (await Spool.open(dir)).close(100);
  writeFileSync(join(dir, '000000000001-a.json'), '{not json', { mode: 0o600 });
  writeFileSync(join(dir, '000000000002-b.json'), JSON.stringify({ v: 2, url: URL_A, id: 'b', body: '{}' }), { mode: 0o600 });
  writeFileSync(join(dir, '000000000003-c.json'), JSON.stringify({ v: 1, url: URL_A, id: 'c', body: 'not an alert' }), { mode: 0o600 });
  writeFileSync(join(dir, '000000000004-d.json'), JSON.stringify({ v: 1, url: URL_A, id: 'd', body: alert(4) }), { mode: 0o600 });
  writeFileSync(join(dir, 'README'), 'not ours');
  const { lines, log } = logs();
  const spool = await Spool.open(dir, { log });
  const backlog = spool.takeBacklog();
  assert.deepEqual(backlog.map((a) => a.id), ['d']);
  assert.deepEqual(readdirSync(dir).sort(), ['000000000004-d.json', 'README', 'lock']);
  const warned = lines.filter((l) => l.msg === 'spool: unreadable alert files deleted');
  assert.equal(warned.length, 1);
  assert.equal(warned[0]?.obj.corrupt, 3);
  await spool.close(100);
});

test('an unsafe directory is refused with a clear error: a symlink, not a directory, open to others, someone else\'s', async () => {
  const base = join(root, 'unsafe');
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const real = join(base, 'real');
  mkdirSync(real, { mode: 0o700 });
  symlinkSync(real, join(base, 'link'));
  assert.throws(() => checkSpoolDir(join(base, 'link')), (e: Error & { code?: string }) => e.code === 'KIVE_CONFIG' && /is a symbolic link/.test(e.message));
  writeFileSync(join(base, 'file'), '');
  assert.throws(() => checkSpoolDir(join(base, 'file')), /is not a directory/);
  const open = join(base, 'open');
  mkdirSync(open);
  chmodSync(open, 0o755);
  await assert.rejects(Spool.open(open), /--spool-dir .*open: is open to others \(mode 0755\); chmod 700 it/);
  if (process.getuid?.() === 0) {
    const theirs = join(base, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 4321, 4321);
    assert.throws(() => checkSpoolDir(theirs, '--x'), (e: Error) => /^--x .*theirs: is owned by uid 4321, not by this process \(uid 0\)$/.test(e.message));
  }
  const made = join(base, 'a', 'b');
  checkSpoolDir(made);
  assert.equal(statSync(made).mode & 0o777, 0o700, 'a missing directory is created 0700');
});

test('one process per directory: two spools opened at once in one process, 200 times: exactly one owns it, the other is refused', async () => {
  const dir = freshDir();
  for (let i = 0; i < 200; i++) {
    const r = await Promise.allSettled([Spool.open(dir), Spool.open(dir)]);
    const owners = r.flatMap((x) => (x.status === 'fulfilled' ? [x.value] : []));
    assert.equal(owners.length, 1, `round ${i}`);
    const refused = r.find((x) => x.status === 'rejected')?.reason as KiveError;
    assert.equal(refused.code, 'KIVE_CONFIG');
    assert.match(refused.message, /^--spool-dir .*: in use by another spool of this process; give each process its own spool directory$/);
    await owners[0]?.close(100);
  }
  assert.deepEqual(readdirSync(dir), [], 'released: no lock file left');
});

test('one process per directory: two processes opening and closing one spool in a tight loop never own it at the same time', async () => {
  const dir = freshDir();
  await (await Spool.open(dir)).close(100);
  const marker = join(dir, '..', 'owner');
  // Each owner creates `marker` with O_EXCL while it holds the spool: a second owner at the
  // same time finds it there (`both`). Both start when the go file appears, after both
  // said they are ready (a start time fixed in advance failed under load: one process was
  // still starting when the other had finished its loop, so they never overlapped).
  const script = `
    const [dir, marker, go, rounds] = process.argv.slice(1);
    console.log('ready');
    while (!existsSync(go));
    const out = { owned: 0, refused: 0, both: 0 };
    for (let i = 0; i < Number(rounds); i++) {
      let spool;
      try {
        spool = await Spool.open(dir);
      } catch (e) {
        if (e.code !== 'KIVE_CONFIG' || !/: in use by another Kive process \\(pid (\\d+|unknown)\\)/.test(e.message)) throw e;
        out.refused++;
        continue;
      }
      out.owned++;
      let mine = false;
      try { closeSync(openSync(marker, 'wx')); mine = true; } catch { out.both++; }
      await new Promise((r) => setTimeout(r, Math.random() < 0.5 ? 0 : 1));
      if (mine) unlinkSync(marker);
      await spool.close(100);
    }
    console.log(JSON.stringify(out));`;
  const go = join(dir, '..', 'go');
  const kids = [child(script, [dir, marker, go, '300']), child(script, [dir, marker, go, '300'])];
  await until('both processes ready', () => kids.every((k) => k.stdout().includes('ready')), 60_000);
  writeFileSync(go, '');
  const outs = await Promise.all(kids.map(async (k) => {
    assert.equal(await k.exited, 0, k.stderr());
    return JSON.parse(k.stdout().trim().split('\n').at(-1)!) as { owned: number; refused: number; both: number };
  }));
  for (const o of outs) {
    assert.equal(o.both, 0, `never two owners at once: ${JSON.stringify(outs)}`);
    assert.equal(o.owned + o.refused, 300);
  }
  assert.ok(outs.every((o) => o.owned > 0), `each process owned it at times: ${JSON.stringify(outs)}`);
  assert.ok(outs.some((o) => o.refused > 0), `the loops overlapped: ${JSON.stringify(outs)}`);
});

test('one process per directory: a live owner is refused with its pid; once it is killed, its lock is taken over', async () => {
  const dir = freshDir();
  const owner = child(`await Spool.open(process.argv[1]); console.log('open'); setInterval(() => {}, 1_000);`, [dir]);
  try {
    await until('the other process owns the spool', () => owner.stdout().includes('open'), 20_000);
    await assert.rejects(Spool.open(dir), (e: KiveError) => e.code === 'KIVE_CONFIG' && e.message.includes(`in use by another Kive process (pid ${owner.proc.pid})`));
  } finally {
    owner.proc.kill('SIGKILL');
  }
  await owner.exited;
  assert.equal(readFileSync(join(dir, 'lock'), 'utf8').split(' ')[0], String(owner.proc.pid), 'the dead owner\'s lock file is still there');
  const spool = await Spool.open(dir);
  assert.equal(readFileSync(join(dir, 'lock'), 'utf8').split(' ')[0], String(process.pid), 'taken over');
  await spool.close(100);
});

test('the lock is not followed through a symlink, and a lock that is not a regular file is refused', async () => {
  const dir = freshDir();
  await (await Spool.open(dir)).close(100);
  const target = join(dir, '..', 'elsewhere');
  symlinkSync(target, join(dir, 'lock'));
  await assert.rejects(Spool.open(dir), /--spool-dir .*: .*lock is not a regular file$/);
  assert.ok(!existsSync(target), 'nothing created through the link');
  rmSync(join(dir, 'lock'));
  mkdirSync(join(dir, 'lock'));
  await assert.rejects(Spool.open(dir), /lock is not a regular file$/);
});

test('without a spool, the callback sink reports spooled 0 and counts what shutdown cut off as failed', async () => {
  const sink = new CallbackSink({ ...fast, post: receiver({ mode: 'never' }).post });
  sink.send(URL_A, alert(0));
  assert.deepEqual(await sink.close(20), { delivered: 0, failed: 1, dropped: 0, spooled: 0 });
});
