// An in-memory TrapMap (src/kernel/contract.ts) for unit tests: entries keyed "ino:dev".
import type { FileKey, TrapMap } from '../../src/kernel/contract.ts';

export interface FakeTrapMap extends TrapMap {
  /** "ino:dev" -> slot, as the kernel map would hold them. */
  readonly entries: Map<string, number>;
  /** When set, setTrap throws it (a full map). */
  failWith?: Error;
}

export function fakeTrapMap(): FakeTrapMap {
  const entries = new Map<string, number>();
  const map: FakeTrapMap = {
    entries,
    setTrap(k: FileKey, slot: number) {
      if (map.failWith !== undefined) throw map.failWith;
      entries.set(`${k.ino}:${k.dev}`, slot);
    },
    deleteTrap: (k: FileKey) => entries.delete(`${k.ino}:${k.dev}`),
    clearTraps: () => entries.clear(),
  };
  return map;
}
