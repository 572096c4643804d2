// What happened to a trapped file between two looks at it, and the alert that says so
// (`kive run`). Pure: the states come from held-file.ts, the caller writes the alert.
//
// The change is inferred from the inode's state, because inotify says only that
// something happened: the name Kive holds it by changed means `moved`; that name gone
// (or the link count fallen) means `deleted`, or `replaced` when another file took the
// trap's path; a link count that rose means `linked`, other permission bits `chmod`, a
// smaller size `truncated`. inotify never names the process that acted, so
// these alerts say the process is unknown (docs/alerts.md).

import { buildAlert, type AlertEnvironment, type KiveAlert, type TrapContext } from '../alerts/build.ts';
import type { FileKey } from '../kernel/contract.ts';
import type { FileState } from './held-file.ts';

export type FileChangeOp = 'moved' | 'deleted' | 'replaced' | 'linked' | 'chmod' | 'truncated';

/** Where the trap's path stands after the change, as seen from one armed file. */
export interface PathView {
  /** The path named this file before. */
  wasAtPath: boolean;
  /** The path names this file now. */
  atPath: boolean;
  /** The path names another file now, one Kive did not create itself. */
  otherAtPath: boolean;
}

export function changesOf(last: FileState, now: FileState, view: PathView): FileChangeOp[] {
  const ops: FileChangeOp[] = [];
  // The name Kive holds the file by moves with a rename and is gone after an unlink or
  // a rename over it (where: undefined); the link count says whether others are left.
  const lostName = last.where !== undefined && now.where === undefined;
  if (view.wasAtPath && !view.atPath) {
    if (now.where !== undefined && now.nlink > 0) ops.push('moved');
    else ops.push(view.otherAtPath ? 'replaced' : 'deleted');
  } else if (now.nlink < last.nlink || lostName) {
    ops.push('deleted'); // one of its names, wherever it is
  } else if (!view.atPath && now.where !== undefined && now.where !== last.where) {
    ops.push('moved');
  }
  if (now.nlink > last.nlink) ops.push('linked');
  if ((now.mode & 0o7777) !== (last.mode & 0o7777)) ops.push('chmod');
  if (now.size < last.size) ops.push('truncated');
  return ops;
}

export interface FileChange {
  op: FileChangeOp;
  trap: TrapContext;
  /** The trapped file the change happened to (the old file for `replaced`). */
  file: FileKey;
  /** The file's name now, when it still has the name Kive held it by or moved with it. */
  where: string | undefined;
}

/** (uid_t)-1: the kernel's "no id"; KiveAlert v1 requires an unsigned number. */
export const UNKNOWN_ID = 4294967295;
const WHY_NO_PROCESS = 'seen through inotify, which does not name the acting process';

export type FileChangeAlert = KiveAlert & {
  metadata: KiveAlert['metadata'] & { 'current-path'?: string };
  process: KiveAlert['process'] & { known: false; 'unknown-reason': string };
};

export function fileChangeAlert(c: FileChange, env: AlertEnvironment, wallClockMs: number): FileChangeAlert {
  const event = { ino: c.file.ino, dev: c.file.dev, mask: 0, op: c.op, pid: 0, tgid: 0, uid: UNKNOWN_ID, gid: UNKNOWN_ID, comm: '' };
  const alert = buildAlert(c.trap, event, { binary: '', cwd: '', arguments: '' }, env, wallClockMs);
  return {
    ...alert,
    metadata: { ...alert.metadata, ...(c.where !== undefined ? { 'current-path': c.where } : {}) },
    process: { ...alert.process, known: false, 'unknown-reason': WHY_NO_PROCESS },
  };
}
