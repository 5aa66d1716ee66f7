import type { Command } from './index';
import { parseArgs } from './args';
import { probe } from '../kernel/probe';

export const command: Command = {
  summary: 'report whether this machine can record (kernel, bpf(2), capabilities, vmlinux BTF)',
  usage: `usage: bpfscope probe [--json]

Checks the kernel release, whether bpf(2) answers, the effective capabilities
(CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN) and /sys/kernel/btf/vmlinux. Exit 0 when
recording can work here, 1 otherwise (with one sentence saying what is missing).`,
  async run(argv) {
    const args = parseArgs(argv, { switches: ['json'] });
    const r = probe();
    if (args.switches.has('json')) {
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    } else {
      const yes = (b: boolean): string => (b ? 'yes' : 'no');
      const lines = [
        `kernel        ${r.kernelRelease} (${r.arch})`,
        `bpf(2)        ${r.bpfSyscall.reachable ? 'reachable' : `refused: ${r.bpfSyscall.errnoName}`}`,
        `CAP_BPF       ${yes(r.caps.CAP_BPF)}`,
        `CAP_PERFMON   ${yes(r.caps.CAP_PERFMON)}`,
        `CAP_SYS_ADMIN ${yes(r.caps.CAP_SYS_ADMIN)}`,
        `vmlinux BTF   ${r.vmlinuxBtf.present ? `present (${r.vmlinuxBtf.size} bytes)` : 'missing'}`,
        `can record    ${yes(r.canRecord)}`,
      ];
      if (r.unprivilegedBpfDisabled !== undefined) lines.splice(5, 0, `unprivileged_bpf_disabled ${r.unprivilegedBpfDisabled}`);
      process.stdout.write(lines.join('\n') + '\n');
    }
    if (r.problem) process.stderr.write(`bpfscope probe: ${r.problem}\n`);
    return r.canRecord ? 0 : 1;
  },
};
