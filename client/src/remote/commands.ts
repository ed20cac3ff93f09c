import { basename, dirname, join } from 'node:path';
import * as vscode from 'vscode';
import { type RemoteConfig } from '../../../core/src/remote/spec';
import { latestRun, pullPipeline, pullRuns, pushRuns, type PullSummary } from '../../../core/src/runner/remote-cache';
import { Runner } from '../../../core/src/runner/runner';
import { formatBytes } from '../../../core/src/runner/stage-run';
import { isRunId } from '../../../core/src/runs/metadata';
import { mlpipeRootOf, type RunRecord } from '../../../core/src/runs/records';
import { redactUri } from '../../../core/src/tracking/transfer';
import { type Ctx } from '../ctx';
import { isExperimentNode, selectedRuns } from '../experiments/commands';
import { type WorkspaceExperiments } from '../experiments/source';
import { choosePipeline, findPipelines } from '../pipelines/find';
import { setRemoteCredentials } from './credentials';
import { remoteSummary } from './run-states';
import { pushSummaryText, type RemoteService } from './service';

/** What the remote commands work with. */
export interface RemoteUi {
  ctx: Ctx;
  remotes: RemoteService;
  source: WorkspaceExperiments;
  /** Stages were restored into the workspace. */
  onPulled(): void;
}

/** The remote to use: the only one, else the one picked (the default first); undefined when the user cancelled. */
async function pickRemote(config: RemoteConfig, title: string): Promise<string | undefined> {
  const specs = [...config.remotes.values()];
  if (specs.length <= 1) return specs[0]?.name;
  specs.sort((a, b) => Number(b.name === config.defaultName) - Number(a.name === config.defaultName));
  const picked = await vscode.window.showQuickPick(
    specs.map((spec) => ({
      label: spec.name,
      description: `${spec.name === config.defaultName ? 'default · ' : ''}${redactUri(spec.url)}`,
      name: spec.name,
    })),
    { title },
  );
  return picked?.name;
}

/** The pipeline file of a run in the Experiments view: the one of its folder its record names. */
async function pipelineOfRun(ui: RemoteUi, id: string): Promise<vscode.Uri | undefined> {
  const found = ui.source.stored(id);
  if (!found) return undefined;
  const candidates = (await findPipelines()).filter((uri) => mlpipeRootOf(uri.fsPath) === found.store.root);
  return (
    candidates.find((uri) => basename(uri.fsPath) === basename(found.run.summary.pipeline)) ??
    candidates[0] ??
    vscode.Uri.file(join(dirname(found.store.root), basename(found.run.summary.pipeline)))
  );
}

/** The pipeline a command is about: a Uri, a remote item's folder's, else the usual choice. */
async function pipelineFor(item: unknown): Promise<vscode.Uri | undefined> {
  if (isExperimentNode(item) && item.kind === 'remote') {
    const pipelines = (await findPipelines()).filter((uri) => mlpipeRootOf(uri.fsPath) === item.root);
    if (pipelines.length === 1) return pipelines[0];
  }
  return choosePipeline(item instanceof vscode.Uri ? item : undefined);
}

/** The local runs to push: multi-select, the newest finished one picked. */
async function pickRuns(ui: RemoteUi, runner: Runner, remote: string): Promise<string[] | undefined> {
  const root = runner.mlpipe.root;
  const runs = ui.source
    .storedRuns()
    .filter(({ store, run }) => store.root === root && run.status !== 'running')
    .map(({ run }) => run);
  if (runs.length === 0) {
    void vscode.window.showInformationMessage('MLPipe: no finished run to push yet: run the pipeline first.');
    return undefined;
  }
  const newest = latestRun(runner)?.id ?? runs[0].summary.id;
  const picked = await vscode.window.showQuickPick(
    runs.map((run) => {
      const state = ui.remotes.states.runState(root, run.summary.id);
      return {
        label: run.summary.id,
        description: `${run.summary.name ?? run.summary.pipeline} · ${run.status}${state ? ` · ${state}` : ''}`,
        picked: run.summary.id === newest,
        id: run.summary.id,
      };
    }),
    { title: `MLPipe: push which runs to remote '${remote}'?`, canPickMany: true, matchOnDescription: true },
  );
  return picked?.map((one) => one.id);
}

/**
 * "Push Runs to Remote...": the runs given (the Experiments view's selection, a run id) or picked,
 * their stage entries and objects, then their indexes, to the pipeline's remote.
 */
export async function pushRunsCommand(ui: RemoteUi, item: unknown, items: unknown): Promise<void> {
  if (!ui.ctx.trust.allows('remote')) return;
  const given = selectedRuns(item, items);
  // A run the view does not know (yet) is looked for in the pipeline the user picks.
  const pipeline = (given.length > 0 ? await pipelineOfRun(ui, given[0]) : undefined) ?? (await pipelineFor(item));
  if (!pipeline) return;
  const config = ui.remotes.config(pipeline);
  const remote = await pickRemote(config, 'MLPipe: push to which remote?');
  if (!remote) return;
  const runner = Runner.open(pipeline.fsPath);
  const ids = given.length > 0 ? given : await pickRuns(ui, runner, remote);
  if (!ids || ids.length === 0) return;
  const records = ids.map((id) => runner.mlpipe.readRecord(id));
  const unknown = ids.filter((_, index) => !records[index]);
  if (unknown.length > 0) {
    void vscode.window.showErrorMessage(
      `MLPipe: no run ${unknown.join(', ')} in ${vscode.workspace.asRelativePath(runner.mlpipe.root)}.`,
    );
    return;
  }
  const what = ids.length === 1 ? `run ${ids[0]}` : `${ids.length} runs`;
  try {
    const summary = await ui.remotes.transfer(`MLPipe: pushing ${what} to ${remote}`, async (options) => {
      const { runner: opened, cache } = await ui.remotes.open(pipeline, options);
      try {
        return await pushRuns(opened, cache, records as RunRecord[], remote);
      } finally {
        cache.close();
      }
    });
    ui.remotes.pushed(runner.mlpipe.root, summary.remote, ids);
    const text = pushSummaryText(summary, ids.length);
    ui.ctx.log.info(text);
    if (summary.skipped.length > 0)
      void vscode.window.showWarningMessage(`MLPipe: ${text}; not pushed: ${summary.skipped.join('; ')}`);
    else void vscode.window.showInformationMessage(`MLPipe: ${text}.`);
  } catch (error) {
    ui.remotes.showFailure(`push of ${what} to '${remote}'`, error);
  }
}

/** A run of the remote (newest first, marked when it is here too), or one typed. */
async function pickRemoteRun(ui: RemoteUi, pipeline: vscode.Uri, remote: string): Promise<string | undefined> {
  const listed = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: `MLPipe: listing the runs of ${remote}` },
    async () => {
      const { cache } = await ui.remotes.open(pipeline);
      try {
        return await (await cache.backend(remote)).listDocuments('runs');
      } finally {
        cache.close();
      }
    },
  );
  const TYPE = '$(edit) Type a run id...';
  const picked = await vscode.window.showQuickPick(
    [
      { label: TYPE, description: 'a run id the remote holds', id: undefined },
      ...listed
        .map((one) => one.name)
        .filter(isRunId)
        .sort()
        .reverse()
        .map((id) => ({ label: id, description: ui.source.stored(id) ? 'local + remote' : 'remote only', id })),
    ],
    { title: `MLPipe: pull which run from '${remote}'? (${listed.length} there)` },
  );
  if (!picked) return undefined;
  if (picked.id) return picked.id;
  const typed = await vscode.window.showInputBox({
    title: `MLPipe: pull a run from '${remote}'`,
    prompt: 'Run id (as mlpipe runs list shows it)',
    validateInput: (value) => (isRunId(value.trim()) ? undefined : 'not a run id (20260105-142233-123-ab12)'),
  });
  return typed?.trim() || undefined;
}

function pullText(summary: PullSummary, remote: string): string {
  return `pulled from remote '${remote}': ${summary.objects} objects (${formatBytes(summary.bytes)}) downloaded; ${summary.restored.length} stages restored${summary.restored.length > 0 ? ` (${summary.restored.join(', ')})` : ''}`;
}

/**
 * "Pull from Remote": what the pipeline's current stages need (as `mlpipe cache pull`), or one
 * run's outputs (as `mlpipe cache pull RUN`), into the local cache and the workspace.
 */
export async function pullCommand(ui: RemoteUi, given: unknown): Promise<void> {
  if (!ui.ctx.trust.allows('remote')) return;
  const pipeline = await pipelineFor(given);
  if (!pipeline) return;
  const config = ui.remotes.config(pipeline);
  const remote = await pickRemote(config, 'MLPipe: pull from which remote?');
  if (!remote) return;
  const what = await vscode.window.showQuickPick(
    [
      {
        label: '$(symbol-event) Current stages',
        description: 'the outputs the pipeline as it is now needs (mlpipe cache pull)',
        run: false,
      },
      { label: '$(history) A run...', description: "one of the remote's runs (mlpipe cache pull RUN)", run: true },
    ],
    { title: `MLPipe: pull what from '${remote}' into ${vscode.workspace.asRelativePath(pipeline)}?` },
  );
  if (!what) return;
  const run = what.run ? await pickRemoteRun(ui, pipeline, remote) : undefined;
  if (what.run && !run) return;
  const label = run ? `run ${run}` : 'the current stages';
  try {
    const summary = await ui.remotes.transfer(`MLPipe: pulling ${label} from ${remote}`, async (options) => {
      const { runner, cache } = await ui.remotes.open(pipeline, options);
      try {
        return run ? await pullRuns(runner, cache, [run], { remote }) : await pullPipeline(runner, cache, { remote });
      } finally {
        cache.close();
      }
    });
    ui.onPulled();
    const text = pullText(summary, remote);
    ui.ctx.log.info(text);
    if (summary.missing.length > 0)
      void vscode.window.showWarningMessage(
        `MLPipe: ${text}; not restored: ${summary.missing.join('; ')} (they run with the pipeline).`,
      );
    else void vscode.window.showInformationMessage(`MLPipe: ${text}.`);
  } catch (error) {
    ui.remotes.showFailure(`pull of ${label} from '${remote}'`, error);
  }
}

/** "Refresh Remote State": asks every folder's default remote now which runs it holds. */
export async function refreshRemoteState(ui: RemoteUi): Promise<void> {
  if (!ui.ctx.trust.allows('remote')) return;
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: 'MLPipe: asking the remotes which runs they hold' },
    () => ui.remotes.refresh(true),
  );
  const shown = ui.remotes.states.shown();
  if (shown.length === 0) {
    void vscode.window.showInformationMessage(
      'MLPipe: no pipeline here declares a remote (remotes: { team: { url: s3://bucket/prefix } } in the pipeline or .mlpipe/config.yaml).',
    );
    return;
  }
  for (const [root, state] of shown) {
    const where = shown.length > 1 ? ` (${vscode.workspace.asRelativePath(dirname(root))})` : '';
    if (state.kind === 'failed') ui.remotes.showFailure(`asking the remote${where}`, new Error(state.message));
    else
      void vscode.window.showInformationMessage(`MLPipe: remote '${state.remote}'${where}: ${remoteSummary(state)}.`);
  }
}

/** "Set Remote Credentials...": S3 keys or a registry login for one of a pipeline's remotes. */
export async function setRemoteCredentialsCommand(ui: RemoteUi, given: unknown): Promise<void> {
  if (!ui.ctx.trust.allows('remote')) return;
  const pipeline = await pipelineFor(given);
  if (!pipeline) return;
  await setRemoteCredentials(ui.ctx.extension.secrets, ui.remotes.config(pipeline));
}
