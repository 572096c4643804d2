// The overhead table of docs/performance.md, from one OverheadResult (bench/overhead.ts):
// printed by `node bench/overhead.ts`, by `make bench` for the host and for each guest.
import type { OverheadResult, SettingResult } from './overhead.ts';

const fmt = (n: number) => Math.round(n).toLocaleString('en');

function row(name: string, r: SettingResult | undefined): string {
  if (r === undefined) return `| ${name} | (not measured) | | | |`;
  if (r.status !== 'ok') return `| ${name} | refused: ${r.reason ?? '?'} | | | |`;
  const perRun = r.progNsPerRun !== undefined ? fmt(r.progNsPerRun) : '?';
  const runs = r.runsPerOpen !== undefined ? r.runsPerOpen.toFixed(2) : '?';
  return `| ${name} | ${fmt(r.ns ?? 0)} | ${r.ratio?.toFixed(2) ?? '?'}x | ${perRun} | ${runs} |`;
}

/** Markdown lines: a heading, then no hook / each Kive backend / the baseline program. */
export function overheadTable(r: OverheadResult, where = 'host'): string[] {
  return [
    `### ${where}: kernel ${r.kernel}, ${fmt(r.iterations)} open+close pairs of an unmonitored file, median of ${r.repeats}`,
    '',
    '| setting | ns per open+close | ratio to no hook | ns per program run | runs per open |',
    '|---|---:|---:|---:|---:|',
    `| no hook | ${fmt(r.noHookNs)} | 1.00x | | |`,
    ...Object.entries(r.backends).map(([name, b]) => row(`Kive ${name}`, b)),
    ...Object.entries(r.before ?? {}).map(([name, b]) => row(`Kive ${name}, before (${r.beforeRev ?? '?'})`, b)),
    ...Object.entries(r.fullMap?.backends ?? {}).map(([name, b]) => row(`Kive ${name}, ${fmt(r.fullMap!.traps)} traps`, b)),
    row('baseline (kprobe inode_permission, one lookup)', r.baseline),
    ...programLines(r),
    ...(r.fullMap === undefined
      ? []
      : [
          '',
          `With ${fmt(r.fullMap.traps)} traps, ${(r.fullMap.bitsSetShare * 100).toFixed(1)}% of the pre-filter's bits are set; ` +
            `the unmonitored file's bit is ${r.fullMap.fileBitSet ? 'set (its miss path also does the hash lookup)' : 'clear'}.`,
        ]),
  ];
}

/** Where the runs went, per program, when a setting has more than one. */
function programLines(r: OverheadResult): string[] {
  const out: string[] = [];
  const before = Object.entries(r.before ?? {}).map(([name, b]) => [`${name}, before`, b] as const);
  const full = Object.entries(r.fullMap?.backends ?? {}).map(([name, b]) => [`${name}, ${fmt(r.fullMap!.traps)} traps`, b] as const);
  for (const [name, b] of [...Object.entries(r.backends), ...before, ...full]) {
    const ps = Object.entries(b?.programs ?? {});
    if (ps.length < 2) continue;
    out.push(`Kive ${name} per program: ${ps.map(([p, v]) => `${p} ${fmt(v.runs)} runs ${fmt(v.nsPerRun)} ns/run`).join('; ')}`);
  }
  return out.length > 0 ? ['', ...out] : [];
}
