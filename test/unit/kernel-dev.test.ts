import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { joinUserDev, kernelDev, kernelToUserDev, splitKernelDev, splitUserDev, userToKernelDev } from '../../src/kernel/dev.ts';

test('glibc st_dev splits into major and minor', () => {
  // 8:1 (sda1) is 0x801 in the glibc encoding; 259:3 (nvme) has a major > 255.
  assert.deepEqual(splitUserDev(0x801n), { major: 8, minor: 1 });
  assert.deepEqual(splitUserDev(joinUserDev({ major: 259, minor: 3 })), { major: 259, minor: 3 });
  // Minor above 255 uses the high bits: 0:300 -> minor low 0x2c, minor high 0x1 << 20.
  assert.equal(joinUserDev({ major: 0, minor: 300 }), 0x2cn | (0x1n << 20n));
});

test('kernel MKDEV encoding is major << 20 | minor', () => {
  assert.equal(kernelDev({ major: 8, minor: 1 }), (8 << 20) | 1);
  assert.equal(kernelDev({ major: 0, minor: 22 }), 22);
  assert.equal(kernelDev({ major: 0xfff, minor: 0xfffff }), 0xffffffff);
  assert.deepEqual(splitKernelDev(0xffffffff), { major: 0xfff, minor: 0xfffff });
  assert.throws(() => kernelDev({ major: 0x1000, minor: 0 }), RangeError);
  assert.throws(() => kernelDev({ major: 0, minor: 0x100000 }), RangeError);
});

test('user <-> kernel conversion round-trips', () => {
  for (const [major, minor] of [
    [8, 1],
    [259, 3],
    [0, 22],
    [254, 70000],
    [4095, 1048575],
  ] as const) {
    const user = joinUserDev({ major, minor });
    const k = userToKernelDev(user);
    assert.equal(k, ((major << 20) | minor) >>> 0);
    assert.equal(kernelToUserDev(k), user);
  }
});

test('a real stat() dev converts to a device the kernel encoding can hold', () => {
  const { dev } = statSync('/', { bigint: true });
  const k = userToKernelDev(dev);
  assert.equal(kernelToUserDev(k), dev);
});
