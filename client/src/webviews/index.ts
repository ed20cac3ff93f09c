// The extension-host side of the experiment webviews: the experiments table and run comparisons.
// The message contract both sides speak is webviews/src/contract.ts.
import * as vscode from 'vscode';
import { COMPARE_VIEW_TYPE, EXPERIMENTS_VIEW_TYPE, type RunRow, type Series } from '../../../webviews/src/contract';
import { ComparePanel } from './compare-panel';
import { ExperimentsPanel } from './experiments-panel';
import { type ExperimentSource } from './source';

export type { ExperimentSource };

export type { RunRow, Series };
export { COMPARE_VIEW_TYPE, EXPERIMENTS_VIEW_TYPE };

/**
 * Registers the panels' serializers (so they come back after a reload; package.json needs the
 * `onWebviewPanel:mlpipe.experiments` and `onWebviewPanel:mlpipe.compare` activation events) and
 * returns the commands' implementations. Call once, during activation.
 */
export function registerExperimentPanels(
  context: vscode.ExtensionContext,
  source: ExperimentSource,
): { openTable(): void; compare(ids: string[]): void } {
  const compare = (ids: string[]) => ComparePanel.show(context, source, ids);
  context.subscriptions.push(
    vscode.window.registerWebviewPanelSerializer(EXPERIMENTS_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel, state: unknown) => {
        await source.ready;
        ExperimentsPanel.restore(panel, context, source, compare, state);
      },
    }),
    vscode.window.registerWebviewPanelSerializer(COMPARE_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel, state: unknown) => {
        await source.ready;
        ComparePanel.restore(panel, context, source, state);
      },
    }),
  );
  return {
    openTable: () => ExperimentsPanel.show(context, source, compare),
    compare,
  };
}
