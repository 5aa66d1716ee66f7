/**
 * The Content-Security-Policy of the app's page, the same in the Electron
 * window and the browser host: nothing remote, no inline or eval'd script.
 * Its own module so the Electron main process can import it without the
 * trace readers (better-sqlite3 is built for Node's ABI, not Electron's).
 */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "font-src 'self'; connect-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
