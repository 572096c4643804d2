import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attachHint, objectFile, selectBackend, type ProbeResult } from '../../src/kernel/backends.ts';
import { VerifierError } from '../../src/errors.ts';

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

test('VerifierError: the verdict is the line before the closing statistics, on old and new kernels', () => {
  const newer = ['8: (61) r0 = *(u32 *)(r0 +0)', "R0 invalid mem access 'map_value_or_null'", 'processed 8 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0'];
  assert.match(new VerifierError('p', 13, newer).message, /^load program p: rejected by the verifier: R0 invalid mem access 'map_value_or_null'$/);
  const older = ['R1 type=inv expected=fp', 'processed 4 insns (limit 1000000)', '', 'verification time 12 usec', 'stack depth 16'];
  assert.match(new VerifierError('p', 13, older).message, /: R1 type=inv expected=fp$/);
  assert.match(new VerifierError('p', 13, []).message, /: errno 13$/);
});
