// Helpers for the kernel tests: temp files, trap keys, and waiting for events without
// timing assertions (a deadline only bounds how long a missing event is waited for).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileKey, FileMonitor, KernelEvent } from '../../src/kernel/monitor.ts';
import { resolveInRoot } from '../../src/runtime/resolve.ts';
import { scaled } from '../kernels/time-scale.ts';

/** Generous for a quiet QEMU/TCG guest (a child process takes a second to start there),
 * scaled by the machine's measured speed (test/kernels/time-scale.ts). */
export const EVENT_DEADLINE_MS = scaled(30_000);

/** A file's kernel identity, as Kive computes it (stat() alone is wrong on btrfs). */
export function keyOf(path: string): FileKey {
  const { ino, dev } = resolveInRoot({ root: '/', path });
  return { ino, dev };
}

export function scratchDir(prefix: string): { dir: string; file(name: string, content?: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `kive-${prefix}-`));
  return {
    dir,
    file(name, content = 'kive test file\n') {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Collects every event a started monitor delivers and lets tests wait on them. */
export class EventLog {
  readonly events: KernelEvent[] = [];
  #waiters: Array<() => void> = [];

  constructor(monitor: FileMonitor) {
    monitor.start((batch) => {
      this.events.push(...batch);
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** Resolves with the first event (old or new) matching `pred`; rejects after the deadline. */
  waitFor(pred: (e: KernelEvent) => boolean, what: string, deadlineMs = EVENT_DEADLINE_MS): Promise<KernelEvent> {
    const found = this.events.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no event for ${what} within ${deadlineMs} ms (saw ${this.events.length} events)`));
      }, deadlineMs);
      const check = (): void => {
        const e = this.events.find(pred);
        if (e) {
          clearTimeout(timer);
          resolve(e);
        } else this.#waiters.push(check);
      };
      this.#waiters.push(check);
    });
  }

  forSlot(slot: number): KernelEvent[] {
    return this.events.filter((e) => e.slot === slot);
  }
}
