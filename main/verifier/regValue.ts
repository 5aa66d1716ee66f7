import {
  asS32, asS64, asU32, asU64, hex, parseNum, smallInt,
  S32_MAX, S32_MIN, S64_MAX, S64_MIN, U32_MAX, U64_MAX,
} from './numbers';

/**
 * One register value decoded from the kernel's text (`print_reg_state` in
 * kernel/bpf/log.c, and the older `print_verifier_state` spellings of 5.15).
 * `raw` is always the kernel's own text; everything else is derived from it.
 * Number conventions: see numbers.ts (64-bit bounds are decimal strings).
 */
export interface RegValue {
  raw: string;
  /** The type as printed without modifiers' attributes: `scalar`, `ctx`, `fp`, `map_value`, `ptr_or_null_foo`, `trusted_ptr_task_struct`. */
  type: string;
  /** The base type with prefixes and `_or_null` removed: `scalar`, `ptr`, `map_value`, `mem`. */
  baseType: string;
  /** For `ptr_TYPE` pointers: the BTF type name. */
  pointee: string | null;
  /** `rdonly`, `rcu`, `trusted`, `untrusted`, `percpu`, `user`, `ringbuf`, `alloc`… as printed before the base type. */
  modifiers: string[];
  orNull: boolean;
  nonOwnRef: boolean;
  id: number | null;
  refObjId: number | null;
  off: number | null;
  smin: string | null;
  smax: string | null;
  umin: string | null;
  umax: string | null;
  smin32: number | null;
  smax32: number | null;
  umin32: number | null;
  umax32: number | null;
  varOff: { value: string; mask: string } | null;
  precise: boolean;
  /** map= (6.7+), ks=, vs= of map pointers and map values. */
  map: string | null;
  ks: number | null;
  vs: number | null;
  /** r= (packet range), sz= (mem size), imm=, and any other attribute, as printed. */
  attrs: Record<string, string>;
  /** For `fp-8` / `fp[1]-8`: the frame the stack pointer points into (null: the register's own frame). */
  fpFrame: number | null;
  /** The value could not be decoded: kept verbatim. */
  unparsed: boolean;
}

interface Bounds {
  smin: bigint; smax: bigint; umin: bigint; umax: bigint;
  smin32: number; smax32: number; umin32: number; umax32: number;
  tv: bigint; tm: bigint;
}

function unknownBounds(): Bounds {
  return {
    smin: S64_MIN, smax: S64_MAX, umin: 0n, umax: U64_MAX,
    smin32: S32_MIN, smax32: S32_MAX, umin32: 0, umax32: U32_MAX,
    tv: 0n, tm: U64_MAX,
  };
}

function constBounds(v: bigint): Bounds {
  return {
    smin: asS64(v), smax: asS64(v), umin: asU64(v), umax: asU64(v),
    smin32: asS32(v), smax32: asS32(v), umin32: asU32(v), umax32: asU32(v),
    tv: asU64(v), tm: 0n,
  };
}

/** Range keys of every kernel generation, mapped to one name. */
const RANGE_KEYS: Record<string, keyof Bounds> = {
  smin: 'smin', smax: 'smax', umin: 'umin', umax: 'umax',
  smin32: 'smin32', smax32: 'smax32', umin32: 'umin32', umax32: 'umax32',
  smin_value: 'smin', smax_value: 'smax', umin_value: 'umin', umax_value: 'umax',
  s32_min_value: 'smin32', s32_max_value: 'smax32', u32_min_value: 'umin32', u32_max_value: 'umax32',
  s32_min: 'smin32', s32_max: 'smax32', u32_min: 'umin32', u32_max: 'umax32',
};

/**
 * How the kernel chose which range keys to omit.
 * - 'modern' (6.7+, print_scalar_ranges): a key is omitted when it holds its
 *   type's default (S64_MIN, U64_MAX, ...).
 * - 'legacy' (5.x to 6.6): smin/smax were also omitted when equal to
 *   umin/umax, and the 32-bit keys when equal to their 64-bit ones; an omitted
 *   key is then derived the way the kernel keeps bounds in sync.
 */
export type RangeStyle = 'modern' | 'legacy';

const PREFIXES = ['rdonly', 'rdwr', 'rcu', 'trusted', 'untrusted', 'percpu', 'user', 'ringbuf', 'alloc'];

function emptyValue(raw: string): RegValue {
  return {
    raw, type: '', baseType: '', pointee: null, modifiers: [], orNull: false, nonOwnRef: false,
    id: null, refObjId: null, off: null,
    smin: null, smax: null, umin: null, umax: null,
    smin32: null, smax32: null, umin32: null, umax32: null,
    varOff: null, precise: false, map: null, ks: null, vs: null, attrs: {}, fpFrame: null, unparsed: false,
  };
}

function setBounds(v: RegValue, b: Bounds): void {
  v.smin = b.smin.toString();
  v.smax = b.smax.toString();
  v.umin = b.umin.toString();
  v.umax = b.umax.toString();
  v.smin32 = b.smin32;
  v.smax32 = b.smax32;
  v.umin32 = b.umin32;
  v.umax32 = b.umax32;
  v.varOff = { value: hex(b.tv), mask: hex(b.tm) };
}

/**
 * Split `a=1,b=(0x0; 0xff),c` at top-level commas. Returns undefined when the
 * parentheses do not balance (a cut line): the caller keeps the raw text.
 */
function splitAttrs(body: string): string[] | undefined {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c === 40) depth++;
    else if (c === 41) {
      depth--;
      if (depth < 0) return undefined;
    } else if (c === 44 && depth === 0) {
      out.push(body.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) return undefined;
  if (start < body.length) out.push(body.slice(start));
  return out;
}

/** Apply `key=key2=value` attributes; returns false on a malformed attribute. */
function applyAttrs(v: RegValue, parts: string[], bounds: Bounds, seen: { ranges: boolean; keys: Set<string> }): boolean {
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (part === 'non_own_ref') v.nonOwnRef = true;
      else if (part.length > 0) v.attrs[part] = '';
      continue;
    }
    // Merged keys (`smin=smin32=0`): every name before the last '=' gets the value.
    const pieces = part.split('=');
    const value = pieces[pieces.length - 1];
    const keys = pieces.slice(0, -1);
    if (keys[0] === 'var_off') {
      const m = /^\((0x[0-9a-f]+); (0x[0-9a-f]+)\)$/i.exec(value);
      if (!m) return false;
      bounds.tv = BigInt(m[1]);
      bounds.tm = BigInt(m[2]);
      seen.ranges = true;
      continue;
    }
    for (const key of keys) {
      const range = RANGE_KEYS[key];
      if (range) {
        const n = parseNum(value);
        if (n === undefined) return false;
        seen.ranges = true;
        seen.keys.add(range);
        if (range === 'smin' || range === 'smax') bounds[range] = asS64(n);
        else if (range === 'umin' || range === 'umax') bounds[range] = asU64(n);
        else if (range === 'smin32' || range === 'smax32') bounds[range] = asS32(n);
        else if (range === 'umin32' || range === 'umax32') bounds[range] = asU32(n);
        continue;
      }
      switch (key) {
        case 'id': v.id = smallInt(value) ?? null; break;
        case 'ref_obj_id': v.refObjId = smallInt(value) ?? null; break;
        case 'off': v.off = smallInt(value) ?? null; break;
        case 'map': v.map = value; break;
        case 'ks': v.ks = smallInt(value) ?? null; break;
        case 'vs': v.vs = smallInt(value) ?? null; break;
        default: v.attrs[key] = value;
      }
    }
  }
  return true;
}

/** Decompose a type name into base type, prefixes, `_or_null` and the pointee. */
function decomposeType(v: RegValue, name: string): void {
  v.type = name;
  let rest = name;
  const mods: string[] = [];
  for (;;) {
    const p = PREFIXES.find((x) => rest.startsWith(`${x}_`) && rest.length > x.length + 1);
    // `ringbuf_mem` and `rdonly_buf`/`rdwr_buf` are base types of their own in the kernel's table.
    if (!p || rest === 'ringbuf_mem' || rest === 'rdonly_buf' || rest === 'rdwr_buf') break;
    mods.push(p);
    rest = rest.slice(p.length + 1);
  }
  if (rest.startsWith('ptr_or_null_')) {
    v.orNull = true;
    rest = `ptr_${rest.slice('ptr_or_null_'.length)}`;
  }
  if (rest.endsWith('_or_null')) {
    v.orNull = true;
    rest = rest.slice(0, -'_or_null'.length);
  }
  if (rest.startsWith('ptr_') && rest.length > 4) {
    v.pointee = rest.slice(4);
    rest = 'ptr';
  }
  v.modifiers = mods;
  v.baseType = rest;
}

/**
 * Decode one register or spilled-slot value. Never throws: text it cannot
 * decode comes back with `unparsed: true` and the raw text.
 */
export function parseRegValue(raw: string, style: RangeStyle = 'modern'): RegValue {
  const v = emptyValue(raw);
  let text = raw;
  // `P` marks a precise scalar (5.17+): `P5`, `Pscalar(...)`, `P-1`.
  if (text.startsWith('P') && (text.length > 1 && /[-0-9s]/.test(text[1]))) {
    v.precise = true;
    text = text.slice(1);
  }
  // Bare constant: `5`, `-1`, `0xffffffff`.
  const bare = parseNum(text);
  if (bare !== undefined) {
    decomposeType(v, 'scalar');
    setBounds(v, constBounds(bare));
    return v;
  }
  // 5.15: `inv`, `invP`, `inv5`, `invP5`, `inv(id=0,umax_value=255,...)`.
  const inv = /^inv(P?)(.*)$/.exec(text);
  if (inv) {
    if (inv[1]) v.precise = true;
    decomposeType(v, 'scalar');
    const tail = inv[2];
    if (tail === '') {
      setBounds(v, unknownBounds());
      return v;
    }
    const c = parseNum(tail);
    if (c !== undefined) {
      setBounds(v, constBounds(c));
      return v;
    }
    text = `scalar${tail}`;
  }
  // fp-8, fp0, fp[1]-8 (a pointer into another frame's stack).
  const fp = /^fp(?:\[(\d+)\])?(-?\d+)$/.exec(text);
  if (fp) {
    decomposeType(v, 'fp');
    v.fpFrame = fp[1] !== undefined ? Number(fp[1]) : null;
    v.off = Number(fp[2]);
    setBounds(v, constBounds(0n));
    return v;
  }
  const m = /^([a-z_][a-z0-9_]*)(?:\((.*)\))?$/i.exec(text);
  if (!m) {
    v.unparsed = true;
    v.type = 'unknown';
    v.baseType = 'unknown';
    return v;
  }
  decomposeType(v, m[1]);
  const isScalar = v.baseType === 'scalar';
  const bounds = isScalar ? unknownBounds() : constBounds(0n);
  const seen = { ranges: false, keys: new Set<string>() };
  if (m[2] !== undefined && m[2].length > 0) {
    const parts = splitAttrs(m[2]);
    if (!parts || !applyAttrs(v, parts, bounds, seen)) {
      v.unparsed = true;
      return v;
    }
  }
  if (isScalar && style === 'legacy' && !(bounds.tm === 0n && !seen.ranges)) deriveLegacy(bounds, seen.keys);
  if (!isScalar && seen.ranges && !m[2]?.includes('var_off')) {
    // A pointer with a variable offset prints its ranges; its tnum, when not
    // printed, is unknown within them.
    bounds.tm = U64_MAX;
  }
  setBounds(v, bounds);
  return v;
}

/** Fill the keys a 5.x–6.6 kernel left out because they equalled another one (see RangeStyle). */
function deriveLegacy(b: Bounds, keys: Set<string>): void {
  if (!keys.has('smin')) b.smin = b.umax <= S64_MAX ? b.umin : S64_MIN;
  if (!keys.has('smax')) b.smax = b.umax <= S64_MAX ? b.umax : S64_MAX;
  if (!keys.has('smin32')) b.smin32 = b.smin >= BigInt(S32_MIN) && b.smin <= BigInt(S32_MAX) ? Number(b.smin) : S32_MIN;
  if (!keys.has('smax32')) b.smax32 = b.smax >= BigInt(S32_MIN) && b.smax <= BigInt(S32_MAX) ? Number(b.smax) : S32_MAX;
  if (!keys.has('umin32')) b.umin32 = b.umin <= BigInt(U32_MAX) ? Number(b.umin) : 0;
  if (!keys.has('umax32')) b.umax32 = b.umax <= BigInt(U32_MAX) ? Number(b.umax) : U32_MAX;
}
