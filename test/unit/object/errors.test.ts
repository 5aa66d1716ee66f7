import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BpfscopeError } from '../../../main/errors';
import { parseObject } from '../../../main/object/object';
import { parseElf } from '../../../main/object/elf';
import { parseBtf } from '../../../main/object/btf/parse';
import { parseBtfExt } from '../../../main/object/btf-ext';
import { dumpBtf } from '../../../main/object/btf/dump';
import { formatLayout, structLayout } from '../../../main/object/layout';
import { alignOf } from '../../../main/object/btf/lookup';
import { cdecl } from '../../../main/object/btf/cdecl';
import { REPO, PROGS } from './helpers';
import { onlyBpfscopeErrors, rng } from '../../helpers/fuzz';

const LIST = path.join(PROGS, 'list.bpf.o');
const listBytes = new Uint8Array(readFileSync(LIST));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-bad-'));

function errorOf(fn: () => unknown): BpfscopeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BpfscopeError);
    return err as BpfscopeError;
  }
  throw new Error('expected a BpfscopeError');
}

describe('bad objects give one clear line naming the file and offset', () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty.o', new Uint8Array(0), /empty\.o: at offset 0x0: empty file/],
    ['text.o', new TextEncoder().encode('hello, not an object\n'), /not an ELF file/],
    ['true', new Uint8Array(readFileSync('/bin/true')), /true: at offset 0x12: not a BPF object \(machine x86-64\)/],
    ['head.o', listBytes.subarray(0, 40), /truncated ELF header/],
    ['trunc.o', listBytes.subarray(0, listBytes.length - 100), /runs past the end/],
  ];
  for (const [name, bytes, re] of cases) {
    it(name, () => {
      const e = errorOf(() => parseObject(bytes, name));
      expect(e.describe()).toMatch(re);
      expect(e.describe()).not.toMatch(/\n/);
      expect(e.file).toBe(name);
    });
  }

  it('the CLI prints the line to stderr, no stack trace, exit 1', () => {
    const bad = path.join(tmp, 'trunc.o');
    writeFileSync(bad, listBytes.subarray(0, 3000));
    for (const [args, re] of [
      [['inspect', '/bin/true'], /^bpfscope inspect: \/bin\/true: at offset 0x12: not a BPF object \(machine x86-64\)\n$/],
      [['layout', bad, 'elem'], /^bpfscope layout: .*trunc\.o: at offset 0x[0-9a-f]+: .*\n$/],
      [['inspect', path.join(tmp, 'missing.o')], /missing\.o: no such file\n$/],
      [['layout', LIST, 'no_such_struct'], /list\.bpf\.o: no struct or union named 'no_such_struct'/],
      [['layout', LIST, 'holder', '--json', '--plain'], /^bpfscope layout: --json and --plain are alternatives: give one\n$/],
      [['inspect', LIST, '--btf', '--json'], /^bpfscope inspect: --btf prints bpftool's text format; --json does not apply to it\n$/],
    ] as [string[], RegExp][]) {
      const r = spawnSync('node', [path.join(REPO, 'main/bin.mjs'), ...args], { encoding: 'utf8' });
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stderr.split('\n').length).toBe(2);
      expect(r.stdout).toBe('');
    }
  });

  it('the CLI works on a good object (inspect, --json, --btf, layout)', () => {
    const cli = (...a: string[]): string => execFileSync('node', [path.join(REPO, 'main/bin.mjs'), ...a], { encoding: 'utf8' });
    const text = cli('inspect', LIST);
    expect(text).toMatch(/list_push\s+tc\s+sched_cls\s+\d+ insns/);
    const json = JSON.parse(cli('inspect', LIST, '--json'));
    expect(json.maps[0]).toMatchObject({ name: 'holders', type: 'array' });
    expect(cli('inspect', LIST, '--btf')).toBe(execFileSync('bpftool', ['btf', 'dump', 'file', LIST], { encoding: 'utf8' }));
    const layout = JSON.parse(cli('layout', LIST, 'holder', '--json'));
    expect(layout.members.find((m: { name: string }) => m.name === 'head').special).toBe('bpf_list_head contains elem.node');
    expect(cli('layout', LIST, 'struct holder')).toMatch(/bpf_list_head contains elem\.node/);
  });

  it('layout says so when several structs share the name, and #ID picks one', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-dup-'));
    const obj = path.join(dir, 'dup.bpf.o');
    // Two translation units' worth of 'struct console' in one BTF, as vmlinux has.
    const c = path.join(dir, 'dup.bpf.c');
    writeFileSync(c, `#define SEC(n) __attribute__((section(n), used))
struct console { int a; } g1;
SEC("tc") int dup(void *ctx) { static struct console { long b, c; } g2; g2.c += g1.a; return g2.c; }
char _license[] SEC("license") = "GPL";
`);
    execFileSync('clang-19', ['-g', '-O2', '-target', 'bpf', '-c', c, '-o', obj]);
    const ids = execFileSync('bpftool', ['btf', 'dump', 'file', obj], { encoding: 'utf8' }).match(/^\[(\d+)\] STRUCT 'console'/gm)!.map((l) => /\d+/.exec(l)![0]);
    expect(ids).toHaveLength(2);
    const r = spawnSync('node', [path.join(REPO, 'main/bin.mjs'), 'layout', obj, 'console', '--plain'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(`bpfscope layout: ${obj}: 2 types match 'console' ([${ids[0]}], [${ids[1]}]); showing [${ids[0]}], choose one with '#ID'\n`);
    const both = ids.map((id) => spawnSync('node', [path.join(REPO, 'main/bin.mjs'), 'layout', obj, `#${id}`, '--plain'], { encoding: 'utf8' }));
    expect(both.map((x) => x.stderr)).toEqual(['', '']);
    expect(both.map((x) => /size: (\d+)/.exec(x.stdout)?.[1]).sort()).toEqual(['16', '4']);
    expect(r.stdout).toBe(both[0].stdout);
  });
});

/** Raw BTF from (name, info, size/type, extra u32s) records; strings '\0s\0int\0'. */
function rawBtf(types: number[][]): Uint8Array {
  const strs = new TextEncoder().encode('\0s\0int\0');
  const words = types.flat();
  const b = new Uint8Array(24 + words.length * 4 + strs.length);
  const v = new DataView(b.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 24, true);
  v.setUint32(8, 0, true);
  v.setUint32(12, words.length * 4, true);
  v.setUint32(16, words.length * 4, true);
  v.setUint32(20, strs.length, true);
  words.forEach((w, i) => v.setUint32(24 + i * 4, w >>> 0, true));
  b.set(strs, 24 + words.length * 4);
  return b;
}

describe('corrupt BTF that a compiler never writes', () => {
  // [1] INT 'int' size 4; [2] STRUCT 's' size 8 whose members are of type [2] itself.
  const selfNested = rawBtf([
    [3, 0x01000000, 4, 32],
    [1, 0x04000000 | 20, 8, ...Array.from({ length: 20 }, () => [1, 2, 0]).flat()],
  ]);
  it('a struct that contains itself is an error, not a hang', () => {
    const btf = parseBtf(selfNested);
    expect(errorOf(() => structLayout(btf, 2)).message).toMatch(/contains itself/);
    expect(errorOf(() => alignOf(btf, 2)).message).toMatch(/contains itself/);
    expect(cdecl(btf, 2, 'x')).toBe('struct s x');
  });
  it('a function prototype that takes a pointer to itself prints, not overflows the stack', () => {
    // [1] INT; [2] FUNC_PROTO returning int with one param of type [3]; [3] PTR -> [2]
    const btf = parseBtf(rawBtf([[3, 0x01000000, 4, 32], [0, 0x0d000003, 1, 0, 3, 0, 3, 0, 3], [0, 0x02000000, 2]]));
    expect(cdecl(btf, 3, 'f')).toMatch(/loop/);
  });
  it('a reference to a type that does not exist names the type', () => {
    const e = errorOf(() => parseBtf(rawBtf([[3, 0x02000000, 7]])));
    expect(e.describe()).toMatch(/type \[1\] PTR refers to type 7/);
  });
});

/** Flip bytes, write interesting values over u32 fields, cut the tail. */
function mutate(src: Uint8Array, next: () => number, hot?: [number, number]): Uint8Array {
  const b = new Uint8Array(src);
  const n = 1 + (next() % 8);
  const [lo, hi] = hot ?? [0, b.length];
  const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];
  for (let i = 0; i < n; i++) {
    const at = lo + (next() % Math.max(1, hi - lo));
    switch (next() % 4) {
      case 0:
        b[at] = next() & 0xff;
        break;
      case 1:
        b[at] ^= 1 << next() % 8;
        break;
      case 2: {
        const v = INTERESTING[next() % INTERESTING.length];
        const p = at & ~3;
        for (let k = 0; k < 4 && p + k < b.length; k++) b[p + k] = (v >>> (8 * k)) & 0xff;
        break;
      }
      default:
        break;
    }
  }
  return next() % 10 === 0 ? b.subarray(0, next() % (b.length + 1)) : b;
}

describe('fuzz: 10,000 mutated inputs per parser, nothing but BpfscopeError', () => {
  const elf = parseElf(listBytes);
  const btfSec = elf.sections.find((s) => s.name === '.BTF')!;
  const extSec = elf.sections.find((s) => s.name === '.BTF.ext')!;
  const btfBytes = btfSec.data;
  const extBytes = extSec.data;
  const btf = parseBtf(btfBytes);
  const N = 10_000;

  it('ELF (whole object through parseObject)', () => {
    const next = rng(0xe1f);
    let ok = 0;
    for (let i = 0; i < N; i++) {
      // Half the mutations hit the headers and tables, where offsets live.
      const hot: [number, number] | undefined = i % 2 ? [0, 64] : i % 4 === 0 ? [elf.sections[0] ? listBytes.length - elf.sections.length * 64 : 0, listBytes.length] : undefined;
      const input = mutate(listBytes, next, hot);
      if (onlyBpfscopeErrors('elf', i, () => parseObject(input, 'fuzz.o'))) ok++;
    }
    expect(ok).toBeGreaterThan(0);
    expect(ok).toBeLessThan(N);
  });

  it('BTF (parse, then dump, lay out and declare every type)', () => {
    const next = rng(0xb7f);
    let ok = 0;
    for (let i = 0; i < N; i++) {
      const input = mutate(btfBytes, next, i % 2 ? [0, 24] : undefined);
      if (
        onlyBpfscopeErrors('btf', i, () => {
          const b = parseBtf(input);
          dumpBtf(b);
          for (const t of b.types) {
            cdecl(b, t.id, 'x');
            if (t.kind === 'STRUCT' || t.kind === 'UNION') formatLayout(structLayout(b, t.id));
          }
        })
      )
        ok++;
    }
    expect(ok).toBeGreaterThan(0);
    expect(ok).toBeLessThan(N);
  });

  it('BTF.ext', () => {
    const next = rng(0xe7);
    let ok = 0;
    for (let i = 0; i < N; i++) {
      const input = mutate(extBytes, next, i % 2 ? [0, 32] : undefined);
      if (onlyBpfscopeErrors('btf.ext', i, () => parseBtfExt(input, btf))) ok++;
    }
    expect(ok).toBeGreaterThan(0);
    expect(ok).toBeLessThan(N);
  });
});
