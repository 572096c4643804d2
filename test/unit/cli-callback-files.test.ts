// The callback signing key and CA bundle, as both commands read them at start
// (src/cli/callback-files.ts): a usable file is taken as is (one trailing newline off a
// key), anything else is one line and exit 2 before any work, for `kive run` and for
// `kive operator` alike (the operator once had neither flag).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readCallbackFiles } from '../../src/cli/callback-files.ts';
import { isKiveError } from '../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'kive-cbfiles-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};

test('a key loses one trailing newline (LF or CRLF) and nothing else; a PEM bundle is kept whole', async () => {
  assert.equal((await readCallbackFiles({ secretFile: file('k1', 'top secret\n') })).secret?.toString(), 'top secret');
  assert.equal((await readCallbackFiles({ secretFile: file('k2', 'k\r\n') })).secret?.toString(), 'k');
  assert.equal((await readCallbackFiles({ secretFile: file('k3', ' k \n\n') })).secret?.toString(), ' k \n');
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  assert.equal((await readCallbackFiles({ caFile: file('ca', pem) })).ca, pem);
  assert.deepEqual(await readCallbackFiles({}), {});
});

test('a missing or empty key, or a CA file without a certificate, is a KIVE_CONFIG error naming the flag and file', async () => {
  const cases: Array<[Parameters<typeof readCallbackFiles>[0], RegExp]> = [
    [{ secretFile: join(dir, 'absent') }, /--callback-secret-file .*absent: ENOENT/],
    [{ secretFile: file('empty', '\n') }, /--callback-secret-file .*empty: the file is empty/],
    [{ caFile: file('notpem', 'hello') }, /--callback-ca-file .*notpem: no PEM certificate in the file/],
  ];
  for (const [files, message] of cases) {
    await assert.rejects(readCallbackFiles(files), (err: unknown) => isKiveError(err, 'KIVE_CONFIG') && message.test((err as Error).message));
  }
});

const KIVE = join(import.meta.dirname, '..', '..', 'bin', 'kive');
function kive(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(KIVE, args, { env: { ...process.env, KUBECONFIG: join(dir, 'no-kubeconfig') } }, (err, _stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr });
    });
  });
}

for (const [command, args] of [
  ['run', ['run', '--policy', join(import.meta.dirname, '..', '..', 'examples', 'host-policy.yaml')]],
  ['operator', ['operator', '--node-name', 'n1', '--disable-spool']],
] as const) {
  test(`kive ${command} with an unreadable --callback-secret-file: one line, exit 2, before any work`, async () => {
    const r = await kive([...args, '--callback-secret-file', join(dir, 'absent-key')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^kive: --callback-secret-file .*absent-key: ENOENT/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
}
