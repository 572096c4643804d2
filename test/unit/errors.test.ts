import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errnoName } from '../../src/errors.ts';

test('errnoName: Node\'s names for errno values, libbpf\'s negative ones too, a number otherwise', () => {
  assert.equal(errnoName(2), 'ENOENT');
  assert.equal(errnoName(-1), 'EPERM');
  assert.equal(errnoName(99_999), 'errno 99999');
});
