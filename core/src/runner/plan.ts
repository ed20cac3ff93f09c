import { dirname, relative } from 'node:path';
import { paramText, type ParamsIndex } from '../params/params';
import { byPathSegments, pathsInside } from '../pipeline/graph';
import { isInsideWorkspace, normalizePath, type Stage } from '../pipeline/model';
import { substitute } from '../pipeline/interpolation';
import { parseDuration, parseSize } from '../pipeline/units';
import { type ScalarValue } from '../yaml/nodes';
import { toJS } from '../yaml/values';
import { type PipelineAnalysis } from '../workspace/workspace';
import { buildCommand, CommandError, type ContainerCommand } from '../pipeline/command';

import { reservedTop } from '../util/reserved';
import { type KeyInputs, type StageResources } from '../runs/keys';
import { EXIT, UserError } from '../errors';
import { type KubernetesHost } from './kubernetes/spec';
export { cacheKey, type KeyInputs } from '../runs/keys';

export interface OutputSpec {
  path: string;
  role: 'out' | 'metric' | 'plot';
  /** Kept in the content-addressed cache (outs can opt out with `cache: false`). */
  cache: boolean;
  /** Left in place when the stage reruns, instead of being removed first. */
  persist: boolean;
  /** The remote its objects go to and come from (`outs: [{ path, remote }]`); the default remote when absent. */
  remote?: string;
  /** For plots: the x column and the y columns as declared (all numeric columns when absent). */
  plot?: { x?: string; y?: string[]; title?: string };
}

/** One stage instance (a stage, or one matrix variant of it) with everything resolved. */
export interface PlannedStage {
  /** `train`, or `evaluate@test` for a matrix variant. */
  name: string;
  stage: string;
  values: Record<string, ScalarValue>;
  command: ContainerCommand;
  image: string;
  host: string;
  deps: string[];
  outputs: OutputSpec[];
  /** Params the command reads (`${params...}` and the stage's `params:` list), by dotted path. */
  params: Record<string, unknown>;
  env: Record<string, string>;
  resources: StageResources;
  workdir: string;
  network: 'none' | 'host' | 'bridge';
  timeoutMs?: number;
  retries: number;
  alwaysRun: boolean;
  /** Instances that must finish first. */
  upstream: string[];
}

/** A host as the pipeline declares it; `local` without `docker:` follows DOCKER_HOST when used. */
export interface DeclaredHost {
  name: string;
  /** unix://, tcp://, ssh:// or npipe://, as written. */
  address?: string;
  tls?: { ca?: string; cert?: string; key?: string; verify?: boolean };
  engine?: 'docker' | 'podman';
  gpus?: number;
  /** A cluster instead of an engine: each stage instance a Job (kubernetes/executor.ts). */
  kubernetes?: KubernetesHost;
}

export interface Plan {
  /** In an order where every stage comes after its upstream. */
  stages: PlannedStage[];
  byName: Map<string, PlannedStage>;
  hosts: Record<string, DeclaredHost>;
  /** The params files that exist, relative to the pipeline's folder (copied to remote hosts). */
  paramsFiles: string[];
  /** The pipeline's `name:`. */
  name?: string;
  /** `remotes:` as written (core/src/remote/spec.ts resolves them with the user's overrides). */
  remotes?: Record<string, unknown>;
}

/** A reason the pipeline cannot be planned, phrased for the user. */
export class PlanError extends UserError {
  constructor(message: string, exitCode: number = EXIT.usage) {
    super(message, exitCode);
  }
}

type Json = Record<string, unknown>;

function asRecord(value: unknown): Json {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {};
}

export function buildPlan(analysis: PipelineAnalysis): Plan {
  const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) {
    throw new PlanError(
      `${analysis.path} has ${errors.length} error${errors.length === 1 ? '' : 's'} (first: ${errors[0].message}); fix them before running (mlpipe check).`,
      EXIT.failed,
    );
  }
  const { model, params } = analysis;
  const root = asRecord(toJS(analysis.yaml?.root ?? null));
  const defaults = asRecord(root.defaults);
  const stagesJs = asRecord(root.stages);
  const planned: PlannedStage[] = [];
  for (const stage of model.stages) {
    const js = asRecord(stagesJs[stage.name]);
    for (const variant of stage.variants) planned.push(plan(stage, variant.name, variant.values, js, defaults, params));
  }
  const dir = dirname(analysis.path);
  const paramsFiles = analysis.paramsFiles.filter((file) => file.exists).map((file) => relative(dir, file.path));
  const card = model.modelCard ? normalizePath(model.modelCard.name) : undefined;
  checkPlannedPaths(planned, [relative(dir, analysis.path), ...paramsFiles, ...(card ? [card] : [])]);
  linkUpstream(planned, analysis);
  const hosts: Record<string, DeclaredHost> = {};
  for (const [name, declared] of model.hosts) {
    const value = asRecord(toJS(declared.pair.value));
    hosts[name] = {
      name,
      ...(typeof value.docker === 'string' ? { address: value.docker } : {}),
      ...(value.tls && typeof value.tls === 'object' ? { tls: value.tls as DeclaredHost['tls'] } : {}),
      ...(value.engine === 'podman' || value.engine === 'docker' ? { engine: value.engine } : {}),
      ...(declared.gpus !== undefined ? { gpus: declared.gpus } : {}),
      ...(value.kubernetes && typeof value.kubernetes === 'object'
        ? { kubernetes: value.kubernetes as KubernetesHost }
        : {}),
    };
  }
  return {
    stages: topological(planned),
    byName: new Map(planned.map((stage) => [stage.name, stage])),
    hosts,
    paramsFiles,
    ...(typeof root.name === 'string' ? { name: root.name } : {}),
    ...(root.remotes && typeof root.remotes === 'object' ? { remotes: asRecord(root.remotes) } : {}),
  };
}

/**
 * The runner removes a stage's outputs before it runs and restores them from the cache: none may
 * be the pipeline's folder or outside it, inside `.git` or `.mlpipe`, or hold a file the pipeline is
 * read from (the pipeline file, its params files, its model card). Checked on every plan, cached or not.
 */
export function checkPlannedPaths(stages: PlannedStage[], sources: string[]): void {
  for (const stage of stages) {
    for (const path of [...stage.outputs.map((output) => output.path), ...stage.deps]) {
      if (!isInsideWorkspace(path))
        throw new PlanError(`stage '${stage.name}': ${path || '.'} is not a path inside the pipeline's folder`);
    }
    for (const output of stage.outputs) {
      const top = reservedTop(output.path);
      if (top)
        throw new PlanError(
          `stage '${stage.name}': output ${output.path} is inside ${top}/, which no stage may replace or remove; write it elsewhere`,
        );
      const lower = output.path.toLowerCase();
      const source = sources.find((file) => file.toLowerCase() === lower || file.toLowerCase().startsWith(`${lower}/`));
      if (source !== undefined)
        throw new PlanError(
          `stage '${stage.name}': output ${output.path} would remove ${source}, which the pipeline is read from; write the output elsewhere`,
        );
    }
  }
}

function plan(
  stage: Stage,
  name: string,
  values: Record<string, ScalarValue>,
  js: Json,
  defaults: Json,
  params: ParamsIndex,
): PlannedStage {
  const used: Record<string, unknown> = {};
  const lookup = (namespace: string, path: string): string | undefined => {
    if (namespace === 'matrix') return path in values ? String(values[path]) : undefined;
    if (namespace !== 'params') return undefined;
    const entry = params.get(path);
    if (!entry) return undefined;
    used[path] = entry.value;
    return paramText(entry.value);
  };
  const resolve = (value: unknown): string => substitute(String(value), lookup);
  const paths = (list: unknown): string[] =>
    (Array.isArray(list) ? list : []).map((item) =>
      normalizePath(resolve(typeof item === 'object' && item ? (item as Json).path : item)),
    );
  const templates = Array.isArray(js.cmd) ? js.cmd.map(String) : [String(js.cmd ?? '')];
  let command: ContainerCommand;
  try {
    command = buildCommand(templates, lookup);
  } catch (error) {
    throw new PlanError(`stage '${name}': ${error instanceof CommandError ? error.message : String(error)}`);
  }
  for (const param of stage.params) {
    const entry = params.get(param.name);
    if (entry) used[param.name] = entry.value;
  }
  const outputs: OutputSpec[] = [];
  for (const item of Array.isArray(js.outs) ? js.outs : []) {
    const object = typeof item === 'object' && item ? (item as Json) : {};
    outputs.push({
      path: normalizePath(resolve(object.path ?? item)),
      role: 'out',
      cache: object.cache !== false,
      persist: object.persist === true,
      ...(typeof object.remote === 'string' ? { remote: object.remote } : {}),
    });
  }
  for (const path of paths(js.metrics)) outputs.push({ path, role: 'metric', cache: true, persist: false });
  for (const item of Array.isArray(js.plots) ? js.plots : []) {
    const object = typeof item === 'object' && item ? (item as Json) : {};
    const ys =
      object.y === undefined ? undefined : (Array.isArray(object.y) ? object.y : [object.y]).map((y) => resolve(y));
    const plot = {
      ...(object.x !== undefined ? { x: resolve(object.x) } : {}),
      ...(ys ? { y: ys } : {}),
      ...(object.title !== undefined ? { title: resolve(object.title) } : {}),
    };
    outputs.push({
      path: normalizePath(resolve(object.path ?? item)),
      role: 'plot',
      cache: true,
      persist: false,
      plot,
    });
  }
  const resources = { ...asRecord(defaults.resources), ...asRecord(js.resources) };
  const number = (value: unknown) => (value === undefined ? undefined : Number(resolve(value)));
  const gpus =
    resources.gpus === undefined
      ? undefined
      : resolve(resources.gpus) === 'all'
        ? 'all'
        : Number(resolve(resources.gpus));
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...asRecord(defaults.env), ...asRecord(js.env) }))
    env[key] = resolve(value);
  const timeout = js.timeout ?? defaults.timeout;
  const network = String(js.network ?? defaults.network ?? 'none');
  return {
    name,
    stage: stage.name,
    values,
    command,
    image: resolve(js.image ?? defaults.image ?? ''),
    host: stage.host,
    deps: paths(js.deps),
    outputs,
    params: used,
    env,
    resources: {
      gpus: gpus === 0 ? undefined : gpus,
      cpus: number(resources.cpus),
      memoryBytes: resources.memory === undefined ? undefined : parseSize(resolve(resources.memory)),
      shmBytes: resources.shm === undefined ? undefined : parseSize(resolve(resources.shm)),
    },
    workdir: normalizePath(resolve(js.workdir ?? '')),
    network: network === 'host' || network === 'bridge' ? network : 'none',
    timeoutMs:
      timeout === undefined ? undefined : parseDuration(typeof timeout === 'number' ? timeout : resolve(timeout)),
    retries: Number(resolve(js.retries ?? defaults.retries ?? 0)) || 0,
    alwaysRun: js.always_run === true,
    upstream: [],
  };
}

function linkUpstream(stages: PlannedStage[], analysis: PipelineAnalysis): void {
  const producer = new Map<string, PlannedStage>();
  for (const stage of stages) for (const output of stage.outputs) producer.set(output.path, stage);
  const sorted = [...producer.keys()].sort(byPathSegments);
  const producersOf = (path: string): PlannedStage[] => {
    const exact = producer.get(path);
    if (exact) return [exact];
    for (
      let parent = path.slice(0, path.lastIndexOf('/'));
      parent;
      parent = parent.includes('/') ? parent.slice(0, parent.lastIndexOf('/')) : ''
    ) {
      const found = producer.get(parent);
      if (found) return [found];
    }
    return pathsInside(sorted, path).map((out) => producer.get(out)!);
  };
  const byStage = new Map<string, PlannedStage[]>();
  for (const stage of stages) byStage.set(stage.stage, [...(byStage.get(stage.stage) ?? []), stage]);
  const byName = new Map(stages.map((stage) => [stage.name, stage]));
  for (const stage of stages) {
    const upstream = new Set<string>();
    const model = analysis.model.stageByName.get(stage.stage);
    for (const need of model?.needs ?? []) {
      const targets = byName.has(need.name) ? [byName.get(need.name)!] : (byStage.get(need.name) ?? []);
      for (const target of targets) if (target !== stage) upstream.add(target.name);
    }
    for (const dep of stage.deps) for (const found of producersOf(dep)) if (found !== stage) upstream.add(found.name);
    stage.upstream = [...upstream];
  }
}

function topological(stages: PlannedStage[]): PlannedStage[] {
  const byName = new Map(stages.map((stage) => [stage.name, stage]));
  const done = new Set<string>();
  const visiting = new Set<string>();
  const order: PlannedStage[] = [];
  const visit = (stage: PlannedStage) => {
    if (done.has(stage.name)) return;
    if (visiting.has(stage.name))
      throw new PlanError(`dependency cycle through stage '${stage.name}'; run mlpipe check`);
    visiting.add(stage.name);
    for (const name of stage.upstream) visit(byName.get(name)!);
    visiting.delete(stage.name);
    done.add(stage.name);
    order.push(stage);
  };
  for (const stage of stages) visit(stage);
  return order;
}

/**
 * The stages a run covers: the named stages (a name covers all its matrix variants) or all of
 * them, plus everything upstream when asked.
 */
export function selectStages(plan: Plan, names: string[], upstream: boolean): PlannedStage[] {
  if (names.length === 0) return plan.stages;
  const chosen = new Set<string>();
  for (const name of names) {
    const matches = plan.stages.filter((stage) => stage.name === name || stage.stage === name);
    if (matches.length === 0) {
      const known = [...new Set(plan.stages.map((stage) => stage.stage))];
      throw new PlanError(`no stage '${name}' in the pipeline; stages are ${known.join(', ')}`);
    }
    for (const match of matches) chosen.add(match.name);
  }
  if (upstream) {
    const stack = [...chosen];
    while (stack.length > 0) {
      for (const name of plan.byName.get(stack.pop()!)!.upstream) {
        if (!chosen.has(name)) {
          chosen.add(name);
          stack.push(name);
        }
      }
    }
  }
  return plan.stages.filter((stage) => chosen.has(stage.name));
}

/** What a stage's result depends on; equal inputs give an equal key. Host, timeout and retries do not count. */

export function keyInputs(stage: PlannedStage, deps: Record<string, string>, imageDigest: string): KeyInputs {
  const sorted = <T>(record: Record<string, T>) =>
    Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    command: stage.command.display,
    image: imageDigest,
    params: sorted(stage.params),
    deps: sorted(deps),
    env: sorted(stage.env),
    resources: stage.resources,
    workdir: stage.workdir,
    network: stage.network,
  };
}

function changedKeys(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key])).sort();
}

/** What differs between the inputs of a stage's last result and its inputs now, in words. */
export function explainChange(last: KeyInputs, now: KeyInputs): string[] {
  const reasons: string[] = [];
  for (const dep of changedKeys(last.deps, now.deps))
    reasons.push(
      !(dep in last.deps) ? `new dep ${dep}` : !(dep in now.deps) ? `dep ${dep} removed` : `dep ${dep} changed`,
    );
  for (const param of changedKeys(last.params, now.params))
    reasons.push(
      `param ${param}: ${JSON.stringify(last.params[param]) ?? 'unset'} -> ${JSON.stringify(now.params[param]) ?? 'unset'}`,
    );
  if (last.command !== now.command) reasons.push(`command changed: ${now.command}`);
  if (last.image !== now.image) reasons.push(`image changed (${last.image.slice(0, 19)} -> ${now.image.slice(0, 19)})`);
  if (changedKeys(last.env, now.env).length > 0)
    reasons.push(`env changed: ${changedKeys(last.env, now.env).join(', ')}`);
  if (JSON.stringify(last.resources) !== JSON.stringify(now.resources)) reasons.push('resources changed');
  if (last.workdir !== now.workdir || last.network !== now.network) reasons.push('workdir or network changed');
  return reasons;
}
