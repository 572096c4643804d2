import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CRD_FILES, crdYaml } from '../../src/api/v1/crds.ts';

test('deploy/crds/ is what src/api/v1/schema.ts generates (run `make crds` after a schema change)', () => {
  for (const { file, crd } of CRD_FILES) {
    const onDisk = readFileSync(new URL(`../../deploy/crds/${file}`, import.meta.url), 'utf8');
    assert.equal(onDisk, crdYaml(crd), file);
  }
});

test('the KivePolicy CRD has a status subresource and the printer columns', () => {
  const crd = CRD_FILES[0]!.crd as { spec: { versions: Array<Record<string, unknown>> } };
  const v1 = crd.spec.versions[0]!;
  assert.deepEqual(v1.subresources, { status: {} });
  const columns = (v1.additionalPrinterColumns as Array<{ name: string }>).map((c) => c.name);
  assert.deepEqual(columns, ['Ready', 'Reason', 'Matched', 'Armed', 'Pending', 'Age']);
});
