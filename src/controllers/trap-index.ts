// The loader's in-memory index: which KiveData arm which file, keyed by (inode, device).
// The kernel map holds one entry per file; this index knows every trap behind it, so an
// event becomes one alert per trap without asking the API server anything (the original
// implementation LISTed every KiveData of the cluster for each event).
//
// Pure bookkeeping: each change returns the kernel map operation it implies, and the
// caller performs it.

import type { TrapContext } from '../alerts/build.ts';
import type { FileIdentity } from './kivedata.ts';

export type MapOp = { op: 'set'; file: FileIdentity; slot: number } | { op: 'delete'; file: FileIdentity };

interface Armed {
  key: string;
  file: FileIdentity;
  context: TrapContext;
  slot: number;
}

const keyOf = (f: FileIdentity) => `${f.ino}:${f.dev}`;

export class TrapIndex {
  readonly #byName = new Map<string, Armed>();
  readonly #byKey = new Map<string, Set<string>>();
  #nextSlot = 1;

  /** Arms (or re-arms after a change) the trap `name`. Returns the kernel map changes. */
  upsert(name: string, file: FileIdentity, context: TrapContext): MapOp[] {
    const key = keyOf(file);
    const previous = this.#byName.get(name);
    if (previous !== undefined && previous.key === key) {
      previous.context = context;
      return [];
    }
    const ops = previous !== undefined ? this.remove(name) : [];
    const slot = this.#nextSlot++ >>> 0 || 1;
    this.#byName.set(name, { key, file, context, slot });
    let names = this.#byKey.get(key);
    if (names === undefined) {
      this.#byKey.set(key, (names = new Set()));
      ops.push({ op: 'set', file, slot });
    }
    names.add(name);
    return ops;
  }

  /** Disarms `name`; the file leaves the kernel map when no trap watches it any more. */
  remove(name: string): MapOp[] {
    const armed = this.#byName.get(name);
    if (armed === undefined) return [];
    this.#byName.delete(name);
    const names = this.#byKey.get(armed.key);
    names?.delete(name);
    if (names !== undefined && names.size > 0) return [];
    this.#byKey.delete(armed.key);
    return [{ op: 'delete', file: armed.file }];
  }

  trapsFor(ino: bigint, dev: number): TrapContext[] {
    const names = this.#byKey.get(`${ino}:${dev}`);
    if (names === undefined) return [];
    const out: TrapContext[] = [];
    for (const n of names) {
      const armed = this.#byName.get(n);
      if (armed !== undefined) out.push(armed.context);
    }
    return out;
  }

  names(): string[] {
    return [...this.#byName.keys()];
  }

  /** Every file with its slot, for a full resync of the kernel map. */
  files(): Array<{ file: FileIdentity; slot: number }> {
    const out: Array<{ file: FileIdentity; slot: number }> = [];
    for (const names of this.#byKey.values()) {
      const first = this.#byName.get(names.values().next().value as string);
      if (first !== undefined) out.push({ file: first.file, slot: first.slot });
    }
    return out;
  }

  get size(): number {
    return this.#byName.size;
  }
}
