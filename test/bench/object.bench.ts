import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseBtf } from '../../main/object/btf/parse';
import { parseObject } from '../../main/object/object';
import { structLayout } from '../../main/object/layout';
import { bestOf } from './object-timing';

export const title = 'object model: vmlinux BTF, every struct layout, example objects';

/**
 * Parses /sys/kernel/btf/vmlinux (about 6 MB, 150k types on 6.18) and lays
 * out every struct and union in it. Target from the issue: the BTF parse in
 * well under a second (we hold it to 500 ms of CPU time). Reference, same run:
 * `bpftool btf dump file /sys/kernel/btf/vmlinux` (libbpf's C parser plus
 * printing, process start included) and `pahole -F btf` over the same file.
 * Also parses every example object (ELF, BTF, BTF.ext, maps, relocations).
 */
export async function run(): Promise<void> {
  const vmlinux = '/sys/kernel/btf/vmlinux';
  const bytes = new Uint8Array(readFileSync(vmlinux));
  let types = 0;
  // CPU time as well as wall time: the machine is shared, and wall time under
  // load says more about the neighbours than about the parser.
  let parseCpuMs = Infinity;
  const parseMs = bestOf(() => {
    const c0 = process.cpuUsage();
    types = parseBtf(bytes).types.length - 1;
    const c = process.cpuUsage(c0);
    parseCpuMs = Math.min(parseCpuMs, (c.user + c.system) / 1000);
  }, 5);
  process.stdout.write(`   bpfscope parseBtf(vmlinux): ${(bytes.length / 1e6).toFixed(1)} MB, ${types.toLocaleString('en')} types in ${parseMs.toFixed(0)} ms (${parseCpuMs.toFixed(0)} ms CPU)\n`);

  const btf = parseBtf(bytes);
  let structs = 0;
  const layoutMs = bestOf(() => {
    structs = 0;
    for (const t of btf.types) {
      if (t.kind === 'STRUCT' || t.kind === 'UNION') {
        structLayout(btf, t.id, 15); // depth 15: top level only, no nested layouts
        structs++;
      }
    }
  }, 1);
  process.stdout.write(`   bpfscope structLayout over every struct/union: ${structs.toLocaleString('en')} in ${layoutMs.toFixed(0)} ms\n`);

  const refMs = bestOf(() => {
    execFileSync('bpftool', ['btf', 'dump', 'file', vmlinux], { maxBuffer: 1 << 28, stdio: ['ignore', 'ignore', 'ignore'] });
  });
  process.stdout.write(`   reference bpftool btf dump file vmlinux: ${refMs.toFixed(0)} ms (parse and print, process start included)\n`);
  const paholeMs = bestOf(() => {
    execFileSync('pahole', ['-F', 'btf', vmlinux], { maxBuffer: 1 << 28, stdio: ['ignore', 'ignore', 'ignore'] });
  }, 1);
  process.stdout.write(`   reference pahole -F btf vmlinux (every struct layout): ${paholeMs.toFixed(0)} ms\n`);

  const progs = path.resolve(import.meta.dirname, '../../resources/progs');
  const files = readdirSync(progs).filter((f) => f.endsWith('.bpf.o'));
  const objs = files.map((f) => new Uint8Array(readFileSync(path.join(progs, f))));
  const objMs = bestOf(() => {
    objs.forEach((b, i) => parseObject(b, files[i]));
  });
  process.stdout.write(`   bpfscope parseObject over ${files.length} example objects: ${objMs.toFixed(1)} ms\n`);

  const met = parseCpuMs < 500 && parseMs < 1000;
  process.stdout.write(`   target: vmlinux BTF parsed in under 500 ms of CPU and under 1 s of wall time ("well under a second"): ${met ? 'met' : 'NOT met'}\n`);
  if (!met) throw new Error(`vmlinux BTF parse took ${parseMs.toFixed(0)} ms (${parseCpuMs.toFixed(0)} ms CPU)`);
}
