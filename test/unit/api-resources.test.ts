// The REST names of Kive's kinds (src/api/v1/resources.ts) must be the CRDs' own, or every
// path the operator builds would 404.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kiveDataCrd, kivePolicyCrd } from '../../src/api/v1/crds.ts';
import { KIVE_DATA, KIVE_POLICIES } from '../../src/api/v1/resources.ts';
import { apiVersionOf } from '../../src/k8s/resource.ts';

test('KIVE_POLICIES and KIVE_DATA name the CRDs: group, version, plural, kind, scope', () => {
  for (const [ref, crd] of [[KIVE_POLICIES, kivePolicyCrd], [KIVE_DATA, kiveDataCrd]] as const) {
    const spec = crd['spec'] as { group: string; scope: string; names: { plural: string; kind: string }; versions: Array<{ name: string }> };
    assert.equal(ref.group, spec.group);
    assert.equal(ref.version, spec.versions[0]!.name);
    assert.equal(ref.plural, spec.names.plural);
    assert.equal(ref.kind, spec.names.kind);
    assert.equal(ref.namespaced, spec.scope === 'Namespaced');
    assert.equal(apiVersionOf(ref), 'kivebpf.san7o.github.io/v1');
  }
});
