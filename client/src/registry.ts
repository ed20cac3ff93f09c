import { execFileSync } from 'node:child_process';
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import * as vscode from 'vscode';
import { evaluateGate, GateError, loadCandidate, nowIso, approvalMetrics, writeApproval, type GateResult } from '../../core/src/approval/gate';
import { approvedPackage, pushHistory, pushPackage, type PushRecord } from '../../core/src/approval/release';
import { parseOciTarget } from '../../core/src/registry/oci';
import { PushError } from '../../core/src/registry/types';
import { trackingUri } from '../../core/src/tracking/mlflow';
import { redactText, redactUri } from '../../core/src/tracking/transfer';
import { ExperimentStore } from '../../core/src/store/store';
import { choosePipeline, findPipelines } from './pipelines';

/**
 * Approval and release from VS Code: "Approve Model Version..." (the gate, then the approval block
 * in the model card), "Push Approved Version..." (local layout, an OCI registry, MLflow), registry
 * credentials in SecretStorage, and the Registry view of what was pushed.
 */

const SECRET_PREFIX = 'mlpipe.registry.';
const LAST_OCI_TARGET = 'mlpipe.lastOciTarget';

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function approverName(folder: string): string {
  try {
    const name = execFileSync('git', ['config', 'user.name'], { cwd: folder, encoding: 'utf8', timeout: 2000 }).trim();
    if (name) return name;
  } catch {
    // no git or no name configured
  }
  return userInfo().username;
}

async function pickRun(pipeline: vscode.Uri): Promise<string | undefined> {
  const store = ExperimentStore.open(`${dirname(pipeline.fsPath)}/.mlpipe`);
  const runs = store.runs().filter((run) => run.status === 'succeeded');
  if (runs.length === 0) {
    void vscode.window.showWarningMessage('MLPipe: no succeeded run to approve yet; run the pipeline first.');
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    runs.map((run) => ({
      label: `${'mlpipe.candidate' in run.tags ? '$(star) ' : ''}${run.summary.id}`,
      description: Object.entries(run.summary.metrics)
        .filter(([key]) => /test/.test(key))
        .slice(0, 3)
        .map(([key, value]) => `${key} ${typeof value === 'number' ? Number(value.toPrecision(3)) : String(value)}`)
        .join(' · '),
      id: run.summary.id,
    })),
    { title: 'MLPipe: approve the model of which run? (★ marks the model candidate)' },
  );
  return picked?.id;
}

function gateItems(result: GateResult): vscode.QuickPickItem[] {
  return result.conditions.map((condition) => ({ label: `${condition.ok ? '$(pass)' : '$(error)'} ${condition.name}`, detail: condition.detail }));
}

export async function approveModel(onChange: () => void): Promise<void> {
  const pipeline = await choosePipeline();
  if (!pipeline) return;
  const run = await pickRun(pipeline);
  if (!run) return;
  let allowDirty = false;
  let result: GateResult;
  try {
    result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `MLPipe: checking the gate for run ${run}` }, () => evaluateGate(pipeline.fsPath, { runId: run }));
    const failed = result.conditions.filter((condition) => !condition.ok);
    if (failed.length === 1 && failed[0].name === 'clean') {
      const answer = await vscode.window.showWarningMessage(`Run ${run} was made from a tree with uncommitted changes (or outside git), so it cannot be reproduced from a commit. Approve anyway?`, { modal: true }, 'Acknowledge and Continue');
      if (answer !== 'Acknowledge and Continue') return;
      allowDirty = true;
      result = await evaluateGate(pipeline.fsPath, { runId: run, allowDirty });
    }
  } catch (error) {
    void vscode.window.showErrorMessage(`MLPipe: ${message(error)}`);
    return;
  }
  if (!result.passed) {
    await vscode.window.showQuickPick(gateItems(result), { title: `MLPipe: run ${run} cannot be approved: the gate failed`, matchOnDetail: true });
    return;
  }
  const by = await vscode.window.showInputBox({ title: `MLPipe: approve run ${run} (every condition passed)`, prompt: 'Approved by (goes into the model card, reviewed in the pull request)', value: approverName(dirname(pipeline.fsPath)), validateInput: (value) => (value.trim() ? undefined : 'a name is needed') });
  if (!by) return;
  const note = await vscode.window.showInputBox({ title: `MLPipe: approve run ${run}`, prompt: 'Note (optional)' });
  if (note === undefined) return;
  const candidate = result.candidate;
  try {
    writeApproval(candidate.cardPath, { status: 'approved', by: by.trim(), at: nowIso(), run: candidate.run.id, artifact_digest: candidate.artifactDigest, ...(note.trim() ? { note: note.trim() } : {}), metrics: approvalMetrics(candidate) });
  } catch (error) {
    void vscode.window.showErrorMessage(`MLPipe: ${message(error)}`);
    return;
  }
  onChange();
  const document = await vscode.workspace.openTextDocument(candidate.cardPath);
  const editor = await vscode.window.showTextDocument(document);
  const line = document.getText().split('\n').findIndex((text) => text.startsWith('approval:'));
  if (line >= 0) editor.revealRange(new vscode.Range(line, 0, line, 0), vscode.TextEditorRevealType.AtTop);
  void vscode.window.showInformationMessage(`MLPipe: run ${candidate.run.id} approved in ${vscode.workspace.asRelativePath(candidate.cardPath)}. Commit the card for review, then push.`, 'Push Now').then((choice) => choice && vscode.commands.executeCommand('mlpipe.pushModel', pipeline));
}

export async function rejectModel(onChange: () => void): Promise<void> {
  const pipeline = await choosePipeline();
  if (!pipeline) return;
  const run = await pickRun(pipeline);
  if (!run) return;
  const by = await vscode.window.showInputBox({ title: `MLPipe: reject run ${run}`, prompt: 'Rejected by', value: approverName(dirname(pipeline.fsPath)), validateInput: (value) => (value.trim() ? undefined : 'a name is needed') });
  if (!by) return;
  const note = await vscode.window.showInputBox({ title: `MLPipe: reject run ${run}`, prompt: 'Why (goes into the model card)', validateInput: (value) => (value.trim() ? undefined : 'say why') });
  if (!note) return;
  try {
    const candidate = loadCandidate(pipeline.fsPath, run);
    writeApproval(candidate.cardPath, { status: 'rejected', by: by.trim(), at: nowIso(), run: candidate.run.id, ...(candidate.artifactDigest ? { artifact_digest: candidate.artifactDigest } : {}), note: note.trim() });
    onChange();
    void vscode.window.showInformationMessage(`MLPipe: run ${run} rejected in ${vscode.workspace.asRelativePath(candidate.cardPath)}.`);
  } catch (error) {
    void vscode.window.showErrorMessage(`MLPipe: ${message(error)}`);
  }
}

export async function setRegistryCredentials(context: vscode.ExtensionContext): Promise<void> {
  const host = await vscode.window.showInputBox({ title: 'MLPipe: registry credentials', prompt: 'Registry host (and port), as in oci://HOST/repo', placeHolder: 'registry.example.com:5000', validateInput: (value) => (/^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:\d+)?$/.test(value.trim()) ? undefined : 'a host name, optionally with :port') });
  if (!host) return;
  const username = await vscode.window.showInputBox({ title: `MLPipe: credentials for ${host}`, prompt: 'User name (empty to remove the stored credentials)' });
  if (username === undefined) return;
  if (!username) {
    await context.secrets.delete(SECRET_PREFIX + host.trim());
    void vscode.window.showInformationMessage(`MLPipe: credentials for ${host} removed.`);
    return;
  }
  const password = await vscode.window.showInputBox({ title: `MLPipe: credentials for ${host}`, prompt: `Password or token for ${username}`, password: true });
  if (!password) return;
  await context.secrets.store(SECRET_PREFIX + host.trim(), JSON.stringify({ username, password }));
  void vscode.window.showInformationMessage(`MLPipe: credentials for ${host} saved in VS Code's secret storage.`);
}

export async function pushModel(context: vscode.ExtensionContext, given: unknown, onChange: () => void): Promise<void> {
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('MLPipe pushes models only from a trusted workspace: a push sends files and your registry credentials to where the workspace says.', 'Manage Workspace Trust').then((choice) => choice && vscode.commands.executeCommand('workbench.trust.manage'));
    return;
  }
  const pipeline = await choosePipeline(given instanceof vscode.Uri ? given : undefined);
  if (!pipeline) return;
  let prepared: Awaited<ReturnType<typeof approvedPackage>>;
  try {
    prepared = await approvedPackage(pipeline.fsPath);
  } catch (error) {
    void vscode.window.showErrorMessage(`MLPipe: ${message(error)}`);
    return;
  }
  const { pkg } = prepared;
  const mlflow = trackingUri(vscode.workspace.getConfiguration('mlpipe').get<string>('tracking.uri') || undefined);
  const mlflowShown = mlflow && redactUri(mlflow);
  const lastOci = context.workspaceState.get<string>(LAST_OCI_TARGET);
  const targets: (vscode.QuickPickItem & { target: string })[] = [
    { label: '$(folder) Local registry', description: '.mlpipe/registry (an OCI image layout)', target: 'local' },
    ...(lastOci ? [{ label: `$(package) ${lastOci}`, description: 'OCI registry, last used', target: lastOci }] : []),
    { label: '$(package) OCI registry...', description: 'oci://host[:port]/repository[:tag]', target: 'oci' },
    ...(mlflow ? [{ label: '$(beaker) MLflow Model Registry', description: mlflowShown, target: `mlflow` }] : []),
  ];
  const picked = await vscode.window.showQuickPick(targets, { title: `MLPipe: push ${pkg.name}:${pkg.version} (run ${pkg.run}, approved by ${pkg.approval.by}) to` });
  if (!picked) return;
  let target = picked.target;
  if (target === 'oci') {
    const typed = await vscode.window.showInputBox({ title: 'MLPipe: OCI registry', prompt: 'oci://host[:port]/repository[:tag] (oci+http:// for a local registry without TLS)', value: lastOci ?? 'oci://', validateInput: (value) => {
      try {
        parseOciTarget(value.trim());
        return undefined;
      } catch (error) {
        return message(error);
      }
    } });
    if (!typed) return;
    target = typed.trim();
    await context.workspaceState.update(LAST_OCI_TARGET, target);
  }
  let credentials: { username: string; password: string } | undefined;
  if (target.startsWith('oci')) {
    const stored = await context.secrets.get(SECRET_PREFIX + parseOciTarget(target).host);
    if (stored) credentials = JSON.parse(stored) as { username: string; password: string };
  }
  try {
    const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `MLPipe: pushing ${pkg.name}:${pkg.version}`, cancellable: true }, async (progress, token) => {
      const controller = new AbortController();
      token.onCancellationRequested(() => controller.abort());
      let reported = 0;
      return pushPackage(pipeline.fsPath, pkg, {
        target,
        ...(credentials ? { credentials } : {}),
        env: mlflow ? { ...process.env, MLFLOW_TRACKING_URI: mlflow } : process.env,
        signal: controller.signal,
        onProgress: (event) => {
          if ('message' in event) progress.report({ message: event.message });
          else if (event.total > 0) {
            const percent = Math.floor((100 * event.bytes) / event.total);
            if (percent !== reported) {
              progress.report({ message: `${event.file} ${percent}%` });
              reported = percent;
            }
          }
        },
      });
    });
    onChange();
    const choice = await vscode.window.showInformationMessage(`MLPipe: pushed ${pkg.name}:${result.tag} (${result.uploadedBlobs} uploaded, ${result.skippedBlobs} already there): ${result.reference}`, 'Copy Reference');
    if (choice) await vscode.env.clipboard.writeText(result.reference);
  } catch (error) {
    const text = redactText(error instanceof PushError || error instanceof GateError ? error.message : message(error));
    // A push cut short says NOT PUSHED and how far it got: offer to run it again (stored blobs are skipped, a registered version reused).
    const actions = [...(target.startsWith('oci') && /401|credential|unauthori/i.test(text) ? ['Set Registry Credentials'] : []), ...(/NOT PUSHED/.test(text) ? ['Push Again'] : [])];
    void vscode.window.showErrorMessage(`MLPipe: push failed: ${text}`, ...actions).then((choice) => {
      if (choice === 'Set Registry Credentials') void vscode.commands.executeCommand('mlpipe.setRegistryCredentials');
      else if (choice === 'Push Again') void vscode.commands.executeCommand('mlpipe.pushModel', pipeline);
    });
  }
}

/** A target of the Registry view, or one version pushed there. */
export type RegistryNode = { kind: 'target'; target: string; records: PushRecord[] } | { kind: 'version'; record: PushRecord };

export class RegistryTree implements vscode.TreeDataProvider<RegistryNode> {
  private readonly emitter = new vscode.EventEmitter<RegistryNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;

  refresh(): void {
    this.emitter.fire(undefined);
  }

  async getChildren(node?: RegistryNode): Promise<RegistryNode[]> {
    if (node?.kind === 'target') {
      // The newest push of each tag and digest.
      const seen = new Set<string>();
      return node.records.filter((record) => !seen.has(`${record.tag}@${record.digest}`) && seen.add(`${record.tag}@${record.digest}`)).map((record) => ({ kind: 'version', record }));
    }
    if (node) return [];
    const byTarget = new Map<string, PushRecord[]>();
    for (const pipeline of await findPipelines()) {
      for (const record of pushHistory(pipeline.fsPath)) {
        const folder = vscode.workspace.asRelativePath(dirname(pipeline.fsPath), false);
        const key = record.target === 'local' ? `local (${folder === dirname(pipeline.fsPath) ? '' : `${folder}/`}.mlpipe/registry)` : record.target;
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
      item.iconPath = new vscode.ThemeIcon(node.target.startsWith('local') ? 'folder' : node.target.startsWith('mlflow') ? 'beaker' : 'package');
      return item;
    }
    const record = node.record;
    const item = new vscode.TreeItem(`${record.name}:${record.tag}`);
    item.id = `version:${record.target}:${record.tag}:${record.digest}`;
    item.description = `${record.digest.startsWith('sha256:') ? record.digest.slice(7, 19) : `version ${record.digest}`} · approved by ${record.approvedBy} · run ${record.run}`;
    const tooltip = new vscode.MarkdownString();
    tooltip.appendText(`${record.reference}\nartifact ${record.artifactDigest}\napproved by ${record.approvedBy} at ${record.approvedAt}\nrun ${record.run}\npushed ${record.at}`);
    item.tooltip = tooltip;
    item.iconPath = new vscode.ThemeIcon('verified', new vscode.ThemeColor('testing.iconPassed'));
    item.contextValue = 'mlpipe.pushedVersion';
    return item;
  }
}
