import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROGS_DIR, REPO_ROOT } from '../../helpers/ref';
import { kernelFixtureDirs, readKernelFixtureIndex } from '../../ref/capture-logs';
import { parseObject } from '../../../main/object/object';
import { linkProgram } from '../../../main/object/link';
import { programListing } from '../../../main/object/insn/listing';

const run = promisify(execFile);

async function disasm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [join(REPO_ROOT, 'main/bin.mjs'), 'disasm', ...args], { cwd: REPO_ROOT });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('bpfscope disasm', () => {
  const objPath = join(PROGS_DIR, 'subprog.bpf.o');

  it('prints the linked listing of one program, source lines included', async () => {
    const r = await disasm(objPath, '-p', 'subprog_alloc');
    expect(r.code).toBe(0);
    const obj = parseObject(new Uint8Array(readFileSync(objPath)), objPath);
    const expected = programListing(linkProgram(obj, 'subprog_alloc')).map((e) => e.text);
    expect(r.stdout.trimEnd().split('\n')).toEqual(expected);
    expect(expected.some((l) => /^; .* @ subprog\.bpf\.c:\d+$/.test(l))).toBe(true);
    expect(expected).toContain('7: (85) call bpf_obj_new_impl');
  });

  it.skipIf(!existsSync('/sys/kernel/btf/vmlinux'))('--kernel-btf prints kfunc ids; --json carries every line and the relocations', async () => {
    const r = await disasm(objPath, '-p', 'subprog_alloc', '--kernel-btf', '/sys/kernel/btf/vmlinux', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as {
      programs: { name: string; functions: { name: string; start: number }[]; lines: { type: string; text: string }[]; relocations: { kind: string; insnIdx: number }[] }[];
    };
    expect(j.programs.map((p) => p.name)).toEqual(['subprog_alloc']);
    expect(j.programs[0].functions.map((f) => f.name)).toEqual(['subprog_alloc', 'alloc_sum']);
    expect(j.programs[0].lines.find((l) => l.text.startsWith('7: '))?.text).toMatch(/^7: \(85\) call bpf_obj_new_impl#\d+$/);
    expect(j.programs[0].relocations.filter((x) => x.kind === 'kfunc').map((x) => x.insnIdx)).toEqual([7, 16]);
  });

  // The kernels' own logs (captured on 6.1 and 6.12 in VMs) are the reference for how each prints
  // line_info: every source line a log prints before an instruction is the listing's line there.
  for (const dir of kernelFixtureDirs()) {
    const index = readKernelFixtureIndex(dir);
    const entry = index.programs.find((p) => p.object === 'compute.bpf.o' && p.program === 'parse_udp' && p.log);
    it.skipIf(!entry)(`--kernel-release ${index.release} prints source lines as that kernel's log does`, async () => {
      const log = readFileSync(join(dir, entry!.log), 'utf8').split('\n');
      const pairs = new Set<string>();
      for (let i = 0; i + 1 < log.length; i++) {
        const idx = /^(\d+): \(/.exec(log[i + 1]);
        if (log[i].startsWith('; ') && idx) pairs.add(`${idx[1]} ${log[i]}`);
      }
      expect(pairs.size).toBeGreaterThan(3);
      const r = await disasm(join(PROGS_DIR, 'compute.bpf.o'), '-p', 'parse_udp', '--kernel-release', index.release);
      expect(r.code).toBe(0);
      const out = r.stdout.trimEnd().split('\n');
      const ours = new Set<string>();
      for (let i = 0; i + 1 < out.length; i++) {
        const idx = /^(\d+): \(/.exec(out[i + 1]);
        if (out[i].startsWith('; ') && idx) ours.add(`${idx[1]} ${out[i]}`);
      }
      for (const p of pairs) expect(ours, p).toContain(p);
    });
  }

  it("--kernel-release refuses what is not a release, in one line", async () => {
    const r = await disasm(objPath, '--kernel-release', 'latest');
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/--kernel-release takes a release such as/)]);
  });

  it('lists every program of the object without -p', async () => {
    const r = await disasm(objPath);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter((l) => /^\w+ \(\S+\):$/.test(l))).toEqual(['subprog_calls (tc):', 'subprog_alloc (tc):']);
  });

  it('usage names --kernel-btf with the FILE it requires', async () => {
    const r = await run(process.execPath, [join(REPO_ROOT, 'main/bin.mjs'), 'help', 'disasm'], { cwd: REPO_ROOT });
    const text = r.stdout + r.stderr;
    expect(text).toContain('[--kernel-btf FILE]');
    expect(text).not.toContain('[FILE]]');
    const bare = await disasm(objPath, '--kernel-btf');
    expect(bare.code).toBe(1);
    expect(bare.stderr).toMatch(/--kernel-btf needs a value/);
  });

  it('bad input: one line naming the file, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfscope-disasm-'));
    const truncated = join(dir, 'truncated.o');
    writeFileSync(truncated, readFileSync(objPath).subarray(0, 100));
    for (const [args, pattern] of [
      [[join(dir, 'missing.o')], /missing\.o: no such file/],
      [[truncated], /truncated\.o: /],
      [['/etc/hostname'], /\/etc\/hostname: at offset 0x0: /],
      [[objPath, '-p', 'nope'], /subprog\.bpf\.o: no program 'nope'/],
      // --kernel-btf wants raw BTF: an object there is named, not a bare offset.
      [[objPath, '--kernel-btf', objPath], /^bpfscope disasm: \S*subprog\.bpf\.o: at offset 0x0: BTF: bad magic/],
      [[objPath, '--kernel-btf', join(dir, 'nobtf')], /nobtf: no such file/],
    ] as const) {
      const r = await disasm(...args);
      expect(r.code).toBe(1);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    }
  });
});
