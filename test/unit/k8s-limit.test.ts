import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eachLimited } from '../../src/k8s/limit.ts';

const tick = () => new Promise((r) => setImmediate(r));

test('eachLimited: every item once, never more than `width` at a time', async () => {
  const seen: number[] = [];
  let now = 0;
  let max = 0;
  await eachLimited([1, 2, 3, 4, 5, 6, 7], 3, async (i) => {
    now++;
    max = Math.max(max, now);
    await tick();
    seen.push(i);
    now--;
  });
  assert.deepEqual(seen.sort(), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(max, 3);
});

test('eachLimited: the first failure stops new starts and is rethrown after the running calls end', async () => {
  const started: number[] = [];
  let running = 0;
  await assert.rejects(
    eachLimited([1, 2, 3, 4, 5, 6], 2, async (i) => {
      started.push(i);
      running++;
      await tick();
      running--;
      if (i === 2) throw new Error('refused');
    }),
    /refused/,
  );
  assert.equal(running, 0, 'nothing still running when it rejects');
  assert.ok(started.length < 6, `no new starts after the failure: ${started.join(',')}`);
});
