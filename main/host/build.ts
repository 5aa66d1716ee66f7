import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root (this file is main/host/build.ts). */
export const ROOT = resolve(import.meta.dirname, '../..');
export const RENDERER_OUT = join(ROOT, 'out/renderer');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * The browser host serves the same bundle electron-vite builds for the
 * window. When it is missing or older than the sources (a checkout, an
 * edit), build it with vite first: a few seconds, once.
 */
export async function ensureRendererBuilt(log: (msg: string) => void): Promise<string> {
  const index = join(RENDERER_OUT, 'index.html');
  const sources = Math.max(newest(join(ROOT, 'renderer')), statSync(join(ROOT, 'main/api/contract.ts')).mtimeMs);
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return RENDERER_OUT;
  log('building the renderer (vite)…');
  const { build } = await import('vite');
  await build({
    root: join(ROOT, 'renderer'),
    base: './',
    logLevel: 'warn',
    configFile: false,
    build: { outDir: RENDERER_OUT, emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  });
  return RENDERER_OUT;
}
