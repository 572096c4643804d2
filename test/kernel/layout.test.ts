// The "alignchecker": src/kernel/contract.ts (the module the encoders and the decoder
// read their offsets, sizes, flags, ops and counter indexes from) against the BTF that
// clang wrote into each compiled object (parsed by libbpf), so bpf/kive.h and the
// TypeScript side cannot drift apart silently. Needs build/bpf/*.bpf.o (make bpf); no
// root needed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { objectFile, BACKEND_PREFERENCE } from '../../src/kernel/backends/index.ts';
import * as C from '../../src/kernel/contract.ts';
import { bpf, btfEnumValues, btfMembers, btfType, BTF_KIND_ENUM, BTF_KIND_STRUCT, type Ptr } from '../../src/kernel/libbpf.ts';
import { defaultObjectDir } from '../../src/kernel/monitor.ts';

function struct(btf: Ptr, name: string): { size: number; members: Record<string, number> } {
  const id = bpf.btfFindByNameKind(btf, name, BTF_KIND_STRUCT);
  assert.ok(id > 0, `struct ${name} is in the object's BTF`);
  const t = btfType(btf, id)!;
  return { size: t.sizeOrType, members: Object.fromEntries(btfMembers(btf, t).map((m) => [m.name, m.bitOffset / 8] as const)) };
}

function enumValues(btf: Ptr, name: string): Record<string, number> {
  const id = bpf.btfFindByNameKind(btf, name, BTF_KIND_ENUM);
  assert.ok(id > 0, `enum ${name} is in the object's BTF`);
  return Object.fromEntries(btfEnumValues(btf, btfType(btf, id)!).map((v) => [v.name, v.value] as const));
}

/** { emitted: 0 } with prefix KIVE_CNT_ -> { KIVE_CNT_EMITTED: 0 }: the C spelling of a contract table. */
function cNames(prefix: string, table: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(table).map(([k, v]) => [`${prefix}${k.toUpperCase()}`, v]));
}

for (const backend of BACKEND_PREFERENCE) {
  const path = join(defaultObjectDir(), objectFile(backend));
  test(`${objectFile(backend)} matches src/kernel/contract.ts`, () => {
    assert.ok(existsSync(path), `${path} exists (run make bpf)`);
    const btf = bpf.btfParse(path, null);
    assert.ok(btf !== null, `libbpf parses the BTF of ${path}`);
    try {
      assert.deepEqual(enumValues(btf, 'kive_limit'), {
        KIVE_COMM_LEN: C.COMM_LEN,
        KIVE_ARGS_LEN: C.ARGS_LEN,
        KIVE_PATH_LEN: C.PATH_LEN,
        KIVE_PATH_DEPTH: C.PATH_DEPTH,
      });
      assert.deepEqual(enumValues(btf, 'kive_filter'), {
        KIVE_FILTER_LOG2: C.FILTER.LOG2,
        KIVE_FILTER_WORDS: C.FILTER.WORDS,
        KIVE_FILTER_MULT: C.FILTER.MULT,
      });
      assert.equal(C.FILTER.WORDS * 64, 2 ** C.FILTER.LOG2);

      const ev = struct(btf, 'kive_event');
      assert.equal(ev.size, C.EVENT_SIZE);
      assert.deepEqual(ev.members, C.EVENT_LAYOUT);
      assert.equal(C.EVENT_LAYOUT.repeats - C.EVENT_LAYOUT.comm, C.COMM_LEN);

      const ctx = struct(btf, 'kive_event_ctx');
      assert.equal(ctx.size, C.EVENT_CTX_SIZE);
      assert.deepEqual(ctx.members, C.EVENT_CTX_LAYOUT);
      assert.equal(C.EVENT_CTX_LAYOUT.exe - C.EVENT_CTX_LAYOUT.args, C.ARGS_LEN);
      assert.equal(C.EVENT_CTX_LAYOUT.cwd - C.EVENT_CTX_LAYOUT.exe, C.PATH_LEN);
      assert.equal(C.EVENT_CTX_SIZE - C.EVENT_CTX_LAYOUT.cwd, C.PATH_LEN);

      const key = struct(btf, 'kive_trap_key');
      assert.equal(key.size, C.TRAP_KEY_SIZE);
      assert.deepEqual(key.members, C.TRAP_KEY_LAYOUT);
      const value = struct(btf, 'kive_trap_value');
      assert.equal(value.size, C.TRAP_VALUE_SIZE);
      assert.deepEqual(value.members, C.TRAP_VALUE_LAYOUT);

      const aggKey = struct(btf, 'kive_agg_key');
      assert.equal(aggKey.size, C.AGG_KEY_SIZE);
      assert.deepEqual(aggKey.members, C.AGG_KEY_LAYOUT);
      const aggValue = struct(btf, 'kive_agg_value');
      assert.equal(aggValue.size, C.AGG_VALUE_SIZE);
      assert.deepEqual(aggValue.members, C.AGG_VALUE_LAYOUT);

      assert.deepEqual(enumValues(btf, 'kive_event_flag'), cNames('KIVE_EVF_', C.EVF));
      assert.deepEqual(
        enumValues(btf, 'kive_op'),
        Object.fromEntries(Object.entries(C.OPS).map(([code, name]) => [`KIVE_OP_${name.toUpperCase()}`, Number(code)])),
      );
      assert.deepEqual(enumValues(btf, 'kive_counter'), { ...cNames('KIVE_CNT_', C.COUNTERS), KIVE_CNT_MAX: C.COUNTER_MAX });
    } finally {
      bpf.btfFree(btf);
    }
  });
}

test('the trap key and value encoders write the contract layout', () => {
  const key = C.encodeTrapKey({ ino: 0x0102030405060708n, dev: (259 << 20) | 3 }, Buffer.alloc(C.TRAP_KEY_SIZE, 0xff));
  assert.equal(key.readBigUInt64LE(C.TRAP_KEY_LAYOUT.ino), 0x0102030405060708n);
  assert.equal(key.readUInt32LE(C.TRAP_KEY_LAYOUT.dev), (259 << 20) | 3);
  assert.equal(key.readUInt32LE(C.TRAP_KEY_LAYOUT.pad), 0, 'padding is zeroed: the hash compares all 16 bytes');
  assert.deepEqual(C.decodeTrapKey(key), { ino: 0x0102030405060708n, dev: (259 << 20) | 3 });
  const value = C.encodeTrapValue(0xfffffffe, Buffer.alloc(C.TRAP_VALUE_SIZE, 0xff));
  assert.equal(value.readUInt32LE(C.TRAP_VALUE_LAYOUT.flags), 0);
  assert.equal(C.decodeTrapValue(value), 0xfffffffe);
  assert.throws(() => C.encodeTrapKey({ ino: -1n, dev: 0 }, Buffer.alloc(16)), RangeError);
  assert.throws(() => C.encodeTrapKey({ ino: 1n, dev: 2 ** 32 }, Buffer.alloc(16)), RangeError);
  assert.throws(() => C.encodeTrapValue(1.5, Buffer.alloc(8)), RangeError);
});
