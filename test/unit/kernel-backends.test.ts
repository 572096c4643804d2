import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attachHint, objectFile, selectBackend, type ProbeResult } from '../../src/kernel/backends.ts';

const r = (backend: ProbeResult['backend'], supported: boolean): ProbeResult => ({ backend, supported });

test('selectBackend prefers fentry, then kprobe, then tracepoint', () => {
  assert.equal(selectBackend([r('tracepoint', true), r('kprobe', true), r('fentry', true)]), 'fentry');
  assert.equal(selectBackend([r('fentry', false), r('kprobe', true), r('tracepoint', true)]), 'kprobe');
  assert.equal(selectBackend([r('fentry', false), r('kprobe', false), r('tracepoint', true)]), 'tracepoint');
  assert.equal(selectBackend([r('fentry', false), r('kprobe', false), r('tracepoint', false)]), null);
  assert.equal(selectBackend([]), null);
});

test('object files follow the Makefile naming', () => {
  assert.equal(objectFile('fentry'), 'kive_fentry.bpf.o');
  assert.equal(objectFile('tracepoint'), 'kive_tracepoint.bpf.o');
});

test('hints name the likely cause', () => {
  assert.match(attachHint('kprobe', 'attach', 'ENOENT'), /CONFIG_KPROBES/);
  assert.match(attachHint('fentry', 'load', 'EPERM'), /fentry refused: EPERM, kernel lockdown\?/);
  assert.match(attachHint('tracepoint', 'attach', 'ENOENT'), /tracefs/);
});
