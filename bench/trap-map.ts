// The kernel trap map at its default capacity (65,536 entries): filled through the
// loader's own path (TrapModel.set -> FileMonitor.setTrap -> bpf_map_update_elem), then
// every entry looked up to check it is there. Not a test: nothing asserts a time.
//
//   node bench/trap-map.ts [--json] [--entries N]
//
// Needs root (it loads the eBPF program; the tracepoint backend on these hosts). The keys
// are synthetic (inode numbers no file has on a device number no file system uses), so
// nothing real is armed and the program never fires on them; the map does not care.

import { parseArgs } from 'node:util';
import { DEFAULT_MAX_TRAPS, FileMonitor } from '../src/kernel/monitor.ts';
import type { FileKey } from '../src/kernel/contract.ts';
import { trapContext } from '../src/traps/context.ts';
import { TrapModel } from '../src/traps/model.ts';

export interface TrapMapResult {
  backend: string;
  entries: number;
  capacity: number;
  fillMs: number;
  fillPerSec: number;
  /** A full walk of the map (what the trap-map metric and a resync do). */
  listMs: number;
  listed: number;
  /** Entries whose slot the walk found equal to the model's: must equal `entries`. */
  found: number;
  /** One more entry past the capacity: refused as KIVE_MAP_FULL, as it must be. */
  overflowRefused: boolean;
  clearMs: number;
}

// A device number (major 4095) that no mounted file system has here.
const DEV = 4095 * 2 ** 20 + 1;
const keyOf = (i: number): FileKey => ({ ino: BigInt(1_000_000_000 + i), dev: DEV });

export async function runTrapMap(entries = DEFAULT_MAX_TRAPS): Promise<TrapMapResult> {
  const monitor = await FileMonitor.open({ backend: 'auto', maxTraps: entries });
  try {
    const model = new TrapModel(monitor);
    const context = trapContext({ policyName: 'bench', path: '/bench' });
    const t0 = performance.now();
    for (let i = 0; i < entries; i++) model.set(`bench-${i}`, [keyOf(i)], context);
    const fillMs = performance.now() - t0;

    let overflowRefused = false;
    try {
      monitor.setTrap(keyOf(entries), 1);
    } catch (err) {
      overflowRefused = (err as { code?: string }).code === 'KIVE_MAP_FULL';
    }

    const t1 = performance.now();
    const listed = monitor.listTraps();
    const listMs = performance.now() - t1;
    // Every key the model armed, with the slot the model gave it (trapsForSlot maps back).
    const bySlot = new Map(listed.map((e) => [`${e.key.ino}:${e.key.dev}`, e.slot]));
    let found = 0;
    for (let i = 0; i < entries; i++) {
      const k = keyOf(i);
      const slot = bySlot.get(`${k.ino}:${k.dev}`);
      if (slot !== undefined && model.trapsForSlot(slot)[0] !== undefined && model.trapsFor(k).length === 1) found++;
    }

    const t2 = performance.now();
    monitor.clearTraps();
    const clearMs = performance.now() - t2;
    return {
      backend: monitor.backend,
      entries,
      capacity: entries,
      fillMs: Math.round(fillMs),
      fillPerSec: Math.round(entries / (fillMs / 1000)),
      listMs: Math.round(listMs),
      listed: listed.length,
      found,
      overflowRefused,
      clearMs: Math.round(clearMs),
    };
  } finally {
    await monitor.close();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { json: { type: 'boolean' }, entries: { type: 'string' } } });
  const r = await runTrapMap(values.entries ? Number(values.entries) : DEFAULT_MAX_TRAPS);
  if (values.json) console.log(JSON.stringify(r));
  else {
    console.log(`trap map (${r.backend}), ${r.entries} entries: filled in ${r.fillMs} ms (${r.fillPerSec}/s) through TrapModel.set`);
    console.log(`  walk: ${r.listed} listed in ${r.listMs} ms; ${r.found}/${r.entries} found with their slot; entry ${r.entries + 1} refused as full: ${r.overflowRefused}; cleared in ${r.clearMs} ms`);
  }
  if (r.found !== r.entries || r.listed !== r.entries || !r.overflowRefused) process.exitCode = 1;
}
