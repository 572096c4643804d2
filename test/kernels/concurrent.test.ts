// Two matrix runs at once (run-matrix.sh) each keep their own results directory: what
// broke when a second run's `rm -rf build/kernels` deleted a running guest's scratch
// share. The host row only, with a stand-in job (KIVE_KERNELS_SUITE) that is still
// writing into its directory when the second run starts. Needs root (run-matrix.sh
// refuses otherwise); a few seconds.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const RUN_MATRIX = fileURLToPath(new URL('./run-matrix.sh', import.meta.url));

test('two runs at once: neither deletes the other one\'s results, latest names a finished run', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kive-concurrent-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const job = join(dir, 'job.sh');
  // Writes before and after the other run starts; the second write fails if the
  // directory was deleted under it.
  writeFileSync(job, 'echo 1 > "$1/calibration"; echo early > "$1/early"; sleep 3; echo late > "$1/late" || exit 9\n');
  const env = { ...process.env, KIVE_KERNELS_ONLY: 'host', KIVE_KERNELS_SUITE: job, KIVE_KERNELS_OUT: join(dir, 'out') };
  const start = () =>
    new Promise<string>((resolve) => execFile('bash', [RUN_MATRIX], { env }, (_err, stdout, stderr) => resolve(stdout + stderr)));
  const first = start();
  await new Promise((r) => setTimeout(r, 1500)); // the first run's job is between its two writes
  const [a, b] = await Promise.all([first, start()]);
  const runs = readdirSync(join(dir, 'out', 'runs'));
  assert.equal(runs.length, 2, `${runs.join(', ')}\n${a}\n${b}`);
  for (const r of runs) {
    const host = join(dir, 'out', 'runs', r, 'host');
    assert.equal(readFileSync(join(host, 'late'), 'utf8'), 'late\n', `run ${r} kept its directory to the end`);
    assert.equal(readFileSync(join(host, 'exit-code'), 'utf8').trim(), '0');
  }
  const latest = readlinkSync(join(dir, 'out', 'latest'));
  assert.ok(runs.some((r) => latest === `runs/${r}`), latest);
  assert.ok(existsSync(join(dir, 'out', latest, 'host', 'late')));
});
