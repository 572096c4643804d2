import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gapWarning } from '../../src/kernel/backends.ts';
import { planRoutes, routeGap, routeOfProgram, ROUTES, type RouteFacts } from '../../src/kernel/tracepoint-routes.ts';

const ALL: RouteFacts = { compatSyscalls: true, ioUring: true, ioUringLayout: true, ioUringFixedTable: true };
const SECTIONS = new Set(ROUTES.map((r) => r.section));

test('a kernel with every route and known layouts: every program loads, no gap', () => {
  assert.deepEqual(planRoutes(ALL, SECTIONS), { skip: [], gaps: [] });
});

test('routes the kernel does not have are left out and are no gap', () => {
  const plan = planRoutes({ compatSyscalls: false, ioUring: false, ioUringLayout: false, ioUringFixedTable: false }, SECTIONS);
  assert.deepEqual(plan.skip.sort(), ['raw_tp/io_uring_complete', 'tp_btf/sys_exit']);
  assert.deepEqual(plan.gaps, []);
});

test('io_uring with an unknown request layout is left out and reported, not watched blindly', () => {
  const plan = planRoutes({ ...ALL, ioUringLayout: false }, SECTIONS);
  assert.deepEqual(plan.skip, ['raw_tp/io_uring_complete']);
  assert.equal(plan.gaps.length, 1);
  assert.match(plan.gaps[0]!, /^io_uring IORING_OP_OPENAT\/OPENAT2 \(this kernel's io_uring request layout/);
});

test('an unknown fixed file table leaves direct-descriptor opens as a gap, plain io_uring opens covered', () => {
  const plan = planRoutes({ ...ALL, ioUringFixedTable: false }, SECTIONS);
  assert.deepEqual(plan.skip, []);
  assert.equal(plan.gaps.length, 1);
  assert.match(plan.gaps[0]!, /direct descriptors/);
});

test('compat syscalls on a kernel the object has no compat program for are a gap', () => {
  const noCompat = new Set([...SECTIONS].filter((s) => s !== 'tp_btf/sys_exit'));
  assert.deepEqual(planRoutes(ALL, noCompat).gaps, ['32-bit (compat) open syscalls, e.g. int 0x80 (not built for this architecture)']);
});

test('routeGap: a missing syscall or io_uring tracepoint is no gap; any other failure of a route is one', () => {
  assert.deepEqual(routeGap('tracepoint/syscalls/sys_exit_open', 'ENOENT'), { gap: null });
  assert.equal(routeGap('tracepoint/syscalls/sys_exit_open', 'EPERM'), undefined);
  assert.equal(routeGap('tracepoint/syscalls/sys_exit_openat', 'ENOENT'), undefined, 'openat is required');
  assert.equal(routeGap('raw_tp/sched_process_exec', 'ENOENT'), undefined, 'exec is required');
  assert.deepEqual(routeGap('tracepoint/syscalls/sys_exit_open_by_handle_at', 'ENOENT'), { gap: null });
  assert.deepEqual(routeGap('raw_tp/io_uring_complete', 'ENOENT'), { gap: null });
  assert.deepEqual(routeGap('raw_tp/io_uring_complete', 'EPERM'), {
    gap: 'io_uring IORING_OP_OPENAT/OPENAT2 (attach raw_tp/io_uring_complete: EPERM)',
  });
  assert.deepEqual(routeGap('tp_btf/sys_exit', 'ENOENT'), {
    gap: '32-bit (compat) open syscalls, e.g. int 0x80 (attach tp_btf/sys_exit: ENOENT)',
  });
});

test('routeOfProgram names the route of a refused program', () => {
  assert.equal(routeOfProgram('kive_tp_compat_exit')?.name, 'compat');
  assert.equal(routeOfProgram('kive_tp_uring_complete')?.name, 'io_uring');
  assert.equal(routeOfProgram('kive_tp_openat'), undefined, 'the required programs have no route to give up');
});

test('gapWarning: one line naming the backend and every technique, nothing when covered', () => {
  assert.equal(gapWarning('tracepoint', []), null);
  assert.equal(
    gapWarning('tracepoint', ['open_by_handle_at(2)', 'io_uring IORING_OP_OPENAT/OPENAT2']),
    'the tracepoint backend does not see files opened by: open_by_handle_at(2); io_uring IORING_OP_OPENAT/OPENAT2 (docs/backends.md)',
  );
});
