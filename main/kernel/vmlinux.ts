import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { BpfscopeError } from '../errors';
import { parseBtf } from '../object/btf/parse';
import type { Btf } from '../object/btf/types';
import { BTF_INFO, buildAttr, GET_FD_BY_ID_ATTR, GET_ID_ATTR, OBJ_INFO_ATTR } from './attr';
import type { FdSet } from './fds';
import { Arena, bpfTry } from './syscall';

const SYS_BTF = '/sys/kernel/btf';

/** The running kernel's BTF as bytes (the kernel's own file; nothing is parsed here). */
export function readKernelBtf(name = 'vmlinux'): Uint8Array {
  const path = `${SYS_BTF}/${name}`;
  if (!existsSync(path)) throw new BpfscopeError(`no kernel BTF '${name}' (kernel built without CONFIG_DEBUG_INFO_BTF${name === 'vmlinux' ? '' : '_MODULES'}?)`, path);
  return readFileSync(path);
}

let vmlinuxCache: Btf | undefined;
/** vmlinux BTF, parsed once per process (5 MB; the CO-RE and kfunc lookups share it). */
export function vmlinuxBtf(): Btf {
  vmlinuxCache ??= parseBtf(readKernelBtf('vmlinux'));
  return vmlinuxCache;
}

/** Module BTFs the kernel exposes (split over vmlinux). */
export function moduleBtfNames(): string[] {
  if (!existsSync(SYS_BTF)) return [];
  return readdirSync(SYS_BTF).filter((n) => n !== 'vmlinux');
}

export function moduleBtf(name: string): Btf {
  return parseBtf(readKernelBtf(name), { base: vmlinuxBtf() });
}

/**
 * An fd for a module's BTF object (kfunc calls into a module name it through
 * fd_array): walk BTF ids with BPF_BTF_GET_NEXT_ID and match the name
 * BPF_OBJ_GET_INFO_BY_FD reports. The fd is owned by `fds`.
 */
export function openModuleBtfFd(name: string, fds: FdSet): number | undefined {
  const arena = new Arena();
  try {
    let id = 0;
    for (;;) {
      const a = buildAttr(arena, GET_ID_ATTR, { start_id: id });
      if (!bpfTry('BTF_GET_NEXT_ID', a).ok) return undefined;
      id = a.view.getUint32(4, true);
      const fdr = bpfTry('BTF_GET_FD_BY_ID', buildAttr(arena, GET_FD_BY_ID_ATTR, { id }));
      if (!fdr.ok) continue;
      const nameBuf = arena.alloc(64);
      const info = buildAttr(arena, BTF_INFO, { name: nameBuf, name_len: 64 });
      const ok = bpfTry('OBJ_GET_INFO_BY_FD', buildAttr(arena, OBJ_INFO_ATTR, { bpf_fd: fdr.ret, info_len: BTF_INFO.size, info })).ok;
      const end = nameBuf.bytes.indexOf(0);
      const got = Buffer.from(nameBuf.bytes.subarray(0, end < 0 ? 64 : end)).toString();
      if (ok && got === name) return fds.own(fdr.ret);
      fds.own(fdr.ret);
      fds.close(fdr.ret);
    }
  } finally {
    arena.free();
  }
}
