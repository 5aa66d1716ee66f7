import type { BpfObject } from '../object/object';
import { findKernelSymbol, type ResolvedExtern } from '../object/relocate';
import type { FdSet } from './fds';
import { hostTypelessKsyms } from './kallsyms';
import { moduleBtf, moduleBtfNames, openModuleBtfFd, vmlinuxBtf } from './vmlinux';

/**
 * kfunc and typed ksym externs against vmlinux BTF, then module BTF (as
 * libbpf's find_ksym_btf_id does); typeless ksyms (`const void`) by name in
 * /proc/kallsyms, which is read only when the object has one (as libbpf).
 */
export function resolveExterns(obj: BpfObject, fds: FdSet): Map<string, ResolvedExtern> {
  const out = new Map<string, ResolvedExtern>();
  for (const t of hostTypelessKsyms(obj)) {
    const r: ResolvedExtern = { name: t.name, kind: 'ksym', weak: t.weak, fdIndex: 0, typeless: { addr: t.addr, decision: t.decision } };
    if (t.error) {
      r.error = `${t.error}, so no program of the object can be loaded`;
      r.errno = t.errno;
    }
    out.set(t.name, r);
  }
  const wanted = obj.externs.filter((e) => e.kind === 'kfunc' || (e.kind === 'ksym' && !e.typeless));
  if (wanted.length === 0) return out;
  const vmlinux = vmlinuxBtf();
  let modules: { name: string; btf: ReturnType<typeof moduleBtf> }[] | undefined;
  const moduleIdx = new Map<string, number>();
  for (const e of wanted) {
    const kind = e.kind as 'kfunc' | 'ksym';
    const r: ResolvedExtern = { name: e.name, kind, weak: e.weak, fdIndex: 0 };
    const id = findKernelSymbol(vmlinux, e.name, kind);
    if (id !== undefined) {
      r.btfId = id;
      r.btfObj = 'vmlinux';
    } else {
      modules ??= moduleBtfNames().map((name) => ({ name, btf: moduleBtf(name) }));
      for (const m of modules) {
        const mid = findKernelSymbol(m.btf, e.name, kind);
        if (mid === undefined) continue;
        const fd = openModuleBtfFd(m.name, fds);
        if (fd === undefined) continue;
        r.btfId = mid;
        r.btfObj = m.name;
        r.btfObjFd = fd;
        if (!moduleIdx.has(m.name)) moduleIdx.set(m.name, moduleIdx.size + 1);
        r.fdIndex = moduleIdx.get(m.name)!;
        break;
      }
    }
    if (r.btfId === undefined) {
      r.error = `extern ${kind === 'kfunc' ? 'kfunc' : 'variable'} '${e.name}' is not in this kernel's BTF (vmlinux${modules?.length ? ' or modules' : ''})${e.weak ? '; weak, so left unresolved' : ', so no program of the object can be loaded'}`;
    }
    out.set(e.name, r);
  }
  return out;
}

/** fd_array for kfunc calls into modules: index 0 is vmlinux (unused), then each module's BTF fd. */
export function moduleFdArray(externs: Map<string, ResolvedExtern>): number[] | undefined {
  const arr: number[] = [0];
  for (const e of externs.values()) if (e.kind === 'kfunc' && e.btfObjFd !== undefined) arr[e.fdIndex] = e.btfObjFd;
  return arr.length > 1 ? arr : undefined;
}

