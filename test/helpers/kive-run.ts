// Drives a real `kive run` for kernel tests: start it with a policy, collect its alerts
// (stdout) and log lines (stderr), wait for either, stop it with SIGTERM.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { scaled } from '../kernels/time-scale.ts';

export const KIVE = fileURLToPath(new URL('../../bin/kive', import.meta.url));

export interface KiveRun {
  alerts: Array<Record<string, any>>;
  logs: string[];
  /** Polls until `fn` returns a value; throws with the logs after `ms`. */
  waitFor<T>(what: string, fn: () => T | undefined, ms?: number): Promise<T>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  /** Sends `signal` (SIGKILL: a crash), then resolves at the exit. */
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

export function startKiveRun(args: string[]): KiveRun {
  const child = spawn(KIVE, ['run', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const alerts: Array<Record<string, any>> = [];
  const logs: string[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => alerts.push(JSON.parse(l)));
  createInterface({ input: child.stderr }).on('line', (l) => logs.push(l));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    alerts,
    logs,
    // The deadline is for a quiet machine; KIVE_TIME_SCALE stretches it where the machine
    // is slower (the QEMU guests: test/kernels/time-scale.ts).
    async waitFor(what, fn, quietMs = 30_000) {
      const ms = scaled(quietMs);
      for (const end = Date.now() + ms; ; ) {
        const v = fn();
        if (v !== undefined) return v;
        if (Date.now() > end || child.exitCode !== null) throw new Error(`no ${what} within ${ms} ms; logs:\n${logs.join('\n')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop() {
      child.kill('SIGTERM');
      return exited;
    },
    kill(signal) {
      child.kill(signal);
      return exited;
    },
  };
}

/** Writes a one-trap KivePolicy file that creates `path` as a 0444 honeytoken (alerting `callback` too, if given). */
export function writeHoneytokenPolicy(file: string, name: string, path: string, callback?: string): void {
  writeFileSync(
    file,
    `apiVersion: kivebpf.san7o.github.io/v1
kind: KivePolicy
metadata:
  name: ${name}
spec:
  traps:
    - path: ${path}
      create: true
      mode: 444
${callback ? `      callback: ${callback}\n` : ''}`,
  );
}
