import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { ensureVmlinuxHeader, PROGS_DIR, REPO_ROOT, refLoad } from '../../helpers/ref';
import { parseObject, type BpfObject } from '../../../main/object/object';
import { parseBtf } from '../../../main/object/btf/parse';
import { linkProgram, type LinkedProgram } from '../../../main/object/link';
import { kfuncIdsFromBtf, programListing } from '../../../main/object/insn/listing';
import { parseLogInsns } from './kernel-log';
import { withSkipReason } from '../../helpers/support';
import { loadProgram } from '../../../main/kernel/prog-load';
import { closeFd } from '../../../main/kernel/syscall';
import { encodeRaw, type RawInsn } from '../../../main/object/insn/raw';

/**
 * What the example programs do not hold, against the kernel: -mcpu=v4
 * instructions, __kconfig externs (libbpf turns them into loads from the
 * .kconfig map, which the kernel prints as that map value's address), a
 * weak kfunc the kernel lacks (libbpf leaves `call #0`), a bpf_loop callback,
 * a global subprogram, and CO-RE relocations whose local offsets are not the
 * kernel's (`disasm --kernel-btf` applies them). Built from externs.bpf.c
 * with clang-19.
 */

const run = promisify(execFile);
let objPath = '';
let obj: BpfObject;

beforeAll(() => {
  ensureVmlinuxHeader();
  objPath = join(mkdtempSync(join(tmpdir(), 'bpfscope-externs-')), 'externs.bpf.o');
  execFileSync('clang-19', ['-g', '-O2', '-target', 'bpf', '-mcpu=v4', '-Wall', '-Werror', `-I${PROGS_DIR}`, '-c', join(__dirname, 'externs.bpf.c'), '-o', objPath], { stdio: 'pipe' });
  obj = parseObject(new Uint8Array(readFileSync(objPath)), objPath);
});

/**
 * Why this kernel refuses -mcpu=v4 instructions, in its own words, or undefined
 * when it takes them: a sign-extending move (`r0 = (s8)r0`, 6.6+) loaded with
 * bpfscope's loader, the kernel's last log line before the summary as the reason.
 */
function v4Rejection(): string | undefined {
  const insns: RawInsn[] = [
    { idx: 0, code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 },
    { idx: 1, code: 0xbf, dst: 0, src: 0, off: 8, imm: 0 },
    { idx: 2, code: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
  ];
  const r = loadProgram({ name: 'v4probe', progType: 3, insns: encodeRaw(insns), license: 'GPL', logLevel: 1 });
  if (r.fd !== undefined) {
    closeFd(r.fd);
    return undefined;
  }
  const lines = r.log.toString('utf8').split('\n').filter((l) => l && !/^processed \d+ insns/.test(l) && !/^\d+: \(/.test(l));
  return `kernel ${os.release()} refuses r0 = (s8)r0: ${lines.at(-1) ?? r.errnoName}`;
}

/** Each ld_imm64 we print as map[NAME] / map[SECTION]+OFF: the map name and offset. */
function mapRefs(linked: LinkedProgram): Map<number, { map: string; off: number }> {
  const out = new Map<number, { map: string; off: number }>();
  for (const e of programListing(linked)) {
    const m = e.type === 'insn' ? /^(\d+): \(18\) r\d+ = map\[([^\]]+)\](?:\+(\d+))?$/.exec(e.text) : null;
    if (m) out.set(Number(m[1]), { map: m[2], off: Number(m[3] ?? 0) });
  }
  return out;
}

describe('kconfig externs and v4 instructions, from the object alone', () => {
  it('a __kconfig load prints as the .kconfig map value at libbpf\'s offset for it', () => {
    const linked = linkProgram(obj, 'externs');
    const refs = [...mapRefs(linked).values()].filter((r) => r.map === '.kconfig');
    const offsets = new Map(obj.externs.filter((e) => e.kind === 'kconfig').map((e) => [e.name, e.kconfigOffset]));
    // libbpf's order: alignment down, then size up, then name: CONFIG_HZ (8), LINUX_KERNEL_VERSION (4), CONFIG_BPF_SYSCALL (1).
    expect(Object.fromEntries(offsets)).toEqual({ CONFIG_HZ: 0, LINUX_KERNEL_VERSION: 8, CONFIG_BPF_SYSCALL: 12 });
    expect(refs.map((r) => r.off).sort((a, b) => a - b)).toEqual([0, 8, 12]);
    for (const r of linked.relocations) if (r.kind === 'extern' && offsets.has(r.name)) expect(r.kconfigOffset).toBe(offsets.get(r.name));
    expect(programListing(linked).some((e) => e.text.includes('ksym[LINUX_KERNEL_VERSION]'))).toBe(false);
  });
});

describe.skipIf(!!kernelSkipReason())(kernelTitle('kconfig externs, a missing weak kfunc, v4 instructions and CO-RE (disasm --kernel-btf) equal what this kernel prints'), () => {
  let kfuncIds: (name: string) => number | undefined = () => undefined;
  let rqCpuOffset = -1;
  beforeAll(() => {
    const vmlinux = parseBtf(new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux')));
    kfuncIds = kfuncIdsFromBtf(vmlinux);
    const rq = vmlinux.types.find((t) => t.kind === 'STRUCT' && t.name === 'rq');
    const cpu = rq && rq.kind === 'STRUCT' ? rq.members.find((m) => m.name === 'cpu') : undefined;
    rqCpuOffset = cpu ? cpu.bitsOffset / 8 : -1;
  });

  for (const program of ['externs', 'v4_insns', 'core_offsets']) {
    const reason = program === 'v4_insns' && !kernelSkipReason() ? v4Rejection() : undefined;
    it.skipIf(!!reason)(withSkipReason(program, reason), async () => {
      const r = await refLoad(objPath, program, { logLevel: 2 });
      expect(r.verdict).toBe('accepted');
      const linked = linkProgram(obj, program);
      // What `bpfscope disasm --kernel-btf` prints: CO-RE applied against this kernel, as libbpf does.
      const cli = await run(process.execPath, [join(REPO_ROOT, 'main/bin.mjs'), 'disasm', objPath, '-p', program, '--kernel-btf', '/sys/kernel/btf/vmlinux'], { maxBuffer: 16 << 20 });
      const printed = new Map(cli.stdout.split('\n').flatMap((l) => {
        const m = /^(\d+): (.*)$/.exec(l);
        return m ? [[Number(m[1]), m[2]] as const] : [];
      }));
      const log = parseLogInsns(r.log);
      const liveTable = r.log.includes('\nLive regs before insn:\n');
      const refs = mapRefs(linked);
      const ksyms = new Set(linked.relocations.filter((x) => x.kind === 'extern' && x.kconfigOffset === undefined).map((x) => x.insnIdx));
      let compared = 0;
      for (const e of programListing(linked, kfuncIds)) {
        if (e.type !== 'insn') continue;
        const theirs = log.insns.get(e.idx);
        // Kernels without the live-regs table (6.1, 6.12) print only the instructions their walk reached.
        if (!liveTable && theirs === undefined) continue;
        expect(theirs, `instruction ${e.idx} in the kernel's log`).toBeDefined();
        const ours = e.text.slice(e.text.indexOf(' ') + 1);
        // CO-RE'd instructions are the kernel's only after --kernel-btf; the others print the same either way.
        const core = linked.relocations.some((x) => x.kind === 'core' && x.insnIdx === e.idx && x.relo.kind !== 6);
        const shown = printed.get(e.idx);
        expect(shown, `disasm --kernel-btf prints ${e.idx}`).toBeDefined();
        if (!core) expect(shown).toBe(ours);
        // The kernel prints a map's or map value's address where we print its name,
        // and a ksym's resolved value (0 for a weak one it lacks) where we print ksym[NAME].
        const norm = (t: string): string => (refs.has(e.idx) || ksyms.has(e.idx) ? t.replace(/ = .*$/, ' = <ptr>') : t);
        for (const t of theirs!) expect({ idx: e.idx, text: norm(shown!) }).toEqual({ idx: e.idx, text: norm(t) });
        compared++;
      }
      expect(compared).toBe(log.insns.size);
      expect(log.funcStarts).toEqual(linked.functions.map((f) => f.start).sort((a, b) => a - b));
      // The register the load writes is, in the kernel's state after it, that map (value) at that offset:
      // `R1=map_value(map=externs.kconfig,ks=4,vs=13,off=8)`, `R1=map_ptr(map=acc,ks=4,vs=8)`.
      if (program !== 'core_offsets') expect(refs.size).toBeGreaterThan(0);
      for (const [idx, ref] of refs) {
        const line = r.log.split('\n').find((l) => l.startsWith(`${idx}: (18) `) && l.includes(' ; R'));
        expect(line, `state after ${idx}`).toBeDefined();
        const m = /; R\d+(?:_w)?=map_(value|ptr)\(([^)]*)\)/.exec(line!);
        expect(m, line).not.toBeNull();
        const fields = new Map(m![2].split(',').map((kv) => kv.split('=') as [string, string]));
        // Internal maps are named '<object prefix>.<section>' (truncated to 15 characters).
        // A kernel that prints no map= (6.1: `map_value(off=0,ks=4,vs=8,imm=0)`) tells the offset only.
        const kernelName = fields.get('map');
        if (kernelName !== undefined) {
          if (ref.map.startsWith('.')) expect(`${kernelName}`.endsWith(ref.map.slice(0, 15 - kernelName.indexOf('.'))), `${idx}: ${kernelName} vs ${ref.map}`).toBe(true);
          else expect(kernelName).toBe(ref.map);
        } else expect(line).toMatch(/=map_(value|ptr)\(off=/);
        expect({ idx, off: Number(fields.get('off') ?? 0) }).toEqual({ idx, off: ref.off });
      }
      if (program === 'core_offsets') {
        // From the object alone the listing keeps clang's local offsets, which are not this kernel's.
        expect(log.insns.get(0)).toEqual(new Set([`(b7) r1 = ${rqCpuOffset}`]));
        expect(programListing(linked).find((e) => e.type === 'insn' && e.idx === 0)?.text).toBe('0: (b7) r1 = 4');
      }
      if (program === 'externs') {
        expect([...refs.values()].filter((x) => x.map === '.kconfig')).toHaveLength(3);
        expect(programListing(linked, kfuncIds).some((e) => e.text.endsWith('(85) call #0'))).toBe(true);
      }
    });
  }
});
