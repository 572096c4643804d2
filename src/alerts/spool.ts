// The callback spool: a write-ahead directory of the alerts the callback sink holds, so a
// restart during a receiver outage loses nothing (issue 10; docs/alerts.md, "The spool").
//
// - One file per queued alert and destination: `<seq>-<alert-id>.json`, `seq` a zero-padded
//   counter that goes on from the highest one found at open (names sort oldest first). The
//   content is `{"v":1,"url":...,"id":...,"body":...}`: the exact body, so a re-delivery
//   after a restart is byte-identical and has the same Idempotency-Key.
// - Written off the event path (fs/promises, a few operations at a time) to `NAME.tmp`,
//   then renamed: a crash leaves a whole file or none (a leftover `.tmp` is deleted at
//   open). Files are 0600, the directory 0700. No fsync: the files survive the process
//   (SIGKILL, a crash, an OOM kill), not a power loss of the node; an fsync per alert
//   would cost more than the guarantee is worth here.
// - The sink removes a file when its alert reaches a final outcome (delivered, failed,
//   dropped) and keeps it when shutdown's grace period ends first (outcome `spooled`).
//   An alert removed before its write started is never written, so a flood of dropped
//   alerts costs no disk work; the files never outnumber the sink's queue.
// - One process per directory: an flock on `lock` (spool-lock.ts), which the kernel drops
//   when the owner dies; open refuses a directory another process (or spool) holds.
//
// Why the sink, not the spool, decides what is kept: the queue's bound and fair-share
// eviction are the sink's; the spool mirrors the queue, so it is bounded by the same
// entries/bytes bound and needs no policy of its own.

import { lstatSync, mkdirSync } from 'node:fs';
import { readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KiveError } from '../errors.ts';
import { lockSpoolDir, type SpoolLock } from './spool-lock.ts';

export interface SpoolLogger {
  warn(obj: object, msg: string): void;
  info?(obj: object, msg: string): void;
}

/** An alert found in the spool at open: re-queue it with these. */
export interface SpooledAlert {
  readonly url: string;
  readonly id: string;
  readonly body: string;
  /** Its file, already on disk. */
  readonly handle: SpoolHandle;
}

type State = 'queued' | 'writing' | 'written' | 'unwritten' | 'removed';

/** One alert's file. Opaque to the sink: pass it back to keep()/remove(). */
export interface SpoolHandle {
  readonly name: string;
  state: State;
  /** The sink is done with it: delete the file (once it is written). */
  unwanted: boolean;
  data?: string;
}

const NAME = /^(\d{12,})-([A-Za-z0-9-]{0,64})\.json$/;
const SAFE_ID = /^[A-Za-z0-9-]{1,64}$/;
/** File operations at a time: enough to keep up with the queue, few enough not to hog libuv's pool. */
const PARALLEL = 4;

/**
 * Creates `dir` (0700) if it is missing and checks it is safe to keep alerts in: a real
 * directory (not a symlink), owned by this user, not open to group or others. Throws a
 * KIVE_CONFIG error that says what to fix.
 */
export function checkSpoolDir(dir: string, flag = '--spool-dir'): void {
  const fail = (why: string): never => {
    throw new KiveError('KIVE_CONFIG', `${flag} ${dir}: ${why}`);
  };
  let st;
  try {
    st = lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') fail((err as Error).message);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      st = lstatSync(dir);
    } catch (e) {
      return fail(`cannot create it: ${(e as Error).message}`);
    }
  }
  if (st.isSymbolicLink()) fail('is a symbolic link; give the real directory');
  if (!st.isDirectory()) fail('is not a directory');
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) fail(`is owned by uid ${st.uid}, not by this process (uid ${uid})`);
  if ((st.mode & 0o077) !== 0) fail(`is open to others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); chmod 700 it`);
}

export class Spool {
  readonly dir: string;
  readonly #log: SpoolLogger | undefined;
  readonly #lock: SpoolLock;
  #seq: number;
  #backlog: SpooledAlert[];
  readonly #ops: Array<() => Promise<void>> = [];
  #running = 0;
  readonly #settled = new Set<() => void>();
  #lastError = '';
  #errors = 0;
  #closed = false;

  private constructor(dir: string, lock: SpoolLock, seq: number, backlog: SpooledAlert[], log?: SpoolLogger) {
    this.dir = dir;
    this.#lock = lock;
    this.#seq = seq;
    this.#backlog = backlog;
    this.#log = log;
  }

  /**
   * Checks (checkSpoolDir) and locks `dir`, deletes leftover temporary files and reads the
   * alerts it holds, oldest first. A file that cannot be read or parsed is deleted and
   * counted in one log line: it cannot be delivered, and the rename makes a torn write
   * impossible, so only a disk error or a hand edit makes one.
   */
  static async open(dir: string, o: { log?: SpoolLogger; flag?: string } = {}): Promise<Spool> {
    checkSpoolDir(dir, o.flag);
    const lock = lockSpoolDir(dir, o.flag ?? '--spool-dir');
    try {
      return await Spool.#read(dir, lock, o.log);
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  static async #read(dir: string, lock: SpoolLock, log: SpoolLogger | undefined): Promise<Spool> {
    const names = await readdir(dir);
    let maxSeq = 0;
    const found: Array<{ seq: number; name: string }> = [];
    for (const name of names) {
      if (name.endsWith('.tmp')) {
        await unlink(join(dir, name)).catch(() => {});
        continue;
      }
      const m = NAME.exec(name);
      if (!m) continue; // the lock, or something that is not ours: left alone
      const seq = Number(m[1]);
      maxSeq = Math.max(maxSeq, seq);
      found.push({ seq, name });
    }
    found.sort((a, b) => a.seq - b.seq);
    const backlog: SpooledAlert[] = [];
    const corrupt: string[] = [];
    for (let i = 0; i < found.length; i += 32) {
      const chunk = found.slice(i, i + 32);
      const read = await Promise.all(chunk.map(({ name }) => readFile(join(dir, name), 'utf8').then(parseRecord, () => undefined)));
      read.forEach((r, j) => {
        const name = (chunk[j] as { name: string }).name;
        if (r === undefined) corrupt.push(name);
        else backlog.push({ ...r, handle: { name, state: 'written', unwanted: false } });
      });
    }
    for (const name of corrupt) await unlink(join(dir, name)).catch(() => {});
    if (corrupt.length > 0) log?.warn({ dir, corrupt: corrupt.length, deleted: corrupt.slice(0, 5) }, 'spool: unreadable alert files deleted');
    return new Spool(dir, lock, maxSeq + 1, backlog, log);
  }

  /** The alerts found at open, oldest first; given once. */
  takeBacklog(): SpooledAlert[] {
    const b = this.#backlog;
    this.#backlog = [];
    return b;
  }

  /** Starts writing one alert's file; returns at once. */
  add(url: string, id: string, body: string): SpoolHandle {
    const seq = String(this.#seq++).padStart(12, '0');
    const h: SpoolHandle = {
      name: `${seq}-${SAFE_ID.test(id) ? id : ''}.json`,
      state: 'queued',
      unwanted: false,
      data: JSON.stringify({ v: 1, url, id, body }),
    };
    this.#run(() => this.#write(h));
    return h;
  }

  /** The sink is done with this alert: its file goes (or is never written). */
  remove(h: SpoolHandle): void {
    if (h.unwanted) return;
    h.unwanted = true;
    if (h.state === 'queued') {
      h.state = 'removed'; // #write skips it
      delete h.data;
    } else if (h.state === 'written') this.#run(() => this.#unlink(h));
    // 'writing': #write removes it when the write is done.
  }

  /** Whether the alert's file is on disk (or will be, once a write already under way ends). */
  isKept(h: SpoolHandle): boolean {
    return h.state === 'written' && !h.unwanted;
  }

  /** Resolves once every pending write and removal is done, or after `timeoutMs`. */
  async settle(timeoutMs: number): Promise<void> {
    if (this.#idle()) return;
    let timer: NodeJS.Timeout | undefined;
    let done!: () => void;
    await Promise.race([new Promise<void>((r) => this.#settled.add((done = r))), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    this.#settled.delete(done);
    clearTimeout(timer);
  }

  /** Waits up to `timeoutMs` for pending work, then releases the lock. Files stay. */
  async close(timeoutMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.settle(timeoutMs);
    if (this.#errors > 0) this.#log?.warn({ dir: this.dir, errors: this.#errors, error: this.#lastError }, 'spool: file operations failed');
    this.#lock.release();
  }

  #idle(): boolean {
    return this.#running === 0 && this.#ops.length === 0;
  }

  #run(op: () => Promise<void>): void {
    this.#ops.push(op);
    this.#next();
  }

  #next(): void {
    while (this.#running < PARALLEL && this.#ops.length > 0) {
      const op = this.#ops.shift() as () => Promise<void>;
      this.#running++;
      void op().finally(() => {
        this.#running--;
        this.#next();
        if (this.#idle()) for (const r of this.#settled) r();
      });
    }
  }

  async #write(h: SpoolHandle): Promise<void> {
    if (h.state !== 'queued') return;
    h.state = 'writing';
    const file = join(this.dir, h.name);
    try {
      await writeFile(`${file}.tmp`, h.data as string, { mode: 0o600 });
      await rename(`${file}.tmp`, file);
      h.state = 'written';
    } catch (err) {
      h.state = 'unwritten';
      this.#error(err);
      await unlink(`${file}.tmp`).catch(() => {});
    }
    delete h.data;
    if (h.unwanted && h.state === 'written') await this.#unlink(h);
  }

  async #unlink(h: SpoolHandle): Promise<void> {
    if (h.state !== 'written') return;
    h.state = 'removed';
    await unlink(join(this.dir, h.name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') this.#error(err);
    });
  }

  /** Logged at the first error of a kind, and in total at close: a full disk must not flood the log. */
  #error(err: unknown): void {
    this.#errors++;
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    if (code === this.#lastError) return;
    this.#lastError = code;
    this.#log?.warn({ dir: this.dir, error: code, cause: (err as Error).message }, 'spool: cannot write or remove an alert file; the alert is still queued in memory');
  }
}

function parseRecord(text: string): { url: string; id: string; body: string } | undefined {
  try {
    const r = JSON.parse(text) as { v?: unknown; url?: unknown; id?: unknown; body?: unknown };
    if (r.v !== 1 || typeof r.url !== 'string' || typeof r.id !== 'string' || typeof r.body !== 'string') return undefined;
    JSON.parse(r.body); // an alert is a JSON object; anything else is damage
    return { url: r.url, id: r.id, body: r.body };
  } catch {
    return undefined;
  }
}
