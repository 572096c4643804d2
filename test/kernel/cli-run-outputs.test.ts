// `kive run` with outputs that misbehave (issue 9): a stdout nobody reads, a stdout whose
// reader goes away (`| head -c 300`), callback receivers that never answer or answer
// slowly. None may hang the monitor or its shutdown, crash it, or lose an alert without
// counting it: the stop line's counts are checked against what the reader received.
// Root only (real kernel, tracepoint backend on this host).
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { scaled } from '../kernels/time-scale.ts';

const run = promisify(execFile);
const KIVE = fileURLToPath(new URL('../../bin/kive', import.meta.url));
const skip = process.getuid?.() !== 0 ? 'needs root' : false;
const dir = mkdtempSync(join(tmpdir(), 'kive-outputs-'));
chmodSync(dir, 0o755);
after(() => rmSync(dir, { recursive: true, force: true }));

// Many traps, so that one `cat` of all of them is hundreds of alerts whatever the kernel
// aggregates (the first access of each process to each trap is always an alert).
const TRAPS = 300;
const trapPath = (i: number) => join(dir, `t${String(i).padStart(3, '0')}`);
/** Generous, for a loaded machine: a hang shows up as this deadline passing. */
const DEADLINE_MS = scaled(60_000);

/** The QEMU guests (test/kernels/init.sh) bring no network up, not even loopback. */
const loopback = await new Promise<boolean>((resolve) => {
  const s = createServer();
  s.once('error', () => resolve(false));
  s.listen(0, '127.0.0.1', () => s.close(() => resolve(true)));
});
const skipCallbacks = skip || (loopback ? false : 'no loopback network here (callback receivers need one)');

/** One file, several KivePolicy documents (a policy holds at most 64 traps). */
function policy(name: string, callback?: string): string {
  const p = join(dir, `${name}.yaml`);
  const docs: string[] = [];
  for (let first = 0; first < TRAPS; first += 50) {
    const traps = Array.from({ length: Math.min(50, TRAPS - first) }, (_, j) => `    - path: ${trapPath(first + j)}\n      create: true\n${callback ? `      callback: ${callback}\n` : ''}`);
    docs.push(`apiVersion: kivebpf.san7o.github.io/v1\nkind: KivePolicy\nmetadata:\n  name: ${name}-${first}\nspec:\n  traps:\n${traps.join('')}`);
  }
  writeFileSync(p, docs.join('---\n'));
  return p;
}

/** One process reading every trap: TRAPS alerts. */
const catAll = (times = 1) => run('sh', ['-c', `for i in $(seq ${times}); do cat ${dir}/t* > /dev/null; done`]);

/** A real pipe whose reader this test controls: a FIFO, read end non-blocking. */
function fifo(name: string) {
  const path = join(dir, name);
  execFileSync('mkfifo', [path]);
  const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const writeFd = openSync(path, constants.O_WRONLY);
  let open = true;
  return {
    writeFd,
    /** Up to `max` bytes the pipe holds now; `eof` once every writer has closed it. */
    read(max = Infinity): { data: Buffer; eof: boolean } {
      const parts: Buffer[] = [];
      let total = 0;
      const buf = Buffer.alloc(65536);
      while (total < max) {
        let n: number;
        try {
          n = readSync(readFd, buf, 0, Math.min(buf.length, max - total), null);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return { data: Buffer.concat(parts), eof: false };
          throw err;
        }
        if (n === 0) return { data: Buffer.concat(parts), eof: true };
        parts.push(Buffer.from(buf.subarray(0, n)));
        total += n;
      }
      return { data: Buffer.concat(parts), eof: false };
    },
    closeRead() {
      if (open) closeSync(readFd);
      open = false;
    },
  };
}

interface Kive {
  logs: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLog(what: string, pred: (l: string) => boolean): Promise<string>;
  kill(sig: NodeJS.Signals): void;
  /** The parsed 'stopped' line. */
  stopLine(): StopLine;
}

interface Outcomes {
  delivered: number;
  dropped: number;
  failed: number;
}
interface StopLine {
  alerts: number;
  fileChanges: number;
  lostAlerts: number;
  stdout: Outcomes;
  callbacks: Outcomes & { alerts: number };
}

async function startKive(policyFile: string, stdout: number | 'pipe', extra: string[] = []): Promise<Kive> {
  const child = spawn(KIVE, ['run', '--policy', policyFile, ...extra], { stdio: ['ignore', stdout, 'pipe'] });
  if (typeof stdout === 'number') closeSync(stdout); // the child has its copy; EOF comes when it exits
  else child.stdout?.resume();
  const logs: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => logs.push(l));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  let done = false;
  void exited.then(() => (done = true));
  const k: Kive = {
    logs,
    exited,
    async waitForLog(what, pred) {
      const end = Date.now() + DEADLINE_MS;
      for (;;) {
        const l = logs.find(pred);
        if (l !== undefined) return l;
        if (Date.now() > end || done) throw new Error(`no log line for ${what}; logs:\n${logs.join('\n')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    kill: (sig) => child.kill(sig),
    stopLine() {
      const l = logs.find((x) => x.includes('"msg":"stopped"'));
      assert.ok(l, `a stop line; logs:\n${logs.join('\n')}`);
      return JSON.parse(l) as StopLine;
    },
  };
  after(() => {
    if (!done) child.kill('SIGKILL');
  });
  await k.waitForLog('monitoring', (l) => l.includes('"msg":"monitoring"'));
  return k;
}

/** Resolves with the exit, or rejects if the process is still alive at the deadline. */
async function boundedExit(k: Kive, what: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still running ${DEADLINE_MS} ms later; logs:\n${k.logs.join('\n')}`)), DEADLINE_MS)));
  try {
    return await Promise.race([k.exited, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function assertNoCrash(k: Kive): void {
  const crash = k.logs.find((l) => /unexpected error|^\s+at |Error: write EPIPE/.test(l));
  assert.equal(crash, undefined, `no crash or stack trace; logs:\n${k.logs.join('\n')}`);
}

/** Every line stdout was given: access alerts, file-change alerts, events-lost alerts. */
const givenToStdout = (s: StopLine) => s.alerts + s.fileChanges + s.lostAlerts;

const completeLines = (b: Buffer) => b.toString().split('\n').slice(0, -1);

test('stdout nobody reads: no hang, bounded shutdown, and the stop line counts exactly what the reader got', { skip }, async () => {
  const out = fifo('stalled');
  try {
    const k = await startKive(policy('stalled'), out.writeFd, ['--stdout-buffer-bytes', '65536']);
    await catAll(10); // ~3,000 alerts of ~900 bytes: far past the 64 KiB pipe and the 64 KiB buffer
    await k.waitForLog('the drop report', (l) => l.includes('stdout is not keeping up'));
    k.kill('SIGTERM');
    const { code } = await boundedExit(k, 'SIGTERM with a stalled stdout');
    assert.equal(code, 0, k.logs.join('\n'));
    assertNoCrash(k);
    const stop = k.stopLine();
    const { delivered, dropped, failed } = stop.stdout;
    assert.ok(dropped > 0, 'the bounded buffer overflowed');
    assert.equal(delivered + dropped + failed, givenToStdout(stop), 'every alert is accounted for');
    // Now read everything the pipe holds: exactly the delivered lines, each a whole alert.
    const { data, eof } = out.read();
    assert.ok(eof);
    const lines = completeLines(data);
    assert.equal(lines.length, delivered);
    for (const l of lines) assert.equal(JSON.parse(l)['kive-alert-version'], 'v1');
  } finally {
    out.closeRead();
  }
});

test('stdout whose reader goes away (| head -c 300), no callback: logged once, a clean stop with exit 1', { skip }, async () => {
  const out = fifo('closed');
  let k: Kive | undefined;
  try {
    k = await startKive(policy('closed'), out.writeFd);
    await catAll();
    for (let got = 0; got < 300; ) {
      got += out.read(300 - got).data.length;
      await new Promise((r) => setTimeout(r, 20));
    }
    out.closeRead();
    await catAll();
    const { code } = await boundedExit(k, 'stdout closed by its reader');
    assert.equal(code, 1, k.logs.join('\n'));
    assertNoCrash(k);
    assert.equal(k.logs.filter((l) => l.includes('stdout was closed by its reader')).length, 1);
    assert.ok(k.logs.some((l) => l.includes('no one would receive alerts')));
    const stop = k.stopLine();
    assert.ok(stop.stdout.failed > 0);
    assert.equal(stop.stdout.delivered + stop.stdout.dropped + stop.stdout.failed, givenToStdout(stop));
  } finally {
    out.closeRead();
  }
});

function receiver(answer: 'ok' | 'never' | 'slow'): Promise<{ server: Server; url: string; requests: () => number }> {
  let n = 0;
  const server = createServer((req, res) => {
    n++;
    req.resume();
    if (answer === 'ok') res.end();
    if (answer === 'slow') setTimeout(() => res.end(), 5_000).unref();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`, requests: () => n })),
  );
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

test('stdout whose reader goes away while a trap has a callback: monitoring and callbacks go on', { skip: skipCallbacks }, async () => {
  const out = fifo('closed-cb');
  const rx = await receiver('ok');
  try {
    const k = await startKive(policy('closed-cb', rx.url), out.writeFd);
    const requests = async (n: number) => {
      const end = Date.now() + DEADLINE_MS;
      while (rx.requests() < n && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      assert.ok(rx.requests() >= n, `${n} alerts reach the callback (got ${rx.requests()})`);
    };
    out.closeRead();
    await catAll();
    await k.waitForLog('the EPIPE report', (l) => l.includes('stdout was closed by its reader'));
    await requests(TRAPS);
    await catAll(); // after stdout is gone: still alerted through the callback
    await requests(2 * TRAPS);
    k.kill('SIGTERM');
    const { code } = await boundedExit(k, 'SIGTERM');
    assert.equal(code, 0, k.logs.join('\n'));
    assertNoCrash(k);
    const stop = k.stopLine();
    assert.equal(stop.stdout.delivered + stop.stdout.dropped + stop.stdout.failed, givenToStdout(stop));
    assert.ok(stop.callbacks.alerts >= stop.alerts);
    assert.equal(stop.callbacks.delivered + stop.callbacks.dropped + stop.callbacks.failed, stop.callbacks.alerts);
    assert.equal(stop.callbacks.delivered, 2 * TRAPS);
  } finally {
    out.closeRead();
    await closeServer(rx.server);
  }
});

for (const answer of ['never', 'slow'] as const) {
  test(`SIGTERM with a callback receiver that ${answer === 'never' ? 'never answers' : 'answers after 5 s'}: bounded, every alert counted`, { skip: skipCallbacks }, async () => {
    const rx = await receiver(answer);
    try {
      const k = await startKive(policy(`cb-${answer}`, rx.url), 'pipe');
      await catAll();
      const end = Date.now() + DEADLINE_MS;
      while (rx.requests() === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      assert.ok(rx.requests() > 0, 'the receiver was reached');
      k.kill('SIGTERM');
      const { code } = await boundedExit(k, `SIGTERM with a receiver that ${answer === 'never' ? 'never answers' : 'is slow'}`);
      assert.equal(code, 0, k.logs.join('\n'));
      assertNoCrash(k);
      const stop = k.stopLine();
      assert.ok(stop.callbacks.alerts >= stop.alerts);
      assert.equal(stop.callbacks.delivered + stop.callbacks.dropped + stop.callbacks.failed, stop.callbacks.alerts);
      assert.ok(stop.callbacks.failed > 0, 'what could not be delivered in time is counted as failed');
    } finally {
      await closeServer(rx.server);
    }
  });
}
