import { typeById } from './lookup';
import type { Btf, BtfType } from './types';

/**
 * C declarations of BTF types, spelled the way pahole and bpftool print them:
 * `struct bpf_list_head`, `int *`, `char name[16]`, `void (*fn)(int, void *)`,
 * `const char *`. Type tags are printed with the macro names BPF programs use
 * (`__kptr`, `__percpu_kptr`, ...), so `struct elem __kptr *stash`.
 */

const TAG_MACROS: Record<string, string> = {
  kptr: '__kptr',
  percpu_kptr: '__percpu_kptr',
  kptr_untrusted: '__kptr_untrusted',
  uptr: '__uptr',
  rcu: '__rcu',
  user: '__user',
  percpu: '__percpu',
  arena: '__arena',
};

export function typeTagText(tag: string): string {
  return TAG_MACROS[tag] ?? `__attribute__((btf_type_tag("${tag}")))`;
}

/** The declaration of `name` (or the abstract type when name is omitted). */
export function cdecl(btf: Btf, id: number, name = '', opts: CdeclOptions = {}): string {
  // A qualifier on an array qualifies its elements: `const` over `const char[4]` is said once.
  budget = 0;
  return decl(btf, id, name, 0, opts.tagStyle === 'attribute')
    .trim()
    .replace(/\b(const |volatile |restrict )\1+/g, '$1');
}

export interface CdeclOptions {
  /** 'macro' (default): `__kptr`; 'attribute': `__attribute__((btf_type_tag("kptr")))` as bpftool's C dump prints it. */
  tagStyle?: 'macro' | 'attribute';
}

function baseName(t: BtfType): string {
  switch (t.kind) {
    case 'VOID':
      return 'void';
    case 'STRUCT':
    case 'UNION':
      return `${t.kind === 'STRUCT' ? 'struct' : 'union'}${t.name ? ` ${t.name}` : ''}`;
    case 'ENUM':
    case 'ENUM64':
      return `enum${t.name ? ` ${t.name}` : ''}`;
    case 'FWD':
      return `${t.union ? 'union' : 'struct'} ${t.name}`;
    default:
      return t.name || '(anon)';
  }
}

function join(base: string, d: string): string {
  if (!d) return base;
  if (d.startsWith('[') || (d.startsWith('(') && !d.startsWith('(*'))) return `${base}${d}`;
  return `${base} ${d}`;
}

// Steps left for one declaration: corrupt BTF (prototypes whose parameters point
// back at them) would otherwise fan out without end.
let budget = 0;
const MAX_STEPS = 4096;

function decl(btf: Btf, id: number, d: string, depth: number, attr: boolean): string {
  if (depth > 64 || ++budget > MAX_STEPS) return `<loop> ${d}`;
  const t = btf.types[id];
  if (t === undefined) return join(`<bad type ${id}>`, d);
  switch (t.kind) {
    case 'PTR': {
      const target = btf.types[t.type];
      const wrap = target && (target.kind === 'ARRAY' || target.kind === 'FUNC_PROTO');
      // bpftool writes `* (*fn)(...)` and `* const p`: a space after the '*' before a parenthesis or qualifier.
      const inner = /^(\(|const\b|volatile\b|restrict\b)/.test(d) ? `* ${d}` : `*${d}`;
      return decl(btf, t.type, wrap ? `(${inner})` : inner, depth + 1, attr);
    }
    case 'ARRAY':
      return decl(btf, t.type, `${d}[${t.nelems}]`, depth + 1, attr);
    case 'FUNC_PROTO': {
      // Depth carries into the parameters: corrupt BTF can make a prototype take a pointer to itself.
      const params = t.params.map((p) => (p.type === 0 ? '...' : decl(btf, p.type, '', depth + 1, attr).trim()));
      return decl(btf, t.returnType, `${d}(${params.length ? params.join(', ') : 'void'})`, depth + 1, attr);
    }
    case 'FUNC':
      return decl(btf, t.type, t.name + d, depth + 1, attr);
    case 'CONST':
    case 'VOLATILE':
    case 'RESTRICT': {
      const q = t.kind.toLowerCase();
      const inner = btf.types[t.type];
      // A qualifier on a pointer goes after the '*'; on anything else, before the base type.
      if (inner && inner.kind === 'PTR') return decl(btf, t.type, d ? `${q} ${d}` : q, depth + 1, attr);
      return `${q} ${decl(btf, t.type, d, depth + 1, attr)}`;
    }
    case 'TYPE_TAG': {
      const tag = attr ? `__attribute__((btf_type_tag("${t.name}")))` : typeTagText(t.name);
      // Tags sit between the pointee and the '*': `struct elem __kptr *`.
      return decl(btf, t.type, d ? `${tag} ${d}` : tag, depth + 1, attr);
    }
    case 'VAR':
      return decl(btf, t.type, t.name + d, depth + 1, attr);
    default:
      return join(baseName(t), d);
  }
}

/** Name of a type for lists: `struct foo`, `__u32`, `int *`. */
export function typeName(btf: Btf, id: number): string {
  typeById(btf, id);
  return cdecl(btf, id);
}
