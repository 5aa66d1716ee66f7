/**
 * A virtual list: only the visible rows exist in the DOM, and rows are
 * fetched in chunks as they scroll into view. Browsers cap an element's
 * height (~33 M px in Chromium), so past MAX_PX the scrollbar is scaled:
 * the scroll position maps to a fractional top row, and 2 M lines scroll
 * like 2 000.
 */
const MAX_PX = 8_000_000;
const CHUNK = 256;
const MAX_CHUNKS = 256;

export interface VirtualListOptions<T> {
  rowHeight: number;
  fetch(from: number, count: number): Promise<T[]>;
  render(el: HTMLElement, row: T | undefined, index: number): void;
  onClick?(index: number, row: T | undefined, ev: MouseEvent): void;
}

export class VirtualList<T> {
  private layer: HTMLDivElement;
  private spacer: HTMLDivElement;
  private pool: HTMLDivElement[] = [];
  private chunks = new Map<number, T[]>();
  private loading = new Map<number, Promise<void>>();
  private count = 0;
  private generation = 0;
  private frame = 0;

  constructor(
    private host: HTMLElement,
    private opts: VirtualListOptions<T>,
  ) {
    host.classList.add('vlist');
    this.layer = document.createElement('div');
    this.layer.className = 'vlist-layer';
    this.spacer = document.createElement('div');
    this.spacer.className = 'vlist-spacer';
    host.replaceChildren(this.layer, this.spacer);
    host.addEventListener('scroll', () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.layout()).observe(host);
    this.layer.addEventListener('click', (ev) => {
      const el = (ev.target as HTMLElement).closest<HTMLElement>('.vrow');
      if (!el || el.dataset.index === undefined) return;
      const i = Number(el.dataset.index);
      this.opts.onClick?.(i, this.rowAt(i), ev);
    });
  }

  /** New contents: drop every cached row. */
  reset(count: number): void {
    this.generation++;
    this.chunks.clear();
    this.loading.clear();
    this.count = count;
    this.host.scrollTop = 0;
    this.layout();
  }

  get size(): number {
    return this.count;
  }

  rowAt(i: number): T | undefined {
    return this.chunks.get(Math.floor(i / CHUNK))?.[i % CHUNK];
  }

  /** Fetch row i (and its chunk) if needed. */
  async load(i: number): Promise<T | undefined> {
    await this.loadChunk(Math.floor(i / CHUNK));
    return this.rowAt(i);
  }

  private visibleRows(): number {
    return Math.max(1, Math.ceil(this.host.clientHeight / this.opts.rowHeight));
  }

  private layout(): void {
    const h = this.host.clientHeight;
    const virtual = Math.min(this.count * this.opts.rowHeight, MAX_PX);
    this.layer.style.height = `${h}px`;
    this.spacer.style.height = `${Math.max(0, virtual - h)}px`;
    const need = this.visibleRows() + 2;
    while (this.pool.length < need) {
      const el = document.createElement('div');
      el.className = 'vrow';
      this.layer.appendChild(el);
      this.pool.push(el);
    }
    this.draw();
  }

  /** The fractional index of the top visible row. */
  private topRow(): number {
    const maxScroll = this.host.scrollHeight - this.host.clientHeight;
    const span = this.count - this.visibleRows();
    if (maxScroll <= 0 || span <= 0) return 0;
    return (this.host.scrollTop / maxScroll) * span;
  }

  /** Bring row i into view (centred when it was off screen). */
  scrollTo(i: number, center = true): void {
    const top = this.topRow();
    const vis = this.visibleRows();
    if (i >= top && i < top + vis - 1) return;
    const maxScroll = this.host.scrollHeight - this.host.clientHeight;
    const span = this.count - vis;
    if (span <= 0) return;
    const want = center ? i - vis / 2 : i < top ? i : i - vis + 2;
    this.host.scrollTop = (Math.max(0, Math.min(span, want)) / span) * maxScroll;
    this.draw();
  }

  /** Redraw the visible rows (the cursor moved, a chunk arrived). */
  refresh(): void {
    this.schedule();
  }

  drawNow(): void {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.draw();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private draw(): void {
    const rh = this.opts.rowHeight;
    const top = this.topRow();
    const first = Math.floor(top);
    const shift = (top - first) * rh;
    for (let k = 0; k < this.pool.length; k++) {
      const el = this.pool[k];
      const i = first + k;
      if (i >= this.count) {
        el.style.display = 'none';
        delete el.dataset.index;
        continue;
      }
      el.style.display = '';
      el.style.transform = `translateY(${k * rh - shift}px)`;
      el.dataset.index = String(i);
      const row = this.rowAt(i);
      if (row === undefined) void this.loadChunk(Math.floor(i / CHUNK)).then(() => this.schedule());
      this.opts.render(el, row, i);
    }
  }

  private loadChunk(c: number): Promise<void> {
    if (this.chunks.has(c)) return Promise.resolve();
    let p = this.loading.get(c);
    if (p) return p;
    const gen = this.generation;
    const from = c * CHUNK;
    p = this.opts
      .fetch(from, Math.min(CHUNK, this.count - from))
      .then((rows) => {
        if (gen !== this.generation) return;
        this.chunks.set(c, rows);
        if (this.chunks.size > MAX_CHUNKS) this.chunks.delete(this.chunks.keys().next().value as number);
      })
      .finally(() => this.loading.delete(c));
    this.loading.set(c, p);
    return p;
  }
}
