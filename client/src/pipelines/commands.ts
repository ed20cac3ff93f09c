import * as vscode from 'vscode';
import {
  parseLensArguments,
  RUN_PIPELINE,
  RUN_PIPELINE_ON_HOST,
  RUN_STAGE_UPSTREAM,
  SHOW_PIPELINE_GRAPH,
} from '../../../core/src/language/commands';
import { Runner } from '../../../core/src/runner/runner';
import { pipelineStatus } from '../../../core/src/runner/status';
import { type Ctx } from '../ctx';
import { type RunController } from '../run-controller';
import { showPipelineGraph } from '../webviews/graph-panel';
import { choosePipeline } from './find';
import { plannedStages } from './plan';
import { isPipelineNode } from './tree';

/** The pipeline (and stage) a run command was given: by a code lens, a view's item, an editor's menu, or nothing. */
function runTarget(args: unknown[]): { pipeline?: vscode.Uri; stage?: string } {
  const stageLens = parseLensArguments(RUN_STAGE_UPSTREAM, args);
  if (stageLens) return { pipeline: vscode.Uri.parse(stageLens[0]), stage: stageLens[1] };
  const pipelineLens = parseLensArguments(RUN_PIPELINE, args);
  if (pipelineLens) return { pipeline: vscode.Uri.parse(pipelineLens[0]) };
  const [first] = args;
  if (first instanceof vscode.Uri) return { pipeline: first };
  if (isPipelineNode(first) && first.kind !== 'error')
    return { pipeline: first.uri, ...(first.kind === 'stage' ? { stage: first.name } : {}) };
  return {};
}

export async function runPipeline(ctx: Ctx, runs: RunController, args: unknown[]): Promise<void> {
  if (!ctx.trust.allows('run')) return;
  const pipeline = await choosePipeline(runTarget(args).pipeline);
  if (pipeline) await runs.runInTerminal({ pipeline, stages: [], upstream: false });
}

/** "Run on HOST" (a cluster's lens): the whole pipeline, every stage sent to that host, as `mlpipe run --host HOST`. */
export async function runPipelineOnHost(ctx: Ctx, runs: RunController, args: unknown[]): Promise<void> {
  if (!ctx.trust.allows('run')) return;
  const lens = parseLensArguments(RUN_PIPELINE_ON_HOST, args);
  if (!lens) return;
  await runs.runInTerminal({ pipeline: vscode.Uri.parse(lens[0]), stages: [], upstream: false, host: lens[1] });
}

/**
 * The pipeline's graph: from its lens, an editor's title, a view's item, or the pipeline the user
 * picks. Reading and drawing need no trust; the states and the run buttons do (the panel says so).
 */
export async function showGraph(ctx: Ctx, runs: RunController, args: unknown[]): Promise<void> {
  const lens = parseLensArguments(SHOW_PIPELINE_GRAPH, args);
  const given = lens ? vscode.Uri.parse(lens[0]) : runTarget(args).pipeline;
  const pipeline = await choosePipeline(given);
  if (pipeline) showPipelineGraph(ctx, runs, pipeline);
}

/** Runs a stage (with `upstream`, what it needs first): the one given, or the one the user picks. */
export async function runStage(ctx: Ctx, runs: RunController, args: unknown[], upstream: boolean): Promise<void> {
  if (!ctx.trust.allows('run')) return;
  const target = runTarget(args);
  const pipeline = await choosePipeline(target.pipeline);
  if (!pipeline) return;
  const stage =
    target.stage ??
    (await vscode.window.showQuickPick(plannedStages(pipeline.fsPath), {
      title: `MLPipe: run which stage of ${vscode.workspace.asRelativePath(pipeline)}?`,
    }));
  if (stage) await runs.runInTerminal({ pipeline, stages: [stage], upstream });
}

/** Which stages would run, and why, in a quick pick. */
export async function showStatus(ctx: Ctx, args: unknown[]): Promise<void> {
  if (!ctx.trust.allows('status')) return;
  const pipeline = await choosePipeline(runTarget(args).pipeline);
  if (!pipeline) return;
  const runner = Runner.open(pipeline.fsPath);
  const reports = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: 'MLPipe: checking what is out of date' },
    () => pipelineStatus(runner, { stages: [], upstream: false, images: true }),
  );
  const icon: Record<string, string> = {
    'up-to-date': '$(pass)',
    cached: '$(archive)',
    stale: '$(circle-outline)',
    'never-run': '$(circle-outline)',
  };
  const words: Record<string, string> = {
    'up-to-date': 'up to date',
    cached: 'restores from the cache',
    stale: 'would run',
    'never-run': 'never run',
  };
  await vscode.window.showQuickPick(
    reports.map((report) => ({
      label: `${icon[report.state]} ${report.name}`,
      description: words[report.state],
      detail: report.reasons.join('; ') || undefined,
    })),
    { title: `MLPipe: status of ${vscode.workspace.asRelativePath(pipeline)}`, matchOnDetail: true },
  );
}

const STARTER_PIPELINE = `# An mlpipe pipeline: stages run in Docker containers; see the README for every field.
version: 1
name: my-pipeline
stages:
  train:
    image: python:3.11-slim
    cmd: python3 train.py
    deps: [train.py]
    outs: [model.bin]
    metrics: [metrics.json]
`;

/** "Create Pipeline": an mlpipe.yaml to start from in the first workspace folder (an existing one is opened). */
export async function createPipeline(): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    void vscode.window.showInformationMessage('MLPipe: open a folder first.');
    return;
  }
  const uri = vscode.Uri.joinPath(folder.uri, 'mlpipe.yaml');
  try {
    await vscode.workspace.fs.stat(uri);
  } catch {
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(STARTER_PIPELINE));
  }
  await vscode.window.showTextDocument(uri);
}
