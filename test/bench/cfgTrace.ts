import type { CDPSession, Page } from '@playwright/test';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

let traces = 0;

/**
 * Where a long frame's time goes, for cfg.bench.ts (BENCH_CFG_TRACE=1):
 * Chromium's own trace (the DevTools timeline categories) recorded over one
 * phase of the bench, then every thread's events folded into self time per
 * group (script, style, layout, paint, GC, raster...). A frame measured
 * rAF to rAF can be long because the main thread is busy (script, style,
 * layout, paint) or because the compositor and raster threads are (with
 * --disable-gpu every tile is rastered in software), so both are reported.
 * Tracing costs time of its own: the figures are for the split, not the
 * totals.
 */

interface TraceEvent {
  name: string;
  ph: string;
  ts: number;
  dur?: number;
  /** Thread (CPU) time of the event: far below dur when the thread waited for a core. */
  tdur?: number;
  pid: number;
  tid: number;
  args?: { name?: string };
}

const CATEGORIES = [
  '-*', 'devtools.timeline', 'disabled-by-default-devtools.timeline', 'toplevel', 'v8', 'blink', 'cc', 'viz',
  'disabled-by-default-devtools.timeline.frame',
].join(',');

/** Trace event names → the group a timeline shows them in; anything else counts as `other` self time. */
const GROUPS: [RegExp, string][] = [
  [/^(FunctionCall|EvaluateScript|v8\.|V8\.Execute|TimerFire|FireAnimationFrame|EventDispatch|RunMicrotasks|HandlePostMessage)/, 'script'],
  [/GC|Gc|gc_/, 'gc'],
  [/^(UpdateLayoutTree|RecalculateStyles|ScheduleStyleRecalculation|StyleRecalc)/, 'style'],
  [/^(Layout|LocalFrameView::layout|UpdateLayout|InvalidateLayout)/, 'layout'],
  [/^(PrePaint|Paint|Layerize|UpdateLayer|CompositeLayers|PaintArtifactCompositor|LocalFrameView::RunPaint|HitTest)/, 'paint'],
  [/Raster|raster|Tile|ImageDecode|Decode/, 'raster'],
  [/^(Commit|ProxyMain|ProxyImpl|Scheduler|BeginFrame|DrawFrame|Graphics\.Pipeline|Display|SubmitCompositorFrame|LayerTreeHost)/, 'compositor'],
];

function groupOf(name: string): string {
  for (const [re, g] of GROUPS) if (re.test(name)) return g;
  return 'other';
}

/** Self time of each complete ('X') event on one thread: its duration less its children's (events nest in time). */
function selfTimes(events: TraceEvent[]): Map<string, number> {
  const out = new Map<string, number>();
  const xs = events.filter((e) => e.ph === 'X' && e.dur !== undefined).sort((a, b) => a.ts - b.ts || b.dur! - a.dur!);
  const stack: { end: number; name: string; child: number; dur: number }[] = [];
  const close = (until: number): void => {
    while (stack.length && stack[stack.length - 1].end <= until) {
      const top = stack.pop()!;
      out.set(top.name, (out.get(top.name) ?? 0) + top.dur - top.child);
    }
  };
  for (const e of xs) {
    close(e.ts);
    const parent = stack[stack.length - 1];
    if (parent) parent.child += e.dur!;
    stack.push({ end: e.ts + e.dur!, name: e.name, child: 0, dur: e.dur! });
  }
  close(Infinity);
  return out;
}

export interface ThreadSplit {
  thread: string;
  /** Busy time of its top-level tasks, ms. */
  busy: number;
  /** Longest top-level task, ms. */
  longest: number;
  /** CPU time of the top-level tasks, ms (busy − cpu: time spent runnable but off a core, on a loaded machine). */
  cpu: number;
  /** Self time per group, ms, largest first. */
  groups: [string, number][];
  /** The names with the most self time, ms. */
  top: [string, number][];
}

async function readStream(cdp: CDPSession, handle: string): Promise<string> {
  let text = '';
  for (;;) {
    const r = await cdp.send('IO.read', { handle, size: 1 << 20 });
    text += r.base64Encoded ? Buffer.from(r.data, 'base64').toString('utf8') : r.data;
    if (r.eof) break;
  }
  await cdp.send('IO.close', { handle });
  return text;
}

/** Run `work` under Chromium's tracing and split each busy thread's time by group. */
export async function traced(page: Page, work: () => Promise<void>): Promise<{ threads: ThreadSplit[]; longFrames: LongFrame[] }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Tracing.start', { traceConfig: { includedCategories: CATEGORIES.split(',') }, transferMode: 'ReturnAsStream' });
  await work();
  const done = new Promise<string>((resolve) => cdp.once('Tracing.tracingComplete', (e) => resolve(e.stream!)));
  await cdp.send('Tracing.end');
  const text = await readStream(cdp, await done);
  // BENCH_CFG_TRACE_DIR: each phase's trace kept too, to open in Perfetto or chrome://tracing.
  if (process.env.BENCH_CFG_TRACE_DIR) writeFileSync(path.join(process.env.BENCH_CFG_TRACE_DIR, `trace-${++traces}.json`), text);
  const raw = JSON.parse(text) as { traceEvents: TraceEvent[] } | TraceEvent[];
  await cdp.detach();
  const events = Array.isArray(raw) ? raw : raw.traceEvents;
  const names = new Map<string, string>();
  for (const e of events) if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args?.name ?? '?');
  const byThread = new Map<string, TraceEvent[]>();
  for (const e of events) {
    const k = `${e.pid}:${e.tid}`;
    let list = byThread.get(k);
    if (!list) byThread.set(k, (list = []));
    list.push(e);
  }
  const out: ThreadSplit[] = [];
  const main = [...byThread].filter(([k]) => names.get(k) === 'CrRendererMain').sort((a, b) => b[1].length - a[1].length)[0];
  const longFrames = main ? framesOver(main[1], byThread, names) : [];
  for (const [k, list] of byThread) {
    const tops = list.filter((e) => e.ph === 'X' && (e.name === 'ThreadControllerImpl::RunTask' || e.name === 'RunTask'));
    const busy = tops.reduce((a, e) => a + e.dur!, 0) / 1000;
    const cpu = tops.reduce((a, e) => a + (e.tdur ?? e.dur!), 0) / 1000;
    if (busy < 20) continue;
    const self = selfTimes(list);
    const groups = new Map<string, number>();
    for (const [name, us] of self) groups.set(groupOf(name), (groups.get(groupOf(name)) ?? 0) + us / 1000);
    const sorted = (m: Map<string, number>, div = 1): [string, number][] =>
      [...m].map(([n, v]): [string, number] => [n, v / div]).filter(([n]) => !/RunTask/.test(n)).sort((a, b) => b[1] - a[1]);
    out.push({
      thread: `${names.get(k) ?? k}`,
      busy,
      cpu,
      longest: Math.max(0, ...tops.map((e) => e.dur! / 1000)),
      groups: sorted(groups),
      top: sorted(self, 1000).slice(0, 8),
    });
  }
  return { threads: out.sort((a, b) => b.busy - a.busy).slice(0, 5), longFrames };
}

export interface LongFrame {
  ms: number;
  /** Per busy thread in the frame: wall and CPU time of its tasks, and the main thread's groups. */
  threads: string[];
}

const isTop = (e: TraceEvent): boolean => e.ph === 'X' && (e.name === 'ThreadControllerImpl::RunTask' || e.name === 'RunTask');

/** The five longest rAF-to-rAF frames over 50 ms, and what each busy thread did in them. */
function framesOver(main: TraceEvent[], byThread: Map<string, TraceEvent[]>, names: Map<string, string>): LongFrame[] {
  const rafs = main.filter((e) => e.ph === 'X' && e.name === 'FireAnimationFrame').map((e) => e.ts).sort((a, b) => a - b);
  const gaps: [number, number][] = [];
  for (let i = 1; i < rafs.length; i++) if (rafs[i] - rafs[i - 1] > 50_000) gaps.push([rafs[i - 1], rafs[i]]);
  gaps.sort((a, b) => b[1] - b[0] - (a[1] - a[0]));
  return gaps.slice(0, 5).map(([a, b]) => {
    const threads: string[] = [];
    for (const [k, list] of byThread) {
      const tops = list.filter((e) => isTop(e) && e.ts < b && e.ts + e.dur! > a);
      const wall = tops.reduce((s, e) => s + Math.min(b, e.ts + e.dur!) - Math.max(a, e.ts), 0) / 1000;
      if (wall < 5) continue;
      const cpu = tops.reduce((s, e) => s + (e.tdur ?? e.dur!), 0) / 1000;
      let detail = '';
      if (list === main) {
        const inside = list.filter((e) => e.ts >= a - 1 && e.ts < b);
        const groups = new Map<string, number>();
        for (const [name, us] of selfTimes(inside)) if (!/RunTask/.test(name)) groups.set(groupOf(name), (groups.get(groupOf(name)) ?? 0) + us / 1000);
        const top = [...selfTimes(inside)].filter(([n]) => !/RunTask/.test(n)).sort((x, y) => y[1] - x[1]).slice(0, 4);
        detail = ` [${[...groups].sort((x, y) => y[1] - x[1]).filter(([, v]) => v >= 1).map(([n, v]) => `${n} ${v.toFixed(0)}`).join(', ')}; ${top.map(([n, v]) => `${n} ${(v / 1000).toFixed(0)}`).join(', ')}]`;
      }
      threads.push(`${names.get(k) ?? k} ${wall.toFixed(0)} (cpu ${cpu.toFixed(0)})${detail}`);
    }
    return { ms: (b - a) / 1000, threads };
  });
}

/** One line per thread: busy ms, longest task, the groups, the top names. */
export function formatSplit(phase: string, split: { threads: ThreadSplit[]; longFrames: LongFrame[] }): string {
  const ms = (xs: [string, number][]): string => xs.filter(([, v]) => v >= 1).map(([n, v]) => `${n} ${v.toFixed(0)}`).join(', ');
  const threads = split.threads
    .map((t) => `     ${phase} ${t.thread}: busy ${t.busy.toFixed(0)} ms (cpu ${t.cpu.toFixed(0)}), longest task ${t.longest.toFixed(0)} ms; ${ms(t.groups)}\n       top: ${ms(t.top)}\n`)
    .join('');
  const frames = split.longFrames.map((f) => `       frame ${f.ms.toFixed(0)} ms: ${f.threads.join(' | ')}\n`).join('');
  return threads + frames;
}
