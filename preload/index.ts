import { contextBridge, ipcRenderer, webUtils } from 'electron';
import { DESKTOP_EVENTS, makeApi, type DesktopEvents } from '../main/api/contract';

/**
 * The preload exposes the typed API and nothing else. Main answers every
 * call with `{result}` or `{error}` (the BpfscopeError sentence), so the
 * renderer gets the same rejection text as in the browser host.
 */
async function unwrap(p: Promise<unknown>): Promise<unknown> {
  const r = (await p) as { result?: unknown; error?: string };
  if (r && typeof r.error === 'string') throw new Error(r.error);
  return r?.result ?? null;
}

const api = {
  ...makeApi((channel, args) => unwrap(ipcRenderer.invoke(channel, ...args))),
  desktop: {
    openFile: (path: string) => unwrap(ipcRenderer.invoke('app:open-file', path)),
    openDialog: (kind: 'object' | 'log' | 'trace' | 'compare') => unwrap(ipcRenderer.invoke('app:open-dialog', kind)),
    /** A dropped File's path (sandboxed renderers cannot read File.path). */
    pathForFile: (file: File): string => webUtils.getPathForFile(file),
    on<E extends keyof DesktopEvents>(event: E, cb: (...args: DesktopEvents[E]) => void): void {
      if (!DESKTOP_EVENTS.includes(event)) return;
      ipcRenderer.on(event, (_e, ...args) => cb(...(args as DesktopEvents[E])));
    },
  },
};

export type DesktopApi = typeof api;

contextBridge.exposeInMainWorld('api', api);
