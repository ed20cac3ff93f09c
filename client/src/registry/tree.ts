import { dirname } from 'node:path';
import * as vscode from 'vscode';
import { pushHistory, type PushRecord } from '../../../core/src/approval/release';
import { redactUri } from '../../../core/src/tracking/transfer';
import { findPipelines } from '../pipelines/find';

/** A target of the Registry view, or one version pushed there. */
export type RegistryNode =
  { kind: 'target'; target: string; records: PushRecord[] } | { kind: 'version'; record: PushRecord };

/** Whether a command's argument is a pushed version of the Registry view. */
export function isPushedVersion(value: unknown): value is Extract<RegistryNode, { kind: 'version' }> {
  return (
    typeof value === 'object' && value !== null && 'kind' in value && value.kind === 'version' && 'record' in value
  );
}

/** Registry: what was pushed from the workspace's pipelines (`.mlpipe/pushes.jsonl`), by target. */
export class RegistryTree implements vscode.TreeDataProvider<RegistryNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<RegistryNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;

  refresh(): void {
    this.emitter.fire(undefined);
  }

  async getChildren(node?: RegistryNode): Promise<RegistryNode[]> {
    if (node?.kind === 'target') {
      // The newest push of each tag and digest.
      const seen = new Set<string>();
      return node.records
        .filter((record) => !seen.has(`${record.tag}@${record.digest}`) && seen.add(`${record.tag}@${record.digest}`))
        .map((record) => ({ kind: 'version', record }));
    }
    if (node) return [];
    const byTarget = new Map<string, PushRecord[]>();
    for (const pipeline of await findPipelines()) {
      for (const record of pushHistory(pipeline.fsPath)) {
        const folder = vscode.workspace.asRelativePath(dirname(pipeline.fsPath), false);
        const key =
          record.target === 'local'
            ? `local (${folder === dirname(pipeline.fsPath) ? '' : `${folder}/`}.mlpipe/registry)`
            : record.target;
        byTarget.set(key, [...(byTarget.get(key) ?? []), record]);
      }
    }
    await vscode.commands.executeCommand('setContext', 'mlpipe.hasPushes', byTarget.size > 0);
    return [...byTarget].map(([target, records]) => ({ kind: 'target', target, records }));
  }

  getTreeItem(node: RegistryNode): vscode.TreeItem {
    if (node.kind === 'target') {
      // The push log is workspace content: shown redacted like every target.
      const item = new vscode.TreeItem(redactUri(node.target), vscode.TreeItemCollapsibleState.Expanded);
      item.id = `target:${node.target}`;
      item.iconPath = new vscode.ThemeIcon(
        node.target.startsWith('local') ? 'folder' : node.target.startsWith('mlflow') ? 'beaker' : 'package',
      );
      return item;
    }
    const record = node.record;
    const item = new vscode.TreeItem(`${record.name}:${record.tag}`);
    item.id = `version:${record.target}:${record.tag}:${record.digest}`;
    item.description = `${record.digest.startsWith('sha256:') ? record.digest.slice(7, 19) : `version ${record.digest}`} · approved by ${record.approvedBy} · run ${record.run}`;
    const tooltip = new vscode.MarkdownString();
    tooltip.appendText(
      `${record.reference}\nartifact ${record.artifactDigest}\napproved by ${record.approvedBy} at ${record.approvedAt}\nrun ${record.run}\npushed ${record.at}`,
    );
    item.tooltip = tooltip;
    item.iconPath = new vscode.ThemeIcon('verified', new vscode.ThemeColor('testing.iconPassed'));
    item.contextValue = 'mlpipe.pushedVersion';
    return item;
  }

  dispose(): void {
    this.emitter.dispose();
  }
}

/** "Copy Reference" on a pushed version. */
export async function copyReference(node: unknown): Promise<void> {
  if (!isPushedVersion(node)) return;
  await vscode.env.clipboard.writeText(node.record.reference);
  void vscode.window.showInformationMessage(`MLPipe: copied ${node.record.reference}`);
}
