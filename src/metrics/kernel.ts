// FileMonitor as a metrics source (metrics.ts KernelSource), kept here so the kernel
// layer does not depend on prom-client.

import type { FileMonitor } from '../kernel/monitor.ts';
import { programStats } from '../kernel/stats.ts';
import type { KernelSource } from './metrics.ts';

export function kernelSource(monitor: FileMonitor, capacity: number): KernelSource {
  return {
    backend: monitor.backend,
    counters: () => monitor.counters(),
    // A walk of the map per scrape: at most --max-traps keys, read only when scraped.
    mapEntries: () => ({ entries: monitor.listTraps().length, capacity }),
    programStats: () => monitor.programs.map((p) => programStats(p.name, p.fd)),
  };
}
