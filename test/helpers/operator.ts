// Runs `kive operator` as a child process for integration tests and reads its output:
// alerts (stdout, NDJSON) and logs (stderr, JSON lines).

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { loadScaled } from './load-scale.ts';

const KIVE = fileURLToPath(new URL('../../bin/kive', import.meta.url));

export interface OperatorProcess {
  readonly identity: string;
  /** The operator's own pid (bin/kive execs node). */
  readonly pid: number;
  readonly alerts: Array<Record<string, any>>;
  readonly logs: Array<Record<string, any>>;
  /** Resolves with the first alert (already seen or future) that `pred` accepts. Timeouts are for a quiet machine and grow with its load. */
  waitForAlert(pred: (a: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
  waitForLog(pred: (l: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
  /** Sends `signal` (unless it already exited); resolves with its exit code (null: killed by a signal). */
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

function waiter<T>(list: T[], subscribers: Set<() => void>, pred: (x: T) => boolean, quietTimeoutMs: number, what: string, tail: () => string): Promise<T> {
  const timeoutMs = loadScaled(quietTimeoutMs);
  return new Promise((resolve, reject) => {
    const check = () => {
      const hit = list.find(pred);
      if (hit === undefined) return false;
      clearTimeout(timer);
      subscribers.delete(onNew);
      resolve(hit);
      return true;
    };
    const onNew = () => void check();
    const timer = setTimeout(() => {
      subscribers.delete(onNew);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last output:\n${tail()}`));
    }, timeoutMs);
    if (!check()) subscribers.add(onNew);
  });
}

export function startOperator(identity: string, args: string[]): OperatorProcess {
  const child: ChildProcess = spawn(KIVE, ['operator', '--identity', identity, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KIVE_LOG_LEVEL: 'info' },
  });
  const alerts: Array<Record<string, any>> = [];
  const logs: Array<Record<string, any>> = [];
  const raw: string[] = [];
  const subscribers = new Set<() => void>();
  const notify = () => {
    for (const s of [...subscribers]) s();
  };
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    raw.push(`[stdout] ${line}`);
    try {
      alerts.push(JSON.parse(line));
    } catch {
      // not an alert: kept in raw for the failure message
    }
    notify();
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    raw.push(`[stderr] ${line}`);
    try {
      logs.push(JSON.parse(line));
    } catch {
      logs.push({ msg: line });
    }
    notify();
  });
  const tail = () => raw.slice(-25).join('\n');
  return {
    identity,
    pid: child.pid ?? 0,
    alerts,
    logs,
    waitForAlert: (pred, timeoutMs = 15_000) => waiter(alerts, subscribers, pred, timeoutMs, `an alert from ${identity}`, tail),
    waitForLog: (pred, timeoutMs = 15_000) => waiter(logs, subscribers, pred, timeoutMs, `a log line from ${identity}`, tail),
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
      return child.exitCode;
    },
  };
}

/**
 * The ids of the eBPF programs process `pid` holds a file descriptor to (libbpf keeps one
 * per loaded program), from /proc/<pid>/fdinfo: this process's programs and no other's,
 * even when other tests on the machine load Kive's programs too.
 */
export function bpfProgramIdsOf(pid: number): Set<number> {
  const ids = new Set<number>();
  const dir = `/proc/${pid}/fdinfo`;
  for (const fd of readdirSync(dir)) {
    let info: string;
    try {
      info = readFileSync(`${dir}/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const m = /^prog_id:\s*(\d+)$/m.exec(info);
    if (m) ids.add(Number(m[1]));
  }
  return ids;
}
