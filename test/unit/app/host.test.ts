import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandlers } from '../../../main/api/handlers';
import { AllowedPaths, NOT_CHOSEN } from '../../../main/host/allowedPaths';
import { startHost, type Host } from '../../../main/host/server';

/**
 * The browser host's guards (token, Host header, loopback only, no path
 * escapes, only the files the user chose), its API over HTTP, and the stdio
 * data process, on a trace imported from a kernel log fixture.
 */
const ROOT = join(import.meta.dirname, '../../..');
const BIN = join(ROOT, 'main/bin.mjs');
const LOG = join(ROOT, 'test/fixtures/logs/list.list_push.log');
const OBJ = join(ROOT, 'resources/progs/list.bpf.o');

let dir = '';
let trace = '';
let host: Host;
const handlers = createHandlers();
const allowed = new AllowedPaths();

/** A raw request, so that paths and headers go out exactly as written. */
function raw(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: host.port, path, method: opts.method ?? 'GET', headers: { host: `127.0.0.1:${host.port}`, ...opts.headers } },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

const api = (channel: string, args: unknown[], headers: Record<string, string> = { 'x-bpfscope-token': host.token }) =>
  raw(`/api/${channel}`, { method: 'POST', headers, body: JSON.stringify(args) });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bpfscope-host-'));
  trace = join(dir, 'list.trace');
  const r = spawnSync(process.execPath, [BIN, 'import', LOG, '--object', OBJ, '-p', 'list_push', '-o', trace], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const site = join(dir, 'site');
  spawnSync('mkdir', ['-p', site]);
  writeFileSync(join(site, 'index.html'), '<!doctype html><title>bpfscope</title>');
  writeFileSync(join(dir, 'secret.txt'), 'not to be served');
  // The user chose `trace` and opened the folder `served`; `outside.trace` (a real trace) is neither.
  allowed.allowFile(trace);
  mkdirSync(join(dir, 'served/sub'), { recursive: true });
  mkdirSync(join(dir, 'served-evil'));
  for (const t of ['served/top.trace', 'served/sub/in.trace', 'served-evil/x.trace', 'outside.trace']) copyFileSync(trace, join(dir, t));
  symlinkSync('../outside.trace', join(dir, 'served/link.trace'));
  allowed.allowFolder(join(dir, 'served'));
  host = await startHost({ dispatch: handlers.dispatch, rendererDir: site, port: 0, allowed });
}, 120_000);
afterAll(async () => {
  await host.close();
  handlers.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('browser host', () => {
  it('listens on 127.0.0.1 with a random token in the URL', () => {
    expect(host.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{32}$/);
  });

  it('refuses requests without the token or with a foreign Host header', async () => {
    expect((await raw('/')).status).toBe(403);
    expect((await raw('/?token=wrong')).status).toBe(403);
    expect((await raw(`/?token=${host.token}`, { headers: { host: 'evil.example:80' } })).status).toBe(421);
    expect((await api('trace:default', [], {})).status).toBe(403);
  });

  it('serves the page with a strict CSP and a same-site cookie for its assets', async () => {
    const r = await raw(`/?token=${host.token}`);
    expect(r.status).toBe(200);
    expect(r.body).toContain('<title>bpfscope</title>');
    expect(String(r.headers['content-security-policy'])).toMatch(/default-src 'none'.*script-src 'self'/);
    const cookie = String(r.headers['set-cookie']);
    expect(cookie).toMatch(/bpfscope_token=.*HttpOnly.*SameSite=Strict/);
    expect((await raw('/index.html', { headers: { cookie: cookie.split(';')[0] } })).status).toBe(200);
  });

  it('never serves files outside the renderer directory', async () => {
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/../../../etc/passwd']) {
      const r = await raw(`${p}${p.includes('?') ? '&' : '?'}token=${host.token}`);
      expect(r.status, p).toBe(404);
      expect(r.body).not.toContain('not to be served');
    }
  });

  it('API: the cookie alone is not enough; GET is refused; answers and errors are JSON', async () => {
    const page = await raw(`/?token=${host.token}`);
    const cookie = String(page.headers['set-cookie']).split(';')[0];
    expect((await api('trace:open', [trace], { cookie })).status).toBe(403);
    expect((await raw(`/api/trace:open?token=${host.token}`, { headers: { 'x-bpfscope-token': host.token } })).status).toBe(405);
    const open = JSON.parse((await api('trace:open', [trace])).body) as { result: { traceId: number; programs: { id: number; name: string; steps: number }[] } };
    expect(open.result.programs.map((p) => p.name)).toEqual(['list_push']);
    const { traceId } = open.result;
    const pid = open.result.programs[0].id;
    const st = JSON.parse((await api('steps:state', [traceId, pid, 1])).body) as { result: { step: number; frames: { regs: Record<string, { raw: string }> }[] } };
    expect(st.result.step).toBe(1);
    // Step 1 is `0: (bf) r6 = r1 ; R1=ctx() R6=ctx()` in the kernel's log.
    expect(st.result.frames[0].regs.R6.raw).toBe('ctx()');
    expect(JSON.parse((await api('steps:state', [traceId, pid, -1])).body).error).toMatch(/step of steps:state/);
    expect(JSON.parse((await api('no:such', [])).body).error).toMatch(/unknown API channel/);
    expect(JSON.parse((await raw('/api/steps:state', { method: 'POST', headers: { 'x-bpfscope-token': host.token }, body: '{' })).body).error).toMatch(/not JSON/);
    const big = await raw('/api/trace:open', { method: 'POST', headers: { 'x-bpfscope-token': host.token }, body: JSON.stringify(['x'.repeat(100_000)]) }).catch(() => ({ status: 0, body: '' }));
    expect(big.body).not.toContain('"result"');
  });
});

describe('browser host: only the files the user chose', () => {
  const open = async (path: string): Promise<{ result?: { path: string; programs: { name: string }[] }; error?: string }> =>
    JSON.parse((await api('trace:open', [path])).body) as { result?: { path: string; programs: { name: string }[] }; error?: string };

  it('the chosen file and the files under the opened folder open (as their real paths)', async () => {
    expect((await open(trace)).result!.programs.map((p) => p.name)).toEqual(['list_push']);
    const inner = await open(`${dir}/served/sub/../sub/in.trace`);
    expect(inner.result!.path).toBe(join(dir, 'served/sub/in.trace'));
    expect(inner.result!.programs.map((p) => p.name)).toEqual(['list_push']);
  });

  it('any other path, a trace or not, existing or not, gets the same sentence', async () => {
    const refused = [
      join(dir, 'outside.trace'), // a real trace
      `${dir}/served/../outside.trace`,
      join(dir, 'served/link.trace'), // a symlink out of the folder
      join(dir, 'served-evil/x.trace'), // a folder whose name starts the same
      join(dir, 'secret.txt'),
      '/etc/passwd',
      join(dir, 'missing.trace'),
      '/nonexistent/x.trace',
      join(dir, 'served'),
    ];
    for (const p of refused) expect((await open(p)).error, p).toBe(`${p}: ${NOT_CHOSEN}`);
  });

  it('inside the opened folder a missing file is said to be missing', async () => {
    expect((await open(join(dir, 'served/none.trace'))).error).toBe(`${join(dir, 'served/none.trace')}: no such file`);
  });
});

describe('bpfscope serve', () => {
  it('imports a LOG into a temporary trace and prints the URL; --stdio answers JSON lines', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', LOG, '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (l) => {
          const m = /^listening on (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)$/.exec(l);
          if (m) resolve(m[1]);
        });
        child.on('exit', (c) => reject(new Error(`serve exited ${c}`)));
      });
      const token = new URL(url).searchParams.get('token')!;
      const res = await fetch(new URL('/api/trace:default', url), { method: 'POST', headers: { 'x-bpfscope-token': token }, body: '[]' });
      const body = (await res.json()) as { result: { programs: { verdict: string; steps: number }[] } };
      expect(body.result.programs[0].verdict).toBe('accepted');
      expect(body.result.programs[0].steps).toBeGreaterThan(50);
      const page = await fetch(url);
      expect(await page.text()).toContain('aria-label="Listing"');
    } finally {
      child.kill('SIGTERM');
    }

    const stdio = spawn(process.execPath, [BIN, 'serve', '--stdio', trace], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    const lines = createInterface({ input: stdio.stdout! });
    const answers = new Map<number, { result?: { programs: { name: string }[] }; error?: string }>();
    const done = new Promise<void>((resolve) =>
      lines.on('line', (l) => {
        const m = JSON.parse(l) as { id: number; result?: { programs: { name: string }[] }; error?: string };
        answers.set(m.id, m);
        if (answers.size === 2) resolve();
      }),
    );
    stdio.stdin!.write(JSON.stringify({ id: 1, channel: 'trace:default', args: [] }) + '\n');
    stdio.stdin!.write(JSON.stringify({ id: 2, channel: 'steps:state', args: [1, 1, 'x'] }) + '\n');
    await done;
    stdio.stdin!.end();
    expect(answers.get(1)!.result!.programs[0].name).toBe('list_push');
    expect(answers.get(2)!.error).toMatch(/whole number/);
  }, 120_000);

  it('without a file, the bundled example trace opens (programs, verdicts, runtime events, the concrete run of list_mixed)', async () => {
    const stdio = spawn(process.execPath, [BIN, 'serve', '--stdio'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    const line = new Promise<string>((resolve) => createInterface({ input: stdio.stdout! }).once('line', resolve));
    stdio.stdin!.write(JSON.stringify({ id: 1, channel: 'trace:default', args: [] }) + '\n');
    const answer = JSON.parse(await line) as { result: { path: string; hasRuntime: boolean; programs: { name: string; verdict: string }[] } };
    stdio.stdin!.end();
    expect(answer.result.path).toBe(join(ROOT, 'resources/example.trace'));
    expect(answer.result.hasRuntime).toBe(true);
    expect(answer.result.programs.map((p) => `${p.name} ${p.verdict}`).sort()).toEqual([
      'leak_on_branch rejected', 'list_mixed accepted', 'list_mixed ran', 'list_pop accepted', 'list_push accepted',
    ]);
  });

  it('serve TRACE DIR: the trace opens first, the traces at the top of DIR are printed with their URLs, nothing else opens', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', trace, join(dir, 'served'), '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const out: string[] = [];
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (l) => {
          out.push(l);
          if (/^\s+http:.*&trace=/.test(l)) resolve();
        });
        child.on('exit', (c) => reject(new Error(`serve exited ${c}`)));
      });
      const url = /^listening on (\S+)$/.exec(out[0])![1];
      expect(out.slice(1)).toEqual([`${join(dir, 'served')}: 1 trace(s)`, `  ${url}&trace=${encodeURIComponent(join(dir, 'served/top.trace'))}`]);
      const token = new URL(url).searchParams.get('token')!;
      const call = async (channel: string, args: unknown[]): Promise<{ result?: { path: string }; error?: string }> =>
        (await (await fetch(new URL(`/api/${channel}`, url), { method: 'POST', headers: { 'x-bpfscope-token': token }, body: JSON.stringify(args) })).json()) as { result?: { path: string }; error?: string };
      expect((await call('trace:default', [])).result!.path).toBe(trace);
      expect((await call('trace:open', [join(dir, 'served/sub/in.trace')])).result!.path).toBe(join(dir, 'served/sub/in.trace'));
      for (const p of [join(dir, 'outside.trace'), join(ROOT, 'resources/example.trace'), join(dir, 'nope.trace')]) {
        expect((await call('trace:open', [p])).error).toBe(`${p}: ${NOT_CHOSEN}`);
      }
    } finally {
      child.kill('SIGTERM');
    }
  }, 120_000);

  it('a bad file is one sentence naming it', () => {
    const r = spawnSync(process.execPath, [BIN, 'serve', join(dir, 'missing.o')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`bpfscope serve: ${join(dir, 'missing.o')}: no such file`);
  });
});
