/**
 * /proc/kallsyms text → the addresses of typeless `__ksym` externs, by the
 * rules of libbpf 1.1 (libbpf_kallsyms_parse + kallsyms_cb). Facts from its
 * semantics:
 * - each line is read as `%llx %c %499s` and the rest of the line ignored,
 *   so a module symbol's `\t[mod]` suffix plays no part in the match (a
 *   module's symbol matches like vmlinux's) and a name is cut at 499 bytes;
 *   the symbol type letter is not looked at (text, data, local or global);
 * - a line that does not read that way fails the whole resolution (-EINVAL);
 * - a name listed twice at the same address is one symbol; listed at two
 *   addresses it is ambiguous, and libbpf fails the object (-EINVAL:
 *   "resolution is ambiguous: 0x… or 0x…");
 * - a name kallsyms does not list is unresolved: 0 when weak, and the
 *   object fails (-ESRCH, "extern 'X' (strong): not resolved") when strong.
 * Addresses a process may not see (not root, kernel.kptr_restrict) read as
 * 0; libbpf 1.1 does not notice and writes 0, and so do we, saying so.
 * Pure: the text and the names wanted come in as data.
 */

/** libbpf reads names with %499s. */
const NAME_MAX = 499;

export interface KallsymsSymbol {
  addr: bigint;
  /** The kallsyms type letter (T, t, D, ...). */
  type: string;
  /** The module it belongs to (`[mod]`), undefined for vmlinux. */
  module?: string;
}

export interface KallsymsLookup {
  /** Each wanted name kallsyms lists, at the first line that names it. */
  found: Map<string, KallsymsSymbol>;
  /** Wanted names listed at more than one address: the addresses, in file order. */
  ambiguous: Map<string, bigint[]>;
  /** Lines read. */
  lines: number;
  /** Every address read was 0: kallsyms hides them from this process. */
  addressesHidden: boolean;
  /** The first line libbpf could not read (1-based number and text), if any. */
  badLine?: { line: number; text: string };
  /** Set by the reader when /proc/kallsyms could not be opened (libbpf then fails the object, -EINVAL). */
  readError?: string;
}

const LINE = /^([0-9a-fA-F]+)\s+(\S)\s+(\S+)(?:\s+\[([^\]]*)\])?/;

export function parseKallsyms(text: string, wanted: ReadonlySet<string>): KallsymsLookup {
  const out: KallsymsLookup = { found: new Map(), ambiguous: new Map(), lines: 0, addressesHidden: true };
  let n = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    n++;
    if (line.trim() === '') continue;
    const m = LINE.exec(line);
    if (!m) {
      out.badLine = { line: n, text: line };
      break;
    }
    out.lines++;
    // Only a non-zero address needs the BigInt: most lines are not wanted.
    if (out.addressesHidden && /[1-9a-fA-F]/.test(m[1])) out.addressesHidden = false;
    const name = m[3].slice(0, NAME_MAX);
    if (!wanted.has(name)) continue;
    const addr = BigInt(`0x${m[1]}`) & 0xffff_ffff_ffff_ffffn;
    const prev = out.found.get(name);
    if (!prev) {
      out.found.set(name, { addr, type: m[2], ...(m[4] !== undefined ? { module: m[4] } : {}) });
      continue;
    }
    if (prev.addr === addr) continue;
    const seen = out.ambiguous.get(name) ?? [prev.addr];
    if (!seen.includes(addr)) seen.push(addr);
    out.ambiguous.set(name, seen);
  }
  if (out.lines === 0) out.addressesHidden = false;
  return out;
}

/** What the loader decided for one typeless ksym. */
export interface TypelessKsym {
  name: string;
  weak: boolean;
  /** The address written into the ld_imm64 (0 for a weak one kallsyms lacks); undefined when the object fails. */
  addr?: bigint;
  /** Where kallsyms has it (undefined when not listed). */
  symbol?: KallsymsSymbol;
  /** Why the object cannot be loaded, in libbpf's words. */
  error?: string;
  /** The errno libbpf 1.1 fails the object with: EINVAL (22) for a bad kallsyms, ESRCH (3) for a strong symbol not found. */
  errno?: number;
  /** What was written, in words (for the trace). */
  decision: string;
}

export const hex64 = (v: bigint): string => `0x${v.toString(16).padStart(16, '0')}`;

/** Resolve typeless ksym externs (name, weak) against a kallsyms lookup, as libbpf 1.1 does. */
export function resolveTypelessKsyms(externs: readonly { name: string; weak: boolean }[], k: KallsymsLookup): TypelessKsym[] {
  return externs.map(({ name, weak }) => {
    if (k.readError) return { name, weak, error: `extern (ksym) '${name}': ${k.readError}`, errno: 22, decision: 'kallsyms unreadable' };
    if (k.badLine) {
      const error = `extern (ksym) '${name}': /proc/kallsyms line ${k.badLine.line} is not 'ADDRESS TYPE NAME' (${JSON.stringify(k.badLine.text.slice(0, 80))}), so libbpf fails the object`;
      return { name, weak, error, errno: 22, decision: 'kallsyms unreadable' };
    }
    const amb = k.ambiguous.get(name);
    if (amb) {
      const error = `extern (ksym) '${name}': resolution is ambiguous: ${amb.map(hex64).join(' or ')} (kallsyms lists the name at ${amb.length} addresses)`;
      return { name, weak, error, errno: 22, decision: 'ambiguous' };
    }
    const symbol = k.found.get(name);
    if (!symbol) {
      if (weak) return { name, weak, addr: 0n, decision: 'weak, not in kallsyms: 0' };
      return { name, weak, error: `extern '${name}' (strong): not resolved (/proc/kallsyms has no symbol of that name)`, errno: 3, decision: 'not in kallsyms' };
    }
    const where = `${symbol.type} ${name}${symbol.module ? ` [${symbol.module}]` : ''}`;
    const hidden = k.addressesHidden ? ': kallsyms shows every address as 0 to this process (not root, or kernel.kptr_restrict), and libbpf writes that 0' : '';
    return { name, weak, addr: symbol.addr, symbol, decision: `kallsyms ${hex64(symbol.addr)} (${where})${hidden}` };
  });
}
