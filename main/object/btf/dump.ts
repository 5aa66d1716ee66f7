import { BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED, type Btf, type BtfType } from './types';

/**
 * One BTF type as text in `bpftool btf dump file F` raw format
 * (`[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED`, members
 * on tab-indented lines). Used by `bpfscope inspect --btf` and compared
 * against bpftool line by line in the tests.
 */

const q = (s: string): string => `'${s || '(anon)'}'`;

function intEncoding(e: number): string {
  switch (e) {
    case 0:
      return '(none)';
    case BTF_INT_SIGNED:
      return 'SIGNED';
    case BTF_INT_CHAR:
      return 'CHAR';
    case BTF_INT_BOOL:
      return 'BOOL';
    default:
      return 'UNKN';
  }
}

const FUNC_LINKAGE = ['static', 'global', 'extern'];
const VAR_LINKAGE = ['static', 'global', 'extern'];

export function dumpType(btf: Btf, t: BtfType): string[] {
  const head = `[${t.id}] ${t.kind} ${q(t.name)}`;
  switch (t.kind) {
    case 'VOID':
      return [];
    case 'INT':
      return [`${head} size=${t.size} bits_offset=${t.bitsOffset} nr_bits=${t.bits} encoding=${intEncoding(t.encoding)}`];
    case 'PTR':
    case 'TYPEDEF':
    case 'VOLATILE':
    case 'CONST':
    case 'RESTRICT':
    case 'TYPE_TAG':
      return [`${head} type_id=${t.type}`];
    case 'ARRAY':
      return [`${head} type_id=${t.type} index_type_id=${t.indexType} nr_elems=${t.nelems}`];
    case 'STRUCT':
    case 'UNION':
      return [
        `${head} size=${t.size} vlen=${t.members.length}`,
        ...t.members.map((m) => `\t${q(m.name)} type_id=${m.type} bits_offset=${m.bitsOffset}${m.bitfieldSize ? ` bitfield_size=${m.bitfieldSize}` : ''}`),
      ];
    case 'ENUM':
      return [
        `${head} encoding=${t.signed ? 'SIGNED' : 'UNSIGNED'} size=${t.size} vlen=${t.values.length}`,
        ...t.values.map((v) => `\t${q(v.name)} val=${v.value}`),
      ];
    case 'ENUM64':
      return [
        `${head} encoding=${t.signed ? 'SIGNED' : 'UNSIGNED'} size=${t.size} vlen=${t.values.length}`,
        ...t.values.map((v) => `\t${q(v.name)} val=${v.value}${t.signed ? 'LL' : 'ULL'}`),
      ];
    case 'FWD':
      return [`${head} fwd_kind=${t.union ? 'union' : 'struct'}`];
    case 'FUNC':
      return [`${head} type_id=${t.type} linkage=${FUNC_LINKAGE[t.linkage] ?? 'UNKN'}`];
    case 'FUNC_PROTO':
      return [`${head} ret_type_id=${t.returnType} vlen=${t.params.length}`, ...t.params.map((p) => `\t${q(p.name)} type_id=${p.type}`)];
    case 'VAR':
      return [`${head} type_id=${t.type}, linkage=${VAR_LINKAGE[t.linkage] ?? 'UNKN'}`];
    case 'DATASEC':
      return [
        `${head} size=${t.size} vlen=${t.vars.length}`,
        ...t.vars.map((v) => {
          const vt = btf.types[v.type];
          return `\ttype_id=${v.type} offset=${v.offset} size=${v.size} (${vt?.kind ?? 'UNKN'} ${q(vt?.name ?? '')})`;
        }),
      ];
    case 'FLOAT':
      return [`${head} size=${t.size}`];
    case 'DECL_TAG':
      return [`${head} type_id=${t.type} component_idx=${t.componentIdx}`];
  }
}

/** The whole BTF, own types only (split BTF skips the base), as bpftool prints it. */
export function dumpBtf(btf: Btf): string {
  const lines: string[] = [];
  for (let id = Math.max(1, btf.baseCount); id < btf.types.length; id++) lines.push(...dumpType(btf, btf.types[id]));
  return lines.join('\n') + (lines.length ? '\n' : '');
}
