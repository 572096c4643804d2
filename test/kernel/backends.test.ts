// Every backend against the real kernel (root). A backend the kernel refuses is
// reported as refused (a skip, never a pass); one that loads must pass every behaviour
// test. The file fails when no backend works. With KIVE_KERNEL_REPORT=<path> it writes
// the JSON report the QEMU kernel matrix reads.

import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, linkSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { isKiveError } from '../../src/errors.ts';
import { BACKENDS } from '../../src/kernel/backends/index.ts';
import { FileMonitor, probeBackends, selectBackend, type BackendName, type KernelEvent } from '../../src/kernel/monitor.ts';
import { MAY_APPEND, MAY_EXEC, MAY_READ, MAY_WRITE } from '../../src/kernel/mask.ts';
import { EventLog, keyOf, scratchDir } from './helpers.ts';

type Status = { status: 'pass' | 'fail' | 'refused'; reason?: string };
const report: { kernel: string; autoBackend: BackendName | null; backends: Partial<Record<BackendName, Status>> } = {
  kernel: release(),
  autoBackend: null,
  backends: {},
};

// Written after every verdict, not only at the end: if this process dies later, the
// matrix still knows what was decided before it did.
function writeReport(): void {
  const path = process.env.KIVE_KERNEL_REPORT;
  if (path) writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
}
after(writeReport);

const RING = 1 << 20;

// A kernel that lacks the hook refuses a backend; a verifier that rejects one of our
// programs is a bug (the verifier must accept every program on every kernel of the
// matrix), so KIVE_PROGRAM_REJECTED fails the backend here, even though `auto` in
// production moves on to the next backend after one.
function isRefusal(err: unknown): boolean {
  return isKiveError(err, 'KIVE_BACKEND_UNSUPPORTED') || isKiveError(err, 'KIVE_ATTACH_FAILED');
}

function run(cmd: string, args: string[], cwd?: string): number {
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status} ${r.signal ?? ''} ${r.stderr}`);
  return r.pid!;
}

let trapSeq = 1000;

for (const spec of BACKENDS) {
  const backend = spec.name;
  test(`backend ${backend}`, async (t) => {
    let monitor: FileMonitor;
    try {
      // Aggregation off: these checks count one event per access (flood.test.ts tests it).
      monitor = await FileMonitor.open({ backend, ringBufferBytes: RING, aggregateWindowMs: 0 });
    } catch (err) {
      if (!isRefusal(err)) {
        report.backends[backend] = { status: 'fail', reason: (err as Error).message };
        writeReport();
        throw err;
      }
      const reason = (err as Error).message;
      report.backends[backend] = { status: 'refused', reason };
      writeReport();
      t.diagnostic(`refused: ${reason}`);
      t.skip(`refused by this kernel: ${reason}`);
      return;
    }
    t.diagnostic(`attached to ${monitor.attachedTo}`);
    const log = new EventLog(monitor);
    const tmp = scratchDir(backend);
    const failures: string[] = [];
    // Runs one behaviour as a subtest and remembers failures for the report.
    const check = (name: string, fn: (t: TestContext) => Promise<void>) =>
      t.test(name, async (st) => {
        try {
          await fn(st);
        } catch (err) {
          failures.push(`${name}: ${(err as Error).message}`);
          throw err;
        }
      });
    const trapFile = (path: string): number => {
      const id = ++trapSeq;
      monitor.setTrap(keyOf(path), id);
      return id;
    };
    // A permission hook reports the check; the tracepoint backend reports the open.
    const openOp = spec.ops.includes('permission') ? 'permission' : 'open';

    try {
      await check('open for read is reported with pid, ids, comm and context', async () => {
        const file = tmp.file('read.txt');
        const id = trapFile(file);
        const pid = run('/bin/cat', [file], tmp.dir);
        const e = await log.waitFor((e) => e.slot === id && e.tgid === pid, 'cat of the trapped file');
        const key = keyOf(file);
        assert.equal(e.ino, key.ino);
        assert.equal(e.dev, key.dev);
        assert.equal(e.op, openOp);
        assert.ok(e.mask & MAY_READ, `mask 0x${e.mask.toString(16)} has MAY_READ`);
        assert.equal(e.comm, 'cat');
        assert.equal(e.uid, process.getuid!());
        assert.equal(e.gid, process.getgid!());
        assert.ok(e.tsNs > 0n);
        assert.ok(Math.abs(monitor.wallClockMs(e.tsNs) - Date.now()) < 10 * 60_000, 'timestamp converts to about now');
        assert.deepEqual(e.args, ['/bin/cat', file]);
        assert.equal(e.exe, realpathSync('/bin/cat'));
        assert.equal(e.cwd, realpathSync(tmp.dir));
      });

      await check('open for write (append) is reported with MAY_WRITE', async () => {
        const file = tmp.file('write.txt');
        const id = trapFile(file);
        const pid = run('/bin/sh', ['-c', `printf x >> '${file}'`]);
        const e = await log.waitFor((e) => e.slot === id && e.tgid === pid && (e.mask & MAY_WRITE) !== 0, 'append to the trapped file');
        if (openOp === 'open') assert.ok(e.mask & MAY_APPEND, 'open(O_APPEND) carries MAY_APPEND');
      });

      await check('exec of a trapped binary is reported with MAY_EXEC', async () => {
        const bin = `${tmp.dir}/true-copy`;
        copyFileSync('/bin/true', bin);
        chmodSync(bin, 0o755);
        const id = trapFile(bin);
        const pid = run(bin, []);
        const e = await log.waitFor((e) => e.slot === id && e.tgid === pid && (e.mask & MAY_EXEC) !== 0, 'exec of the trapped binary');
        if (spec.ops.includes('exec')) {
          assert.equal(e.op, 'exec');
          assert.equal(e.exe, realpathSync(bin));
        }
      });

      await check('access through a hard link is reported', async () => {
        const file = tmp.file('hard.txt');
        const link = `${tmp.dir}/hard-link.txt`;
        linkSync(file, link);
        const id = trapFile(file);
        const pid = run('/bin/cat', [link]);
        await log.waitFor((e) => e.slot === id && e.tgid === pid, 'cat through the hard link');
      });

      await check('access through a symlink is reported', async () => {
        const file = tmp.file('sym.txt');
        const link = `${tmp.dir}/sym-link.txt`;
        symlinkSync(file, link);
        const id = trapFile(file);
        const pid = run('/bin/cat', [link]);
        await log.waitFor((e) => e.slot === id && e.tgid === pid, 'cat through the symlink');
      });

      await check('an unmonitored file is not reported (positive control first)', async () => {
        const quiet = tmp.file('unmonitored.txt');
        const control = tmp.file('control.txt');
        const quietKey = keyOf(quiet);
        const id = trapFile(control);
        // One process reads the unmonitored file, then the control: the ring is ordered,
        // so once the control's event is here any event for the first read would be too.
        const pid = run('/bin/cat', [quiet, control]);
        await log.waitFor((e) => e.slot === id && e.tgid === pid, 'the positive control');
        const leaked = log.events.filter((e: KernelEvent) => e.ino === quietKey.ino && e.dev === quietKey.dev);
        assert.deepEqual(leaked, []);
      });

      await check('counters: emitted grows with events, nothing dropped at low rate', async () => {
        const file = tmp.file('count.txt');
        const id = trapFile(file);
        const before = monitor.counters();
        for (let i = 0; i < 5; i++) readFileSync(file);
        await log.waitFor(() => log.forSlot(id).length >= 5, '5 reads');
        const after = monitor.counters();
        assert.ok(after.emitted - before.emitted >= 5n, `emitted grew by ${after.emitted - before.emitted}`);
        assert.equal(after.dropped, 0n);
      });

      await check('crossing the wake-up threshold wakes the reader (no timer)', async () => {
        // The timer is effectively off, so only BPF_RB_FORCE_WAKEUP can deliver these;
        // the other tests (default threshold, far above one event) exercise the timer.
        const woken = await FileMonitor.open({ backend, ringBufferBytes: 1 << 16, wakeupBytes: 4096, pollIntervalMs: 3_600_000, aggregateWindowMs: 0 });
        try {
          const wlog = new EventLog(woken);
          const file = tmp.file('wakeup.txt');
          woken.setTrap(keyOf(file), 5);
          // libuv adds the fd to epoll on its next loop iteration, and epoll reports a
          // ring that already holds data at that moment: produce only after that, or
          // the events arrive without any wake-up.
          await new Promise((r) => setTimeout(r, 50));
          for (let i = 0; i < 20; i++) readFileSync(file);
          await wlog.waitFor(() => wlog.forSlot(5).length >= 4, 'events delivered by a wake-up');
        } finally {
          await woken.close();
        }
      });

      await check('a full ring counts drops instead of losing them silently', async () => {
        // One page of ring and no consumer: it fills after a few events.
        const tiny = await FileMonitor.open({ backend, ringBufferBytes: 4096, aggregateWindowMs: 0 });
        try {
          const file = tmp.file('overflow.txt');
          tiny.setTrap(keyOf(file), 1);
          for (let i = 0; i < 50; i++) readFileSync(file);
          const c = tiny.counters();
          assert.ok(c.emitted > 0n, `emitted ${c.emitted}`);
          assert.ok(c.dropped > 0n, `dropped ${c.dropped}`);
          assert.ok(c.emitted + c.dropped >= 50n, `every match accounted for: ${c.emitted} + ${c.dropped}`);
          const perFile = tiny.takeDrops();
          assert.deepEqual(perFile, [{ key: keyOf(file), lost: c.dropped }], 'drops are counted per trapped file');
          assert.deepEqual(tiny.takeDrops(), [], 'taking the drops empties the map');
        } finally {
          await tiny.close();
        }
      });

      await check('trap map management: set, list, delete, clear, full', async () => {
        const small = await FileMonitor.open({ backend, ringBufferBytes: 4096, maxTraps: 2 });
        try {
          small.setTrap({ ino: 1n, dev: 5 }, 11);
          small.setTrap({ ino: 2n, dev: 5 }, 12);
          small.setTrap({ ino: 2n, dev: 5 }, 13); // replace, not a third entry
          assert.deepEqual(
            small.listTraps().sort((a, b) => a.slot - b.slot),
            [
              { key: { ino: 1n, dev: 5 }, slot: 11 },
              { key: { ino: 2n, dev: 5 }, slot: 13 },
            ],
          );
          assert.throws(() => small.setTrap({ ino: 3n, dev: 5 }, 14), (e: unknown) => isKiveError(e, 'KIVE_MAP_FULL'));
          assert.equal(small.deleteTrap({ ino: 1n, dev: 5 }), true);
          assert.equal(small.deleteTrap({ ino: 1n, dev: 5 }), false);
          small.clearTraps();
          assert.deepEqual(small.listTraps(), []);
        } finally {
          await small.close();
        }
        assert.throws(() => small.listTraps(), (e: unknown) => isKiveError(e, 'KIVE_CLOSED'));
        await small.close(); // idempotent
      });
    } finally {
      await monitor.close();
      tmp.cleanup();
      report.backends[backend] = failures.length === 0 ? { status: 'pass' } : { status: 'fail', reason: failures.join('; ') };
      writeReport();
    }
  });
}

test('automatic selection picks the best supported backend', async (t) => {
  const probed = await probeBackends();
  for (const p of probed) t.diagnostic(`${p.backend}: ${p.supported ? `supported (${p.attachPoint})` : `refused: ${p.reason}`}`);
  const best = selectBackend(probed);
  report.autoBackend = best;
  writeReport();
  // The probe must agree with what the behaviour tests found.
  for (const p of probed) {
    const s = report.backends[p.backend]?.status;
    if (s === 'refused') assert.equal(p.supported, false, `${p.backend} refused to open but probed as supported`);
    if (s === 'pass') assert.equal(p.supported, true, `${p.backend} passed but probed as unsupported`);
  }
  const m = await FileMonitor.open({ backend: 'auto', ringBufferBytes: 4096 });
  try {
    assert.equal(m.backend, best);
  } finally {
    await m.close();
  }
});

test('at least one backend works on this kernel', () => {
  const passed = Object.entries(report.backends).filter(([, s]) => s.status === 'pass');
  assert.ok(passed.length > 0, `no backend passed: ${JSON.stringify(report.backends)}`);
});
