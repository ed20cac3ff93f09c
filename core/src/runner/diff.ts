import { execFile } from 'node:child_process';
import { dirname, relative, resolve } from 'node:path';
import { IncrementalYamlParser } from '../yaml/build';
import { declaredParamsFiles } from '../pipeline/model';
import { nodeFileHost, type FileHost } from '../workspace/file-host';
import { DEFAULT_OPTIONS, Workspace, type PipelineAnalysis } from '../workspace/workspace';
import { gitResolve, gitShow, SAFE_GIT } from './git';
import { buildPlan, type Plan, type PlannedStage } from './plan';
import { RunError } from './runner';

export interface StageChange {
  name: string;
  change: 'added' | 'removed' | 'changed' | 'downstream';
  details: string[];
}

export interface DiffReport {
  revision: string;
  commit: string;
  params: { path: string; before: unknown; after: unknown }[];
  stages: StageChange[];
  /** Stages a run of the working tree would rerun compared with the revision, in run order. */
  rerun: string[];
}

function changedFiles(dir: string, commit: string): Promise<string[]> {
  return new Promise((done) => {
    execFile(
      'git',
      [...SAFE_GIT, 'diff', '--name-only', '--relative', '--end-of-options', commit, '--', '.'],
      { cwd: dir, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout) => done(error ? [] : stdout.split('\n').filter(Boolean)),
    );
  });
}

/** The file system as it was at a revision for the given files, as it is now for the rest. */
function hostAt(files: Map<string, string | undefined>): FileHost {
  return {
    readFile: (path) => (files.has(path) ? files.get(path) : nodeFileHost.readFile(path)),
    stat: (path) => {
      if (!files.has(path)) return nodeFileHost.stat(path);
      const text = files.get(path);
      return text === undefined ? undefined : { isFile: true, isDirectory: false, size: text.length, mtimeMs: 0 };
    },
    readDirectory: (path) => nodeFileHost.readDirectory(path),
  };
}

function planOf(analysis: PipelineAnalysis, when: string): Plan {
  try {
    return buildPlan(analysis);
  } catch (error) {
    throw new RunError(`cannot compare: the pipeline ${when} does not plan (${(error as Error).message})`);
  }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function compare(before: PlannedStage, after: PlannedStage, changed: string[]): string[] {
  const details: string[] = [];
  for (const key of new Set([...Object.keys(before.params), ...Object.keys(after.params)])) {
    if (!same(before.params[key], after.params[key]))
      details.push(
        `param ${key}: ${JSON.stringify(before.params[key]) ?? 'unset'} -> ${JSON.stringify(after.params[key]) ?? 'unset'}`,
      );
  }
  if (before.command.display !== after.command.display)
    details.push(`command: ${before.command.display} -> ${after.command.display}`);
  if (!same(before.deps, after.deps))
    details.push(`deps: ${before.deps.join(', ') || 'none'} -> ${after.deps.join(', ') || 'none'}`);
  if (
    !same(
      before.outputs.map((o) => o.path),
      after.outputs.map((o) => o.path),
    )
  )
    details.push(
      `outputs: ${before.outputs.map((o) => o.path).join(', ')} -> ${after.outputs.map((o) => o.path).join(', ')}`,
    );
  if (before.image !== after.image) details.push(`image: ${before.image} -> ${after.image}`);
  if (!same(before.env, after.env)) details.push('env changed');
  if (!same(before.resources, after.resources)) details.push('resources changed');
  if (before.workdir !== after.workdir || before.network !== after.network) details.push('workdir or network changed');
  for (const dep of after.deps) {
    const touched = changed.filter((file) => file === dep || file.startsWith(`${dep}/`));
    if (touched.length > 0)
      details.push(
        `dep ${dep} changed (${touched.slice(0, 3).join(', ')}${touched.length > 3 ? `, and ${touched.length - 3} more` : ''})`,
      );
  }
  return details;
}

/**
 * For code review: what differs between the working tree and a git revision in a pipeline (its
 * stages, commands, params, and tracked files its stages read), and which stages would therefore
 * rerun. Compares definitions; it does not look at run history.
 */
export async function pipelineDiff(pipelinePath: string, revision: string): Promise<DiffReport> {
  return (await pipelineDiffWithPlan(pipelinePath, revision)).report;
}

/** The same, with the working tree's analysis and plan it built (for callers that need them too). */
export async function pipelineDiffWithPlan(
  pipelinePath: string,
  revision: string,
): Promise<{ report: DiffReport; analysis: PipelineAnalysis; plan: Plan }> {
  const dir = dirname(pipelinePath);
  const commit = await gitResolve(dir, revision);
  if (!commit) throw new RunError(`'${revision}' is not a git revision here (is ${dir} in a git repository?)`);
  const rel = (path: string) => relative(dir, path);
  const then = new Map<string, string | undefined>();
  const oldPipeline = await gitShow(dir, commit, rel(pipelinePath));
  then.set(pipelinePath, oldPipeline);
  if (oldPipeline !== undefined) {
    for (const file of declaredParamsFiles(new IncrementalYamlParser().parse(oldPipeline).root)) {
      const path = resolve(dir, file.raw);
      then.set(path, await gitShow(dir, commit, rel(path)));
    }
  }
  // No file checks: a diff compares definitions, and a large pipeline's stat calls are most of an analysis.
  const now = new Workspace(nodeFileHost, { ...DEFAULT_OPTIONS, fileChecks: false }).analyze(
    pipelinePath,
    'pipeline',
  ) as PipelineAnalysis;
  const after = planOf(now, 'in the working tree');
  const previous =
    oldPipeline === undefined
      ? undefined
      : (new Workspace(hostAt(then), { ...DEFAULT_OPTIONS, fileChecks: false }).analyze(
          pipelinePath,
          'pipeline',
        ) as PipelineAnalysis);
  const before = previous ? planOf(previous, `at ${revision}`) : undefined;
  const oldParams = previous?.params;
  const changed = await changedFiles(dir, commit);

  const params: DiffReport['params'] = [];
  const leaves = (index: PipelineAnalysis['params'] | undefined) =>
    new Map(
      [...(index?.entries ?? new Map())]
        .filter(([, entry]) => entry.value === null || typeof entry.value !== 'object')
        .map(([path, entry]) => [path, entry.value]),
    );
  const oldLeaves = leaves(oldParams);
  const newLeaves = leaves(now.params);
  for (const path of [...new Set([...oldLeaves.keys(), ...newLeaves.keys()])].sort()) {
    if (!same(oldLeaves.get(path), newLeaves.get(path)))
      params.push({ path, before: oldLeaves.get(path), after: newLeaves.get(path) });
  }

  const stages: StageChange[] = [];
  const direct = new Set<string>();
  for (const stage of after.stages) {
    const old = before?.byName.get(stage.name);
    if (!old) {
      stages.push({ name: stage.name, change: 'added', details: [] });
      direct.add(stage.name);
      continue;
    }
    const details = compare(old, stage, changed);
    if (details.length > 0) {
      stages.push({ name: stage.name, change: 'changed', details });
      direct.add(stage.name);
    }
  }
  for (const stage of before?.stages ?? [])
    if (!after.byName.has(stage.name)) stages.push({ name: stage.name, change: 'removed', details: [] });
  const rerun = new Set(direct);
  for (const stage of after.stages) {
    const cause = stage.upstream.find((name) => rerun.has(name));
    if (cause && !rerun.has(stage.name)) {
      rerun.add(stage.name);
      stages.push({ name: stage.name, change: 'downstream', details: [`reruns after ${cause}`] });
    }
  }
  const order = new Map(after.stages.map((stage, index) => [stage.name, index]));
  stages.sort((a, b) => (order.get(a.name) ?? 1e9) - (order.get(b.name) ?? 1e9));
  return {
    report: {
      revision,
      commit,
      params,
      stages,
      rerun: after.stages.filter((stage) => rerun.has(stage.name)).map((stage) => stage.name),
    },
    analysis: now,
    plan: after,
  };
}

export function formatDiff(report: DiffReport, pipeline: string): string {
  const lines = [`${pipeline}: ${report.revision} (${report.commit.slice(0, 10)}) -> working tree`];
  if (report.params.length > 0) {
    lines.push('params:');
    for (const param of report.params)
      lines.push(
        `  ${param.path}: ${JSON.stringify(param.before) ?? 'unset'} -> ${JSON.stringify(param.after) ?? 'unset'}`,
      );
  }
  if (report.stages.length > 0) {
    lines.push('stages:');
    for (const stage of report.stages)
      lines.push(`  ${stage.name}: ${stage.change}${stage.details.length > 0 ? `: ${stage.details.join('; ')}` : ''}`);
  }
  lines.push(report.rerun.length > 0 ? `would rerun: ${report.rerun.join(', ')}` : 'nothing would rerun');
  return `${lines.join('\n')}\n`;
}
