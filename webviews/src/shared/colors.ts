// Run colours: the theme's chart colours first (read from --vscode-charts-*), then golden-angle
// hues with a lightness that reads on the theme's background.

export type ThemeKind = 'light' | 'dark' | 'high-contrast' | 'high-contrast-light';

export const CHART_COLOR_VARIABLES = [
  '--vscode-charts-blue',
  '--vscode-charts-orange',
  '--vscode-charts-green',
  '--vscode-charts-purple',
  '--vscode-charts-red',
  '--vscode-charts-yellow',
];

/** The theme named by VS Code's body classes. */
export function themeOf(classes: string): ThemeKind {
  const list = classes.split(/\s+/);
  if (list.includes('vscode-high-contrast-light')) return 'high-contrast-light';
  if (list.includes('vscode-high-contrast')) return 'high-contrast';
  if (list.includes('vscode-light')) return 'light';
  return 'dark';
}

/** The colour of the index-th run; `palette` holds the theme's chart colours (empty ones skipped). */
export function runColor(index: number, theme: ThemeKind, palette: string[] = []): string {
  const usable = palette.filter((color) => color.trim() !== '');
  if (index < usable.length) return usable[index].trim();
  const hue = Math.round(((index - usable.length) * 137.508 + 210) % 360);
  const light = theme === 'light' || theme === 'high-contrast-light';
  return `hsl(${hue}, ${light ? 70 : 65}%, ${light ? 38 : 62}%)`;
}
