/**
 * How fast the experiments table webview renders and scrolls, in real Chromium (headless, through
 * playwright-core), from the built bundle dist/webviews/experiments.js (build first:
 * `node scripts/build.mjs`). The page is the panel's page as client/src/webviews/html.ts writes it
 * (same strict CSP, nonce'd scripts); a small script defines `acquireVsCodeApi` the way VS Code does, which is the
 * test harness, not part of what is measured.
 *
 *   firstRenderMs   from posting `init` with the generated runs, packed by column as the host posts
 *                   them (structured clone included, as in VS Code), to the first frame after the
 *                   rows are in the DOM
 *   packMs          the host's packing of the runs before posting (packRuns), reported apart
 *   scrollFrameMs   mean script + layout time of a frame while scrolling 50 steps of 0.8 viewport
 *                   (from the frame's start to a forced layout after the table re-rendered)
 *
 * Also reported: CSP violations seen (must be none), rows in the DOM, and whether a run named
 * `<img src=x onerror=alert(1)>` rendered as text. Target: firstRenderMs <= 500 for 10,000 runs.
 *
 *   node --import tsx test/bench/table-render.ts [rows] [metrics]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { type Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from '../support/chromium';

const ROOT = join(__dirname, '..', '..');
export const ORIGIN = 'http://webview.bench';
export const XSS_NAME = '<img src=x onerror=alert(1)>';

export interface TableRenderResult {
  firstRenderMs: number;
  /** The host's share: packing the runs by column (packRuns) before posting, in the same V8. */
  packMs: number;
  scrollFrameMs: number;
  /** Wall time per scroll step, frame waits included (about 16.7 ms at 60 Hz when smooth). */
  scrollStepMs: number;
  domRows: number;
  cspViolations: string[];
  /** The run named XSS_NAME showed as text and created no element. */
  escaped: boolean;
}

/** A panel's page as client/src/webviews/html.ts writes it, with the harness's acquireVsCodeApi (also used by bench:graph). */
export function pageHtml(name: 'experiments' | 'compare' | 'graph' = 'experiments'): string {
  const nonce = 'YmVuY2gtbm9uY2UtMTIzNA==';
  const csp = `default-src 'none'; img-src ${ORIGIN} data:; style-src ${ORIGIN} 'nonce-${nonce}'; font-src ${ORIGIN}; script-src 'nonce-${nonce}'`;
  // The harness script: VS Code's acquireVsCodeApi (post, get/set state) and a CSP violation log.
  const harness = `
    window.__posted = []; window.__violations = []; window.__alerts = 0;
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
    window.alert = () => { window.__alerts++; };
    let state;
    window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__posted.push(m), getState: () => state, setState: (s) => { state = s; } });`;
  return `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta property="csp-nonce" content="${nonce}">
<link rel="stylesheet" href="${ORIGIN}/${name}.css"><title>${name}</title></head>
<body class="vscode-dark"><div id="app"></div>
<script nonce="${nonce}">${harness}</script>
<script nonce="${nonce}" src="${ORIGIN}/${name}.js"></script></body></html>`;
}

/** Runs made in the page (so the node side's serialisation is not measured): params, metrics, tags, some running. */
const GENERATE = `(rows, metrics, xss) => {
  const statuses = ['succeeded', 'succeeded', 'succeeded', 'failed', 'running', 'cancelled', 'interrupted'];
  const runs = [];
  for (let i = 0; i < rows; i++) {
    const metricValues = {};
    for (let m = 0; m < metrics; m++) if ((i + m) % 17 !== 0) metricValues['metric_' + m] = Math.sin(i * 0.37 + m) * 100 + m;
    const status = statuses[i % statuses.length];
    runs.push({
      id: 'r' + String(i).padStart(6, '0'),
      name: i === 0 ? xss : 'run-' + i,
      pipeline: 'mlpipe.yaml',
      status,
      started: new Date(Date.UTC(2025, 0, 1) + i * 60000).toISOString(),
      durationMs: status === 'running' ? undefined : 1000 + ((i * 7919) % 3600000),
      commit: (i * 2654435761 >>> 0).toString(16),
      params: { lr: 10 ** -(1 + (i % 4)), batch: 32 << (i % 3), optimizer: i % 2 ? 'adam' : 'sgd', model: { depth: 10 + (i % 5), width: 64 } },
      metrics: metricValues,
      tags: { team: i % 3 ? 'vision' : 'nlp' },
      stages: { done: i % 4, total: 4, running: status === 'running' ? ['train'] : [] },
    });
  }
  return runs;
}`;

/**
 * Waits for the page's `ready`, polling from here: `waitForFunction` evaluates its predicate as a
 * string inside the page, which the panel's CSP (no 'unsafe-eval') refuses once it has to poll.
 */
async function waitReady(page: Page, errors: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!((await page.evaluate('window.__posted.some((m) => m.type === "ready")')) as boolean)) {
    if (Date.now() > deadline)
      throw new Error(`the page did not say ready within 30 s: ${errors.join('; ') || 'no page error'}`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

export interface CompareRenderResult {
  /** From posting `init` (runs and their series) to the first frame with the first chart drawn. */
  firstChartMs: number;
  /** A live `series` message for one run (a curve grown by 100 points) to the next frame. */
  liveUpdateMs: number;
  charts: number;
  cspViolations: string[];
}

/**
 * The comparison of `runs` runs, each with `series` curves of `steps` points (100 runs x 4 x 5,000
 * for the "100 runs without freezing"), in the same page setup as the table.
 */
export async function measureCompareRender(runs: number, series: number, steps: number): Promise<CompareRenderResult> {
  const dist = join(ROOT, 'dist', 'webviews');
  if (!existsSync(join(dist, 'compare.js')))
    throw new Error(`${join(dist, 'compare.js')} is missing: run node scripts/build.mjs first.`);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.route(`${ORIGIN}/**`, async (route) => {
      const name = new URL(route.request().url()).pathname.slice(1);
      if (name === 'compare.html') return route.fulfill({ contentType: 'text/html', body: pageHtml('compare') });
      if (/^compare\.(js|css)$/.test(name))
        return route.fulfill({
          contentType: name.endsWith('.js') ? 'text/javascript' : 'text/css',
          body: readFileSync(join(dist, name)),
        });
      return route.fulfill({ status: 404, body: '' });
    });
    await page.goto(`${ORIGIN}/compare.html`);
    await waitReady(page, []);
    await page.evaluate(`(() => {
      const runs = (${GENERATE})(${runs}, 10, 'run-0');
      const series = {};
      runs.forEach((run, r) => {
        series[run.id] = Array.from({ length: ${series} }, (_, k) => {
          const steps = Array.from({ length: ${steps} }, (_, i) => i + 1);
          // Float64Arrays, as the host posts them (packSeries in the contract).
          return { name: 'curve_' + k, stage: 'train', file: 'metrics/curves.csv', x: 'step', steps: Float64Array.from(steps), values: Float64Array.from(steps, (i) => Math.exp(-i / (500 + r * 7 + k * 50)) + 0.01 * Math.sin(i / 10 + r)) };
        });
      });
      window.__compare = { runs, series };
    })()`);
    const profile = process.env.MLPIPE_BENCH_PROFILE;
    const cdp = profile ? await page.context().newCDPSession(page) : undefined;
    if (cdp) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
    }
    const firstChartMs = (await page.evaluate(`new Promise((resolve) => {
      const start = performance.now();
      window.postMessage({ type: 'init', runs: window.__compare.runs, series: window.__compare.series }, '*');
      const check = () => {
        if (document.body.dataset.rendered !== undefined && document.querySelector('section.chart canvas')) requestAnimationFrame(() => resolve(performance.now() - start));
        else setTimeout(check, 0);
      };
      check();
    })`)) as number;
    if (cdp && profile)
      writeFileSync(`${profile}.compare.cpuprofile`, JSON.stringify((await cdp.send('Profiler.stop')).profile));
    const liveUpdateMs = (await page.evaluate(`new Promise((resolve) => {
      const run = window.__compare.runs[0];
      const grown = window.__compare.series[run.id].map((one) => ({ ...one, steps: Float64Array.from([...one.steps, ...Array.from({ length: 100 }, (_, i) => one.steps.length + i + 1)]), values: Float64Array.from([...one.values, ...Array.from({ length: 100 }, () => 0.01)]) }));
      const start = performance.now();
      window.postMessage({ type: 'series', run: run.id, stage: 'train', series: grown }, '*');
      setTimeout(() => requestAnimationFrame(() => resolve(performance.now() - start)), 0);
    })`)) as number;
    const charts = (await page.evaluate('document.querySelectorAll("section.chart").length')) as number;
    const violations = (await page.evaluate('window.__violations')) as string[];
    const round = (n: number) => Math.round(n * 10) / 10;
    return { firstChartMs: round(firstChartMs), liveUpdateMs: round(liveUpdateMs), charts, cspViolations: violations };
  } finally {
    await browser.close();
  }
}

export async function measureTableRender(rows: number, metrics: number): Promise<TableRenderResult> {
  const dist = join(ROOT, 'dist', 'webviews');
  if (!existsSync(join(dist, 'experiments.js')))
    throw new Error(`${join(dist, 'experiments.js')} is missing: run node scripts/build.mjs first.`);
  if (!existsSync(CHROMIUM))
    throw new Error(`Chromium is not installed at ${CHROMIUM} (set MLPIPE_CHROMIUM, or apt-get install -y chromium).`);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('crash', () => pageErrors.push('the page crashed'));
    let dialogs = 0;
    page.on('dialog', (dialog) => {
      dialogs++;
      void dialog.dismiss();
    });
    await page.route(`${ORIGIN}/**`, async (route) => {
      const name = new URL(route.request().url()).pathname.slice(1);
      if (name === 'index.html') return route.fulfill({ contentType: 'text/html', body: pageHtml() });
      if (name === 'compare.html') return route.fulfill({ contentType: 'text/html', body: pageHtml('compare') });
      if (/^(experiments|compare)\.(js|css)$/.test(name))
        return route.fulfill({
          contentType: name.endsWith('.js') ? 'text/javascript' : 'text/css',
          body: readFileSync(join(dist, name)),
        });
      return route.fulfill({ status: 404, body: '' });
    });
    await page.goto(`${ORIGIN}/index.html`);
    await waitReady(page, pageErrors);
    // `; 0`: the value of the assignment would be serialised back to node (100,000 runs x 50 metrics
    // are hundreds of MB over the DevTools protocol, which is what crashed the page at that size).
    await page.evaluate(`window.__runs = (${GENERATE})(${rows}, ${metrics}, ${JSON.stringify(XSS_NAME)}); 0`);
    // What the host does before posting (client/src/webviews/experiments-panel.ts): packRuns from the
    // contract, bundled here and run in the page's V8 (the harness, not the panel's page script).
    const contract = buildSync({
      entryPoints: [join(ROOT, 'webviews', 'src', 'contract.ts')],
      bundle: true,
      write: false,
      format: 'iife',
      globalName: '__contract',
      platform: 'browser',
      logLevel: 'error',
    }).outputFiles[0].text;
    const packMs = (await page.evaluate(`(() => {
      ${contract}
      const start = performance.now();
      window.__packed = __contract.packRuns(window.__runs);
      return performance.now() - start;
    })()`)) as number;
    // MLPIPE_BENCH_PROFILE=file.cpuprofile: a CPU profile of the first render (open it in DevTools).
    const profile = process.env.MLPIPE_BENCH_PROFILE;
    const cdp = profile ? await page.context().newCDPSession(page) : undefined;
    if (cdp) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
    }
    const firstRenderMs = (await page.evaluate(`new Promise((resolve) => {
      const start = performance.now();
      window.postMessage({ type: 'init', runs: window.__packed }, '*');
      const check = () => {
        if (document.body.dataset.rendered !== undefined) requestAnimationFrame(() => resolve(performance.now() - start));
        else setTimeout(check, 0);
      };
      check();
    })`)) as number;
    if (cdp && profile) writeFileSync(profile, JSON.stringify((await cdp.send('Profiler.stop')).profile));
    const domRows = (await page.evaluate('document.querySelectorAll(".table-row:not([hidden])").length')) as number;
    const escaped = (await page.evaluate(`(() => {
      const rows = [...document.querySelectorAll('.table-row')].filter((row) => row.dataset.id === 'r000000');
      return rows.length === 1 && rows[0].textContent.includes(${JSON.stringify(XSS_NAME)}) && document.querySelectorAll('.table img').length === 0;
    })()`)) as boolean;
    const scroll = (await page
      .evaluate(
        `(async () => {
      const viewport = document.querySelector('.table');
      const costs = [];
      const started = performance.now();
      for (let i = 0; i < 50; i++) {
        costs.push(await new Promise((resolve) => {
          // From the bottom back to the top: a scroll that moves nothing fires no event.
          if (viewport.scrollTop + viewport.clientHeight * 1.8 >= viewport.scrollHeight) viewport.scrollTop = 0;
          viewport.addEventListener('scroll', () => requestAnimationFrame((frame) => { void document.body.offsetHeight; resolve(performance.now() - frame); }), { once: true });
          viewport.scrollTop += Math.round(viewport.clientHeight * 0.8);
        }));
      }
      return { frame: costs.reduce((a, b) => a + b, 0) / costs.length, step: (performance.now() - started) / costs.length };
    })()`,
      )
      .catch((error: unknown) => {
        throw new Error(`scrolling the table failed (${pageErrors.join('; ') || 'no page error'}): ${String(error)}`);
      })) as { frame: number; step: number };
    const violations = (await page.evaluate('window.__violations')) as string[];
    const alerts = (await page.evaluate('window.__alerts')) as number;
    const round = (n: number) => Math.round(n * 10) / 10;
    return {
      firstRenderMs: round(firstRenderMs),
      packMs: round(packMs),
      scrollFrameMs: round(scroll.frame),
      scrollStepMs: round(scroll.step),
      domRows,
      cspViolations: violations,
      escaped: escaped && alerts === 0 && dialogs === 0,
    };
  } finally {
    await browser.close();
  }
}

if (require.main === module) {
  const rows = Number(process.argv[2] ?? 10_000);
  const metrics = Number(process.argv[3] ?? 50);
  measureTableRender(rows, metrics).then(
    (result) => {
      console.log(`experiments table, ${rows} runs x ${metrics} metrics:`, result);
      console.log(
        `first render ${result.firstRenderMs} ms (target <= 500: ${result.firstRenderMs <= 500 ? 'met' : 'MISSED'})`,
      );
      if (result.cspViolations.length > 0 || !result.escaped) process.exitCode = 1;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
