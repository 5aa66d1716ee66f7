/**
 * A place a value lives in the verifier's state: a register of a frame, or
 * a stack slot of a frame (the 8-byte slot at `off`, a multiple of 8 below
 * the frame pointer, as the kernel keys its stack: fp-8 is bytes -8..-1).
 */
export type Loc = { kind: 'reg'; frame: number; reg: number } | { kind: 'slot'; frame: number; off: number };

/** MAX_CALL_FRAMES: frames 0..7. */
export const MAX_FRAMES = 8;
/** MAX_BPF_STACK. */
export const MAX_STACK = 512;

/**
 * `R3`, `r3`, `fp-8`, `frame1:R2`, `frame0:fp-8`, `fp[0]-8` (the kernel's
 * name for another frame's slot); without a frame, `frame` is the one meant.
 * Returns a sentence saying what is wrong instead of a location.
 */
export function parseLoc(text: string, frame: number): Loc | string {
  const t = text.trim();
  const fr = /^frame(\d+):(.*)$/i.exec(t);
  const f = fr ? Number(fr[1]) : frame;
  const rest = fr ? fr[2] : t;
  if (f >= MAX_FRAMES) return `'${text}': frames are 0..${MAX_FRAMES - 1}`;
  const reg = /^[rR](\d+)$/.exec(rest);
  if (reg) {
    const n = Number(reg[1]);
    if (n > 10) return `'${text}': registers are R0..R10`;
    return { kind: 'reg', frame: f, reg: n };
  }
  const slot = /^fp(?:\[(\d+)\])?-(\d+)$/.exec(rest);
  if (slot) {
    const sf = slot[1] !== undefined ? Number(slot[1]) : f;
    const n = Number(slot[2]);
    if (sf >= MAX_FRAMES) return `'${text}': frames are 0..${MAX_FRAMES - 1}`;
    if (n === 0 || n > MAX_STACK || n % 8 !== 0) return `'${text}': stack slots are fp-8, fp-16, … fp-${MAX_STACK} (8 bytes each)`;
    return { kind: 'slot', frame: sf, off: -n };
  }
  return `'${text}' is not a register (R0..R10, frame1:R2) or a stack slot (fp-8, fp[0]-8)`;
}

/** The name as the kernel's print would say it in frame `here`: `R3`, `fp-8`; `frame0:R6`, `fp[0]-8` for another frame. */
export function locName(l: Loc, here: number): string {
  if (l.kind === 'reg') return l.frame === here ? `R${l.reg}` : `frame${l.frame}:R${l.reg}`;
  return l.frame === here ? `fp${l.off}` : `fp[${l.frame}]${l.off}`;
}

export function sameLoc(a: Loc, b: Loc): boolean {
  if (a.kind === 'reg') return b.kind === 'reg' && a.frame === b.frame && a.reg === b.reg;
  return b.kind === 'slot' && a.frame === b.frame && a.off === b.off;
}
