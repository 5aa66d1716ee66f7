import { readFileSync } from 'node:fs';
import { parseKallsyms, resolveTypelessKsyms, type KallsymsLookup, type TypelessKsym } from '../object/kallsyms';
import type { BpfObject } from '../object/object';

/**
 * /proc/kallsyms, read for the names wanted (libbpf reads it only when the
 * object has a typeless ksym). An unreadable file fails every typeless
 * ksym of the object, weak ones too, as libbpf 1.1's failed fopen fails the
 * object (-EINVAL); the sentence says why.
 */
export function readKallsyms(wanted: ReadonlySet<string>): KallsymsLookup {
  let text: string;
  try {
    text = readFileSync('/proc/kallsyms', 'utf8');
  } catch (err) {
    return { ...parseKallsyms('', wanted), readError: `cannot read /proc/kallsyms: ${err instanceof Error ? err.message : String(err)}` };
  }
  return parseKallsyms(text, wanted);
}

/** The object's typeless ksyms resolved against this host's kallsyms (nothing read when it has none). */
export function hostTypelessKsyms(obj: BpfObject): TypelessKsym[] {
  const typeless = obj.externs.filter((e) => e.kind === 'ksym' && e.typeless);
  if (typeless.length === 0) return [];
  return resolveTypelessKsyms(typeless, readKallsyms(new Set(typeless.map((e) => e.name))));
}
