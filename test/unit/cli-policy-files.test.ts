// Bad policy files fail fast (issue 9): whatever `--policy` names, `kive run` answers
// with one line on stderr and exit 2 before touching the kernel. Never a hang (a FIFO
// nobody writes, /dev/urandom), never unbounded memory, never a stack trace (an alias
// bomb). Runs the built CLI (make build); needs no root, since policies are read first.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MAX_POLICY_BYTES } from '../../src/api/v1/load.ts';

const KIVE = fileURLToPath(new URL('../../bin/kive', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kive-policy-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A hang shows up as the kill at the deadline (generous: the machine is shared). */
function kiveRun(policy: string): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(KIVE, ['run', '--policy', policy], { timeout: 60_000, maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number; signal?: string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}

function assertOneLine(r: Awaited<ReturnType<typeof kiveRun>>, message: RegExp): void {
  assert.equal(r.signal, null, `killed at the deadline (a hang); stderr: ${r.stderr.slice(0, 300)}`);
  assert.equal(r.code, 2, r.stderr.slice(0, 600));
  assert.equal(r.stdout, '');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr.slice(0, 600)}`);
  assert.match(lines[0]!, /^kive: /);
  assert.match(lines[0]!, message);
}

const header = `apiVersion: kivebpf.san7o.github.io/v1
kind: KivePolicy
metadata:
  name: bomb
spec:
  traps:
    - path: /tmp/kive-never
      metadata:
`;

test('a policy file that is a FIFO nobody writes: refused at once, not waited on', async () => {
  const fifo = join(dir, 'policy.fifo');
  execFileSync('mkfifo', [fifo]);
  assertOneLine(await kiveRun(fifo), /policy\.fifo: cannot read: a FIFO, not a regular file/);
});

test('--policy /dev/urandom: refused without reading it', async () => {
  assertOneLine(await kiveRun('/dev/urandom'), /\/dev\/urandom: cannot read: a character device, not a regular file/);
});

test('a directory as the policy file: refused', async () => {
  const d = join(dir, 'adir');
  mkdirSync(d);
  assertOneLine(await kiveRun(d), /adir: cannot read: a directory/);
});

test('a regular file over the size limit: refused by its size, not read', async () => {
  const big = join(dir, 'big.yaml');
  const fd = openSync(big, 'w');
  closeSync(fd);
  execFileSync('truncate', ['-s', String(MAX_POLICY_BYTES + 1), big]); // sparse: costs no disk
  assertOneLine(await kiveRun(big), /big\.yaml: cannot read: \d+ bytes, larger than the limit of 4194304/);
});

test('a YAML billion-laughs: refused as an alias bomb, no stack trace', async () => {
  const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (const [i, name] of [...'bcdefghi'].entries()) {
    const prev = 'abcdefghi'[i];
    levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  const bomb = join(dir, 'bomb.yaml');
  writeFileSync(bomb, header + levels.map((l) => `        ${l}\n`).join(''));
  assertOneLine(await kiveRun(bomb), /bomb\.yaml: refused: YAML aliases expand past the limit/);
});

test('YAML nested deeper than the parser can go: refused, no stack trace', async () => {
  const deep = join(dir, 'deep.yaml');
  writeFileSync(deep, header + '        x: ' + '['.repeat(20_000) + ']'.repeat(20_000) + '\n');
  assertOneLine(await kiveRun(deep), /deep\.yaml: (refused: YAML nested too deeply|line \d+: invalid YAML)/);
});

test('a policy file that is not UTF-8 text: refused', async () => {
  const bin = join(dir, 'binary.yaml');
  writeFileSync(bin, Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x81]));
  assertOneLine(await kiveRun(bin), /binary\.yaml: cannot read: not UTF-8 text/);
});
