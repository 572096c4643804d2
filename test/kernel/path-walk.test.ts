// The process-context capture of bpf/lib/path.h on the real kernel: the bounded dentry
// walk kive_path (exe and cwd) and the argv copy. The fixture
// test/kernel/fixtures/path_walk.bpf.c (built by `make bpf`) is a raw_tp program that
// is never attached: BPF_PROG_TEST_RUN runs it synchronously in this very task, so
// process.chdir() decides the cwd the walk climbs. Its output is a context tail laid
// out as in a real event and read back with the production decoder. Root only.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { ARGS_LEN, EVENT_CTX_SIZE, PATH_DEPTH, PATH_LEN } from '../../src/kernel/contract.ts';
import { decodeEvent, splitArgs, type KernelEvent } from '../../src/kernel/event.ts';
import { bpf, errnoName, type Ptr } from '../../src/kernel/libbpf.ts';

const OBJECT = fileURLToPath(new URL('../../build/bpf-fixtures/path_walk.bpf.o', import.meta.url));
const skip = process.getuid?.() !== 0 ? 'needs root' : false;

// struct bpf_test_run_opts (libbpf 1.1): sz at 0, ctx_in/ctx_size_in unused (the
// program reads no context), retval (u32) at 56. 80 bytes in all.
const TEST_RUN_OPTS_SIZE = 80;
const RETVAL_OFFSET = 56;
const testRun = koffi
  .load('libbpf.so.1')
  .func('bpf_prog_test_run_opts', 'int', ['int', 'void *']) as (fd: number, opts: Buffer) => number;

let obj: Ptr | null = null;
let progFd = -1;
let outFd = -1;
const startDir = process.cwd();
let base = '';

before(() => {
  if (skip) return;
  obj = bpf.objectOpenFile(OBJECT, null);
  assert.ok(obj !== null, `libbpf opens ${OBJECT} (run make bpf)`);
  assert.equal(bpf.objectLoad(obj), 0, 'the fixture passes the verifier');
  progFd = bpf.programFd(bpf.findProgram(obj, 'kive_path_walk')!);
  outFd = bpf.mapFd(bpf.findMap(obj, 'kive_path_out')!);
  base = realpathSync(mkdtempSync(join(tmpdir(), 'kive-walk-')));
});

after(() => {
  process.chdir(startDir);
  if (base) rmSync(base, { recursive: true, force: true });
  if (obj !== null) bpf.objectClose(obj);
});

/** Runs the capture in this task with `dir` as the cwd and decodes what it wrote. */
function captureIn(dir: string): KernelEvent {
  process.chdir(dir);
  try {
    return capture();
  } finally {
    process.chdir(startDir);
  }
}

function capture(): KernelEvent {
  const opts = Buffer.alloc(TEST_RUN_OPTS_SIZE);
  opts.writeBigUInt64LE(BigInt(TEST_RUN_OPTS_SIZE), 0);
  const rc = testRun(progFd, opts);
  assert.equal(rc, 0, `BPF_PROG_TEST_RUN: ${errnoName(rc)}`);
  assert.equal(opts.readUInt32LE(RETVAL_OFFSET), 0, 'the program found its output slot');
  const out = Buffer.alloc(EVENT_CTX_SIZE);
  assert.equal(bpf.mapLookup(outFd, Buffer.alloc(4), out), 0);
  return decodeEvent(new DataView(out.buffer, out.byteOffset, out.length), out, 0, out.length);
}

/**
 * What the walk keeps of a path it cannot take whole: the deepest components, at most
 * PATH_DEPTH of them and at most PATH_LEN - 1 bytes (bpf/lib/path.h).
 */
function deepestTail(path: string): string {
  const parts = path.split('/').filter(Boolean);
  let out = '';
  for (let i = parts.length - 1, n = 0; i >= 0 && n < PATH_DEPTH; i--, n++) {
    const next = `/${parts[i]}${out}`;
    if (next.length > PATH_LEN - 1) break;
    out = next;
  }
  return out;
}

test('a plain cwd, the executable and argv come back whole', { skip }, () => {
  const dir = join(base, 'plain');
  mkdirSync(dir);
  const e = captureIn(dir);
  assert.equal(e.cwd, dir);
  const exe = readlinkSync('/proc/self/exe');
  assert.ok(exe.length < PATH_LEN, 'this test assumes a short path to node');
  assert.equal(e.exe, exe);
  const cmdline = readFileSync('/proc/self/cmdline');
  const n = Math.min(cmdline.length, ARGS_LEN);
  assert.deepEqual(e.args, splitArgs(cmdline, 0, n));
  assert.deepEqual(e.truncated, cmdline.length > ARGS_LEN ? ['args'] : undefined);
});

test(`a cwd deeper than ${PATH_DEPTH} components keeps the deepest ${PATH_DEPTH} and is flagged`, { skip }, () => {
  const names = Array.from({ length: PATH_DEPTH + 6 }, (_, i) => `d${String(i + 1).padStart(2, '0')}`);
  const dir = join(base, 'deep', ...names);
  mkdirSync(dir, { recursive: true });
  assert.ok(dir.length < PATH_LEN, 'only the depth limit applies here');
  const e = captureIn(dir);
  assert.equal(e.cwd, `/${names.slice(-PATH_DEPTH).join('/')}`);
  assert.equal(e.cwd, deepestTail(dir));
  assert.ok(e.truncated?.includes('cwd'), `flagged: ${String(e.truncated)}`);
  assert.ok(!e.truncated?.includes('exe'));
});

test(`a cwd longer than ${PATH_LEN - 1} bytes keeps the deepest components that fit and is flagged`, { skip }, () => {
  const dir = join(base, 'long', 'a'.repeat(120), 'b'.repeat(120), 'c'.repeat(120));
  mkdirSync(dir, { recursive: true });
  const e = captureIn(dir);
  assert.equal(e.cwd, `/${'b'.repeat(120)}/${'c'.repeat(120)}`);
  assert.equal(e.cwd, deepestTail(dir));
  assert.ok(e.truncated?.includes('cwd'));
});

test(`a cwd of exactly ${PATH_LEN - 1} bytes fits; one byte more does not`, { skip }, () => {
  const fits = join(base, 'x'.repeat(PATH_LEN - 1 - base.length - 1));
  assert.equal(fits.length, PATH_LEN - 1);
  mkdirSync(fits);
  const whole = captureIn(fits);
  assert.equal(whole.cwd, fits);
  assert.ok(!whole.truncated?.includes('cwd'), `not flagged: ${String(whole.truncated)}`);

  const over = join(base, 'y'.repeat(PATH_LEN - base.length - 1));
  assert.equal(over.length, PATH_LEN);
  mkdirSync(over);
  const cut = captureIn(over);
  assert.equal(cut.cwd, deepestTail(over));
  assert.ok(cut.cwd!.length < over.length);
  assert.ok(cut.truncated?.includes('cwd'));
});

test('a cwd on a lazily unmounted file system is not reachable from the root: its tail, flagged', { skip }, () => {
  const mnt = join(base, 'mnt');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', 'kive-walk', mnt]);
  let mounted = true;
  try {
    const inner = join(mnt, 'sub', 'inner');
    mkdirSync(inner, { recursive: true });
    process.chdir(inner);
    try {
      execFileSync('umount', ['-l', mnt]);
      mounted = false;
      const e = capture();
      assert.equal(e.cwd, '/sub/inner');
      assert.ok(e.truncated?.includes('cwd'), `flagged: ${String(e.truncated)}`);
    } finally {
      process.chdir(startDir);
    }
  } finally {
    if (mounted) execFileSync('umount', ['-l', mnt]);
  }
});

test('a removed cwd keeps the path it had, unflagged (the dentry still names its parent)', { skip }, () => {
  const dir = join(base, 'gone');
  mkdirSync(dir);
  process.chdir(dir);
  try {
    rmdirSync(dir);
    const e = capture();
    assert.equal(e.cwd, dir);
    assert.ok(!e.truncated?.includes('cwd'));
  } finally {
    process.chdir(startDir);
  }
});
