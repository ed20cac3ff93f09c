/**
 * The drift report as one self-contained HTML file (`mlpipe drift --format html`, and the webview's
 * "Export HTML"): the drift webview's own bundle and stylesheet inlined, the report embedded as JSON.
 * It opens offline in any browser and loads nothing: the CSP is `default-src 'none'` and admits only
 * the inline script and stylesheet by their sha256 hashes.
 *
 * The assets are the built files `dist/webviews/drift.js` and `drift.css` (scripts/build.mjs). This
 * module does not read them: the CLI bundle (`dist/cli.js`) reads them from `join(__dirname, 'webviews')`
 * and the extension from `dist/webviews` under its extension URI, and pass their text in.
 *
 * The script is the same one the VS Code panel runs; without `acquireVsCodeApi` it reads the report
 * from `<script type="application/json" id="report">`, hides the buttons that need the extension,
 * and follows the viewer's light or dark scheme.
 */
import { escapeHtml } from '../util/html';
import { createHash } from 'node:crypto';
import type { DriftReport } from './types';

export interface DriftHtmlAssets {
  /** dist/webviews/drift.js */
  script: string;
  /** dist/webviews/drift.css */
  css: string;
}

/**
 * JSON that is safe inside `<script type="application/json">`: `<`, `>` and `&` as \u escapes, so no
 * value can close the element (`</script>`) or open a comment (`<!--`); U+2028 and U+2029 escaped too.
 * `JSON.parse` of the element's text gives the report back unchanged.
 */
export function embedJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * The bundle's text made safe as an inline <script>'s body: `</script` would end the element early
 * and `<!--` can change how the HTML parser finds its end. Both can only stand in strings, regular
 * expressions or comments of a bundle, where `<\/script` and `\x3C!--` mean the same.
 */
export function inlineScript(script: string): string {
  return script.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '\\x3C!--');
}

/** A stylesheet made safe as an inline <style>'s body (`<\/style` is the same in CSS). */
export function inlineStyle(css: string): string {
  return css.replace(/<\/(style)/gi, '<\\/$1');
}

/** CSP's source expression for an inline element's exact text. */
export function cspHash(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** The file's title: `Drift report: current.csv vs reference.csv`. */
export function driftTitle(report: DriftReport): string {
  const name = (path: string) => path.split(/[\\/]/).filter(Boolean).pop() ?? path;
  return `Drift report: ${name(report.current.path)} vs ${name(report.reference.path)}`;
}

export function renderDriftHtml(report: DriftReport, assets: DriftHtmlAssets): string {
  const script = inlineScript(assets.script.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n'));
  const css = inlineStyle(assets.css.replace(/\/\*# sourceMappingURL=\S+ \*\/\s*$/, ''));
  // No 'unsafe-inline' and no network: only these two elements' exact text may run or style the
  // page. img-src data: is for nothing but the favicon Chromium asks for (none is set, so none loads).
  const csp = [
    `default-src 'none'`,
    `script-src ${cspHash(script)}`,
    `style-src ${cspHash(css)}`,
    `img-src data:`,
    `base-uri 'none'`,
    `form-action 'none'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta name="generator" content="mlpipe drift">
<title>${escapeHtml(driftTitle(report))}</title>
<style>${css}</style>
</head>
<body>
<div id="app"></div>
<script type="application/json" id="report">${embedJson(report)}</script>
<script>${script}</script>
</body>
</html>
`;
}
