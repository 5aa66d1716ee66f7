import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readCpio, S_IFDIR, S_IFREG, writeCpio } from '../../../main/vm/cpio';
import { bzImageBanner, installedImages, releaseMatches, resolveImage, upstreamVersion } from '../../../main/vm/images';
import { buildInitramfs, isStaticElf, moduleName, parseModulesBuiltin, parseModulesDep, resolveModules } from '../../../main/vm/initramfs';
import { accelCandidates, findQemu, kernelCommandLine, qemuArgs } from '../../../main/vm/qemu';
import { commandScript, guestPanicked, runInVm, shellQuote } from '../../../main/vm/run';
import { kernelSkipReason } from '../../helpers/kernel';

const REPO = path.resolve(import.meta.dirname, '../../..');

const haveCpio = spawnSync('cpio', ['--version'], { stdio: 'ignore' }).status === 0;

describe('newc cpio writer', () => {
  const entries = [
    { name: 'bin', mode: S_IFDIR | 0o755 },
    { name: 'bin/hello', mode: S_IFREG | 0o755, data: new TextEncoder().encode('#!/bin/sh\necho hi\n') },
    { name: 'odd-name.txt', mode: S_IFREG | 0o644, data: new Uint8Array([1, 2, 3]) },
  ];

  it('reads back what it wrote', () => {
    const back = readCpio(writeCpio(entries));
    expect(back.map((e) => [e.name, e.mode, Buffer.from(e.data ?? []).toString('hex')])).toEqual(
      entries.map((e) => [e.name, e.mode, Buffer.from(e.data ?? []).toString('hex')]),
    );
  });

  it.skipIf(!haveCpio)(`GNU cpio lists and extracts it byte for byte${haveCpio ? '' : ' [skipped: cpio not installed]'}`, () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-cpio-'));
    try {
      const archive = path.join(dir, 'a.cpio');
      writeFileSync(archive, writeCpio(entries));
      const list = execFileSync('cpio', ['-it', '--quiet', '-F', archive], { encoding: 'utf8' });
      expect(list.trim().split('\n')).toEqual(entries.map((e) => e.name));
      execFileSync('cpio', ['-idm', '--quiet', '-F', archive], { cwd: dir });
      expect(readFileSync(path.join(dir, 'bin/hello'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
      expect([...readFileSync(path.join(dir, 'odd-name.txt'))]).toEqual([1, 2, 3]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kernel modules for the guest', () => {
  const dep = parseModulesDep(
    [
      'kernel/fs/netfs/netfs.ko.xz:',
      'kernel/net/9p/9pnet.ko.xz: kernel/fs/netfs/netfs.ko.xz',
      'kernel/net/9p/9pnet_virtio.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz',
      'kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz',
      'kernel/fs/overlayfs/overlay.ko.xz:',
      'kernel/drivers/virtio/virtio_pci-legacy.ko:',
    ].join('\n'),
  );

  it('orders dependencies first, each file once, built-ins without a file', () => {
    const order = resolveModules(dep, new Set(['virtio_pci']), ['virtio_pci', '9pnet_virtio', '9p', 'overlay']);
    expect(order).toEqual([
      'kernel/fs/netfs/netfs.ko.xz',
      'kernel/net/9p/9pnet.ko.xz',
      'kernel/net/9p/9pnet_virtio.ko.xz',
      'kernel/fs/9p/9p.ko.xz',
      'kernel/fs/overlayfs/overlay.ko.xz',
    ]);
    expect(moduleName('kernel/drivers/virtio/virtio_pci-legacy.ko')).toBe('virtio_pci_legacy');
    expect(parseModulesBuiltin('kernel/drivers/virtio/virtio_pci.ko\n')).toEqual(new Set(['virtio_pci']));
  });

  it('names a module that is neither built in nor a module', () => {
    expect(() => resolveModules(dep, new Set(), ['virtio_pci'])).toThrow(/virtio_pci is neither built in nor in modules.dep/);
  });

  for (const image of installedImages().filter((i) => i.modulesDir)) {
    it(`builds an initramfs for ${image.release} with its own modules and a static busybox`, () => {
      const entries = readCpio(gunzipSync(buildInitramfs({ modulesDir: image.modulesDir! })));
      const names = entries.map((e) => e.name);
      expect(names).toContain('init');
      expect(isStaticElf(entries.find((e) => e.name === 'bin/busybox')!.data!)).toBe(true);
      const order = new TextDecoder().decode(entries.find((e) => e.name === 'modules/order')!.data).trim().split('\n');
      expect(order.slice(-2)).toEqual(['9p.ko', 'overlay.ko']);
      for (const m of order) {
        const data = entries.find((e) => e.name === `modules/${m}`)!.data!;
        // Uncompressed ELF (busybox insmod passes the bytes to init_module), built for this release.
        expect([...data.subarray(0, 4)]).toEqual([0x7f, 0x45, 0x4c, 0x46]);
        expect(Buffer.from(data).includes(`vermagic=${image.release} `)).toBe(true);
      }
    });
  }
});

describe('kernel images', () => {
  it('reads the release from a bzImage setup header', () => {
    const b = new Uint8Array(0x400);
    b.set(new TextEncoder().encode('HdrS'), 0x202);
    b[0x20e] = 0x00; b[0x20f] = 0x01; // banner at 0x200 + 0x100
    b.set(new TextEncoder().encode('6.1.0-50-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1\0'), 0x300);
    const banner = bzImageBanner(b)!;
    expect(banner.split(' ')[0]).toBe('6.1.0-50-amd64');
    expect(upstreamVersion('6.1.0-50-amd64', banner)).toBe('6.1.176');
    expect(bzImageBanner(new Uint8Array(0x400))).toBeUndefined();
  });

  it('matches a release spec without 6.1 taking 6.12', () => {
    expect(releaseMatches('6.1', '6.1.0-50-amd64', '6.1.176')).toBe(true);
    expect(releaseMatches('6.1', '6.12.100+deb12-amd64', '6.12.100')).toBe(false);
    expect(releaseMatches('6.12', '6.12.100+deb12-amd64', '6.12.100')).toBe(true);
    expect(releaseMatches('6.12.100+deb12-amd64', '6.12.100+deb12-amd64', '6.12.100')).toBe(true);
  });

  it('says which images exist when a spec matches none', () => {
    expect(() => resolveImage('5.99', [])).toThrow(/no installed kernel image matches '5.99' \(installed: none/);
    expect(() => resolveImage('/no/such/vmlinuz', [])).toThrow(/no such kernel image/);
  });

  for (const image of installedImages()) {
    it(`${image.vmlinuz}: the banner's release names its modules folder`, () => {
      expect(path.basename(image.vmlinuz)).toBe(`vmlinuz-${image.release}`);
      if (image.modulesDir) expect(existsSync(path.join(image.modulesDir, 'modules.dep'))).toBe(true);
    });
  }
});

describe('qemu command line and guest script', () => {
  it('KVM first only where /dev/kvm opens; BPFSCOPE_VM_ACCEL forces one', () => {
    expect(accelCandidates({}, true)).toEqual(['kvm', 'tcg']);
    expect(accelCandidates({}, false)).toEqual(['tcg']);
    expect(accelCandidates({ BPFSCOPE_VM_ACCEL: 'tcg' }, true)).toEqual(['tcg']);
  });

  it('shares the host root read-only and the scratch folder writable, no disk or network', () => {
    const a = qemuArgs({ accel: 'tcg', vmlinuz: '/boot/v', initrd: '/s/i', scratch: '/s', consoleLog: '/s/c' });
    const virtfs = a.filter((_, i) => a[i - 1] === '-virtfs');
    expect(virtfs[0]).toMatch(/^local,path=\/,mount_tag=hostroot,.*readonly=on/);
    expect(virtfs[1]).toMatch(/^local,path=\/s,mount_tag=scratch,/);
    expect(virtfs[1]).not.toMatch(/readonly/);
    expect(a).toContain('-nodefaults');
    expect(a.join(' ')).not.toMatch(/-netdev|-drive|-hda/);
    expect(a.slice(a.indexOf('-accel'), a.indexOf('-accel') + 4)).toEqual(['-accel', 'tcg,thread=multi', '-cpu', 'max']);
  });

  it('a TCG guest starts with its TSC unstable, so sched_clock never patches itself under the emulator; a KVM guest keeps it', () => {
    expect(kernelCommandLine('tcg').split(' ')).toContain('tsc=unstable');
    expect(kernelCommandLine('kvm').split(' ')).not.toContain('tsc=unstable');
    const a = qemuArgs({ accel: 'tcg', vmlinuz: '/boot/v', initrd: '/s/i', scratch: '/s', consoleLog: '/s/c' });
    expect(a[a.indexOf('-append') + 1]).toBe(kernelCommandLine('tcg'));
    expect(kernelCommandLine('tcg')).toMatch(/panic=-1 .*rdinit=\/init$/);
  });

  it('tells a guest panic (booted again) from a console without one', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-console-'));
    try {
      const log = path.join(dir, 'console.log');
      expect(guestPanicked(log)).toBe(false);
      writeFileSync(log, '[    1.57] Oops: int3: 0000 [#2] PREEMPT SMP NOPTI\n[    1.579043] Kernel panic - not syncing: Fatal exception in interrupt\n');
      expect(guestPanicked(log)).toBe(true);
      writeFileSync(log, 'bpfscope-vm: cannot mount the scratch folder (9p tag scratch)\n');
      expect(guestPanicked(log)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('quotes every word of the command and the environment for sh', () => {
    const script = commandScript(['node', "it's", '$HOME', 'a b'], '/work dir', { A: "x'y", 'BAD-NAME': 'z', PWD: '/p' });
    const r = spawnSync('sh', ['-n', '-c', script]);
    expect(r.status).toBe(0);
    expect(script).toContain(`cd '/work dir' || exit 125`);
    expect(script).toContain(`export A='x'\\''y'`);
    expect(script).not.toMatch(/BAD-NAME|PWD/);
    expect(script).toContain(`exec 'node' 'it'\\''s' '$HOME' 'a b'`);
    const echo = spawnSync('sh', ['-c', `printf '%s|' ${shellQuote("a'b")} ${shellQuote('$x')}`], { encoding: 'utf8' });
    expect(echo.stdout).toBe("a'b|$x|");
  });
});

const qemuReason = !findQemu() ? 'qemu not installed (apt-get install qemu-system-x86)' : installedImages().every((i) => !i.modulesDir) ? 'no kernel image with modules installed' : undefined;

describe.skipIf(!!qemuReason)(`booting installed kernels in qemu${qemuReason ? ` [skipped: ${qemuReason}]` : ''}`, () => {
  for (const image of installedImages().filter((i) => i.modulesDir)) {
    it(`${image.release}: the guest runs the command on that kernel as root, with the host's files, and hands back output and exit code`, async () => {
      let out = '';
      let err = '';
      const r = await runInVm({
        image,
        command: ['/bin/sh', '-c', "uname -r; id -u; test -r /sys/kernel/btf/vmlinux && echo btf; dmesg | grep -c 'sched_clock: Marking stable'; echo to-stderr >&2; touch /etc/bpfscope-guest-write; exit 7"],
        cwd: REPO,
        onStdout: (c) => (out += c.toString()),
        onStderr: (c) => (err += c.toString()),
      });
      expect(r.release).toBe(image.release);
      expect(r.exitCode).toBe(7);
      // Under TCG sched_clock never turns stable (see kernelCommandLine).
      const [release, uid, btf, stable] = out.split('\n');
      expect([release, uid, btf]).toEqual([image.release, '0', 'btf']);
      if (r.accel === 'tcg') expect(stable).toBe('0');
      expect(err).toBe('to-stderr\n');
      // The guest writes onto its RAM overlay, never through to the host.
      expect(existsSync('/etc/bpfscope-guest-write')).toBe(false);
    }, 300_000);
  }

  it('boots once more after the guest kernel panicked while booting, and says so', async () => {
    // A stand-in for qemu that panics the first time, as an emulation race
    // does, and boots the second.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-fakeqemu-'));
    const fake = path.join(dir, 'qemu');
    writeFileSync(
      fake,
      `#!/bin/sh
for a in "$@"; do
  case "$a" in file:*) con=\${a#file:};; local,path=*,mount_tag=scratch,*) s=\${a#local,path=}; s=\${s%%,*};; esac
done
if [ ! -e "$s/tried" ]; then : > "$s/tried"; echo 'Kernel panic - not syncing: Fatal exception in interrupt' > "$con"; exit 0; fi
printf 'fake-release\\n#1 fake\\n' > "$s/booted"; echo second > "$s/stdout"; : > "$s/stderr"; echo 3 > "$s/rc"
`,
      { mode: 0o755 },
    );
    const saved = { q: process.env.BPFSCOPE_QEMU, a: process.env.BPFSCOPE_VM_ACCEL };
    process.env.BPFSCOPE_QEMU = fake;
    process.env.BPFSCOPE_VM_ACCEL = 'tcg';
    try {
      const status: string[] = [];
      let out = '';
      const r = await runInVm({ image: installedImages().find((i) => i.modulesDir)!, command: ['true'], cwd: REPO, scratch: dir, onStatus: (l) => status.push(l), onStdout: (c) => (out += c.toString()) });
      expect([r.exitCode, r.release, out]).toEqual([3, 'fake-release', 'second\n']);
      expect(status.filter((l) => /panicked while booting; booting it again/.test(l))).toHaveLength(1);
      expect(status.filter((l) => /^booting /.test(l))).toHaveLength(2);
    } finally {
      for (const [k, v] of [['BPFSCOPE_QEMU', saved.q], ['BPFSCOPE_VM_ACCEL', saved.a]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const newest = installedImages().filter((i) => i.modulesDir).pop();
  it.skipIf(!newest || !!kernelSkipReason())(`record --kernel ${newest?.release ?? ''} writes a trace naming that kernel and the VM${kernelSkipReason() ? ` [skipped: ${kernelSkipReason()}]` : ''}`, () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-vmrec-'));
    try {
      const trace = path.join(dir, 'nd.trace');
      const bin = path.join(REPO, 'main/bin.mjs');
      const rec = spawnSync(process.execPath, [bin, 'record', path.join(REPO, 'resources/progs/new_drop.bpf.o'), '-p', 'new_drop', '--kernel', newest!.vmlinuz, '-o', trace], { encoding: 'utf8', timeout: 280_000 });
      expect(rec.stderr).toMatch(/booting .* in qemu \((KVM|TCG, software emulation)\)/);
      expect(rec.status).toBe(0);
      expect(rec.stdout).toMatch(/^new_drop: (accepted|rejected)/);
      const runs = spawnSync(process.execPath, [bin, 'runs', trace, '--json'], { encoding: 'utf8' });
      expect((JSON.parse(runs.stdout) as { kernel: string }[])[0].kernel).toBe(newest!.release);
      const text = spawnSync(process.execPath, [bin, 'runs', trace], { encoding: 'utf8' });
      expect(text.stdout.split('\n')[0]).toMatch(new RegExp(`^kernel ${newest!.release.replace(/[.+]/g, '\\$&')} \\(#.*, vm \\((KVM|TCG)\\)\\)$`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
