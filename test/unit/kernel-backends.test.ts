// The backend registry (src/kernel/backends/): choice, the hooks each spec gives the
// object loader, the specs against their .bpf.c sources, and docs/backends.md against
// the specs. Pure: the kernel side is in test/kernel/backends.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isKiveError, VerifierError } from '../../src/errors.ts';
import {
  attachHint,
  BACKEND_CHOICES,
  BACKEND_PREFERENCE,
  BACKENDS,
  backendSpec,
  parseBackendChoice,
  programSpec,
  selectBackend,
  type KernelAccess,
  type ProbeResult,
} from '../../src/kernel/backends/index.ts';
import { withBackendTables } from '../../src/kernel/backends/docs.ts';
import { ACCESSES } from '../../src/kernel/backends/spec.ts';

const r = (backend: ProbeResult['backend'], supported: boolean): ProbeResult => ({ backend, supported });
const repo = (path: string) => new URL(`../../${path}`, import.meta.url);

test('selectBackend prefers fentry, then kprobe, then tracepoint', () => {
  assert.deepEqual(BACKEND_PREFERENCE, ['fentry', 'kprobe', 'tracepoint']);
  assert.equal(selectBackend([r('tracepoint', true), r('kprobe', true), r('fentry', true)]), 'fentry');
  assert.equal(selectBackend([r('fentry', false), r('kprobe', true), r('tracepoint', true)]), 'kprobe');
  assert.equal(selectBackend([r('fentry', false), r('kprobe', false), r('tracepoint', true)]), 'tracepoint');
  assert.equal(selectBackend([r('fentry', false), r('kprobe', false), r('tracepoint', false)]), null);
  assert.equal(selectBackend([]), null);
});

test('--backend accepts auto and every registered backend, nothing else', () => {
  assert.deepEqual(BACKEND_CHOICES, ['auto', ...BACKEND_PREFERENCE]);
  for (const c of BACKEND_CHOICES) assert.equal(parseBackendChoice(c), c);
  assert.throws(
    () => parseBackendChoice('lsm'),
    (e: unknown) => isKiveError(e, 'KIVE_USAGE') && (e as Error).message === '--backend must be one of auto, fentry, kprobe, tracepoint, got "lsm"',
  );
});

for (const spec of BACKENDS) {
  test(`${spec.name}: the spec lists exactly the programs of bpf/kive_${spec.name}.bpf.c`, () => {
    assert.equal(spec.objectFile, `kive_${spec.name}.bpf.o`, 'the Makefile builds bpf/X.bpf.c into build/bpf/X.bpf.o');
    assert.equal(backendSpec(spec.name), spec);
    const source = readFileSync(repo(`bpf/kive_${spec.name}.bpf.c`), 'utf8');
    const sections = [...source.matchAll(/\bSEC\("([^"]+)"\)/g)].map((m) => m[1]).filter((s) => s !== 'license');
    assert.deepEqual(spec.programs.map((p) => p.section).sort(), sections.sort());
    assert.deepEqual(Object.keys(spec.sees).sort(), Object.keys(ACCESSES).sort());
  });
}

test('backend names are unique', () => {
  assert.equal(new Set(BACKEND_PREFERENCE).size, BACKENDS.length);
});

/** A kernel whose BTF has `args` (function -> inode parameter index) and counts tracefs checks. */
function fakeKernel(args: Record<string, number>): KernelAccess & { tracefs: number } {
  return {
    tracefs: 0,
    inodeArgIndex: (func) => args[func] ?? { reason: 'not in kernel BTF' },
    ensureTracefs() {
      this.tracefs++;
    },
    routeFacts: () => ({ compatSyscalls: true, ioUring: true, ioUringLayout: true, ioUringFixedTable: true }),
    btfCast: () => true,
  };
}

for (const name of ['fentry', 'kprobe'] as const) {
  test(`${name}: tries inode_permission, then security_inode_permission, each with its inode argument`, () => {
    const spec = backendSpec(name);
    const kernel = fakeKernel({ inode_permission: 1, security_inode_permission: 0 });
    const targets = spec.targets(kernel);
    assert.deepEqual(targets, [
      { func: 'inode_permission', rodata: { kive_arg_inode: 1 } },
      { func: 'security_inode_permission', rodata: { kive_arg_inode: 0 } },
    ]);
    assert.equal(kernel.tracefs, 0);
    assert.deepEqual(spec.targets(fakeKernel({ security_inode_permission: 0 })), [{ func: 'security_inode_permission', rodata: { kive_arg_inode: 0 } }]);
    assert.throws(
      () => spec.targets(fakeKernel({})),
      (e: unknown) =>
        isKiveError(e, 'KIVE_BACKEND_UNSUPPORTED') &&
        (e as Error).message === `${name}: no hookable permission function (inode_permission: not in kernel BTF; security_inode_permission: not in kernel BTF)`,
    );
  });
}

test('fentry binds its program to the target before load and attaches it by section', () => {
  const spec = backendSpec('fentry');
  const target = { func: 'security_inode_permission', rodata: { kive_arg_inode: 0 } };
  assert.equal(spec.loadTarget?.(target), 'security_inode_permission');
  assert.deepEqual(spec.attach(spec.programs[0]!, target), { point: 'fentry/security_inode_permission' });
});

test('kprobe attaches to the target function by name', () => {
  const spec = backendSpec('kprobe');
  const target = { func: 'security_inode_permission', rodata: { kive_arg_inode: 0 } };
  assert.equal(spec.loadTarget, undefined);
  assert.deepEqual(spec.attach(spec.programs[0]!, target), { point: 'kprobe/security_inode_permission', kprobe: 'security_inode_permission' });
});

test('tracepoint: tracefs first, one target, each program at its own section; open, creat and openat2 optional', () => {
  const spec = backendSpec('tracepoint');
  const kernel = fakeKernel({});
  const targets = spec.targets(kernel);
  assert.equal(kernel.tracefs, 1);
  assert.deepEqual(targets, [{ func: null, rodata: {}, skip: [], gaps: [] }]);
  for (const p of spec.programs) assert.deepEqual(spec.attach(p, targets[0]!), { point: p.section });
  const optional = spec.programs.filter((p) => p.optional !== undefined).map((p) => p.section);
  for (const s of ['sys_exit_open', 'sys_exit_creat', 'sys_exit_openat2']) assert.ok(optional.includes(`tracepoint/syscalls/${s}`), s);
  for (const s of ['tracepoint/syscalls/sys_exit_openat', 'raw_tp/sched_process_exec']) assert.equal(programSpec(spec, s).optional, undefined, s);
  assert.deepEqual(programSpec(spec, 'tracepoint/not/listed'), { section: 'tracepoint/not/listed' }, 'an unlisted program is required');
});

test('hints name the likely cause', () => {
  assert.match(attachHint(backendSpec('kprobe'), 'attach', 'ENOENT'), /CONFIG_KPROBES/);
  assert.equal(attachHint(backendSpec('kprobe'), 'load', 'ENOENT'), 'load failed');
  assert.match(attachHint(backendSpec('fentry'), 'load', 'EPERM'), /fentry refused: EPERM, kernel lockdown\?/);
  assert.match(attachHint(backendSpec('fentry'), 'load', 'errno 524'), /no BPF trampoline/);
  assert.match(attachHint(backendSpec('tracepoint'), 'attach', 'ENOENT'), /tracefs/);
  assert.match(attachHint(backendSpec('tracepoint'), 'load', 'EPERM'), /CAP_BPF/);
});

test('docs/backends.md carries the current tables (run `make docs`)', () => {
  const page = readFileSync(repo('docs/backends.md'), 'utf8');
  assert.equal(page, withBackendTables(page));
  for (const spec of BACKENDS) assert.ok(page.includes(`| ${spec.name} | ${spec.hook} |`), spec.name);
});

test('VerifierError: the verdict is the line before the closing statistics, on old and new kernels', () => {
  const newer = ['8: (61) r0 = *(u32 *)(r0 +0)', "R0 invalid mem access 'map_value_or_null'", 'processed 8 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0'];
  assert.match(new VerifierError('p', 13, newer).message, /^load program p: rejected by the verifier: R0 invalid mem access 'map_value_or_null'$/);
  const older = ['R1 type=inv expected=fp', 'processed 4 insns (limit 1000000)', '', 'verification time 12 usec', 'stack depth 16'];
  assert.match(new VerifierError('p', 13, older).message, /: R1 type=inv expected=fp$/);
  assert.match(new VerifierError('p', 13, []).message, /: errno 13$/);
});
