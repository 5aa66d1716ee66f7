import { makeApi, type Api, type DesktopEvents } from '../../main/api/contract';

/** What the preload exposes under Electron: the same Api plus desktop calls. */
export interface DesktopBridge {
  openFile(path: string): Promise<unknown>;
  openDialog(kind: 'object' | 'log' | 'trace' | 'compare'): Promise<unknown>;
  pathForFile(file: File): string;
  on<E extends keyof DesktopEvents>(event: E, cb: (...args: DesktopEvents[E]) => void): void;
}

declare global {
  interface Window {
    api?: Api & { desktop: DesktopBridge };
  }
}

/**
 * The browser host's client: same Api, over POST /api/CHANNEL with the
 * token from the URL (kept in sessionStorage so a reload without it works).
 */
function httpApi(): Api {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) sessionStorage.setItem('bpfscope-token', fromUrl);
  const token = fromUrl ?? sessionStorage.getItem('bpfscope-token') ?? '';
  return makeApi(async (channel, args) => {
    const res = await fetch(`./api/${encodeURIComponent(channel)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-bpfscope-token': token },
      body: JSON.stringify(args),
    });
    if (!res.ok) throw new Error(`${channel}: HTTP ${res.status}: ${await res.text()}`);
    const body = (await res.json()) as { result?: unknown; error?: string };
    if (typeof body.error === 'string') throw new Error(body.error);
    return body.result;
  });
}

export const api: Api = window.api ?? httpApi();
export const desktop: DesktopBridge | null = window.api?.desktop ?? null;
