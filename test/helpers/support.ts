/**
 * What the running kernel can do, for kernel-backed tests that run on every
 * kernel of the matrix (6.1, 6.12, the host's 6.18). A test whose program
 * needs something this kernel lacks skips with the reason in its title; it
 * never fakes the kernel and never compares with a stored 6.18 answer.
 *
 * Probed, not guessed from a version number, wherever the kernel tells:
 * kfuncs are looked up by name in the kernel's own BTF (exactly what libbpf
 * does before it refuses an object whose kfunc is missing). Only formats the
 * kernel cannot be asked about (how a log line is printed) use the release.
 */
import os from 'node:os';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { moduleBtf, moduleBtfNames, vmlinuxBtf } from '../../main/kernel/vmlinux';
import { parseObject } from '../../main/object/object';
import { kernelStructGap, structOpsVariables } from '../../main/object/struct-ops';

let funcs: Set<string> | undefined;

/** Names of every FUNC in the running kernel's BTF, vmlinux and modules. */
export function kernelBtfFuncs(): Set<string> {
  if (funcs) return funcs;
  const s = new Set<string>();
  if (!existsSync('/sys/kernel/btf/vmlinux')) return (funcs = s);
  const add = (btf: ReturnType<typeof vmlinuxBtf>): void => {
    for (let id = btf.baseCount || 1; id < btf.types.length; id++) {
      const t = btf.types[id];
      if (t.kind === 'FUNC' && t.name) s.add(t.name);
    }
  };
  add(vmlinuxBtf());
  for (const m of moduleBtfNames()) {
    try {
      add(moduleBtf(m));
    } catch {
      // A module BTF that does not parse has no kfunc a test needs.
    }
  }
  return (funcs = s);
}

const missing = new Map<string, string[]>();

/**
 * The object's strong kfunc externs the running kernel's BTF does not have.
 * libbpf (and bpfscope's loader) resolve every extern of an object at load,
 * so one missing kfunc refuses every program of the object, before the
 * kernel sees any of them.
 */
export function missingKfuncs(objectPath: string): string[] {
  let m = missing.get(objectPath);
  if (!m) {
    const obj = parseObject(readFileSync(objectPath), objectPath);
    const have = kernelBtfFuncs();
    m = obj.externs.filter((e) => e.kind === 'kfunc' && !e.weak && !have.has(e.name)).map((e) => e.name).sort();
    missing.set(objectPath, m);
  }
  return m;
}

const missingStructs = new Map<string, string[]>();

/**
 * The structs the object's struct_ops variables implement that the running
 * kernel's vmlinux BTF lacks (bpf_dummy_ops needs BPF_JIT): libbpf 1.1 then
 * refuses the whole object before loading any program.
 */
export function missingStructOps(objectPath: string): string[] {
  let m = missingStructs.get(objectPath);
  if (!m) {
    const obj = parseObject(readFileSync(objectPath), objectPath);
    const vm = existsSync('/sys/kernel/btf/vmlinux') ? vmlinuxBtf() : undefined;
    const have = (name: string): boolean => !!vm?.types.some((t) => t.kind === 'STRUCT' && t.name === name);
    // A struct the kernel lacks, or (named struct.member) a member of the object's struct it lacks: libbpf 1.1 refuses both.
    m = vm
      ? [...new Set(structOpsVariables(obj).map((v) => {
          const gap = kernelStructGap(v, vm);
          return gap?.kind === 'struct' ? v.typeName : gap?.kind === 'member' ? `${v.typeName}.${gap.member}` : '';
        }))].filter((n) => n !== '').sort()
      : [...new Set(structOpsVariables(obj).map((v) => v.typeName))].filter((n) => !have(n)).sort();
    missingStructs.set(objectPath, m);
  }
  return m;
}

/**
 * Whether all the running kernel lacks for this object is members of its struct_ops structs
 * (6.1's bpf_dummy_ops has no test_sleepable): libbpf 1.1 then refuses the object, bpfscope
 * still loads the programs whose own member the kernel has.
 */
export function onlyStructOpsMemberGaps(objectPath: string): boolean {
  const s = missingStructOps(objectPath);
  return missingKfuncs(objectPath).length === 0 && s.length > 0 && s.every((m) => m.includes('.'));
}

/** Why the running kernel cannot load this object, or undefined when it can. */
export function objectUnsupported(objectPath: string): string | undefined {
  const m = missingKfuncs(objectPath);
  if (m.length > 0) return `kernel ${os.release()} has no kfunc ${m.join(', ')} in its BTF`;
  const s = missingStructOps(objectPath);
  if (s.length > 0) return `kernel ${os.release()} has no struct_ops struct or member ${s.join(', ')} in its BTF (libbpf 1.1 refuses the object)`;
  return undefined;
}

/** `title [skipped: reason]` when there is a reason, the title otherwise. */
export const withSkipReason = (title: string, reason: string | undefined): string => (reason ? `${title} [skipped: ${reason}]` : title);

/** The running kernel's major.minor as a number pair ([6, 1] on 6.1.0-50-amd64). */
export function kernelVersion(release = os.release()): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/** Whether the running kernel is at least major.minor (for print formats only; features are probed). */
export function kernelAtLeast(major: number, minor: number, release = os.release()): boolean {
  const [a, b] = kernelVersion(release);
  return a > major || (a === major && b >= minor);
}

/** The fds this process has open now. */
export const openFds = (): Set<string> => new Set(readdirSync('/proc/self/fd'));

function fdTarget(fd: string): string {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return '';
  }
}

/**
 * BPF fds (maps, programs, BTF) open now that were not open `before`. Only
 * those: the test worker itself may open files meanwhile (vitest loads a
 * module the recorder imports lazily), and they are not the recorder's to close.
 */
export function leakedBpfFds(before: Set<string>): string[] {
  return [...openFds()].filter((fd) => !before.has(fd)).map((fd) => `${fd} ${fdTarget(fd)}`).filter((t) => /anon_inode:\[?(bpf|btf)/.test(t));
}
