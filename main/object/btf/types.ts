/**
 * One TypeScript type per BTF kind (include/uapi/linux/btf.h). Ids are the
 * kernel's: 0 is void, the first type in the section is 1. Names are already
 * resolved from the string section ('' for anonymous types).
 */

export const BTF_KIND = {
  UNKN: 0,
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

export type BtfKindName = keyof typeof BTF_KIND;

export const BTF_KIND_NAMES: readonly BtfKindName[] = [
  'UNKN', 'INT', 'PTR', 'ARRAY', 'STRUCT', 'UNION', 'ENUM', 'FWD', 'TYPEDEF', 'VOLATILE',
  'CONST', 'RESTRICT', 'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC', 'FLOAT', 'DECL_TAG', 'TYPE_TAG', 'ENUM64',
];

/** BTF_INT_* encoding bits. */
export const BTF_INT_SIGNED = 1;
export const BTF_INT_CHAR = 2;
export const BTF_INT_BOOL = 4;

interface Base {
  id: number;
  name: string;
}

export interface BtfVoid extends Base {
  kind: 'VOID';
}
export interface BtfInt extends Base {
  kind: 'INT';
  size: number;
  /** BTF_INT_SIGNED | BTF_INT_CHAR | BTF_INT_BOOL. */
  encoding: number;
  bitsOffset: number;
  bits: number;
}
export interface BtfPtr extends Base {
  kind: 'PTR';
  type: number;
}
export interface BtfArray extends Base {
  kind: 'ARRAY';
  type: number;
  indexType: number;
  nelems: number;
}
export interface BtfMember {
  name: string;
  type: number;
  /** Offset from the start of the struct in bits (kind_flag: the low 24 bits). */
  bitsOffset: number;
  /** Bit-field width when the struct has kind_flag set and the member is a bit-field, else 0. */
  bitfieldSize: number;
}
export interface BtfComposite extends Base {
  kind: 'STRUCT' | 'UNION';
  size: number;
  /** kind_flag: members' offsets carry bit-field sizes. */
  kindFlag: boolean;
  members: BtfMember[];
}
export interface BtfEnumValue {
  name: string;
  /** ENUM values are 32-bit; ENUM64 64-bit; both as bigint, signed if the enum is. */
  value: bigint;
}
export interface BtfEnum extends Base {
  kind: 'ENUM' | 'ENUM64';
  size: number;
  /** kind_flag: the values are signed. */
  signed: boolean;
  values: BtfEnumValue[];
}
export interface BtfFwd extends Base {
  kind: 'FWD';
  /** kind_flag: a forward-declared union, else a struct. */
  union: boolean;
}
export interface BtfRef extends Base {
  kind: 'TYPEDEF' | 'VOLATILE' | 'CONST' | 'RESTRICT';
  type: number;
}
export interface BtfTypeTag extends Base {
  kind: 'TYPE_TAG';
  type: number;
  /** kind_flag (newer kernels): the tag is an __attribute__ rather than a tag. */
  attr: boolean;
}
export const BTF_FUNC_STATIC = 0;
export const BTF_FUNC_GLOBAL = 1;
export const BTF_FUNC_EXTERN = 2;
export interface BtfFunc extends Base {
  kind: 'FUNC';
  /** The FUNC_PROTO. */
  type: number;
  /** BTF_FUNC_STATIC / GLOBAL / EXTERN (the vlen field). */
  linkage: number;
}
export interface BtfParam {
  name: string;
  type: number;
}
export interface BtfFuncProto extends Base {
  kind: 'FUNC_PROTO';
  returnType: number;
  params: BtfParam[];
}
export const BTF_VAR_STATIC = 0;
export const BTF_VAR_GLOBAL_ALLOCATED = 1;
export const BTF_VAR_GLOBAL_EXTERN = 2;
export interface BtfVar extends Base {
  kind: 'VAR';
  type: number;
  linkage: number;
}
export interface BtfVarSecinfo {
  type: number;
  offset: number;
  size: number;
}
export interface BtfDatasec extends Base {
  kind: 'DATASEC';
  size: number;
  vars: BtfVarSecinfo[];
}
export interface BtfFloat extends Base {
  kind: 'FLOAT';
  size: number;
}
export interface BtfDeclTag extends Base {
  kind: 'DECL_TAG';
  type: number;
  /** -1: the tag is on the type itself; else the member or parameter index. */
  componentIdx: number;
  attr: boolean;
}

export type BtfType =
  | BtfVoid
  | BtfInt
  | BtfPtr
  | BtfArray
  | BtfComposite
  | BtfEnum
  | BtfFwd
  | BtfRef
  | BtfTypeTag
  | BtfFunc
  | BtfFuncProto
  | BtfVar
  | BtfDatasec
  | BtfFloat
  | BtfDeclTag;

export type BtfTypeKind = BtfType['kind'];

export interface BtfHeader {
  magic: number;
  version: number;
  flags: number;
  hdrLen: number;
  typeOff: number;
  typeLen: number;
  strOff: number;
  strLen: number;
}

export interface Btf {
  header: BtfHeader;
  /** types[id]; types[0] is void. For split BTF, ids below `baseCount` belong to the base. */
  types: BtfType[];
  /** The string section (names are resolved already; kept for BTF.ext and line info). */
  strings: Uint8Array;
  /** Number of types taken from a base BTF (split BTF), 0 otherwise; own ids start at baseCount || 1. */
  baseCount: number;
  /** String offset where this BTF's own strings start (split BTF), 0 otherwise. */
  baseStrLen: number;
  /** The base BTF's string section (split BTF), to resolve offsets below baseStrLen. */
  baseStrings?: Uint8Array;
}
