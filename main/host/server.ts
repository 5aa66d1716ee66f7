import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { errorSentence, type Dispatch } from '../api/handlers';
import { gateCall, type AllowedPaths } from './allowedPaths';
import { CSP } from './csp';

export { CSP };

/**
 * The browser host: the built renderer and the API over HTTP, on 127.0.0.1
 * only. A random token guards every request (a page on another origin, or
 * another local user, cannot call the API without it): it comes in the URL
 * once, is kept in an HttpOnly same-site cookie for the assets, and the
 * renderer sends it as a header on API calls. The Host header must name the
 * loopback address, which defeats DNS rebinding. A path an API call names
 * must be one the user chose (`allowed`): the token keeps other pages out,
 * this keeps the page itself to the user's files.
 */
export interface HostOptions {
  dispatch: Dispatch;
  /** Directory holding the built renderer (index.html, assets/). */
  rendererDir: string;
  /** 0 picks a free port. */
  port: number;
  /** Fixed token (tests); random otherwise. */
  token?: string;
  /** The files and folders the user chose: `trace:open` opens nothing else. */
  allowed: AllowedPaths;
}

export interface Host {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

const MAX_BODY = 64 * 1024;

export function startHost(opts: HostOptions): Promise<Host> {
  const token = opts.token ?? randomBytes(24).toString('base64url');
  const tokenBuf = Buffer.from(token);
  const sameToken = (t: string | undefined): boolean => {
    if (!t) return false;
    const b = Buffer.from(t);
    return b.length === tokenBuf.length && timingSafeEqual(b, tokenBuf);
  };
  let port = 0;

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => send(res, 500, 'text/plain', errorSentence(err)));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = req.headers.host ?? '';
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      return send(res, 421, 'text/plain', 'wrong Host header');
    }
    const url = new URL(req.url ?? '/', `http://${host}`);
    const cookieToken = /(?:^|;\s*)bpfscope_token=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    const queryToken = url.searchParams.get('token') ?? undefined;
    const headerToken = req.headers['x-bpfscope-token'];
    const ok =
      sameToken(queryToken) ||
      sameToken(typeof headerToken === 'string' ? headerToken : undefined) ||
      sameToken(cookieToken);
    if (!ok) return send(res, 403, 'text/plain', 'missing or wrong token: open the URL bpfscope serve printed');

    if (url.pathname.startsWith('/api/')) {
      if (req.method !== 'POST') return send(res, 405, 'text/plain', 'POST only');
      // API calls must carry the header: a cookie alone could come from a form on another page.
      if (!sameToken(typeof headerToken === 'string' ? headerToken : undefined)) {
        return send(res, 403, 'text/plain', 'API calls need the X-Bpfscope-Token header');
      }
      const channel = decodeURIComponent(url.pathname.slice('/api/'.length));
      const body = await readBody(req);
      let args: unknown;
      try {
        args = JSON.parse(body);
      } catch {
        return sendJson(res, 400, { error: 'request body is not JSON' });
      }
      try {
        const result = await opts.dispatch(channel, gateCall(opts.allowed, channel, args));
        return sendJson(res, 200, { result: result ?? null });
      } catch (err) {
        return sendJson(res, 200, { error: errorSentence(err) });
      }
    }

    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'GET only');
    const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1));
    const file = normalize(join(opts.rendererDir, rel));
    if (!file.startsWith(opts.rendererDir + sep)) return send(res, 404, 'text/plain', 'not found');
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch {
      return send(res, 404, 'text/plain', 'not found');
    }
    const headers: Record<string, string> = {};
    if (queryToken) headers['set-cookie'] = `bpfscope_token=${token}; HttpOnly; SameSite=Strict; Path=/`;
    send(res, 200, MIME[extname(file)] ?? 'application/octet-stream', data, headers);
  }

  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => {
      const addr = server.address();
      port = typeof addr === 'object' && addr ? addr.port : opts.port;
      resolvePromise({
        url: `http://127.0.0.1:${port}/?token=${token}`,
        port,
        token,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': type,
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
    ...extra,
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json', JSON.stringify(value));
}
