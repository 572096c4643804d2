import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backendSpec, gapWarning } from '../../src/kernel/backends/index.ts';
import { planRoutes, routeOfProgram, ROUTES, type RouteFacts } from '../../src/kernel/backends/tracepoint-routes.ts';

const ALL: RouteFacts = { compatSyscalls: true, ioUring: true, ioUringLayout: true, ioUringFixedTable: true };

test('a kernel with every route and known layouts: every route program loads, no gap', () => {
  assert.deepEqual(planRoutes(ALL), { skip: [], gaps: [] });
});

test('routes the kernel does not have are left out and are no gap', () => {
  const plan = planRoutes({ compatSyscalls: false, ioUring: false, ioUringLayout: false, ioUringFixedTable: false });
  assert.deepEqual(plan.skip.sort(), ['raw_tp/io_uring_complete', 'tp_btf/sys_exit']);
  assert.deepEqual(plan.gaps, []);
});

test('io_uring with an unknown request layout is left out and reported, not watched blindly', () => {
  const plan = planRoutes({ ...ALL, ioUringLayout: false });
  assert.deepEqual(plan.skip, ['raw_tp/io_uring_complete']);
  assert.equal(plan.gaps.length, 1);
  assert.match(plan.gaps[0]!, /^io_uring IORING_OP_OPENAT\/OPENAT2 \(this kernel's io_uring request layout/);
});

test('an unknown fixed file table leaves direct-descriptor opens as a gap, plain io_uring opens covered', () => {
  const plan = planRoutes({ ...ALL, ioUringFixedTable: false });
  assert.deepEqual(plan.skip, []);
  assert.equal(plan.gaps.length, 1);
  assert.match(plan.gaps[0]!, /direct descriptors/);
});

test('every route program is an optional program of the tracepoint spec, with its technique as the evasion', () => {
  const spec = backendSpec('tracepoint');
  for (const r of ROUTES) {
    const p = spec.programs.find((p) => p.section === r.section);
    assert.ok(p, r.section);
    assert.equal(p.evasion, r.technique);
    assert.ok(p.optional, `${r.section} is optional`);
  }
  assert.ok(!spec.programs.some((p) => p.section === 'tracepoint/syscalls/sys_exit_openat' && p.evasion), 'openat is the main hook');
});

test('withoutRefused: a refused route program is left out with its gap; a refused main program fails the backend', () => {
  const spec = backendSpec('tracepoint');
  const target = { func: null, rodata: {}, skip: [], gaps: [] };
  assert.deepEqual(spec.withoutRefused?.(target, 'kive_tp_compat_exit', 'load program kive_tp_compat_exit: EPERM'), {
    func: null,
    rodata: {},
    skip: ['tp_btf/sys_exit'],
    gaps: ['32-bit (compat) open syscalls, e.g. int 0x80 (program kive_tp_compat_exit refused: load program kive_tp_compat_exit: EPERM)'],
  });
  assert.equal(spec.withoutRefused?.(target, 'kive_tp_openat', 'x'), undefined);
  const already = { ...target, skip: ['tp_btf/sys_exit'] };
  assert.equal(spec.withoutRefused?.(already, 'kive_tp_compat_exit', 'x'), undefined, 'no second retry for the same program');
  assert.equal(backendSpec('fentry').withoutRefused, undefined);
});

test('routeOfProgram names the route of a refused program', () => {
  assert.equal(routeOfProgram('kive_tp_compat_exit')?.name, 'compat');
  assert.equal(routeOfProgram('kive_tp_uring_complete')?.name, 'io_uring');
  assert.equal(routeOfProgram('kive_tp_openat'), undefined);
});

test('gapWarning: one line naming the backend and every technique, nothing when covered', () => {
  assert.equal(gapWarning('tracepoint', []), null);
  assert.equal(
    gapWarning('tracepoint', ['open_by_handle_at(2)', 'io_uring IORING_OP_OPENAT/OPENAT2']),
    'the tracepoint backend does not see files opened by: open_by_handle_at(2); io_uring IORING_OP_OPENAT/OPENAT2 (docs/backends.md)',
  );
});
