// Kive's eBPF objects as they were at an older commit, compiled against this build's
// vmlinux.h, so a benchmark loads "before" and "today" in the same run, where only
// same-run ratios mean anything (bench/flood.ts; bench/overhead.ts --before). Needs git
// history and clang; run on the host (a QEMU guest reads the objects over its share).

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FILTER } from '../src/kernel/contract.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The commit before issue 13's miss-path work: bench/overhead.ts's "before" rows. */
export const MISS_PATH_BEFORE_REV = '911eee4';

/**
 * What today's loader needs of an object that the sources of MISS_PATH_BEFORE_REV lack,
 * appended to them: the load-time setting it writes and the pre-filter map it fills
 * (unused by the old programs, so they stay what they were).
 */
export const MISS_PATH_SHIM = `
const volatile __u32 kive_btf_cast = 0;
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ${FILTER.WORDS});
	__type(key, __u32);
	__type(value, __u64);
} kive_ino_filter SEC(".maps");
`;

/**
 * Compiles bpf/kive_<backend>.bpf.c of \`rev\` for each backend into build/bench/NAME/ and
 * returns that directory (it also holds REV, the revision). \`shim\`: C appended to each
 * source (MISS_PATH_SHIM) so the old objects load through today's loader unchanged.
 */
export function buildObjectsAt(rev: string, name: string, backends: readonly string[], shim = ''): string {
  const out = join(repo, 'build', 'bench', name);
  const src = join(out, 'src');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  const tar = execFileSync('git', ['-C', repo, 'archive', rev, 'bpf'], { maxBuffer: 1 << 26 });
  execFileSync('tar', ['-x', '-C', src], { input: tar });
  for (const b of backends) {
    const wrapper = join(src, 'bpf', `shim_${b}.bpf.c`);
    writeFileSync(wrapper, `#include "kive_${b}.bpf.c"\n${shim}`);
    execFileSync('clang', [
      ...['-g', '-O2', '-target', 'bpf', '-D__TARGET_ARCH_x86'],
      ...[`-I${join(repo, 'build')}`, `-I${join(src, 'bpf')}`, '-c', wrapper, '-o', join(out, `kive_${b}.bpf.o`)],
    ]);
  }
  writeFileSync(join(out, 'REV'), `${rev}\n`);
  return out;
}

/** The revision an object directory of buildObjectsAt() was built from. */
export function revOf(dir: string): string {
  return readFileSync(join(dir, 'REV'), 'utf8').trim();
}
