// The shutdown bounds fit together: the sinks' grace inside kive run's bound, and the
// operator's bound inside the DaemonSet's termination grace period (else the kubelet's
// SIGKILL, not Kive, decides what is lost).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { SHUTDOWN_BOUND_MS as OPERATOR_BOUND_MS } from '../../src/cli/operator.ts';
import { SHUTDOWN_BOUND_MS, SINK_GRACE_MS } from '../../src/cli/run.ts';

test('kive run: the sinks get their grace period within the shutdown bound', () => {
  assert.ok(SINK_GRACE_MS < SHUTDOWN_BOUND_MS);
});

test('deploy/operator.yaml: terminationGracePeriodSeconds covers the operator shutdown bound', () => {
  const text = readFileSync(new URL('../../deploy/operator.yaml', import.meta.url), 'utf8');
  const ds = parseAllDocuments(text)
    .map((d) => d.toJS() as { kind?: string; spec?: { template?: { spec?: { terminationGracePeriodSeconds?: number } } } })
    .find((o) => o?.kind === 'DaemonSet');
  const grace = ds?.spec?.template?.spec?.terminationGracePeriodSeconds;
  assert.equal(typeof grace, 'number', 'the DaemonSet sets terminationGracePeriodSeconds');
  assert.ok((grace as number) * 1000 >= OPERATOR_BOUND_MS + 5_000, `${grace} s leaves room above ${OPERATOR_BOUND_MS} ms`);
});
