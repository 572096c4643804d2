// The trap model: which files are armed for which trap, and the kernel map that mirrors
// it. One model serves both ways Kive runs; each feeds it from its own source:
// - the operator's loader controller (src/controllers/loader.ts): one trap per KiveData,
//   arming the one file the KiveData names;
// - `kive run` (src/standalone/host-traps.ts): one trap per policy trap, arming the file
//   at its host path and any earlier file of that trap that still has a link.
// It lives in its own folder because neither side owns it: in controllers/ it would make
// `kive run` depend on operator code, in standalone/ the reverse.
//
// The kernel map has one entry per file (key FileKey, value a u32 `slot`); the model
// knows every trap behind an entry, so an event becomes one alert per trap without
// asking anyone (the original implementation LISTed every KiveData of the cluster for
// each event). A slot is chosen per map entry and kept while the entry exists, so the
// slot the kernel echoes names that entry's traps (trapsForSlot).

import type { TrapContext } from '../alerts/build.ts';
import type { FileKey, TrapMap } from '../kernel/contract.ts';

interface Trap {
  context: TrapContext;
  /** fileId -> key, the files this trap arms. */
  files: Map<string, FileKey>;
}

interface Entry {
  key: FileKey;
  slot: number;
  /** Names of the traps arming this file, in arming order. */
  traps: Set<string>;
}

const fileId = (f: FileKey): string => `${f.ino}:${f.dev}`;

export class TrapModel {
  readonly #map: TrapMap;
  readonly #traps = new Map<string, Trap>();
  readonly #entries = new Map<string, Entry>();
  readonly #bySlot = new Map<number, Entry>();
  #nextSlot = 1;

  constructor(map: TrapMap) {
    this.#map = map;
  }

  /**
   * Makes trap `name` arm exactly `files` with `context`, writing only the map changes
   * this implies. A failed map write (the map is full) throws with the model still
   * matching the map: the files armed before the failure stay armed and known.
   */
  set(name: string, files: readonly FileKey[], context: TrapContext): void {
    let trap = this.#traps.get(name);
    if (trap === undefined) this.#traps.set(name, (trap = { context, files: new Map() }));
    trap.context = context;
    const wanted = new Map(files.map((f) => [fileId(f), { ino: f.ino, dev: f.dev }] as const));
    for (const [id, key] of wanted) {
      if (trap.files.has(id)) continue;
      this.#link(name, id, key);
      trap.files.set(id, key);
    }
    for (const id of [...trap.files.keys()]) {
      if (wanted.has(id)) continue;
      trap.files.delete(id);
      this.#unlink(name, id);
    }
  }

  /** Disarms trap `name`; a file leaves the kernel map when no trap arms it any more. */
  remove(name: string): void {
    const trap = this.#traps.get(name);
    if (trap === undefined) return;
    for (const id of trap.files.keys()) this.#unlink(name, id);
    this.#traps.delete(name);
  }

  /** The traps arming the file `key`, for the alert pipeline. */
  trapsFor(key: FileKey): TrapContext[] {
    return this.#contexts(this.#entries.get(fileId(key)));
  }

  /** The traps behind the map entry the kernel knows as `slot`. */
  trapsForSlot(slot: number): TrapContext[] {
    return this.#contexts(this.#bySlot.get(slot));
  }

  filesOf(name: string): FileKey[] {
    return [...(this.#traps.get(name)?.files.values() ?? [])];
  }

  has(name: string): boolean {
    return this.#traps.has(name);
  }

  names(): string[] {
    return [...this.#traps.keys()];
  }

  /** Traps known. */
  get size(): number {
    return this.#traps.size;
  }

  /** Entries in the kernel map. */
  get armedFiles(): number {
    return this.#entries.size;
  }

  /**
   * Makes the kernel map exactly the model: clears it (whatever an earlier process left
   * in a pinned map) and writes every entry again, with its slot.
   */
  resync(): void {
    this.#map.clearTraps();
    for (const e of this.#entries.values()) this.#map.setTrap(e.key, e.slot);
  }

  #contexts(entry: Entry | undefined): TrapContext[] {
    if (entry === undefined) return [];
    const out: TrapContext[] = [];
    for (const n of entry.traps) {
      const t = this.#traps.get(n);
      if (t !== undefined) out.push(t.context);
    }
    return out;
  }

  #link(name: string, id: string, key: FileKey): void {
    const entry = this.#entries.get(id);
    if (entry !== undefined) {
      entry.traps.add(name);
      return;
    }
    const slot = this.#allocateSlot();
    this.#map.setTrap(key, slot); // first: a full map throws before anything is recorded
    const created: Entry = { key, slot, traps: new Set([name]) };
    this.#entries.set(id, created);
    this.#bySlot.set(slot, created);
  }

  #unlink(name: string, id: string): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    entry.traps.delete(name);
    if (entry.traps.size > 0) return;
    this.#entries.delete(id);
    this.#bySlot.delete(entry.slot);
    this.#map.deleteTrap(entry.key);
  }

  // u32, never 0 (0 is what an unset value reads as), never one in use.
  #allocateSlot(): number {
    for (;;) {
      const slot = this.#nextSlot;
      this.#nextSlot = (this.#nextSlot + 1) >>> 0 || 1;
      if (!this.#bySlot.has(slot)) return slot;
    }
  }
}
