// attach-churn.ts: attaches and detaches Kive's backends in a loop, one at a time, for
// STRESS_SECONDS (default 300), with a trap armed each time. Run inside a guest by
// attach-churn.sh while `cat` loops go through inode_permission; it reproduced the
// emulator's stale-code crashes under multi-threaded TCG (docs/kernels.md, "A CPU stuck
// in the kernel"). Not part of the suite.
import { FileMonitor, type BackendName } from '../../src/kernel/monitor.ts';
import { keyOf } from '../kernel/helpers.ts';

const backends = (process.env.STRESS_BACKENDS ?? 'fentry,kprobe,tracepoint').split(',') as BackendName[];
const seconds = Number(process.env.STRESS_SECONDS ?? 300);
const trapped = process.argv[2] ?? '/tmp/churn/f1';
console.log(`attach-churn: ${backends.join(',')} for ${seconds} s`);
const t0 = Date.now();
let cycles = 0;
while (Date.now() - t0 < seconds * 1000) {
  for (const backend of backends) {
    const m = await FileMonitor.open({ backend, ringBufferBytes: 1 << 16 });
    m.setTrap(keyOf(trapped), 7);
    await new Promise((r) => setTimeout(r, 20));
    await m.close();
    cycles++;
  }
  if (cycles % 30 === 0) console.log(`attach-churn: ${cycles} cycles, ${Math.round((Date.now() - t0) / 1000)} s`);
}
console.log(`attach-churn: done, ${cycles} cycles without a fault`);
