// The traps of `kive run`: host paths from KivePolicy files, armed in the kernel map and
// kept armed while the files change under them.
//
// A trap is a path, but the kernel watches an inode. When the file at the path is
// replaced (renamed over, deleted and recreated, an editor's save), the path names a
// new inode and the trap must follow it: the parent directory is watched for that name
// (inotify, src/runtime/watch.ts, as the operator does) and every trap is also
// re-checked periodically, because a watch can miss
// changes (the parent itself replaced, a bind mount). The old inode is disarmed when the
// path moves on: inode numbers are reused, and an alert about an unrelated file that
// happens to get the old number would be a lie.
//
// A path that disappears without a replacement keeps its last inode armed (the file may
// live on through a hard link or an open descriptor), unless the trap has `create`, in
// which case the honeytoken is created again.

import type { TrapContext } from '../alerts/build.ts';
import type { KivePolicy } from '../api/v1/types.ts';
import { isKiveError } from '../errors.ts';
import type { FileKey, TrapMap } from '../kernel/contract.ts';
import type { ResolvedFile, ResolveOptions } from '../runtime/resolve.ts';
import { watchFileInRoot, type WatchFileInRoot } from '../runtime/watch.ts';
import { trapContext } from '../traps/context.ts';
import { TrapModel } from '../traps/model.ts';

export interface HostTrapLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface HostTrapDeps {
  map: TrapMap;
  resolve: (opts: ResolveOptions) => ResolvedFile;
  log: HostTrapLogger;
  /** inotify on a trap's directory (src/runtime/watch.ts); injectable so tests can drive it. */
  watchFile?: WatchFileInRoot;
  /** Safety-net re-check period; 0 disables it. */
  recheckMs?: number;
}

interface HostTrap {
  /** The trap's name in the model. */
  name: string;
  context: TrapContext;
  path: string;
  create: boolean;
  mode: number | undefined;
  /** The file armed for this trap, if any. */
  file: FileKey | undefined;
  /** The path is gone and the last inode stays armed; logged once per disappearance. */
  missing: boolean;
}

const sameFile = (a: FileKey | undefined, b: FileKey): boolean => a !== undefined && a.ino === b.ino && a.dev === b.dev;
const fileText = (f: FileKey): string => `${f.ino}:${f.dev}`;

export class HostTrapSet {
  readonly #deps: HostTrapDeps;
  readonly #traps: HostTrap[] = [];
  readonly #model: TrapModel;
  readonly #watchers = new Map<string, { close(): void }>();
  #timer: NodeJS.Timeout | undefined;
  #pending: NodeJS.Immediate | undefined;

  constructor(deps: HostTrapDeps) {
    this.#deps = deps;
    this.#model = new TrapModel(deps.map);
  }

  /**
   * Registers and arms every trap of `policies`. Throws on the first trap that cannot be
   * armed (missing file without create, unsafe path): `kive run` refuses to start
   * half-armed rather than watch less than it was asked to.
   */
  armAll(policies: readonly KivePolicy[]): void {
    for (const policy of policies) {
      for (const t of policy.spec.traps) {
        if (t.matchAny !== undefined) {
          this.#deps.log.info(
            { policy: policy.metadata.name, path: t.path },
            'matchAny selects pods and containers, which do not exist in standalone mode; the host path is monitored',
          );
        }
        const trap: HostTrap = {
          name: String(this.#traps.length + 1),
          path: t.path,
          create: t.create === true,
          mode: t.mode,
          file: undefined,
          missing: false,
          context: trapContext({ policyName: policy.metadata.name, path: t.path, metadata: t.metadata, callback: t.callback }),
        };
        this.#traps.push(trap);
        this.#arm(trap, true);
      }
    }
    for (const path of new Set(this.#traps.map((t) => t.path))) {
      try {
        this.#watchers.set(path, (this.#deps.watchFile ?? watchFileInRoot)('/', path, () => this.#schedule()));
      } catch (err) {
        this.#deps.log.warn({ path, err: (err as Error).message }, 'cannot watch the trap\'s directory; the periodic re-check still follows a replaced file');
      }
    }
    const period = this.#deps.recheckMs ?? 2_000;
    if (period > 0) this.#timer = setInterval(() => this.recheck(), period).unref();
  }

  /** The traps watching the file `key`, for the alert pipeline. */
  trapsFor(key: FileKey): TrapContext[] {
    return this.#model.trapsFor(key);
  }

  get armedFiles(): number {
    return this.#model.armedFiles;
  }

  /** Re-resolves every trap's path and moves the ones whose file changed. */
  recheck(): void {
    for (const trap of this.#traps) this.#arm(trap, false);
  }

  close(): void {
    clearInterval(this.#timer);
    if (this.#pending !== undefined) clearImmediate(this.#pending);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }

  // A burst of directory events (an editor's save is several) costs one re-check.
  #schedule(): void {
    this.#pending ??= setImmediate(() => {
      this.#pending = undefined;
      this.recheck();
    });
  }

  #arm(trap: HostTrap, initial: boolean): void {
    let file: ResolvedFile;
    try {
      file = this.#deps.resolve({ root: '/', path: trap.path, create: trap.create, ...(trap.mode !== undefined ? { mode: trap.mode } : {}) });
    } catch (err) {
      if (initial) throw err;
      if (!trap.missing) {
        trap.missing = true;
        const gone = isKiveError(err, 'KIVE_PATH_NOT_FOUND');
        this.#deps.log.warn(
          { path: trap.path, err: (err as Error).message },
          gone ? 'trap path is gone; still watching its last inode' : 'cannot re-check trap; still watching its last inode',
        );
      }
      return;
    }
    trap.missing = false;
    if (file.created) this.#deps.log.info({ path: trap.path, mode: trap.mode }, 'created honeytoken');
    const key: FileKey = { ino: file.ino, dev: file.dev };
    if (sameFile(trap.file, key)) return;

    this.#model.set(trap.name, [key], trap.context);
    const previous = trap.file;
    trap.file = key;
    if (previous !== undefined) {
      this.#deps.log.info({ path: trap.path, from: fileText(previous), to: fileText(key) }, 'trap file replaced, now watching the new inode');
    } else {
      this.#deps.log.info({ path: trap.path, inode: file.ino.toString(), dev: file.dev }, 'trap armed');
    }
  }
}
