import os from 'node:os';
import type { Command } from './index';
import { parseArgs } from './args';
import { formatTable } from './table';

export const command: Command = {
  summary: 'list the kernels bpfscope can record on: this one, and the images it can boot in a VM',
  usage: `usage: bpfscope kernels [--json]

The running kernel, then every kernel image installed under /boot with its
modules under /lib/modules (Debian's linux-image-* packages), which
'record --kernel' and 'npm run test:kernels' boot in qemu. Says whether qemu
is installed and whether VMs run under KVM or TCG (software emulation).
--json prints {host, qemu, accel, images: [{release, version, vmlinuz, modules}]}.`,
  async run(argv) {
    const args = parseArgs(argv, { switches: ['json'] });
    const { installedImages, upstreamVersion } = await import('../vm/images');
    const { accelCandidates, findQemu } = await import('../vm/qemu');
    const images = installedImages();
    const qemu = findQemu() ?? null;
    const accel = accelCandidates();
    const rows = images.map((i) => ({ release: i.release, version: upstreamVersion(i.release, i.banner), vmlinuz: i.vmlinuz, modules: i.modulesDir ?? null }));
    if (args.switches.has('json')) {
      process.stdout.write(JSON.stringify({ host: { release: os.release(), version: os.version() }, qemu, accel, images: rows }, null, 2) + '\n');
      return 0;
    }
    const table = [['RELEASE', 'VERSION', 'IMAGE', 'MODULES']];
    table.push([os.release(), upstreamVersion(os.release()), '(running here: record without --kernel)', '']);
    for (const r of rows) table.push([r.release, r.version, r.vmlinuz, r.modules ? 'yes' : "no (can't boot)"]);
    process.stdout.write(formatTable(table));
    const how = accel[0] === 'kvm' ? 'KVM (/dev/kvm opens; TCG if the guest cannot run under it)' : 'TCG, software emulation (no usable /dev/kvm)';
    process.stdout.write(`\nqemu: ${qemu ?? "not installed (apt-get install qemu-system-x86)"}; VMs run under ${how}\n`);
    if (rows.length === 0) process.stdout.write('no bootable images: install one, e.g. apt-get install linux-image-6.12.100+deb12-amd64\n');
    return 0;
  },
};
