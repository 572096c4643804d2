// Process details for alerts (executable path, working directory, arguments), read from
// /proc with a small per-process cache.
//
// The process behind an event has often exited by the time we read it (`cat secret` is
// done in microseconds). The order of preference is therefore:
//   1. /proc/<tgid>, when that process is still the one that caused the event (its comm
//      matches, which guards against a recycled pid);
//   2. what the kernel captured with the event, when the backend provides it;
//   3. the event's comm as the binary, with empty cwd and arguments.
// Reading never throws: an alert with less detail beats no alert.

import { readFileSync, readlinkSync } from 'node:fs';
import { splitArgs, type KernelEvent } from '../kernel/event.ts';
import type { Accessor, ProcessDetails, TruncatedProcessField } from './build.ts';

/** The event fields process details come from; exe, cwd and args when the kernel captured them. */
export type ProcessEventFields = Pick<KernelEvent, 'tgid' | 'comm' | 'exe' | 'cwd' | 'args' | 'truncated'> & Partial<Pick<KernelEvent, 'cgroupId'>>;

export interface ProcFs {
  readlink(path: string): string;
  readFile(path: string): Buffer;
}

const realProcFs: ProcFs = {
  readlink: (p) => readlinkSync(p),
  readFile: (p) => readFileSync(p),
};

export interface ProcessCacheOptions {
  procRoot?: string;
  fs?: ProcFs;
  /** How long an entry is trusted; an exec under the same pid changes comm anyway. */
  ttlMs?: number;
  maxEntries?: number;
  now?: () => number;
  /**
   * The accessing process's container or the host, from the event's cgroup id
   * (AccessorIndex.of in accessor.ts). Without it alerts carry no `accessor` field.
   */
  accessorOf?: (cgroupId: bigint) => Accessor;
}

interface Entry {
  details: ProcessDetails;
  expiresAt: number;
}

/** Turns argv (as NUL-separated /proc cmdline or a list) into the design's "arguments": argv[1..] joined by spaces. */
export function argumentsFromArgv(argv: readonly string[]): string {
  return argv.slice(1).join(' ');
}

// Linux appends " (deleted)" to links of removed files; the path is still the best name.
const stripDeleted = (p: string): string => (p.endsWith(' (deleted)') ? p.slice(0, -10) : p);

export class ProcessCache {
  readonly #procRoot: string;
  readonly #fs: ProcFs;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #accessorOf: ((cgroupId: bigint) => Accessor) | undefined;
  readonly #entries = new Map<string, Entry>();

  constructor(options: ProcessCacheOptions = {}) {
    this.#procRoot = options.procRoot ?? '/proc';
    this.#fs = options.fs ?? realProcFs;
    this.#ttlMs = options.ttlMs ?? 5_000;
    this.#maxEntries = options.maxEntries ?? 4_096;
    this.#now = options.now ?? Date.now;
    this.#accessorOf = options.accessorOf;
  }

  lookup(event: ProcessEventFields): ProcessDetails {
    // The cgroup is part of the key: a process moved into another cgroup is another accessor.
    const key = `${event.tgid}\0${event.comm}\0${event.cgroupId ?? ''}`;
    const now = this.#now();
    const hit = this.#entries.get(key);
    if (hit !== undefined && hit.expiresAt > now) return hit.details;

    let details = this.#fromProc(event) ?? fromKernel(event);
    if (this.#accessorOf !== undefined && event.cgroupId !== undefined) details = { ...details, accessor: this.#accessorOf(event.cgroupId) };
    if (this.#entries.size >= this.#maxEntries) {
      // Oldest insertion first: a Map iterates in insertion order.
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { details, expiresAt: now + this.#ttlMs });
    return details;
  }

  #fromProc(event: ProcessEventFields): ProcessDetails | undefined {
    const dir = `${this.#procRoot}/${event.tgid}`;
    try {
      const comm = this.#fs.readFile(`${dir}/comm`).toString('utf8').replace(/\n$/, '');
      if (comm !== event.comm) return undefined; // a different process now owns this pid
      const cmdline = this.#fs.readFile(`${dir}/cmdline`);
      const argv = splitArgs(cmdline, 0, cmdline.length); // the kernel's argv tail has /proc's layout
      const binary = stripDeleted(this.#fs.readlink(`${dir}/exe`));
      let cwd = '';
      try {
        cwd = stripDeleted(this.#fs.readlink(`${dir}/cwd`));
      } catch {
        // cwd can be unreadable (e.g. a zombie); keep the rest.
      }
      const truncated: TruncatedProcessField[] = [];
      if (!cwd && event.truncated?.includes('cwd')) truncated.push('cwd');
      if (argv.length === 0 && event.truncated?.includes('args')) truncated.push('arguments');
      return {
        binary,
        cwd: cwd || event.cwd || '',
        arguments: argv.length > 0 ? argumentsFromArgv(argv) : argumentsFromArgv(event.args ?? []),
        ...(truncated.length > 0 ? { truncated } : {}),
      };
    } catch {
      return undefined; // exited, or a kernel thread without exe
    }
  }
}

function fromKernel(event: ProcessEventFields): ProcessDetails {
  const truncated: TruncatedProcessField[] = [];
  if (event.truncated?.includes('exe')) truncated.push('binary');
  if (event.truncated?.includes('cwd')) truncated.push('cwd');
  if (event.truncated?.includes('args')) truncated.push('arguments');
  return {
    binary: event.exe || event.comm,
    cwd: event.cwd ?? '',
    arguments: argumentsFromArgv(event.args ?? []),
    ...(truncated.length > 0 ? { truncated } : {}),
  };
}
