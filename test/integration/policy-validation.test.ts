// One validation table (test/helpers/policy-validation-cases.ts), fed to the real API
// server through kubectl (`create --dry-run=server`: the CRD's schema and CEL rules run,
// nothing is stored) and to `kive run`'s loader: every case is accepted by both, or
// refused by both with a message matching the same pattern. kubectl reads the YAML
// itself, so plain scalars (e500, 0444) are typed the way users' files are.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parsePolicies } from '../../src/api/v1/load.ts';
import { isKiveError } from '../../src/errors.ts';
import { startControlPlane } from '../helpers/cluster.ts';
import { VALIDATION_CASES, caseYaml } from '../helpers/policy-validation-cases.ts';

const cp = await startControlPlane();
const kubectl = join(cp.binDir, 'kubectl');
const CRD = fileURLToPath(new URL('../../deploy/crds/kivebpf.san7o.github.io_kivepolicies.yaml', import.meta.url));

function kube(args: string[], stdin?: string): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(kubectl, ['--kubeconfig', cp.kubeconfigPath, ...args], { encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ ok: err === null, out: `${stdout}${stderr}`.trim() }),
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

/** kive run's verdict: undefined when accepted, else the one-line message. */
function kiveRun(yaml: string): string | undefined {
  try {
    parsePolicies(yaml, 'case.yaml');
    return undefined;
  } catch (err) {
    assert.ok(isKiveError(err, 'KIVE_INVALID_POLICY'), String(err));
    return err.message;
  }
}

test('the checked-in CRD installs (its CEL rules fit the cost budget) and is served', async () => {
  const applied = await kube(['apply', '--server-side', '-f', CRD]);
  assert.ok(applied.ok, applied.out);
  const established = await kube(['wait', '--for=condition=Established', '--timeout=120s', 'crd/kivepolicies.kivebpf.san7o.github.io']);
  assert.ok(established.ok, established.out);
  // Discovery can lag the condition: wait until a dry-run create is answered by the CRD.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await kube(['create', '--dry-run=server', '-o', 'name', '-f', '-'], caseYaml(VALIDATION_CASES.find((c) => c.refuse === undefined)!, 0));
    if (r.ok) break;
    if (Date.now() > deadline) assert.fail(`the KivePolicy CRD is not served: ${r.out}`);
    await new Promise((res) => setTimeout(res, 500));
  }
});

test('every case: the API server and kive run agree, with the same message', async () => {
  const disagreements: string[] = [];
  // A few kubectl processes at a time: each is a Go binary start, and the machine is shared.
  const queue = [...VALIDATION_CASES.entries()];
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const [i, c] = next;
      const yaml = caseYaml(c, i);
      const api = await kube(['create', '--dry-run=server', '-o', 'name', '-f', '-'], yaml);
      const local = kiveRun(yaml);
      if (c.refuse === undefined) {
        if (!api.ok) disagreements.push(`${c.name}: must be valid, the API server refused it: ${api.out}`);
        if (local !== undefined) disagreements.push(`${c.name}: must be valid, kive run refused it: ${local}`);
        continue;
      }
      if (api.ok) disagreements.push(`${c.name}: the API server accepted it (${api.out})`);
      else if (!c.refuse.test(api.out)) disagreements.push(`${c.name}: the API server's message does not match ${c.refuse}: ${api.out}`);
      if (local === undefined) disagreements.push(`${c.name}: kive run accepted it`);
      else if (!c.refuse.test(local)) disagreements.push(`${c.name}: kive run's message does not match ${c.refuse}: ${local}`);
    }
  }));
  assert.deepEqual(disagreements, []);
});
