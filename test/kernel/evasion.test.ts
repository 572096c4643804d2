// Opens by routes other than the 64-bit open syscalls, each by an ordinary process
// (uid 65534): io_uring IORING_OP_OPENAT/OPENAT2 (into the fd table and into a direct
// descriptor), a 32-bit open through int 0x80, and open_by_handle_at. Every backend
// that loads must report each one; the tracepoint backend used to miss all of them
// (docs/backends.md). A route this kernel lacks (no io_uring, no IA32 emulation, no
// CONFIG_FHANDLE) is a skip that names the reason, never a pass.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { isKiveError } from '../../src/errors.ts';
import { FileMonitor, loadOptions, type BackendName } from '../../src/kernel/monitor.ts';
import { ensureTracefs, ObjectLoader, withKernelAccess } from '../../src/kernel/object-loader.ts';
import { backendSpec } from '../../src/kernel/backends/index.ts';
import { MAY_READ, MAY_WRITE } from '../../src/kernel/mask.ts';
import { ROUTES as KERNEL_ROUTES } from '../../src/kernel/backends/tracepoint-routes.ts';
import { EventLog, keyOf, scratchDir } from './helpers.ts';

const EVADE = join(import.meta.dirname, '..', '..', 'build', 'test', 'evade');
const NOBODY = 65534;

interface Route {
  mode: string;
  what: string;
  /** Extra capabilities the ordinary user needs for this route. */
  caps?: string[];
}

const ROUTES: Route[] = [
  { mode: 'uring', what: 'io_uring IORING_OP_OPENAT' },
  { mode: 'uring2', what: 'io_uring IORING_OP_OPENAT2' },
  { mode: 'uring-fixed', what: 'io_uring IORING_OP_OPENAT into direct descriptor slot 3' },
  { mode: 'uring-alloc', what: 'io_uring IORING_OP_OPENAT into an allocated direct descriptor' },
  { mode: 'int80', what: '32-bit open through int 0x80' },
  { mode: 'int80-openat', what: '32-bit openat through int 0x80' },
  // The kernel demands CAP_DAC_READ_SEARCH for open_by_handle_at: the user keeps that one.
  { mode: 'handle', what: 'open_by_handle_at', caps: ['dac_read_search'] },
];

/** Why this kernel cannot take the route at all (so there is nothing to see), or null. */
function unavailable(stderr: string): string | null {
  if (/io_uring_setup: (Function not implemented|Operation not permitted)/.test(stderr)) return 'no io_uring on this kernel';
  if (/io_uring_register sparse files: Invalid argument/.test(stderr)) return 'no sparse direct descriptors on this kernel';
  if (/int 0x80 open: Function not implemented/.test(stderr)) return 'no IA32 emulation on this kernel';
  if (/(name_to_handle_at|open_by_handle_at): (Function not implemented|Operation not supported)/.test(stderr)) {
    return 'no file handles (CONFIG_FHANDLE) on this kernel or file system';
  }
  return null;
}

/** Runs the route as uid/gid 65534; returns its pid, or a skip reason. */
function runAsNobody(route: Route, file: string): { pid: number } | { skip: string } {
  const caps = route.caps ?? [];
  const capArgs = caps.length ? [`--inh-caps=+${caps.join(',+')}`, `--ambient-caps=+${caps.join(',+')}`] : [];
  const r = spawnSync(
    'setpriv',
    [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', ...capArgs, EVADE, route.mode, file],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) {
    const skip = unavailable(r.stderr);
    if (skip) return { skip };
    throw new Error(`evade ${route.mode}: exit ${r.status} ${r.signal ?? ''} ${r.stderr}`);
  }
  assert.equal(r.stdout.trim(), 'read 1', `evade ${route.mode} read the file`);
  // setpriv execs the program in place: its pid is the reader's pid.
  return { pid: r.pid! };
}

for (const backend of ['fentry', 'kprobe', 'tracepoint'] as BackendName[]) {
  test(`${backend}: opens that bypass the 64-bit open syscalls are reported`, async (t) => {
    assert.ok(existsSync(EVADE), `${EVADE} is missing: run \`make build\``);
    let monitor: FileMonitor;
    try {
      monitor = await FileMonitor.open({ backend, ringBufferBytes: 1 << 20 });
    } catch (err) {
      if (isKiveError(err, 'KIVE_BACKEND_UNSUPPORTED') || isKiveError(err, 'KIVE_ATTACH_FAILED')) {
        t.skip(`refused by this kernel: ${(err as Error).message}`);
        return;
      }
      throw err;
    }
    if (backend === 'tracepoint') {
      // Every route this kernel has is covered, so there is nothing to warn about; a
      // route whose program the loader left out would show up here first.
      assert.deepEqual(monitor.gaps, [], 'no evasion left on this kernel');
      const names = new Set(monitor.programs.map((p) => p.name));
      t.diagnostic(`route programs loaded: ${KERNEL_ROUTES.filter((r) => names.has(r.program)).map((r) => r.name).join(', ')}`);
    }
    const log = new EventLog(monitor);
    const tmp = scratchDir(`evade-${backend}`);
    chmodSync(tmp.dir, 0o755);
    try {
      let id = 7000;
      for (const route of ROUTES) {
        await t.test(route.what, async (st) => {
          const file = tmp.file(`${route.mode}.txt`, 'honeytoken\n');
          chmodSync(file, 0o644);
          const trapId = ++id;
          monitor.setTrap(keyOf(file), trapId);
          const ran = runAsNobody(route, file);
          if ('skip' in ran) {
            st.skip(ran.skip);
            return;
          }
          const e = await log.waitFor((e) => e.slot === trapId && e.tgid === ran.pid, `${route.what} by uid ${NOBODY}`);
          assert.equal(e.uid, NOBODY);
          assert.ok(e.mask & MAY_READ, `mask 0x${e.mask.toString(16)} has MAY_READ`);
          assert.equal(e.mask & MAY_WRITE, 0, `mask 0x${e.mask.toString(16)} has no MAY_WRITE (opened O_RDONLY)`);
        });
      }
    } finally {
      monitor.close();
      tmp.cleanup();
    }
  });
}

test('tracepoint: a route program left out is a gap the loader reports, not a silent loss', (t) => {
  ensureTracefs();
  const objectDir = join(import.meta.dirname, '..', '..', 'build', 'bpf');
  const options = loadOptions({ objectDir, maxTraps: 1, ringBufferBytes: 64 * 1024, captureContext: false });
  let loaded;
  try {
    // What loadBackend does after the kernel refuses a route program.
    // The target the loader plans for this kernel (its route facts: io_uring layout, skips),
    // not a bare one: a bare target loaded the io_uring program without its layout.
    const [planned] = withKernelAccess((kernel) => backendSpec('tracepoint').targets(kernel));
    const target = backendSpec('tracepoint').withoutRefused!(planned!, 'kive_tp_compat_exit', 'test');
    assert.ok(target);
    loaded = new ObjectLoader(backendSpec('tracepoint'), options).load(target);
  } catch (err) {
    if (isKiveError(err, 'KIVE_BACKEND_UNSUPPORTED') || isKiveError(err, 'KIVE_ATTACH_FAILED')) {
      t.skip(`refused by this kernel: ${(err as Error).message}`);
      return;
    }
    throw err;
  }
  try {
    assert.ok(loaded.gaps.some((g) => /^32-bit .* refused: test\)$/.test(g)), `gaps: ${loaded.gaps.join('; ')}`);
    assert.ok(!loaded.programs.some((p) => p.name === 'kive_tp_compat_exit'), 'the program was not loaded');
    assert.ok(!loaded.attachedTo.split(',').includes('tp_btf/sys_exit'), `attached to ${loaded.attachedTo}`);
  } finally {
    loaded.close();
  }
});
