import { alignOf, resolveType, sizeOf, typeById } from './btf/lookup';
import type { Btf } from './btf/types';
import type { BpfExtern } from './object';

/**
 * `__kconfig` externs: the values libbpf gives them, laid out in the .kconfig
 * map (offsets from the object model). Facts from libbpf's semantics:
 * LINUX_KERNEL_VERSION is KERNEL_VERSION(a, b, c) of the running release
 * (c capped at 255); CONFIG_* come from the kernel config: `y`/`n`/`m` for
 * bool (1/0, `m` is an error), `enum libbpf_tristate` (1/0/2) and char
 * externs, quoted strings for char arrays, numbers for integers. An extern
 * the config lacks is 0 when weak and an error otherwise. Pure: the config
 * text and the release come in as data.
 */
export interface KconfigDecision {
  name: string;
  offset: number;
  size: number;
  /** The config's raw value, undefined when the config does not have it. */
  raw?: string;
  /** What was written, in words ("1 (y)", "0x3e8", "\"-fc\""). */
  written?: string;
  error?: string;
}

/** Parse `CONFIG_X=value` lines (comments and `# CONFIG_X is not set` are absent values). */
export function parseKernelConfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

export function kernelVersionCode(release: string): number | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release);
  if (!m) return undefined;
  return (Number(m[1]) << 16) + (Number(m[2]) << 8) + Math.min(Number(m[3] ?? 0), 255);
}

type Kind = { t: 'bool' } | { t: 'tristate' } | { t: 'char' } | { t: 'string'; len: number } | { t: 'int'; size: number; signed: boolean } | { t: 'unsupported'; what: string };

function classify(btf: Btf, typeId: number): Kind {
  const t = typeById(btf, resolveType(btf, typeId));
  if (t.kind === 'INT') {
    // libbpf: a 1-byte bool is a bool, any other 1-byte integer a char.
    if (t.encoding & 4) return t.size === 1 ? { t: 'bool' } : { t: 'unsupported', what: `${t.size}-byte bool` };
    if (t.size === 1) return { t: 'char' };
    if (![2, 4, 8].includes(t.size)) return { t: 'unsupported', what: `${t.size}-byte integer` };
    return { t: 'int', size: t.size, signed: (t.encoding & 1) !== 0 };
  }
  if ((t.kind === 'ENUM' || t.kind === 'ENUM64') && t.name === 'libbpf_tristate') return { t: 'tristate' };
  if (t.kind === 'ARRAY' && t.nelems > 0 && classify(btf, t.type).t === 'char') return { t: 'string', len: t.nelems };
  return { t: 'unsupported', what: `${t.kind} ${t.name}`.trim() };
}

/**
 * libbpf's layout of the .kconfig area: externs by alignment (largest first),
 * then size (smallest first), then name; each at the next offset its
 * alignment allows.
 */
export function layoutKconfig(externs: readonly BpfExtern[], btf: Btf): { offsets: Map<string, number>; sizes: Map<string, number>; size: number } {
  const items = externs
    .filter((e) => e.kind === 'kconfig')
    .map((e) => ({ name: e.name, size: sizeOf(btf, e.typeId), align: alignOf(btf, e.typeId) }));
  items.sort((a, b) => b.align - a.align || a.size - b.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const offsets = new Map<string, number>();
  const sizes = new Map<string, number>();
  let off = 0;
  for (const it of items) {
    off = Math.ceil(off / it.align) * it.align;
    offsets.set(it.name, off);
    sizes.set(it.name, it.size);
    off += it.size;
  }
  return { offsets, sizes, size: off };
}

export function fillKconfig(
  externs: readonly BpfExtern[],
  btf: Btf,
  config: ReadonlyMap<string, string>,
  release: string,
): { bytes: Uint8Array; decisions: KconfigDecision[]; offsets: Map<string, number> } {
  const layout = layoutKconfig(externs, btf);
  const bytes = new Uint8Array(layout.size);
  const view = new DataView(bytes.buffer);
  const decisions: KconfigDecision[] = [];
  for (const e of externs) {
    const offset = layout.offsets.get(e.name);
    if (e.kind !== 'kconfig' || offset === undefined) continue;
    const d: KconfigDecision = { name: e.name, offset, size: layout.sizes.get(e.name) ?? 0 };
    decisions.push(d);
    const kind = classify(btf, e.typeId);
    let raw: string | undefined;
    if (e.name === 'LINUX_KERNEL_VERSION') {
      const code = kernelVersionCode(release);
      raw = code === undefined ? undefined : String(code);
    } else raw = config.get(e.name);
    d.raw = raw;
    if (raw === undefined) {
      if (e.weak) d.written = '0 (not in the kernel config; weak)';
      else d.error = `extern (kcfg) '${e.name}': not in the kernel config`;
      continue;
    }
    const at = d.offset;
    const triVal = raw === 'y' ? 1 : raw === 'n' ? 0 : raw === 'm' ? 2 : undefined;
    switch (kind.t) {
      case 'bool':
        if (triVal === undefined || triVal === 2) d.error = `extern (kcfg) '${e.name}': value '${raw}' is not a bool`;
        else {
          bytes[at] = triVal;
          d.written = `${triVal} (${raw})`;
        }
        break;
      case 'tristate':
        if (triVal === undefined) d.error = `extern (kcfg) '${e.name}': value '${raw}' is not a tristate`;
        else {
          view.setUint32(at, triVal, true);
          d.written = `${triVal} (${raw})`;
        }
        break;
      case 'char':
        if (triVal !== undefined) {
          bytes[at] = raw.charCodeAt(0);
          d.written = `'${raw}'`;
        } else {
          const n = toNumber(raw);
          if (n === undefined || n < -128n || n > 255n) d.error = `extern (kcfg) '${e.name}': value '${raw}' does not fit a char`;
          else {
            bytes[at] = Number(BigInt.asUintN(8, n));
            d.written = raw;
          }
        }
        break;
      case 'string': {
        if (!/^".*"$/.test(raw)) {
          d.error = `extern (kcfg) '${e.name}': value '${raw}' is not a string`;
          break;
        }
        const s = Buffer.from(raw.slice(1, -1), 'utf8').subarray(0, kind.len - 1);
        bytes.set(s, at);
        d.written = JSON.stringify(s.toString('utf8'));
        break;
      }
      case 'int': {
        const n = toNumber(raw);
        if (n === undefined) {
          d.error = `extern (kcfg) '${e.name}': value '${raw}' is not a number`;
          break;
        }
        const bits = BigInt(kind.size * 8);
        const fits = kind.signed ? n >= -(1n << (bits - 1n)) && n < 1n << (bits - 1n) : n >= 0n && n < 1n << bits;
        if (!fits) {
          d.error = `extern (kcfg) '${e.name}': value ${raw} does not fit ${kind.size} bytes`;
          break;
        }
        const u = BigInt.asUintN(Number(bits), n);
        for (let i = 0; i < kind.size; i++) bytes[at + i] = Number((u >> BigInt(8 * i)) & 0xffn);
        d.written = raw;
        break;
      }
      default:
        d.error = `extern (kcfg) '${e.name}': type ${kind.what} is not one libbpf fills`;
    }
  }
  return { bytes, decisions, offsets: layout.offsets };
}

/** A config number as strtoull(s, 0) reads it: decimal, 0x hex or 0 octal, optionally negative. */
function toNumber(raw: string): bigint | undefined {
  const m = /^(-?)(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)$/i.exec(raw.trim());
  if (!m) return undefined;
  const digits = m[2];
  const v = /^0[0-7]+$/.test(digits) ? BigInt(`0o${digits.slice(1)}`) : BigInt(digits);
  return m[1] ? -v : v;
}
