// The "alignchecker": the TypeScript decoder's offsets and sizes against the BTF that
// clang wrote into each compiled object (parsed by libbpf), so bpf/kive.h and
// src/kernel/event.ts cannot drift apart silently. Needs build/bpf/*.bpf.o (make bpf);
// no root needed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { objectFile, BACKEND_PREFERENCE } from '../../src/kernel/backends/index.ts';
import { ARGS_LEN, COMM_LEN, EVENT_CTX_LAYOUT, EVENT_CTX_SIZE, EVENT_LAYOUT, EVENT_SIZE, OPS, PATH_LEN } from '../../src/kernel/event.ts';
import { bpf, btfEnumValues, btfMembers, btfType, BTF_KIND_ENUM, BTF_KIND_STRUCT, type Ptr } from '../../src/kernel/libbpf.ts';
import { defaultObjectDir } from '../../src/kernel/monitor.ts';

function struct(btf: Ptr, name: string): { size: number; members: Map<string, number> } {
  const id = bpf.btfFindByNameKind(btf, name, BTF_KIND_STRUCT);
  assert.ok(id > 0, `struct ${name} is in the object's BTF`);
  const t = btfType(btf, id)!;
  return { size: t.sizeOrType, members: new Map(btfMembers(btf, t).map((m) => [m.name, m.bitOffset / 8] as const)) };
}

function enumValues(btf: Ptr, name: string): Map<string, number> {
  const id = bpf.btfFindByNameKind(btf, name, BTF_KIND_ENUM);
  assert.ok(id > 0, `enum ${name} is in the object's BTF`);
  return new Map(btfEnumValues(btf, btfType(btf, id)!).map((v) => [v.name, v.value] as const));
}

for (const backend of BACKEND_PREFERENCE) {
  const path = join(defaultObjectDir(), objectFile(backend));
  test(`${objectFile(backend)} matches the TypeScript decoder`, () => {
    assert.ok(existsSync(path), `${path} exists (run make bpf)`);
    const btf = bpf.btfParse(path, null);
    assert.ok(btf !== null, `libbpf parses the BTF of ${path}`);
    try {
      const ev = struct(btf, 'kive_event');
      assert.equal(ev.size, EVENT_SIZE);
      assert.deepEqual(Object.fromEntries(ev.members), EVENT_LAYOUT);

      const ctx = struct(btf, 'kive_event_ctx');
      assert.equal(ctx.size, EVENT_CTX_SIZE);
      assert.deepEqual(Object.fromEntries(ctx.members), EVENT_CTX_LAYOUT);
      assert.equal(EVENT_CTX_LAYOUT.exe - EVENT_CTX_LAYOUT.args, ARGS_LEN);
      assert.equal(EVENT_CTX_LAYOUT.cwd - EVENT_CTX_LAYOUT.exe, PATH_LEN);
      assert.equal(EVENT_SIZE - EVENT_LAYOUT.comm, COMM_LEN);

      // The map key/value the monitor encodes by hand (monitor.ts setTrap).
      const key = struct(btf, 'kive_trap_key');
      assert.equal(key.size, 16);
      assert.deepEqual(Object.fromEntries(key.members), { ino: 0, dev: 8, pad: 12 });
      const value = struct(btf, 'kive_trap_value');
      assert.equal(value.size, 8);
      assert.deepEqual(Object.fromEntries(value.members), { trap_id: 0, flags: 4 });

      const ops = enumValues(btf, 'kive_op');
      assert.deepEqual(
        Object.fromEntries([...ops].map(([n, v]) => [v, n.replace('KIVE_OP_', '').toLowerCase()])),
        OPS,
      );
      const counters = enumValues(btf, 'kive_counter');
      assert.equal(counters.get('KIVE_CNT_EMITTED'), 0);
      assert.equal(counters.get('KIVE_CNT_DROPPED'), 1);
    } finally {
      bpf.btfFree(btf);
    }
  });
}
