// The traps of `kive run`: host paths from KivePolicy files, fed into the trap model
// (src/traps/model.ts) and kept armed while the files change under them.
//
// A trap follows its file and its path (docs/alerts.md, "Moved, deleted, replaced"):
// - the file: every inode armed for a trap is held open (held-file.ts) and stays armed
//   while it has a link anywhere (moved, renamed, hard-linked elsewhere); it is disarmed
//   when its last link is gone;
// - the path: a new file at the path (renamed over it, recreated, an editor's save) is
//   armed as well. The path's directory is watched for that name (inotify,
//   src/runtime/watch.ts, as the operator does), each held inode is watched itself, and
//   every trap is re-checked periodically because a watch can miss changes (the parent
//   itself replaced, a bind mount). An event re-checks only the trap it belongs to.
// A move, delete, rename-over, link, chmod or truncate of an armed file is reported
// through onFileChange (file-changes.ts).
//
// Past the held-file budget an inode is armed without being held, as before: it is
// disarmed when the path names another file, since without the fd its number may be
// reused by an unrelated file. A path that disappears keeps its last inode armed,
// unless the trap has `create`, in which case the honeytoken is created again.

import type { TrapContext } from '../alerts/build.ts';
import type { KivePolicy } from '../api/v1/types.ts';
import { isKiveError } from '../errors.ts';
import type { FileKey, TrapMap } from '../kernel/contract.ts';
import type { ResolvedFile, ResolveOptions } from '../runtime/resolve.ts';
import { watchFileInRoot, type WatchFileInRoot } from '../runtime/watch.ts';
import { trapContext } from '../traps/context.ts';
import { TrapModel } from '../traps/model.ts';
import { changesOf, type FileChange } from './file-changes.ts';
import { heldFileBudget, holdFile, type FileState, type HeldFile, type HoldFile } from './held-file.ts';

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
  /** A trapped file was moved, deleted, replaced, linked, chmod-ed or truncated. */
  onFileChange?: (change: FileChange) => void;
  /** Opens and watches an armed inode (held-file.ts); injectable for tests. */
  hold?: HoldFile;
  /** How many inodes may be held open; default heldFileBudget(). */
  maxHeldFiles?: number;
}

interface ArmedFile {
  key: FileKey;
  held: HeldFile | undefined;
  /** State at the last re-check (held files only). */
  last: FileState | undefined;
}

interface HostTrap {
  /** The trap's name in the model. */
  name: string;
  context: TrapContext;
  path: string;
  create: boolean;
  mode: number | undefined;
  /** Id (ino:dev) of the file the path named at the last re-check. */
  current: string | undefined;
  /** Every file armed for this trap, by id: the current one and moved-away ones. */
  files: Map<string, ArmedFile>;
  /** The path is gone and the last inode stays armed; logged once per disappearance. */
  missing: boolean;
}

const fileId = (f: FileKey): string => `${f.ino}:${f.dev}`;

export class HostTrapSet {
  readonly #deps: HostTrapDeps;
  readonly #traps: HostTrap[] = [];
  readonly #model: TrapModel;
  readonly #watchers = new Map<string, { close(): void }>();
  readonly #hold: HoldFile;
  readonly #maxHeld: number;
  #held = 0;
  #budgetWarned = false;
  #timer: NodeJS.Timeout | undefined;
  #pending: NodeJS.Immediate | undefined;
  readonly #due = new Set<HostTrap>();

  constructor(deps: HostTrapDeps) {
    this.#deps = deps;
    this.#model = new TrapModel(deps.map);
    this.#hold = deps.hold ?? holdFile;
    this.#maxHeld = deps.maxHeldFiles ?? heldFileBudget();
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
          current: undefined,
          files: new Map(),
          missing: false,
          context: trapContext({ policyName: policy.metadata.name, path: t.path, metadata: t.metadata, callback: t.callback, exclude: t.exclude }),
        };
        this.#traps.push(trap);
        this.#arm(trap, true);
      }
    }
    for (const path of new Set(this.#traps.map((t) => t.path))) {
      try {
        const mine = this.#traps.filter((t) => t.path === path);
        this.#watchers.set(path, (this.#deps.watchFile ?? watchFileInRoot)('/', path, () => mine.forEach((t) => this.#schedule(t))));
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

  /** Inodes held open now (at most the budget). */
  get heldFiles(): number {
    return this.#held;
  }

  /** Re-checks every trap: the backstop for a missed watch event. */
  recheck(): void {
    for (const trap of this.#traps) this.#check(trap);
  }

  close(): void {
    clearInterval(this.#timer);
    if (this.#pending !== undefined) clearImmediate(this.#pending);
    this.#due.clear();
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    for (const t of this.#traps) for (const f of t.files.values()) this.#release(f);
  }

  // A burst of events (an editor's save is several) costs one re-check of each trap hit.
  #schedule(trap: HostTrap): void {
    this.#due.add(trap);
    this.#pending ??= setImmediate(() => {
      this.#pending = undefined;
      const due = [...this.#due];
      this.#due.clear();
      for (const t of due) this.#check(t);
    });
  }

  #check(trap: HostTrap): void {
    try {
      this.#arm(trap, false);
    } catch (err) {
      // A re-check runs from a watch or a timer: nobody up the stack can handle it.
      this.#deps.log.error({ path: trap.path, err: (err as Error).message }, 'cannot re-arm trap');
    }
  }

  #arm(trap: HostTrap, initial: boolean): void {
    let file: ResolvedFile | undefined;
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
    }
    if (file !== undefined) {
      trap.missing = false;
      if (file.created) this.#deps.log.info({ path: trap.path, mode: trap.mode }, 'created honeytoken');
      // Only the first creation opens the planting window (discover.ts plantedAt says why).
      if (file.created && initial && trap.context.exclude?.plantingWindowSeconds !== undefined) trap.context = { ...trap.context, plantedAtMs: Date.now() };
    }
    const atPath = file !== undefined ? fileId(file) : undefined;
    const before = [...trap.files.keys()];

    // 1. What happened to each held file since the last look.
    const changes: FileChange[] = [];
    for (const [id, armed] of trap.files) {
      if (armed.held === undefined || armed.last === undefined) continue;
      const now = armed.held.state();
      const view = { wasAtPath: id === trap.current, atPath: id === atPath, otherAtPath: atPath !== undefined && atPath !== id && file?.created !== true };
      for (const op of changesOf(armed.last, now, view)) changes.push({ op, trap: trap.context, file: armed.key, where: now.where });
      armed.last = now;
      if (now.nlink === 0) {
        this.#release(armed);
        trap.files.delete(id);
        this.#deps.log.info({ path: trap.path, inode: armed.key.ino.toString() }, 'last link of a trapped file is gone; disarmed');
      }
    }

    // 2. The file at the path, armed too if it is new.
    if (file !== undefined && atPath !== undefined && !trap.files.has(atPath)) {
      const key: FileKey = { ino: file.ino, dev: file.dev };
      const held = this.#holdFor(trap, key);
      trap.files.set(atPath, { key, held, last: held?.state() });
      if (before.length > 0) {
        // `from`: the files armed before; the held ones with a link left stay armed.
        this.#deps.log.info({ path: trap.path, from: before.join(','), to: atPath }, 'trap file replaced, now watching the new inode');
      } else {
        this.#deps.log.info({ path: trap.path, inode: file.ino.toString(), dev: file.dev }, 'trap armed');
      }
    }
    // A file that is not held cannot be followed: once the path names another file it
    // is disarmed, as its inode number may be reused.
    const previous = trap.current !== undefined ? trap.files.get(trap.current) : undefined;
    if (previous !== undefined && previous.held === undefined && atPath !== undefined && trap.current !== atPath) {
      trap.files.delete(trap.current as string);
    }
    trap.current = atPath;

    // 3. The model (and the kernel map) follows; then the changes are told.
    this.#model.set(trap.name, [...trap.files.values()].map((f) => f.key), trap.context);
    for (const c of changes) this.#deps.onFileChange?.(c);
  }

  #holdFor(trap: HostTrap, key: FileKey): HeldFile | undefined {
    if (this.#held >= this.#maxHeld) {
      if (!this.#budgetWarned) {
        this.#budgetWarned = true;
        this.#deps.log.warn(
          { limit: this.#maxHeld },
          'held-file budget reached: further trapped files are followed by path only (a moved copy is not watched)',
        );
      }
      return undefined;
    }
    try {
      const held = this.#hold(trap.path, key, () => this.#schedule(trap));
      if (held !== undefined) this.#held++;
      return held;
    } catch (err) {
      this.#deps.log.warn({ path: trap.path, err: (err as Error).message }, 'cannot hold the trapped file; following it by path only');
      return undefined;
    }
  }

  #release(armed: ArmedFile): void {
    if (armed.held === undefined) return;
    armed.held.close();
    armed.held = undefined;
    this.#held--;
  }
}
