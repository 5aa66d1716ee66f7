import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { refloadPath } from '../../helpers/ref';
import { createTrace } from '../../../main/trace/db';
import { recordObject } from '../../../main/kernel/record';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const PROGS = path.join(REPO, 'resources/progs');

/** Every example object helper C builds (resources/progs/*.bpf.o). */
export function exampleObjects(): string[] {
  return readdirSync(PROGS)
    .filter((f) => f.endsWith('.bpf.o'))
    .sort()
    .map((f) => path.join(PROGS, f));
}

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Compile a small C file for BPF with clang-19 -g (cases the examples do not
 * cover: bit-fields, unions, arrays of kptrs, nested special fields).
 */
export function compileBpf(name: string, source: string, debugInfo = true): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-obj-'));
  const c = path.join(dir, `${name}.bpf.c`);
  const o = path.join(dir, `${name}.bpf.o`);
  writeFileSync(c, source);
  sh('clang-19', [...(debugInfo ? ['-g'] : []), '-O2', '-target', 'bpf', '-c', c, '-o', o]);
  return o;
}

/** A C prelude with the special-field structs shaped as in vmlinux.h, and the tag macros. */
export const PRELUDE = `
typedef unsigned int __u32;
typedef unsigned long long __u64;
struct bpf_spin_lock { __u32 val; };
struct bpf_res_spin_lock { __u32 val; __u32 pad; } __attribute__((aligned(8)));
struct bpf_timer { __u64 __opaque[2]; } __attribute__((aligned(8)));
struct bpf_wq { __u64 __opaque[2]; } __attribute__((aligned(8)));
struct bpf_list_head { __u64 __opaque[2]; } __attribute__((aligned(8)));
struct bpf_list_node { __u64 __opaque[3]; } __attribute__((aligned(8)));
struct bpf_rb_root { __u64 __opaque[2]; } __attribute__((aligned(8)));
struct bpf_rb_node { __u64 __opaque[4]; } __attribute__((aligned(8)));
struct bpf_refcount { __u32 __opaque[1]; } __attribute__((aligned(4)));
#define SEC(n) __attribute__((section(n), used))
#define __kptr __attribute__((btf_type_tag("kptr")))
#define __percpu_kptr __attribute__((btf_type_tag("percpu_kptr")))
#define __kptr_untrusted __attribute__((btf_type_tag("kptr_untrusted")))
#define __contains(name, node) __attribute__((btf_decl_tag("contains:" #name ":" #node)))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]
char _license[] SEC("license") = "GPL";
`;

/** A struct-rich object: bit-fields, unions, anonymous members, arrays, function pointers, specials. */
export const SHAPES_C = `${PRELUDE}
struct elem { int key; struct bpf_list_node node; struct bpf_refcount rc; char c; unsigned f:3, g:5; long long x; };
struct tnode { struct bpf_rb_node rb; long k; };
struct inner { struct bpf_spin_lock lock; struct bpf_list_head head __contains(elem, node); };
struct val {
  struct bpf_spin_lock lock;
  struct bpf_list_head head __contains(elem, node);
  struct elem __kptr *stash;
  struct elem __kptr *slots[2];
  struct tnode __percpu_kptr *pc;
  struct tnode __kptr_untrusted *weak;
  struct bpf_rb_root root __contains(tnode, rb);
  struct bpf_timer timer;
  struct inner nested;
};
struct bits { char a; int b:4; int c:20; short d; unsigned long long e:33, f:31; char tail; };
struct packed { char a; int b; } __attribute__((packed));
union u { int i; char c[7]; struct { short lo, hi; } parts; };
struct anon { int kind; union { int i; long l; }; struct { char x, y; } pt; void (*fn)(int, void *); const char *name; char buf[3][5]; };
struct { __uint(type, 2); __uint(max_entries, 2); __type(key, int); __type(value, struct val); } vals SEC(".maps");
struct { __uint(type, 1); __uint(max_entries, 8); __type(key, struct bits); __type(value, union u); __uint(map_flags, 1); } shapes SEC(".maps");
struct inner_map { __uint(type, 2); __uint(max_entries, 1); __type(key, int); __type(value, long); } inner1 SEC(".maps"), inner2 SEC(".maps");
struct { __uint(type, 12); __uint(max_entries, 4); __type(key, int); __array(values, struct inner_map); } outer SEC(".maps") = { .values = { [1] = &inner1, [3] = &inner2 } };
struct { __uint(type, 30); __uint(max_entries, 64); __type(value, int); __uint(map_extra, 3); __uint(pinning, 1); __uint(numa_node, 0); __uint(map_flags, 4); } bloom SEC(".maps");
struct anon anon_g; struct packed packed_g;
SEC("tc") int shapes_prog(void *ctx) { return anon_g.kind + packed_g.b; }
SEC("?xdp") int shapes_optional(void *ctx) { return 2; }
`;

/** Globals and two program types, compiled without -g: no .BTF, no .BTF.ext. */
export const NO_BTF_C = `
#define SEC(n) __attribute__((section(n), used))
int counter = 7;
static int hidden = 3;
const volatile long limit = 100;
char buf[16];
SEC("xdp") int nobtf_xdp(void *ctx) { return counter + hidden + limit + buf[3]; }
SEC("socket") int nobtf_sock(void *ctx) { counter++; return 0; }
char _license[] SEC("license") = "GPL";
`;

/**
 * What libbpf 1.1 and bpfscope's loader do with a program of an object whose
 * strong kfunc externs the running kernel lacks (missingKfuncs): both refuse
 * it before the kernel sees it, verdict rejected, errno EINVAL, no verifier
 * log; libbpf's warning names the first kfunc it could not find, bpfscope's
 * error names every one. For kernels that cannot load an example object:
 * the refusal is the kernel-backed result there, compared on both sides.
 */
export async function expectRefusedForMissingKfuncs(objectPath: string, program: string, missing: string[]): Promise<void> {
  expect(missing.length).toBeGreaterThan(0);
  const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-refused-'));
  try {
    const json = path.join(work, 'result.json');
    const r = spawnSync(await refloadPath(), [objectPath, '-p', program, '--log-level', '2', '--log-out', path.join(work, 'log'), '--json-out', json], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const ref = JSON.parse(readFileSync(json, 'utf8')) as { verdict: string; errno: number; log_size: number };
    expect({ verdict: ref.verdict, errno: ref.errno, logSize: ref.log_size }).toEqual({ verdict: 'rejected', errno: 22, logSize: 0 });
    const named = /extern \(func ksym\) '(\w+)': not found in kernel or module BTFs/.exec(r.stderr);
    expect(named, r.stderr).not.toBeNull();
    expect(missing).toContain(named![1]);

    const db = createTrace(path.join(work, 'refused.trace'));
    try {
      const [o] = await recordObject(db, objectPath, { programs: [program], logLevel: 2 });
      expect({ verdict: o.verdict, errno: o.errno, logBytes: o.logBytes }).toEqual({ verdict: 'rejected', errno: 22, logBytes: 0 });
      for (const name of missing) expect(o.error).toContain(`'${name}'`);
    } finally {
      db.close();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
