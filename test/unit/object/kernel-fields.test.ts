import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { kernelBtfFuncs, objectUnsupported, withSkipReason } from '../../helpers/support';
import { vmlinuxBtf } from '../../../main/kernel/vmlinux';
import { parseObject } from '../../../main/object/object';
import { objNewZeroedRanges, specialFields, structLayout, type SpecialKind } from '../../../main/object/layout';
import { compileBpf, exampleObjects, PRELUDE, sh } from './helpers';

const here = path.dirname(new URL(import.meta.url).pathname);

function prober(): string {
  const src = path.join(here, 'kernel-fields.c');
  const dir = path.join(os.tmpdir(), 'bpfscope-kernel-fields');
  const bin = path.join(dir, `kernel-fields-${readFileSync(src).length}`);
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    execFileSync('gcc', ['-O1', '-o', bin, src, '-lbpf']);
  }
  return bin;
}

/** btf_field_type_name(): what the verifier calls each kind in its messages. */
function kernelName(kind: SpecialKind): string {
  return kind === 'kptr_untrusted' ? 'kptr' : kind;
}

// Fields a map value may hold together (one lock, list/rbtree heads with their
// contains: tags, kptrs in an array and in a nested struct, a timer).
const FIELDS_C = `${PRELUDE}
struct elem { long key; struct bpf_list_node node; };
struct tnode { struct bpf_rb_node rb; long k; };
struct kinner { int pad; struct elem __kptr *in; };
struct val {
  char a;
  struct bpf_spin_lock lock;
  int b;
  struct bpf_list_head head __contains(elem, node);
  struct elem __kptr *stash;
  struct tnode __kptr_untrusted *weak;
  struct elem __kptr *slots[2];
  struct bpf_rb_root root __contains(tnode, rb);
  short c;
  struct bpf_timer timer;
  struct kinner nested;
  struct kinner many[2];
  char tail[3];
};
struct { __uint(type, 2); __uint(max_entries, 1); __type(key, int); __type(value, struct val); } vals SEC(".maps");
// contains: and kptrs name local types the kernel must find defined in the BTF.
struct elem elem_g; struct tnode tnode_g;
SEC("tc") int unused(void *ctx) { return 0; }
`;

// The fields every kernel of the matrix knows (6.1 has locks, timers and kptrs
// to kernel types only): the comparison that runs wherever the rest cannot.
const BASIC_C = `${PRELUDE}
struct basic { char a; struct bpf_spin_lock lock; int b; struct bpf_timer timer; char tail[3]; };
struct { __uint(type, 2); __uint(max_entries, 1); __type(key, int); __type(value, struct basic); } basics SEC(".maps");
SEC("tc") int unused(void *ctx) { return 0; }
`;

/**
 * Why the running kernel's btf_record cannot hold this value's special
 * fields, or undefined: a special struct its BTF does not define (6.1 has no
 * bpf_list_head, bpf_rb_root, bpf_refcount...), or a kptr to one of the
 * object's own types, which only a kernel with bpf_obj_new_impl allocates
 * (6.1 drops the whole kptr table of such a value and keeps no kptr field).
 */
function fieldsUnsupported(file: string, mapName: string): string | undefined {
  const obj = parseObject(new Uint8Array(readFileSync(file)), file);
  const map = obj.maps.find((m) => m.name === mapName)!;
  const fields = specialFields(structLayout(obj.btf!, map.valueTypeId!)).map((f) => f.field);
  const structs = kernelBtfStructs();
  const missing = [...new Set(fields.map((f) => f.kind).filter((k) => k.startsWith('bpf_') && !structs.has(k)))].sort();
  const kptrs = [...new Set(fields.filter((f) => f.pointee !== undefined && !structs.has(f.pointee)).map((f) => f.kind))].sort();
  const why: string[] = [];
  if (missing.length) why.push(`no struct ${missing.join(', ')} in its BTF`);
  if (kptrs.length && !kernelBtfFuncs().has('bpf_obj_new_impl')) why.push(`no bpf_obj_new_impl for ${kptrs.join(', ')} fields to local types`);
  return why.length ? `kernel ${os.release()} has ${why.join(' and ')}` : undefined;
}

let structNames: Set<string> | undefined;
/** Names of every STRUCT in the running kernel's vmlinux BTF. */
function kernelBtfStructs(): Set<string> {
  if (structNames) return structNames;
  const btf = vmlinuxBtf();
  return (structNames = new Set(btf.types.filter((t) => t.kind === 'STRUCT' && t.name).map((t) => t.name)));
}

describe.skipIf(!!kernelSkipReason())(kernelTitle('special fields equal the kernel\'s btf_record'), () => {
  const objects: [string, string][] = [[compileBpf('basic', BASIC_C), 'basics'], [compileBpf('fields', FIELDS_C), 'vals']];
  for (const f of exampleObjects()) {
    const obj = parseObject(new Uint8Array(readFileSync(f)), f);
    for (const m of obj.maps) {
      // Only array maps of structs with special fields: the probe looks up key 0.
      if (m.type !== 2 || m.valueTypeId === undefined) continue;
      const t = obj.btf!.types[m.valueTypeId];
      if (t.kind === 'STRUCT' && objNewZeroedRanges(structLayout(obj.btf!, t.id)).length) objects.push([f, m.name]);
    }
  }

  for (const [file, mapName] of objects) {
    const reason = kernelSkipReason() ? undefined : (objectUnsupported(file) ?? fieldsUnsupported(file, mapName));
    it.skipIf(!!reason)(withSkipReason(`${path.basename(file)} map ${mapName}: a byte store is refused exactly inside our special fields`, reason), () => {
      const obj = parseObject(new Uint8Array(readFileSync(file)), file);
      const map = obj.maps.find((m) => m.name === mapName)!;
      const layout = structLayout(obj.btf!, map.valueTypeId!);
      const ranges = objNewZeroedRanges(layout);
      expect(ranges.length).toBeGreaterThan(0);
      const ours: string[] = [];
      for (let off = 0; off < map.valueSize; off++) {
        const r = ranges.find((x) => off >= x.offset && off < x.offset + x.size);
        ours.push(r ? kernelName(r.kind) : 'ok');
      }
      const theirs = sh(prober(), [file, mapName])
        .trim()
        .split('\n')
        .map((line) => {
          const [, verdict, reason] = line.split('\t');
          if (verdict === 'ok') return 'ok';
          // "bpf_list_head cannot be accessed directly by load/store", "kptr access size must be BPF_DW"
          return /^(\w+) (cannot be accessed|access)/.exec(reason ?? '')?.[1] ?? `? ${reason}`;
        });
      expect(theirs.length).toBe(map.valueSize);
      // 6.12 says "kptr access size must be BPF_DW" for every kind of kptr (6.18 names
      // percpu_kptr): there the kernel's word is kptr, and ours must be one of the kptr kinds.
      const kptrKinds = ['kptr', 'kptr_untrusted', 'percpu_kptr', 'uptr'].map((k) => kernelName(k as SpecialKind));
      const seen = ours.map((o, i) => (theirs[i] === 'kptr' && kptrKinds.includes(o) ? 'kptr' : o));
      expect(seen).toEqual(theirs);
    });
  }
});
