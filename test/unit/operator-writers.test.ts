// The operator's API writes against a fake API: a write the server refuses as invalid
// becomes a TerminalError (retrying the same write cannot help), a transient failure
// stays an ApiError (the controller backs off and retries), and deletes of what is
// already gone succeed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KiveData, KivePolicy } from '../../src/api/v1/types.ts';
import { isKiveError } from '../../src/errors.ts';
import { TerminalError } from '../../src/k8s/controller.ts';
import { ApiError, type Requester, type RequestOptions } from '../../src/k8s/rest.ts';
import { deleteKiveData, discoverWriter, policyStatusWriter } from '../../src/operator/writers.ts';

function fakeApi(status: number, reason: string): Requester & { seen: RequestOptions[] } {
  const seen: RequestOptions[] = [];
  return {
    seen,
    request: async (req) => {
      seen.push(req);
      throw new ApiError(`${req.method} ${req.path}`, status, reason, 'fake');
    },
  };
}

const data: KiveData = { apiVersion: 'kivebpf.san7o.github.io/v1', kind: 'KiveData', metadata: { name: 'd', namespace: 'kivebpf-system' }, spec: { inodeNo: 1, devId: 1 } };
const policy: KivePolicy = { apiVersion: 'kivebpf.san7o.github.io/v1', kind: 'KivePolicy', metadata: { name: 'p', namespace: 'kivebpf-system' }, spec: { traps: [] } };
const report = { node: 'n1', matchedContainers: 0 };

test('a write refused as invalid (422, 400) is a TerminalError naming the write', async () => {
  for (const [status, reason] of [[422, 'Invalid'], [400, 'BadRequest']] as const) {
    const api = fakeApi(status, reason);
    await assert.rejects(discoverWriter(api, 'n1').apply(data), (e) => e instanceof TerminalError && isKiveError(e, 'KIVE_TERMINAL') && /apply KiveData d: the API server refused it/.test(e.message) && (e.cause as ApiError).status === status);
    await assert.rejects(discoverWriter(api, 'n1').reportStatus(policy, report), (e) => e instanceof TerminalError && /report node n1 on KivePolicy p/.test(e.message));
    await assert.rejects(policyStatusWriter(api).applyPolicyStatus(policy, {}), (e) => e instanceof TerminalError && /status of KivePolicy p/.test(e.message));
    assert.equal(api.seen[0]?.method, 'PATCH');
  }
});

test('a transient failure stays an ApiError, so the controller retries it with backoff', async () => {
  for (const [status, reason] of [[500, 'InternalError'], [409, 'Conflict'], [403, 'Forbidden'], [0, 'RequestFailed']] as const) {
    const api = fakeApi(status, reason);
    await assert.rejects(discoverWriter(api, 'n1').apply(data), (e) => e instanceof ApiError && !(e instanceof TerminalError) && e.status === status);
    await assert.rejects(policyStatusWriter(api).applyPolicyStatus(policy, {}), (e) => e instanceof ApiError && e.status === status);
  }
});

test('deleting or reporting on what is already gone (404) succeeds', async () => {
  const api = fakeApi(404, 'NotFound');
  await deleteKiveData(api, 'kivebpf-system', 'd');
  await discoverWriter(api, 'n1').reportStatus(policy, report);
  await policyStatusWriter(api).removeFinalizer(policy);
  assert.equal(api.seen[0]?.method, 'DELETE');
});
