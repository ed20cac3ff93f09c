import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { escapeHtml } from '../../../core/src/util/html';

/** Where the built webview assets live; the panels may load nothing else (localResourceRoots). */
export function assetsRoot(extensionUri: vscode.Uri): vscode.Uri {
  return vscode.Uri.joinPath(extensionUri, 'dist', 'webviews');
}

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions & vscode.WebviewPanelOptions {
  return {
    enableScripts: true,
    localResourceRoots: [assetsRoot(extensionUri)],
    retainContextWhenHidden: false,
    enableFindWidget: true,
  };
}

/**
 * A panel's page: dist/webviews/NAME.js and NAME.css under a strict CSP. Scripts run only with
 * this page's nonce; styles come only from the extension's files or carry the nonce (the toolkit's
 * one probe <style>, see webviews/src/components.ts; its elements use constructable stylesheets,
 * and uPlot sets element.style through the CSSOM, which CSP allows); no 'unsafe-inline', no 'unsafe-eval'.
 */
export function panelHtml(
  webview: vscode.Webview,
  extensionUri: vscode.Uri,
  name: 'experiments' | 'compare' | 'drift' | 'graph',
  title: string,
): string {
  const root = assetsRoot(extensionUri);
  const script = webview.asWebviewUri(vscode.Uri.joinPath(root, `${name}.js`)).toString();
  const style = webview.asWebviewUri(vscode.Uri.joinPath(root, `${name}.css`)).toString();
  const nonce = randomBytes(18).toString('base64');
  const csp = [
    `default-src 'none'`,
    `img-src ${webview.cspSource} data:`,
    `style-src ${webview.cspSource} 'nonce-${nonce}'`,
    `font-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta property="csp-nonce" content="${nonce}">
<link rel="stylesheet" href="${escapeHtml(style)}">
<title>${escapeHtml(title)}</title>
</head>
<body>
<div id="app"></div>
<script nonce="${nonce}" src="${escapeHtml(script)}"></script>
</body>
</html>`;
}
