import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenFileGate, type DropAnswer } from '../../../main/app/openFileGate';
import { BpfscopeError } from '../../../main/errors';
import { AllowedPaths, gateCall, isInside, NOT_CHOSEN } from '../../../main/host/allowedPaths';

/**
 * The set of files a window may open (main/host/allowedPaths.ts) on a real
 * file tree with symlinks, and the question the desktop app asks before a
 * dropped file opens (main/app/openFileGate.ts).
 *
 *   root/chosen.trace          a file the user chose
 *   root/served/               a folder the user opened
 *            a.trace, sub/b.trace, secret (a file also outside, see below)
 *            out -> ../outside.trace        symlink escaping the folder
 *            outdir -> ../elsewhere/inner   symlinked folder outside
 *   root/served-evil/x.trace   same prefix, another folder
 *   root/outside.trace, root/elsewhere/secret, root/elsewhere/inner/
 *   root/into -> served/a.trace             a symlink from outside into it
 */
let root = '';
const p = (...parts: string[]): string => join(root, ...parts);
/** A name exactly as written (join would fold its `..` away before the code under test sees it). */
const raw = (name: string): string => `${root}/${name}`;

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof BpfscopeError) return err.describe();
    throw err;
  }
  throw new Error('not refused');
}

beforeAll(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'bpfscope-allowed-')));
  for (const d of ['served/sub', 'served-evil', 'elsewhere/inner']) mkdirSync(p(d), { recursive: true });
  for (const f of ['chosen.trace', 'served/a.trace', 'served/sub/b.trace', 'served/secret', 'served-evil/x.trace', 'outside.trace', 'elsewhere/secret']) {
    writeFileSync(p(f), f);
  }
  symlinkSync('../outside.trace', p('served/out'));
  symlinkSync('../elsewhere/inner', p('served/outdir'));
  symlinkSync('served/a.trace', p('into'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function fresh(): AllowedPaths {
  const a = new AllowedPaths();
  a.allowFile(p('chosen.trace'));
  a.allowFolder(p('served'));
  return a;
}

describe('isInside', () => {
  it('is strictly below the folder, by whole path components', () => {
    expect(isInside('/srv/a', '/srv/a/x')).toBe(true);
    expect(isInside('/srv/a', '/srv/a/b/c')).toBe(true);
    expect(isInside('/srv/a', '/srv/a')).toBe(false);
    expect(isInside('/srv/a', '/srv/a-evil/x')).toBe(false);
    expect(isInside('/srv/a', '/srv/ab')).toBe(false);
    expect(isInside('/srv/a/', '/srv/a/x')).toBe(true);
    expect(isInside('/', '/etc/passwd')).toBe(true);
  });
});

describe('AllowedPaths', () => {
  it('a chosen file opens by any name of it, as its real path', () => {
    const a = fresh();
    const rel = relative(process.cwd(), p('chosen.trace'));
    for (const name of [p('chosen.trace'), rel, raw('served/../chosen.trace'), raw('served/sub/../../chosen.trace')]) {
      expect(a.resolve(name), name).toBe(p('chosen.trace'));
    }
  });

  it('files under an opened folder open, the folder itself does not', () => {
    const a = fresh();
    expect(a.resolve(p('served/a.trace'))).toBe(p('served/a.trace'));
    expect(a.resolve(p('served/sub/b.trace'))).toBe(p('served/sub/b.trace'));
    expect(a.resolve(raw('served/sub/../a.trace'))).toBe(p('served/a.trace'));
    expect(refusal(() => a.resolve(p('served')))).toBe(`${p('served')}: ${NOT_CHOSEN}`);
  });

  it('escapes are refused: .., a prefix sibling, symlinks out of the folder, .. after a symlink', () => {
    const a = fresh();
    for (const name of [
      raw('served/../outside.trace'),
      raw('served/sub/../../outside.trace'),
      p('served-evil/x.trace'),
      p('served/out'),
      raw('served/outdir/../secret'), // the kernel's .. after the symlink: root/elsewhere/secret, not served/secret
      '/etc/passwd',
      '/',
    ]) {
      expect(a.lookup(name), name).toBeNull();
      expect(refusal(() => a.resolve(name)), name).toBe(`${name}: ${NOT_CHOSEN}`);
    }
    // The same name resolved lexically would have been served/secret, which is allowed:
    expect(a.resolve(p('served/secret'))).toBe(p('served/secret'));
  });

  it('a symlink from elsewhere to an allowed file opens that file (what opens is what was chosen)', () => {
    expect(fresh().resolve(p('into'))).toBe(p('served/a.trace'));
  });

  it('outside what was chosen, a missing path and an existing one get the same sentence', () => {
    const a = fresh();
    const missing = [p('nope.trace'), p('elsewhere/nope'), p('served/outdir/nope'), raw('served/outdir/../nope'), p('served/out/x'), '/nonexistent/dir/x.trace', p('served-evil/nope')];
    const existing = [p('outside.trace'), p('elsewhere/secret'), p('served-evil/x.trace'), '/etc/hostname'];
    const sentences = new Set([...missing, ...existing].map((n) => refusal(() => a.resolve(n)).replace(n, 'PATH')));
    expect([...sentences]).toEqual([`PATH: ${NOT_CHOSEN}`]);
    expect(refusal(() => a.resolve(''))).toBe(`: ${NOT_CHOSEN}`);
    expect(refusal(() => a.resolve('x\0y'))).toBe(`x\0y: ${NOT_CHOSEN}`);
  });

  it('inside an opened folder, a missing file is called missing; a chosen file that went away too', () => {
    const a = fresh();
    expect(refusal(() => a.resolve(p('served/nope.trace')))).toBe(`${p('served/nope.trace')}: no such file`);
    expect(refusal(() => a.resolve(p('served/sub/nope')))).toBe(`${p('served/sub/nope')}: no such file`);
    writeFileSync(p('gone.trace'), 'x');
    a.allowFile(p('gone.trace'));
    unlinkSync(p('gone.trace'));
    expect(refusal(() => a.resolve(p('gone.trace')))).toBe(`${p('gone.trace')}: no such file`);
    // Put back as a symlink to somewhere else: the name is no longer the file chosen.
    symlinkSync('outside.trace', p('gone.trace'));
    expect(refusal(() => a.resolve(p('gone.trace')))).toBe(`${p('gone.trace')}: ${NOT_CHOSEN}`);
    unlinkSync(p('gone.trace'));
  });

  it('choosing: a file must be a file, a folder a folder, and both must exist', () => {
    const a = new AllowedPaths();
    expect(refusal(() => a.allowFile(p('served')))).toMatch(/is a folder, not a file$/);
    expect(refusal(() => a.allowFolder(p('chosen.trace')))).toMatch(/is a file, not a folder$/);
    expect(refusal(() => a.allowFile(p('nope')))).toBe(`${p('nope')}: no such file`);
    expect(refusal(() => a.allowFolder(p('nope')))).toBe(`${p('nope')}: no such folder`);
    expect(a.allowFolder(p('served/outdir'))).toBe(p('elsewhere/inner'));
  });

  it('gateCall puts the real path into trace:open and leaves other calls alone', () => {
    const a = fresh();
    expect(gateCall(a, 'trace:open', [raw('served/sub/../a.trace')])).toEqual([p('served/a.trace')]);
    expect(() => gateCall(a, 'trace:open', [p('outside.trace')])).toThrow(NOT_CHOSEN);
    expect(gateCall(a, 'steps:state', [1, 2, 3])).toEqual([1, 2, 3]);
    // Not a string: left to argument validation, which refuses it.
    expect(gateCall(a, 'trace:open', [7])).toEqual([7]);
    expect(gateCall(a, '__proto__', [p('outside.trace')])).toEqual([p('outside.trace')]);
  });
});

describe('OpenFileGate (app:open-file from the renderer)', () => {
  function gate(answers: DropAnswer[]): { g: OpenFileGate; asked: string[]; a: AllowedPaths } {
    const a = fresh();
    const asked: string[] = [];
    return { a, asked, g: new OpenFileGate(a, async (path) => (asked.push(path), answers.shift() ?? { open: false, allowFolder: false })) };
  }

  it('a file already chosen opens without a question', async () => {
    const { g, asked } = gate([]);
    expect(await g.admit(p('served/a.trace'))).toBe(p('served/a.trace'));
    expect(asked).toEqual([]);
  });

  it('any other path is asked about, existing or not; no is the sentence, yes opens it from then on', async () => {
    const { g, asked, a } = gate([{ open: false, allowFolder: false }, { open: false, allowFolder: false }, { open: true, allowFolder: false }]);
    await expect(g.admit(p('outside.trace'))).rejects.toThrow(NOT_CHOSEN);
    await expect(g.admit(p('nope.o'))).rejects.toThrow(NOT_CHOSEN);
    expect(await g.admit(p('outside.trace'))).toBe(p('outside.trace'));
    expect(asked).toEqual([p('outside.trace'), p('nope.o'), p('outside.trace')]);
    expect(a.lookup(p('outside.trace'))).toBe(p('outside.trace'));
    expect(a.lookup(p('elsewhere/secret'))).toBeNull();
  });

  it('yes for the folder opens its other files without asking', async () => {
    const { g, asked } = gate([{ open: true, allowFolder: true }]);
    expect(await g.admit(raw('elsewhere/inner/../secret'))).toBe(p('elsewhere/secret'));
    writeFileSync(p('elsewhere/other.log'), 'x');
    expect(await g.admit(p('elsewhere/other.log'))).toBe(p('elsewhere/other.log'));
    expect(asked).toHaveLength(1);
  });

  it('one question at a time: a second drop while the first is asked is refused', async () => {
    let answer: (a: DropAnswer) => void = () => undefined;
    const g = new OpenFileGate(fresh(), () => new Promise((r) => (answer = r)));
    const first = g.admit(p('outside.trace'));
    await expect(g.admit(p('elsewhere/secret'))).rejects.toThrow(/waiting for your answer/);
    answer({ open: true, allowFolder: false });
    expect(await first).toBe(p('outside.trace'));
  });

  it('yes to a path that does not exist: it is missing (the user named it)', async () => {
    const { g } = gate([{ open: true, allowFolder: false }]);
    await expect(g.admit(p('nope.o'))).rejects.toThrow(/no such file/);
  });
});
