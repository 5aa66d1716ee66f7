import { app, BrowserWindow, dialog, ipcMain, Menu, session, shell, type IpcMainInvokeEvent } from 'electron';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CHANNELS, type DesktopEvents } from '../api/contract';
import { validateArgs } from '../api/validate';
import { BpfscopeError } from '../errors';
import { AllowedPaths, gateCall } from '../host/allowedPaths';
import { CSP } from '../host/csp';
import { sniff } from '../host/sniff';
import { DataProcess } from './dataProcess';
import { OpenFileGate, type DropAnswer } from './openFileGate';
import { RecentFiles } from './recent';
import { runToTrace } from './recorder';

/**
 * The desktop shell: one window, menus, dialogs, drag and drop, recording.
 * Trace data comes from a Node child process (see dataProcess.ts); this
 * process only validates and forwards, so the window never waits on SQLite.
 */
const ROOT = resolve(app.getAppPath());
const data = new DataProcess(ROOT);
const recent = new RecentFiles(join(app.getPath('userData'), 'recent.json'));
/**
 * What the window may open: files chosen on the command line, in a dialog,
 * from File ▸ Recent, confirmed drops and their folders when the user said
 * so, and the traces recordings and imports made. The data process opens
 * what main forwards, so main checks every path the renderer names.
 */
const allowed = new AllowedPaths();
const drops = new OpenFileGate(allowed, askAboutDrop);
let win: BrowserWindow | null = null;

function send<E extends keyof DesktopEvents>(event: E, ...args: DesktopEvents[E]): void {
  win?.webContents.send(event, ...args);
}

function rendererUrl(): string {
  if (process.env.ELECTRON_RENDERER_URL) return process.env.ELECTRON_RENDERER_URL;
  return pathToFileURL(join(import.meta.dirname, '../renderer/index.html')).href;
}

/** Only our own page may call the API. */
function fromOurPage(e: IpcMainInvokeEvent): boolean {
  const url = e.senderFrame?.url ?? '';
  const ours = rendererUrl();
  return url.split(/[?#]/)[0] === ours.split(/[?#]/)[0];
}

/** Open a file the user chose here (dialog, menu): allowed from now on. */
async function openChosen(path: string): Promise<void> {
  let real: string;
  try {
    real = allowed.allowFile(path);
  } catch (err) {
    send('app:error', err instanceof Error ? err.message : String(err));
    return;
  }
  await openFile(real);
}

/** Open an allowed file: a trace opens, a log is imported, an object is recorded. */
async function openFile(path: string): Promise<void> {
  try {
    const kind = sniff(path);
    if (kind === 'trace') {
      recent.add(path);
      buildMenu();
      send('app:open-trace', path);
      return;
    }
    const cmd = kind === 'object' ? 'record' : 'import';
    send('app:progress', { phase: cmd === 'record' ? 'recording' : 'importing', done: 0, total: null, message: path });
    const trace = allowed.allowFile(await runToTrace(ROOT, cmd, path, (p) => send('app:progress', p)));
    send('app:progress', null);
    recent.add(path);
    buildMenu();
    send('app:open-trace', trace);
  } catch (err) {
    send('app:progress', null);
    send('app:error', err instanceof Error ? err.message : String(err));
  }
}

const FILTERS = {
  object: [{ name: 'BPF object', extensions: ['o'] }],
  log: [{ name: 'Verifier log', extensions: ['log', 'txt'] }, { name: 'All files', extensions: ['*'] }],
  trace: [{ name: 'bpfscope trace', extensions: ['trace', 'sqlite', 'db'] }],
} as const;

async function openDialog(kind: keyof typeof FILTERS): Promise<void> {
  if (!win) return;
  const titles = { object: 'Open BPF object', log: 'Import verifier log', trace: 'Open trace' };
  const r = await dialog.showOpenDialog(win, {
    title: titles[kind],
    properties: ['openFile'],
    filters: FILTERS[kind].map((f) => ({ name: f.name, extensions: [...f.extensions] })),
  });
  if (!r.canceled && r.filePaths[0]) await openChosen(r.filePaths[0]);
}

/** The compare view's trace B: a trace chosen here is allowed, and the view opens it (it does not replace trace A). */
async function compareDialog(): Promise<void> {
  if (!win) return;
  const r = await dialog.showOpenDialog(win, {
    title: 'Compare with trace',
    properties: ['openFile'],
    filters: FILTERS.trace.map((f) => ({ name: f.name, extensions: [...f.extensions] })),
  });
  if (r.canceled || !r.filePaths[0]) return;
  try {
    send('app:compare-trace', allowed.allowFile(r.filePaths[0]));
  } catch (err) {
    send('app:error', err instanceof Error ? err.message : String(err));
  }
}

/** The native question before a dropped file the user has not chosen otherwise opens (see OpenFileGate). */
async function askAboutDrop(path: string): Promise<DropAnswer> {
  if (!win) return { open: false, allowFolder: false };
  const r = await dialog.showMessageBox(win, {
    type: 'question',
    message: `Open ${basename(path)}?`,
    detail:
      `${path}\n\nA trace opens, a log is imported, an object is recorded (its programs are loaded into the kernel). ` +
      'bpfscope asks because the page a file is dropped on cannot prove which file it was.',
    buttons: ['Open', 'Cancel'],
    defaultId: 0,
    cancelId: 1,
    checkboxLabel: `Open files from ${dirname(path)} without asking`,
  });
  return { open: r.response === 0, allowFolder: r.response === 0 && r.checkboxChecked };
}

function buildMenu(): void {
  const recents = recent.list();
  const template: Electron.MenuItemConstructorOptions[] = [
    {
      label: 'File',
      submenu: [
        { label: 'Open Object…', accelerator: 'CmdOrCtrl+O', click: () => void openDialog('object') },
        { label: 'Import Log…', accelerator: 'CmdOrCtrl+I', click: () => void openDialog('log') },
        { label: 'Open Trace…', accelerator: 'CmdOrCtrl+Shift+O', click: () => void openDialog('trace') },
        {
          label: 'Recent',
          submenu: recents.length
            ? recents.map((p) => ({ label: p, click: () => void openChosen(p) }))
            : [{ label: 'No recent files', enabled: false }],
        },
        { type: 'separator' },
        { role: 'quit' },
      ],
    },
    {
      label: 'View',
      submenu: [
        { label: 'Dark Theme', click: () => send('app:theme', 'dark') },
        { label: 'Light Theme', click: () => send('app:theme', 'light') },
        { label: 'System Theme', click: () => send('app:theme', 'system') },
        { type: 'separator' },
        { role: 'reload' },
        { role: 'toggleDevTools' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { role: 'togglefullscreen' },
      ],
    },
    {
      label: 'Help',
      submenu: [
        {
          label: 'Keyboard',
          click: () =>
            void dialog.showMessageBox({
              message: 'bpfscope keys',
              detail:
                '↓/j next step · ↑/k previous step · n/N next/previous visit of this insn · ' +
                'b branch that started this path · e first error · g go to step/line/insn · / search',
            }),
        },
        { label: 'BPF verifier docs', click: () => void shell.openExternal('https://docs.kernel.org/bpf/verifier.html') },
        { label: `About bpfscope ${app.getVersion()}`, click: () => void dialog.showMessageBox({ message: `bpfscope ${app.getVersion()}` }) },
      ],
    },
  ];
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}

function createWindow(initialTrace?: string): void {
  win = new BrowserWindow({
    width: 1440,
    height: 900,
    backgroundColor: '#15171c',
    title: 'bpfscope',
    webPreferences: {
      preload: join(import.meta.dirname, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  });
  // No remote content: navigation away is refused, links go to the system browser.
  win.webContents.on('will-navigate', (e, url) => {
    if (url !== win?.webContents.getURL()) e.preventDefault();
  });
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (/^https:\/\//.test(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  // A trace named on the command line opens directly (the page reads ?trace=), not after the example.
  const url = new URL(rendererUrl());
  if (initialTrace) url.searchParams.set('trace', initialTrace);
  void win.loadURL(url.href);
  win.on('closed', () => (win = null));
}

function registerIpc(): void {
  for (const channel of CHANNELS) {
    ipcMain.handle(channel, async (e, ...args: unknown[]) => {
      if (!fromOurPage(e)) return { error: 'call from an unknown page refused' };
      let forward: unknown[];
      try {
        validateArgs(channel, args);
        // A path goes on as the real path of a file the user chose, or not at all.
        forward = gateCall(allowed, channel, args) as unknown[];
      } catch (err) {
        return { error: err instanceof BpfscopeError ? err.describe() : err instanceof Error ? err.message : String(err) };
      }
      return data.call(channel, forward);
    });
  }
  ipcMain.handle('app:open-file', async (e, path: unknown) => {
    if (!fromOurPage(e)) return { error: 'call from an unknown page refused' };
    if (typeof path !== 'string' || !path || path.length > 4096 || path.includes('\0')) {
      return { error: 'app:open-file takes a file path' };
    }
    // Answered at once; what happens (the question, the opening, a refusal) comes as events.
    void drops.admit(path).then(openFile, (err: unknown) => send('app:error', err instanceof BpfscopeError ? err.describe() : String(err)));
    return { result: null };
  });
  ipcMain.handle('app:open-dialog', async (e, kind: unknown) => {
    if (!fromOurPage(e)) return { error: 'call from an unknown page refused' };
    if (kind === 'compare') {
      await compareDialog();
      return { result: null };
    }
    if (kind !== 'object' && kind !== 'log' && kind !== 'trace') return { error: 'app:open-dialog takes object, log, trace or compare' };
    await openDialog(kind);
    return { result: null };
  });
}

app.whenReady().then(() => {
  session.defaultSession.webRequest.onHeadersReceived((details, cb) => {
    cb({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false));
  registerIpc();
  // Files opened in an earlier session (File ▸ Recent) were chosen then.
  for (const p of recent.list()) {
    try {
      allowed.allowFile(p);
    } catch {
      // gone since: the list drops it
    }
  }
  buildMenu();
  // A file on the command line (`npm start -- x.trace`): a trace opens with the page,
  // a log or an object is imported or recorded once the page is up.
  const arg = process.argv.slice(1).find((a) => !a.startsWith('-') && a !== '.' && !a.endsWith('.js'));
  let file = arg ? resolve(arg) : undefined;
  let kind: string | undefined;
  try {
    if (file) file = allowed.allowFile(file);
    kind = file ? sniff(file) : undefined;
  } catch {
    kind = undefined;
  }
  createWindow(kind === 'trace' ? file : undefined);
  if (file && kind !== 'trace') win?.webContents.once('did-finish-load', () => void openFile(file));
});

app.on('window-all-closed', () => {
  data.stop();
  app.quit();
});
