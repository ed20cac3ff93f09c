import * as vscode from 'vscode';
import { isPipelineFile, PIPELINE_GLOB, PIPELINE_NAMES } from '../../../core/src/util/file-kinds';

const EXCLUDE = '**/{node_modules,.git,.mlpipe}/**';

export function isPipeline(uri: vscode.Uri): boolean {
  return isPipelineFile(uri.path);
}

/** Every pipeline file in the workspace folders. */
export async function findPipelines(): Promise<vscode.Uri[]> {
  return (await vscode.workspace.findFiles(PIPELINE_GLOB, EXCLUDE, 200)).sort((a, b) =>
    a.fsPath.localeCompare(b.fsPath),
  );
}

/**
 * The pipeline a command is about: the one given (a code lens's document, a view's item), the
 * active editor's, the only one in the workspace, or the one the user picks.
 */
export async function choosePipeline(given?: vscode.Uri): Promise<vscode.Uri | undefined> {
  if (given) return given;
  const active = vscode.window.activeTextEditor?.document.uri;
  if (active && isPipeline(active)) return active;
  const all = await findPipelines();
  if (all.length <= 1) {
    if (all.length === 0)
      void vscode.window.showInformationMessage(`MLPipe: no pipeline (${PIPELINE_NAMES}) in this workspace.`);
    return all[0];
  }
  const picked = await vscode.window.showQuickPick(
    all.map((uri) => ({ label: vscode.workspace.asRelativePath(uri), uri })),
    { title: 'MLPipe: which pipeline?' },
  );
  return picked?.uri;
}
