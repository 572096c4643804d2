// The verifier-rejection path, on the real kernel: a program the verifier must refuse
// (test/kernel/fixtures/rejected.bpf.c, built into build/bpf-rejected/ as if it were the
// tracepoint backend) must surface as a VerifierError naming the program, with the
// verifier's own log, and `kive run` must print the verdict and the log's tail and exit
// non-zero. Root only; runs in the QEMU guests too.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { VerifierError } from '../../src/errors.ts';
import { FileMonitor } from '../../src/kernel/monitor.ts';

const REJECTED_DIR = fileURLToPath(new URL('../../build/bpf-rejected', import.meta.url));
const KIVE = fileURLToPath(new URL('../../bin/kive', import.meta.url));
const PROGRAM = 'kive_rejected_unchecked_lookup';
// What every kernel since 5.x says about a map lookup used without its NULL check.
const VERDICT = /invalid mem access 'map_value_or_null'/;
const skip = process.getuid?.() !== 0 ? 'needs root' : false;

test('a program the verifier refuses is a VerifierError with the program and the log', { skip }, async () => {
  const err = await FileMonitor.open({ backend: 'tracepoint', objectDir: REJECTED_DIR, ringBufferBytes: 1 << 16 }).then(
    (m) => {
      m.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  assert.ok(err instanceof VerifierError, `expected a VerifierError, got ${String(err)}`);
  assert.equal(err.code, 'KIVE_PROGRAM_REJECTED');
  assert.equal(err.program, PROGRAM);
  assert.match(err.message, new RegExp(`^load program ${PROGRAM}: rejected by the verifier: `));
  assert.match(err.message, VERDICT);
  // The log leads up to the verdict: the instructions the verifier walked.
  assert.ok(err.log.length > 3, `a verifier log of ${err.log.length} lines`);
  assert.ok(err.log.some((l) => VERDICT.test(l)));
});

test('kive run prints the verdict and the verifier log, and exits 1', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kive-rejected-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    `apiVersion: kivebpf.san7o.github.io/v1
kind: KivePolicy
metadata: { name: rejected }
spec:
  traps:
    - path: ${policy}
`,
  );
  const r = await promisify(execFile)(KIVE, ['run', '--backend', 'tracepoint', '--policy', policy], {
    env: { ...process.env, KIVE_BPF_OBJECT_DIR: REJECTED_DIR },
  }).then(
    () => ({ code: 0, stdout: '', stderr: '' }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, '', 'no alert output');
  const lines = r.stderr.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`kive: load program ${PROGRAM}: rejected by the verifier:`));
  assert.ok(at >= 0, r.stderr);
  assert.match(lines[at]!, VERDICT);
  assert.equal(lines[at + 1], 'verifier log (last 40 lines):');
  assert.ok(lines.slice(at + 2).some((l) => VERDICT.test(l)), r.stderr);
});
