import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isKiveError } from '../../src/errors.ts';
import { parseBootId, readKernelId } from '../../src/runtime/kernel-id.ts';

test('parseBootId accepts the kernel\'s UUID line and nothing else', () => {
  assert.equal(parseBootId('fc9a30d5-6140-4dd1-b8ef-c638f19ebd71\n'), 'fc9a30d5-6140-4dd1-b8ef-c638f19ebd71');
  assert.equal(parseBootId('FC9A30D5-6140-4DD1-B8EF-C638F19EBD71'), 'fc9a30d5-6140-4dd1-b8ef-c638f19ebd71');
  for (const bad of ['', '\n', 'fc9a30d5', 'fc9a30d5-6140-4dd1-b8ef-c638f19ebd7', 'zz9a30d5-6140-4dd1-b8ef-c638f19ebd71', 'a\nb']) {
    assert.throws(() => parseBootId(bad), (e) => isKiveError(e, 'KIVE_RUNTIME'), JSON.stringify(bad));
  }
});

test('readKernelId reads an injected file, and the real one is stable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kive-bootid-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'boot_id'), '11111111-2222-4333-8444-555555555555\n');
  assert.equal(await readKernelId(join(dir, 'boot_id')), '11111111-2222-4333-8444-555555555555');
  await assert.rejects(readKernelId(join(dir, 'missing')), (e) => isKiveError(e, 'KIVE_RUNTIME') && /ENOENT/.test(e.message));
  // The kernel's own file: same value on every read within one boot.
  const a = await readKernelId();
  assert.equal(await readKernelId(), a);
});
