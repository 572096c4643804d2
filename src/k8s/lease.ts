// The decision logic of Lease-based leader election, as pure functions over what this
// process observed and its own clock, so that it can be tested without an API server.
//
// The rule that keeps two leaders from overlapping on machines with skewed clocks
// (client-go's): a lease's expiry is judged from when WE last saw its record change
// (observedAt, our clock) plus its leaseDurationSeconds - never by comparing our clock
// with the renewTime the holder wrote with ITS clock. A holder that renews changes the
// record (renewTime), which resets observedAt on every watcher.

/** The Lease spec fields leader election reads and writes. */
export interface LeaderRecord {
  /** '' when the lease is free (released). */
  holderIdentity: string;
  leaseDurationSeconds: number;
  /** RFC 3339 with microseconds, informational (see above). */
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions: number;
}

/** What this process knows about the lease. */
export interface LeaseObservation {
  record: LeaderRecord;
  /** Our clock (ms) when we first saw this exact record. */
  observedAt: number;
}

export interface LeaseObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
    [k: string]: unknown;
  };
}

/** Reads the record out of a Lease object; missing fields read as free / zero. */
export function recordFromLease(lease: LeaseObject): LeaderRecord {
  const s = lease.spec ?? {};
  const r: LeaderRecord = {
    holderIdentity: s.holderIdentity ?? '',
    leaseDurationSeconds: s.leaseDurationSeconds ?? 0,
    leaseTransitions: s.leaseTransitions ?? 0,
  };
  if (s.acquireTime !== undefined) r.acquireTime = s.acquireTime;
  if (s.renewTime !== undefined) r.renewTime = s.renewTime;
  return r;
}

/** A copy of lease with the record's fields written into its spec (others kept). */
export function leaseWithRecord(lease: LeaseObject, r: LeaderRecord): LeaseObject {
  return { ...lease, spec: { ...lease.spec, ...r } };
}

export function sameRecord(a: LeaderRecord, b: LeaderRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.acquireTime === b.acquireTime &&
    a.renewTime === b.renewTime &&
    a.leaseTransitions === b.leaseTransitions
  );
}

/**
 * Folds a freshly read record into what we knew: an unchanged record keeps its
 * observation time (it has not been renewed since), a changed one is observed now.
 */
export function observe(prev: LeaseObservation | undefined, record: LeaderRecord, now: number): LeaseObservation {
  if (prev !== undefined && sameRecord(prev.record, record)) return prev;
  return { record, observedAt: now };
}

/**
 * When the lease expires by our clock: observedAt plus the holder's declared duration
 * (ours, fallbackDurationMs, if the record declares none).
 */
export function expiresAt(obs: LeaseObservation, fallbackDurationMs: number): number {
  const declared = obs.record.leaseDurationSeconds * 1000;
  return obs.observedAt + (declared > 0 ? declared : fallbackDurationMs);
}

export type Decision =
  /** Write `record` (with the resourceVersion read) to become or stay the leader. */
  | { kind: 'acquire' | 'renew'; record: LeaderRecord }
  /** Someone else holds a valid lease; try again later. */
  | { kind: 'held'; holder: string; expiresAt: number };

/**
 * What to do with the lease we observed, at our time `now`:
 *   - we hold it: renew (acquireTime and leaseTransitions unchanged);
 *   - it is free (released) or expired by our observation: take it, counting one more
 *     transition because the holder changes;
 *   - otherwise it is held.
 */
export function decide(obs: LeaseObservation, identity: string, now: number, leaseDurationMs: number): Decision {
  const old = obs.record;
  const nowIso = microTime(now);
  const durationSeconds = Math.ceil(leaseDurationMs / 1000);
  if (old.holderIdentity === identity) {
    return {
      kind: 'renew',
      record: {
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: old.acquireTime ?? nowIso,
        renewTime: nowIso,
        leaseTransitions: old.leaseTransitions,
      },
    };
  }
  const until = expiresAt(obs, leaseDurationMs);
  if (old.holderIdentity !== '' && now < until) return { kind: 'held', holder: old.holderIdentity, expiresAt: until };
  return {
    kind: 'acquire',
    record: {
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: nowIso,
      renewTime: nowIso,
      leaseTransitions: old.leaseTransitions + 1,
    },
  };
}

/** The record of a lease created by its first holder. */
export function initialRecord(identity: string, now: number, leaseDurationMs: number): LeaderRecord {
  const nowIso = microTime(now);
  return {
    holderIdentity: identity,
    leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
    acquireTime: nowIso,
    renewTime: nowIso,
    leaseTransitions: 0,
  };
}

/**
 * The record a leader writes when it steps down: no holder, so a candidate takes it on
 * its next try instead of waiting out the lease; transitions unchanged (the next
 * holder counts the change).
 */
export function releasedRecord(old: LeaderRecord, now: number): LeaderRecord {
  const nowIso = microTime(now);
  return { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: nowIso, renewTime: nowIso, leaseTransitions: old.leaseTransitions };
}

/** Kubernetes MicroTime: RFC 3339 in UTC with exactly six fractional digits. */
export function microTime(ms: number): string {
  const iso = new Date(Math.floor(ms)).toISOString(); // ...T12:34:56.789Z
  // Rounded, not floored: 0.678 ms is stored as 0.67799... in binary.
  const micros = Math.min(999, Math.round((ms % 1) * 1000))
    .toString()
    .padStart(3, '0');
  return `${iso.slice(0, -1)}${micros}Z`;
}
