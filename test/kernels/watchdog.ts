// watchdog.ts [OPTIONS] -- COMMAND [ARG ...]
//
// Runs one matrix row's job (QEMU for a guest, suite.sh for the host), streams its
// output prefixed to stdout and unprefixed to a log file, and kills it (its whole
// process group) when it has used up its time. Time limits are not fixed numbers: they
// are in "quiet seconds", the time the job needs on a quiet machine (for a guest: a
// quiet TCG guest), and the clock that spends them runs slower when the job is measured
// to be slower:
//   scale(t) = max(1, the job's own calibration (calibrate.ts, once it has written it),
//                  the host's load average per CPU at t), at most MAX_SCALE
//   every wall second spends 1/scale(t) of both budgets; output resets the idle one.
// So a guest on a machine shared with another matrix run gets more wall time, and a
// guest that stops printing (a hung test, a dead kernel) still fails, after the idle
// budget; the kernel's own lockup and stall reports are not output for that (isProgress).
// Why: fixed 200 s limits failed both runs when two matrix runs shared the
// machine (docs/kernels.md, "Time limits").
//
// Options:
//   --budget S          total quiet seconds (required)
//   --idle S            quiet seconds without output (required)
//   --log FILE          the job's output, \r stripped (required)
//   --verdict FILE      written only when the watchdog kills: "timeout ..." or "hung ..."
//   --calibration FILE  a number the job writes once it has measured its speed
//   --prefix TEXT       put before every line on stdout (e.g. "[6.1] ")
//   --loadavg FILE      default /proc/loadavg (tests give a file of their own)
//   --cpus N            default os.availableParallelism()
//   --tick S            how often the budgets are checked (default 1)
// Exit status: the job's, or 124 when the watchdog killed it.
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, constants } from 'node:os';
import { StringDecoder } from 'node:string_decoder';

export interface Limits {
  budget: number; // quiet seconds for the whole job
  idle: number; // quiet seconds without output
}

export interface Clock {
  wall: number; // wall seconds since the start
  spent: number; // quiet seconds spent since the start
  idleSpent: number; // quiet seconds spent since the last output
  scale: number; // the last scale applied
}

export const START: Clock = { wall: 0, spent: 0, idleSpent: 0, scale: 1 };

/** The most the limits stretch: a hang is still reported within MAX_SCALE times the
 * idle budget, however loaded the machine. */
export const MAX_SCALE = 10;

/** How much slower than a quiet machine the job runs now. Bad inputs count as 1: a
 * broken calibration must not shorten or stretch the limits. */
export function scaleOf(calibration: number | undefined, load1: number | undefined, cpus: number): number {
  const fromCalibration = calibration !== undefined && Number.isFinite(calibration) && calibration > 0 ? calibration : 1;
  const fromLoad = load1 !== undefined && Number.isFinite(load1) && cpus > 0 ? load1 / cpus : 1;
  return Math.min(MAX_SCALE, Math.max(1, fromCalibration, fromLoad));
}

/** Advances the clock by `dt` wall seconds at `scale`; `output` says whether the job
 * printed anything during them. */
export function advance(c: Clock, dt: number, scale: number, output: boolean): Clock {
  const s = Math.min(MAX_SCALE, Math.max(1, scale));
  const quiet = dt / s;
  return { wall: c.wall + dt, spent: c.spent + quiet, idleSpent: output ? 0 : c.idleSpent + quiet, scale: s };
}

/**
 * A kernel's own reports that a CPU or a task is stuck. They keep coming while the guest
 * is hung (a CI row printed "soft lockup" every ~30 s for an hour), so they are not
 * progress: a chunk of output made only of such lines leaves the idle budget running.
 */
const STALL_REPORT =
  /^\s*(\[\s*\d+\.\d+\]\s*)?(watchdog: BUG: soft lockup|rcu: INFO: .*stall|rcu: \s|INFO: task .* blocked for more than|\s*\(t=\d+ jiffies)/;

/** Whether a chunk of the job's output shows the job moving (any line but a stall report). */
export function isProgress(text: string): boolean {
  return text.split('\n').some((line) => line.trim() !== '' && !STALL_REPORT.test(line));
}

/** undefined while the job may go on; otherwise why it is stopped. */
export function verdict(c: Clock, l: Limits): string | undefined {
  const at = `(scale now ${c.scale.toFixed(2)})`;
  if (c.idleSpent > l.idle) {
    return `hung: no output for ${l.idle} quiet seconds ${at}, ${c.wall.toFixed(0)}s after the start`;
  }
  if (c.spent > l.budget) return `timeout after ${c.wall.toFixed(0)}s: ${l.budget} quiet seconds used up ${at}`;
  return undefined;
}

/** The 1-minute load average, or undefined when it cannot be read. */
export function readLoad1(path: string): number | undefined {
  try {
    const v = Number(readFileSync(path, 'utf8').split(/\s+/)[0]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The job's calibration, or undefined until it has written a valid one. */
export function readCalibration(path: string | undefined): number | undefined {
  if (path === undefined) return undefined;
  try {
    const v = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(v) && v > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

interface Options extends Limits {
  log: string;
  verdictFile?: string;
  calibration?: string;
  prefix: string;
  loadavg: string;
  cpus: number;
  tick: number;
  command: string[];
}

export function parseArgs(argv: string[]): Options {
  const sep = argv.indexOf('--');
  if (sep < 0 || sep === argv.length - 1) throw new Error('watchdog: expected -- COMMAND [ARG ...]');
  const o: Record<string, string> = {};
  const names = ['budget', 'idle', 'log', 'verdict', 'calibration', 'prefix', 'loadavg', 'cpus', 'tick'];
  for (let i = 0; i < sep; i += 2) {
    const name = argv[i]?.replace(/^--/, '') ?? '';
    const value = argv[i + 1];
    if (!argv[i]?.startsWith('--') || !names.includes(name) || value === undefined || i + 1 >= sep) {
      throw new Error(`watchdog: bad option ${argv[i]}`);
    }
    o[name] = value;
  }
  const num = (name: string, fallback?: number): number => {
    const raw = o[name];
    if (raw === undefined) {
      if (fallback === undefined) throw new Error(`watchdog: --${name} is required`);
      return fallback;
    }
    const v = Number(raw);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`watchdog: --${name} ${raw}: expected a positive number`);
    return v;
  };
  if (o['log'] === undefined) throw new Error('watchdog: --log is required');
  return {
    budget: num('budget'),
    idle: num('idle'),
    log: o['log'],
    ...(o['verdict'] !== undefined ? { verdictFile: o['verdict'] } : {}),
    ...(o['calibration'] !== undefined ? { calibration: o['calibration'] } : {}),
    prefix: o['prefix'] ?? '',
    loadavg: o['loadavg'] ?? '/proc/loadavg',
    cpus: num('cpus', availableParallelism()),
    tick: num('tick', 1),
    command: argv.slice(sep + 1),
  };
}

function run(o: Options): Promise<number> {
  // The job gets a process group of its own (so it can be killed whole): pass on an
  // interrupt of the matrix (Ctrl-C, a CI cancel), or QEMU would outlive it. Set up
  // before the job starts, so no signal can come between.
  let jobPid: number | undefined;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      try {
        if (jobPid !== undefined) process.kill(-jobPid, sig);
      } catch {
        /* already gone */
      }
      setTimeout(() => process.exit(128 + constants.signals[sig]), jobPid === undefined ? 0 : 5000).unref();
    });
  }
  const log = createWriteStream(o.log);
  const child = spawn(o.command[0]!, o.command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  jobPid = child.pid;
  let output = false;
  let atLineStart = true;
  // One decoder per stream: a character split across two chunks stays whole.
  const onData = (decoder: StringDecoder) => (chunk: Buffer): void => {
    const text = decoder.write(chunk).replace(/\r(?=\n)/g, '');
    if (isProgress(text)) output = true;
    log.write(text);
    // The prefix goes before each line, also when a line arrives in several chunks.
    let out = '';
    for (const part of text.split(/(?<=\n)/)) {
      if (atLineStart) out += o.prefix;
      out += part;
      atLineStart = part.endsWith('\n');
    }
    process.stdout.write(out);
  };
  child.stdout.on('data', onData(new StringDecoder('utf8')));
  child.stderr.on('data', onData(new StringDecoder('utf8')));

  let clock = START;
  let killedFor: string | undefined;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const scale = scaleOf(readCalibration(o.calibration), readLoad1(o.loadavg), o.cpus);
    clock = advance(clock, (now - last) / 1000, scale, output);
    last = now;
    output = false;
    const why = verdict(clock, o);
    if (why === undefined || killedFor !== undefined) return;
    killedFor = why;
    if (o.verdictFile !== undefined) writeFileSync(o.verdictFile, `${why}\n`);
    process.stderr.write(`${o.prefix}watchdog: ${why}; stopping the job\n`);
    const kill = (sig: NodeJS.Signals): void => {
      try {
        process.kill(-child.pid!, sig); // the whole group: QEMU, or suite.sh and its children
      } catch {
        /* already gone */
      }
    };
    kill('SIGTERM');
    setTimeout(() => kill('SIGKILL'), 5000).unref();
  }, o.tick * 1000);

  return new Promise((resolve, reject) => {
    child.on('error', (err) => {
      clearInterval(timer);
      reject(new Error(`watchdog: cannot run ${o.command[0]}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearInterval(timer);
      if (!atLineStart) process.stdout.write('\n');
      log.end(() => resolve(killedFor !== undefined ? 124 : (code ?? 128 + (signal !== null ? constants.signals[signal] : 0))));
    });
  });
}

if (import.meta.main) {
  try {
    process.exitCode = await run(parseArgs(process.argv.slice(2)));
  } catch (err) {
    console.error((err as Error).message);
    process.exitCode = 2;
  }
}
