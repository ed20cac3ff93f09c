import * as vscode from 'vscode';

/** Codicon and theme colour of a run's status, in the Experiments view. */
export const RUN_ICONS: Record<string, [string, string?]> = {
  running: ['sync~spin', 'charts.blue'],
  succeeded: ['pass', 'testing.iconPassed'],
  failed: ['error', 'testing.iconFailed'],
  cancelled: ['circle-slash', 'disabledForeground'],
  interrupted: ['warning', 'list.warningForeground'],
};

/** The same for a stage's status, in the Experiments and Pipelines views. */
export const STAGE_ICONS: Record<string, [string, string?]> = {
  ...RUN_ICONS,
  skipped: ['pass-filled', 'testing.iconPassed'],
  restored: ['archive', 'testing.iconPassed'],
  blocked: ['debug-step-over', 'disabledForeground'],
  pending: ['circle-outline'],
};

export function themeIcon([id, colour]: [string, string?]): vscode.ThemeIcon {
  return new vscode.ThemeIcon(id, colour ? new vscode.ThemeColor(colour) : undefined);
}
