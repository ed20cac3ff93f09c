import { execFileSync } from 'node:child_process';
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import * as vscode from 'vscode';
import { approve, reject } from '../../../core/src/approval/approve';
import { isCandidate } from '../../../core/src/approval/candidate';
import { evaluateGate, type GateResult } from '../../../core/src/approval/gate';
import { mlpipeRootOf } from '../../../core/src/runs/records';
import { Cmd } from '../commands/ids';
import { type Ctx } from '../ctx';
import { openStore } from '../experiments/stores';
import { choosePipeline } from '../pipelines/find';

/**
 * "Approve Model Version..." (the gate, then the approval block in the model card) and "Reject
 * Model Version...": the same actions as `mlpipe approve | reject` (core/src/approval/approve.ts),
 * asked for step by step.
 */

function approverName(folder: string): string {
  try {
    const name = execFileSync('git', ['config', 'user.name'], { cwd: folder, encoding: 'utf8', timeout: 2000 }).trim();
    if (name) return name;
  } catch {
    // no git or no name configured
  }
  return userInfo().username;
}

async function pickRun(ctx: Ctx, pipeline: vscode.Uri, verb: string): Promise<string | undefined> {
  const runs = (openStore(mlpipeRootOf(pipeline.fsPath), ctx.trust)?.runs() ?? []).filter(
    (run) => run.status === 'succeeded',
  );
  if (runs.length === 0) {
    void vscode.window.showWarningMessage(`MLPipe: no succeeded run to ${verb} yet; run the pipeline first.`);
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    runs.map((run) => ({
      label: `${isCandidate(run) ? '$(star) ' : ''}${run.summary.id}`,
      description: Object.entries(run.summary.metrics)
        .filter(([key]) => /test/.test(key))
        .slice(0, 3)
        .map(([key, value]) => `${key} ${typeof value === 'number' ? Number(value.toPrecision(3)) : String(value)}`)
        .join(' · '),
      id: run.summary.id,
    })),
    { title: `MLPipe: ${verb} the model of which run? (★ marks the model candidate)` },
  );
  return picked?.id;
}

function gateItems(result: GateResult): vscode.QuickPickItem[] {
  return result.conditions.map((condition) => ({
    label: `${condition.ok ? '$(pass)' : '$(error)'} ${condition.name}`,
    detail: condition.detail,
  }));
}

export async function approveModel(ctx: Ctx, onChange: () => void): Promise<void> {
  const pipeline = await choosePipeline();
  if (!pipeline) return;
  const run = await pickRun(ctx, pipeline, 'approve');
  if (!run) return;
  let result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `MLPipe: checking the gate for run ${run}` },
    () => evaluateGate(pipeline.fsPath, { runId: run }),
  );
  const failed = result.conditions.filter((condition) => !condition.ok);
  if (failed.length === 1 && failed[0].name === 'clean') {
    const answer = await vscode.window.showWarningMessage(
      `Run ${run} was made from a tree with uncommitted changes (or outside git), so it cannot be reproduced from a commit. Approve anyway?`,
      { modal: true },
      'Acknowledge and Continue',
    );
    if (answer !== 'Acknowledge and Continue') return;
    result = await evaluateGate(pipeline.fsPath, { runId: run, allowDirty: true });
  }
  if (!result.passed) {
    await vscode.window.showQuickPick(gateItems(result), {
      title: `MLPipe: run ${run} cannot be approved: the gate failed`,
      matchOnDetail: true,
    });
    return;
  }
  const by = await vscode.window.showInputBox({
    title: `MLPipe: approve run ${run} (every condition passed)`,
    prompt: 'Approved by (goes into the model card, reviewed in the pull request)',
    value: approverName(dirname(pipeline.fsPath)),
    validateInput: (value) => (value.trim() ? undefined : 'a name is needed'),
    // A look at another window (the card, a metric) must not throw the approval away.
    ignoreFocusOut: true,
  });
  if (!by) return;
  const note = await vscode.window.showInputBox({
    title: `MLPipe: approve run ${run}`,
    prompt: 'Note (optional)',
    ignoreFocusOut: true,
  });
  if (note === undefined) return;
  approve(result, { by, note });
  onChange();
  const candidate = result.candidate;
  const document = await vscode.workspace.openTextDocument(candidate.cardPath);
  const editor = await vscode.window.showTextDocument(document);
  const line = document
    .getText()
    .split('\n')
    .findIndex((text) => text.startsWith('approval:'));
  if (line >= 0) editor.revealRange(new vscode.Range(line, 0, line, 0), vscode.TextEditorRevealType.AtTop);
  void vscode.window
    .showInformationMessage(
      `MLPipe: run ${candidate.run.id} approved in ${vscode.workspace.asRelativePath(candidate.cardPath)}. Commit the card for review, then push.`,
      'Push Now',
    )
    .then((choice) => choice && vscode.commands.executeCommand(Cmd.pushModel, pipeline));
}

export async function rejectModel(ctx: Ctx, onChange: () => void): Promise<void> {
  const pipeline = await choosePipeline();
  if (!pipeline) return;
  const run = await pickRun(ctx, pipeline, 'reject');
  if (!run) return;
  const by = await vscode.window.showInputBox({
    title: `MLPipe: reject run ${run}`,
    prompt: 'Rejected by',
    value: approverName(dirname(pipeline.fsPath)),
    validateInput: (value) => (value.trim() ? undefined : 'a name is needed'),
    ignoreFocusOut: true,
  });
  if (!by) return;
  const note = await vscode.window.showInputBox({
    title: `MLPipe: reject run ${run}`,
    ignoreFocusOut: true,
    prompt: 'Why (goes into the model card)',
    validateInput: (value) => (value.trim() ? undefined : 'say why'),
  });
  if (!note) return;
  const { candidate } = reject(pipeline.fsPath, run, { by, note });
  onChange();
  void vscode.window.showInformationMessage(
    `MLPipe: run ${run} rejected in ${vscode.workspace.asRelativePath(candidate.cardPath)}.`,
  );
}
