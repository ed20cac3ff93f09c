import * as vscode from 'vscode';
import { RunTerminal, type RunController } from '../run-controller';
import { findPipelines } from './find';
import { plannedStages } from './plan';

export const TASK_TYPE = 'mlpipe';

export interface MlpipeTaskDefinition extends vscode.TaskDefinition {
  /** Pipeline file, relative to the workspace folder. */
  pipeline: string;
  /** A stage (or matrix variant); the whole pipeline when absent. */
  stage?: string;
  upstream?: boolean;
  /** Every stage on this host (a cluster): `mlpipe run --host`. */
  host?: string;
}

/** Every pipeline and every stage as a task ("mlpipe: train"), run through the same controller. */
export class MlpipeTaskProvider implements vscode.TaskProvider {
  constructor(private readonly controller: RunController) {}

  async provideTasks(): Promise<vscode.Task[]> {
    const tasks: vscode.Task[] = [];
    for (const uri of await findPipelines()) {
      const folder = vscode.workspace.getWorkspaceFolder(uri);
      if (!folder) continue;
      const pipeline = vscode.workspace.asRelativePath(uri, false);
      tasks.push(this.task({ type: TASK_TYPE, pipeline }, folder));
      try {
        for (const stage of plannedStages(uri.fsPath))
          tasks.push(this.task({ type: TASK_TYPE, pipeline, stage }, folder));
      } catch {
        // A pipeline with errors offers only the whole-pipeline task; running it reports the errors.
      }
    }
    return tasks;
  }

  resolveTask(task: vscode.Task): vscode.Task | undefined {
    const definition = task.definition as MlpipeTaskDefinition;
    if (!definition.pipeline || !task.scope || typeof task.scope === 'number') return undefined;
    return this.task(definition, task.scope);
  }

  private task(definition: MlpipeTaskDefinition, folder: vscode.WorkspaceFolder): vscode.Task {
    const name = `${
      definition.stage
        ? `${definition.stage}${definition.upstream ? ' (with upstream)' : ''}`
        : `run ${definition.pipeline}`
    }${definition.host ? ` on ${definition.host}` : ''}`;
    const execution = new vscode.CustomExecution(async () => {
      const terminal = new RunTerminal((opened) => {
        void this.controller
          .run(
            {
              pipeline: vscode.Uri.joinPath(folder.uri, definition.pipeline),
              stages: definition.stage ? [definition.stage] : [],
              upstream: Boolean(definition.upstream),
              ...(typeof definition.host === 'string' && definition.host ? { host: definition.host } : {}),
            },
            opened,
          )
          .then((record) => opened.exit(record?.status === 'succeeded' ? 0 : 1));
      });
      return terminal;
    });
    const task = new vscode.Task(definition, folder, name, 'mlpipe', execution);
    task.presentationOptions = {
      reveal: vscode.TaskRevealKind.Always,
      panel: vscode.TaskPanelKind.Dedicated,
      clear: true,
    };
    return task;
  }
}
