// The matrix's time limits (watchdog.ts, calibrate.ts, time-scale.ts): limits follow the
// measured speed of the machine, and a job that stops making progress still fails.
// Small budgets (fractions of a second) keep the real-process cases fast; they only
// assert lower bounds on when a job is stopped, which the watchdog guarantees.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { scaleFor } from './calibrate.ts';
import { scaled, timeScale } from './time-scale.ts';
import { MAX_SCALE, START, advance, isProgress, parseArgs, scaleOf, verdict, type Clock, type Limits } from './watchdog.ts';

const WATCHDOG = fileURLToPath(new URL('./watchdog.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kive-watchdog-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `seconds` wall seconds at `scale`, one-second ticks, output every `every` ticks (0: never). */
function runFor(seconds: number, scale: number, every: number, limits: Limits, from: Clock = START): { clock: Clock; stopped?: string; at?: number } {
  let c = from;
  for (let t = 1; t <= seconds; t++) {
    c = advance(c, 1, scale, every > 0 && t % every === 0);
    const why = verdict(c, limits);
    if (why !== undefined) return { clock: c, stopped: why, at: t };
  }
  return { clock: c };
}

const limits: Limits = { budget: 200, idle: 60 };

test('scale: the largest of calibration and load per CPU, never below 1, capped', () => {
  assert.equal(scaleOf(undefined, undefined, 2), 1);
  assert.equal(scaleOf(2.5, 1, 2), 2.5);
  assert.equal(scaleOf(1, 8, 2), 4, 'two matrix runs and more on 2 CPUs');
  assert.equal(scaleOf(0.3, 0.2, 2), 1, 'a fast machine does not shorten the limits');
  assert.equal(scaleOf(Number.NaN, Number.POSITIVE_INFINITY, 2), 1, 'bad inputs count as 1');
  assert.equal(scaleOf(-4, undefined, 0), 1);
  assert.equal(scaleOf(1000, 1000, 1), MAX_SCALE);
});

test('a job busy for 300 s on a machine twice as slow passes a 200 quiet-second budget', () => {
  // What failed here: a second matrix run halved the guest's speed and the fixed 200 s
  // limit killed a guest that was making progress.
  assert.equal(runFor(300, 2, 5, limits).stopped, undefined);
  const fixed = runFor(300, 1, 5, limits);
  assert.match(fixed.stopped ?? '', /^timeout after 201s: 200 quiet seconds used up/);
});

test('the budget follows the scale as it changes during the run', () => {
  const half = runFor(100, 1, 5, limits); // 100 quiet seconds spent at full speed
  assert.equal(half.stopped, undefined);
  const rest = runFor(500, 4, 5, limits, half.clock); // then the machine gets busy
  assert.equal(rest.at, 401, '100 quiet seconds left at scale 4 are 400 wall seconds');
});

test('a job that stops printing is hung after the idle budget, also on a slow machine', () => {
  const quiet = runFor(1000, 1, 0, limits);
  assert.equal(quiet.at, 61);
  assert.match(quiet.stopped ?? '', /^hung: no output for 60 quiet seconds/);
  const slow = runFor(10_000, 4, 0, limits);
  assert.equal(slow.at, 241);
  const worst = runFor(100_000, 1e9, 0, limits);
  assert.ok(Math.abs(worst.at! - (60 * MAX_SCALE + 1)) <= 1, `however loaded the machine, a hang is reported (at ${worst.at})`);
  // Output now and then keeps a slow job alive until its whole budget is spent.
  assert.match(runFor(10_000, 1, 30, limits).stopped ?? '', /^timeout/);
});

test('calibration: the measured time against the quiet guest, never below 1', () => {
  assert.equal(scaleFor(1500, 1500), 1);
  assert.equal(scaleFor(300, 1500), 1, 'the host is faster than a guest: no shorter limits');
  assert.equal(scaleFor(4500, 1500), 3);
  assert.throws(() => scaleFor(Number.NaN), /bad measurement/);
  assert.throws(() => scaleFor(0), /bad measurement/);
});

test('KIVE_TIME_SCALE scales the tests deadlines; a bad value is an error', () => {
  assert.equal(timeScale({}), 1);
  assert.equal(timeScale({ KIVE_TIME_SCALE: '2.5' }), 2.5);
  assert.equal(scaled(15_000, { KIVE_TIME_SCALE: '3' }), 45_000);
  for (const bad of ['0.5', 'fast', '-1', 'NaN']) assert.throws(() => timeScale({ KIVE_TIME_SCALE: bad }), /KIVE_TIME_SCALE/, bad);
});

test('options: required ones, numbers and the command are checked', () => {
  const ok = parseArgs(['--budget', '10', '--idle', '2', '--log', 'x', '--', 'true']);
  assert.deepEqual([ok.budget, ok.idle, ok.log, ok.command], [10, 2, 'x', ['true']]);
  assert.throws(() => parseArgs(['--budget', '10', '--idle', '2', '--log', 'x']), /-- COMMAND/);
  assert.throws(() => parseArgs(['--idle', '2', '--log', 'x', '--', 'true']), /--budget is required/);
  assert.throws(() => parseArgs(['--budget', 'soon', '--idle', '2', '--log', 'x', '--', 'true']), /positive number/);
  assert.throws(() => parseArgs(['--budget', '1', '--idle', '2', '--log', 'x', '--nope', '1', '--', 'true']), /bad option --nope/);
});

/** Runs the watchdog for real; resolves with its exit code, stdout, the log and the verdict. */
function watch(name: string, opts: string[], command: string[]): Promise<{ code: number; stdout: string; log: string; verdict?: string; ms: number }> {
  const log = join(dir, `${name}.log`);
  const v = join(dir, `${name}.verdict`);
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [WATCHDOG, '--log', log, '--verdict', v, '--tick', '0.05', '--cpus', '1', '--loadavg', join(dir, 'no-load'), ...opts, '--', ...command], (err, stdout) => {
      resolve({
        code: err === null ? 0 : Number((err as { code?: number }).code),
        stdout,
        log: readFileSync(log, 'utf8'),
        ...(existsSync(v) ? { verdict: readFileSync(v, 'utf8') } : {}),
        ms: performance.now() - t0,
      });
    });
  });
}

test('a real job: output prefixed and logged, its exit status passed through', async () => {
  const r = await watch('exit', ['--budget', '30', '--idle', '30', '--prefix', '[k] '], ['sh', '-c', 'printf "one\\r\\ntwo\\n"; echo err >&2; exit 3']);
  assert.equal(r.code, 3);
  assert.equal(r.verdict, undefined);
  assert.match(r.stdout, /^\[k\] one\n\[k\] two\n\[k\] err\n$/);
  assert.equal(r.log.replace('err\n', ''), 'one\ntwo\n');
  // The test reporter's check mark, split across two writes, stays one character.
  const split = await watch('split', ['--budget', '30', '--idle', '30'], ['sh', '-c', "printf '\\342\\234'; sleep 0.2; printf '\\224 ok\\n'"]);
  assert.equal(split.stdout, '\u2714 ok\n');
});

test('a real hang: the whole process group is stopped and the verdict says hung', async () => {
  const pidFile = join(dir, 'grandchild.pid');
  const r = await watch('hang', ['--budget', '30', '--idle', '0.5'], ['sh', '-c', `echo started; sleep 300 & echo $! > ${pidFile}; wait`]);
  assert.equal(r.code, 124);
  assert.match(r.verdict ?? '', /^hung: no output for 0.5 quiet seconds/);
  assert.match(r.log, /started/);
  // Killed with its group (a dead process may linger a moment as a zombie for init).
  const state = (): string => {
    try {
      return readFileSync(`/proc/${Number(readFileSync(pidFile, 'utf8'))}/stat`, 'utf8').split(') ')[1]!.charAt(0);
    } catch {
      return 'gone';
    }
  };
  assert.ok(['gone', 'Z', 'X'].includes(state()), `the backgrounded sleep is ${state()}`);
});

// Lines a hung 6.1 guest printed in CI for an hour; the watchdog took them for progress.
const STALL_LINES = [
  '[  364.858892] watchdog: BUG: soft lockup - CPU#1 stuck for 164s! [cat:370]',
  '[ 3678.492881] rcu: INFO: rcu_preempt self-detected stall on CPU',
  '[ 3678.493423] rcu: \t1-....: (871109 ticks this GP) idle=ff5c/1/0x4000000000000000 softirq=18093/18093 fqs=384684',
  '[  120.000000] INFO: task cat:370 blocked for more than 120 seconds.',
];

test('the kernel reporting a stuck CPU is not progress; anything else is', () => {
  for (const line of STALL_LINES) assert.equal(isProgress(`${line}\n`), false, line);
  assert.equal(isProgress(`${STALL_LINES.join('\n')}\n`), false);
  assert.equal(isProgress('\n\n'), false);
  assert.equal(isProgress('  ✔ open for read is reported (12ms)\n'), true);
  assert.equal(isProgress(`${STALL_LINES[0]}\nsuite: kernel tests exited with 0\n`), true);
  assert.equal(isProgress('[   12.3] kive-init: running the job\n'), true);
});

test('a job that only repeats soft lockup reports is hung after the idle budget', async () => {
  const stuck = ['sh', '-c', `echo started; while :; do echo '${STALL_LINES[0]}'; sleep 0.05; done`];
  const r = await watch('lockup', ['--budget', '30', '--idle', '0.5'], stuck);
  assert.equal(r.code, 124);
  assert.match(r.verdict ?? '', /^hung: no output for 0.5 quiet seconds/);
  assert.match(r.log, /soft lockup/, 'the reports are still logged');
});

test('a real job on a loaded machine gets proportionally more time, then a timeout', async () => {
  writeFileSync(join(dir, 'load'), '4.00 4.00 4.00 1/100 1\n');
  const busy = ['sh', '-c', 'while :; do echo tick; sleep 0.05; done'];
  const r = await watch('loaded', ['--budget', '0.5', '--idle', '30', '--loadavg', join(dir, 'load')], busy);
  assert.equal(r.code, 124);
  assert.match(r.verdict ?? '', /^timeout after \d+s: 0.5 quiet seconds used up \(scale now 4.00\)/);
  assert.ok(r.ms >= 2000, `load 4 on 1 CPU: at least 4 x 0.5 s (took ${Math.round(r.ms)} ms)`);
  // The job's own calibration counts the same way.
  const cal = join(dir, 'calibration');
  writeFileSync(cal, '3\n');
  const c = await watch('calibrated', ['--budget', '0.5', '--idle', '30', '--calibration', cal], busy);
  assert.match(c.verdict ?? '', /\(scale now 3.00\)/);
  assert.ok(c.ms >= 1500, `calibration 3: at least 3 x 0.5 s (took ${Math.round(c.ms)} ms)`);
});

test('an interrupted watchdog stops its job too (the job has a process group of its own)', async () => {
  const pidFile = join(dir, 'interrupted.pid');
  const { spawn } = await import('node:child_process');
  const w = spawn(process.execPath, [WATCHDOG, '--log', join(dir, 'int.log'), '--budget', '30', '--idle', '30', '--', 'sh', '-c', `sleep 300 & echo $! > ${pidFile}; wait`], { stdio: 'ignore' });
  while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8') === '') await new Promise((r) => setTimeout(r, 50));
  const exited = new Promise((r) => w.once('exit', r));
  w.kill('SIGTERM');
  await exited;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  let state = 'gone';
  for (let i = 0; i < 40; i++) {
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.charAt(0);
    } catch {
      state = 'gone';
    }
    if (state === 'gone' || state === 'Z') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(['gone', 'Z', 'X'].includes(state), `the job's sleep is ${state} after the watchdog was stopped`);
});
