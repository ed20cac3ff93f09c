import { CHART_COLOR_VARIABLES, themeOf, type ThemeKind } from './colors';

export interface ThemeColors {
  kind: ThemeKind;
  foreground: string;
  background: string;
  grid: string;
  palette: string[];
}

/** The theme's colours as the CSS variables VS Code sets on the page hold them now. */
export function readTheme(): ThemeColors {
  const style = getComputedStyle(document.documentElement);
  const read = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  const kind = themeOf(document.body.className);
  const dark = kind === 'dark' || kind === 'high-contrast';
  return {
    kind,
    foreground: read('--vscode-editor-foreground', dark ? '#cccccc' : '#333333'),
    background: read('--vscode-editor-background', dark ? '#1e1e1e' : '#ffffff'),
    grid: read('--vscode-charts-lines', dark ? 'rgba(204,204,204,0.2)' : 'rgba(0,0,0,0.12)'),
    palette: CHART_COLOR_VARIABLES.map((name) => style.getPropertyValue(name)),
  };
}

/** Calls `fn` when VS Code switches theme (it swaps the body's vscode-light/dark/high-contrast class). */
export function onThemeChange(fn: () => void): void {
  let last = document.body.className;
  new MutationObserver(() => {
    if (document.body.className === last) return;
    last = document.body.className;
    fn();
  }).observe(document.body, { attributes: true, attributeFilter: ['class'] });
}
