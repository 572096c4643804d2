import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEvent, encodeEvent, EVENT_CTX_SIZE, EVENT_SIZE, type KernelEvent } from '../../src/kernel/event.ts';
import { EVENT_LAYOUT, EVF } from '../../src/kernel/contract.ts';
import { maskNames, openFlagsMask, O_APPEND, O_PATH, O_RDWR, O_TRUNC, O_WRONLY, MAY_OPEN, MAY_READ, MAY_WRITE, MAY_APPEND } from '../../src/kernel/mask.ts';

const base: KernelEvent = {
  tsNs: 123456789012345n,
  ino: 0xfedcba9876543210n,
  dev: (259 << 20) | 3,
  mask: 0x24,
  op: 'open',
  pid: 4242,
  tgid: 4240,
  uid: 1000,
  gid: 1001,
  cgroupId: 987654321n,
  comm: 'cat',
  slot: 77,
  repeats: 12345,
};

function decode(bytes: Uint8Array, at = 0): KernelEvent {
  // Embed at an offset, as in the ring, to catch offset arithmetic mistakes.
  const ring = new Uint8Array(at + bytes.length + 16);
  ring.set(bytes, at);
  return decodeEvent(new DataView(ring.buffer), ring, at, bytes.length);
}

test('header-only event decodes every field', () => {
  const bytes = encodeEvent(base, { context: false });
  assert.equal(bytes.length, EVENT_SIZE);
  assert.deepEqual(decode(bytes, 24), base);
});

test('event with context tail decodes argv, exe and cwd', () => {
  const ev = { ...base, op: 'exec', args: ['cat', '/secret.txt', '-'], exe: '/usr/bin/cat', cwd: '/' };
  const bytes = encodeEvent(ev);
  assert.equal(bytes.length, EVENT_CTX_SIZE);
  assert.deepEqual(decode(bytes, 8), ev);
});

test('truncation flags decode to the fields the kernel cut, and only with a context tail', () => {
  const ev: KernelEvent = { ...base, args: ['a'], exe: '/x', cwd: '/y', truncated: ['args', 'cwd'] };
  const bytes = encodeEvent(ev);
  assert.equal(new DataView(bytes.buffer).getUint16(EVENT_LAYOUT.flags, true), EVF.CONTEXT | EVF.ARGS_TRUNC | EVF.CWD_TRUNC);
  assert.deepEqual(decode(bytes, 16), ev);
  const all = encodeEvent({ ...base, exe: '/x' });
  new DataView(all.buffer).setUint16(EVENT_LAYOUT.flags, EVF.CONTEXT | EVF.ARGS_TRUNC | EVF.EXE_TRUNC | EVF.CWD_TRUNC, true);
  assert.deepEqual(decode(all).truncated, ['args', 'exe', 'cwd']);
  const header = encodeEvent(base, { context: false });
  new DataView(header.buffer).setUint16(EVENT_LAYOUT.flags, EVF.EXE_TRUNC, true);
  assert.equal(decode(header).truncated, undefined);
  assert.equal(decode(encodeEvent({ ...base, exe: '/x' })).truncated, undefined);
});

test('comm of 15 bytes and non-ASCII text survive', () => {
  const ev = { ...base, comm: 'abcdefghijklmno', args: ['tëst'], cwd: '/tmp/ü' };
  assert.deepEqual(decode(encodeEvent(ev)), ev);
});

test('short and inconsistent records are rejected, not misread', () => {
  assert.throws(() => decode(new Uint8Array(EVENT_SIZE - 8)), RangeError);
  const withCtx = encodeEvent({ ...base, exe: '/x' });
  assert.throws(() => decode(withCtx.subarray(0, EVENT_SIZE)), RangeError);
});

test('unknown op codes are reported, not dropped', () => {
  const bytes = encodeEvent(base, { context: false });
  new DataView(bytes.buffer).setUint16(EVENT_LAYOUT.op, 9, true);
  assert.equal(decode(bytes).op, 'op9');
});

test('open flags map to the MAY_* mask the kernel checks', () => {
  assert.equal(openFlagsMask(0), MAY_OPEN | MAY_READ);
  assert.equal(openFlagsMask(O_WRONLY), MAY_OPEN | MAY_WRITE);
  assert.equal(openFlagsMask(O_RDWR), MAY_OPEN | MAY_READ | MAY_WRITE);
  assert.equal(openFlagsMask(O_TRUNC), MAY_OPEN | MAY_READ | MAY_WRITE);
  assert.equal(openFlagsMask(O_WRONLY | O_APPEND), MAY_OPEN | MAY_WRITE | MAY_APPEND);
  assert.equal(openFlagsMask(O_PATH), null);
  assert.deepEqual(maskNames(0x24), ['read', 'open']);
  assert.deepEqual(maskNames(0x1 | 0x100), ['exec', '0x100']);
});

test('a Buffer view over the ring decodes the same as a plain Uint8Array', () => {
  const ev = { ...base, comm: 'käse', args: ['a', 'b c'], exe: '/bin/ü', cwd: '/' };
  const bytes = encodeEvent(ev);
  const buf = Buffer.alloc(bytes.length + 40);
  buf.set(bytes, 40);
  assert.deepEqual(decodeEvent(new DataView(buf.buffer, buf.byteOffset, buf.length), buf, 40, bytes.length), ev);
});
