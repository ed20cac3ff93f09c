import { posix } from 'node:path';
import { deref, walk, type ScalarValue, type YMap, type YNode, type YPair, type YScalar } from '../yaml/nodes';
import { mapEntries, mapGet } from '../yaml/values';
import { type ParamsIndex, paramText } from '../params/params';
import { findInterpolations, substitute, type Interpolation } from './interpolation';

export type PathRole = 'dep' | 'out' | 'metric' | 'plot';

/** A path a stage declares, and what it is once params and matrix values are filled in. */
export interface PathEntry {
  raw: string;
  node: YScalar;
  role: PathRole;
  /** Normalised workspace-relative paths, one per matrix variant (deduplicated); empty when unresolved. */
  paths: string[];
}

export interface NameRef {
  name: string;
  node: YScalar;
}

export interface Variant {
  /** `evaluate@test`, or the stage name when there is no matrix. */
  name: string;
  values: Record<string, ScalarValue>;
}

export interface Stage {
  name: string;
  pair: YPair;
  map: YMap | null;
  matrix: YMap | null;
  matrixKeys: string[];
  /** Variants the matrix multiplies to (1 without a matrix; Infinity when past counting). */
  matrixSize: number;
  /** The first `variants.length` of them: all, unless the pipeline's budget (MAX_VARIANTS) ran out here. */
  variants: Variant[];
  cmd: YScalar[];
  deps: PathEntry[];
  outs: PathEntry[];
  metrics: PathEntry[];
  plots: PathEntry[];
  needs: NameRef[];
  params: NameRef[];
  /** Effective host and image: the stage's own, else `defaults`. */
  host: string;
  hostNode: YNode | null;
  image: string | undefined;
  imageNode: YNode | null;
  gpus: { value: unknown; node: YNode } | undefined;
  interpolations: Interpolation[];
}

export interface HostDecl {
  name: string;
  pair: YPair;
  gpus: number | undefined;
  engine: string | undefined;
  /** The `kubernetes:` map when the host is a cluster. */
  kubernetes: YMap | undefined;
}

export interface PipelineModel {
  root: YMap | null;
  /** Params files as written (relative to the pipeline), with their nodes; implicit `params.yaml` has none. */
  paramsFiles: { raw: string; node: YScalar | null }[];
  hosts: Map<string, HostDecl>;
  stages: Stage[];
  stageByName: Map<string, Stage>;
  /** Variant name (`evaluate@test`) to its stage. */
  variantToStage: Map<string, Stage>;
  defaultsMap: YMap | null;
  modelCard: NameRef | undefined;
  modelArtifact: NameRef | undefined;
  driftPaths: NameRef[];
  /** Interpolations outside stages (defaults, x- fields), checked for params only. */
  otherInterpolations: Interpolation[];
}

/** Longer paths are no paths (PATH_MAX is 4096 on Linux). */
const MAX_PATH_LENGTH = 4096;

/** Whether a normalised path stays inside the pipeline's folder (and is not the folder itself). */
export function isInsideWorkspace(path: string): boolean {
  return (
    path !== '' &&
    path !== '.' &&
    path !== '..' &&
    !path.startsWith('../') &&
    !path.startsWith('/') &&
    !/^[A-Za-z]:/.test(path)
  );
}

const normalized = new Map<string, string>();

/** A workspace-relative path in one spelling: no `./`, no `//`, no trailing `/`. Memoised: the same paths come back on every keystroke. */
export function normalizePath(raw: string): string {
  let path = normalized.get(raw);
  if (path !== undefined) return path;
  path = posix.normalize(raw.trim().replace(/\\/g, '/'));
  while (path.startsWith('./')) path = path.slice(2);
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  if (path === '.') path = '';
  if (normalized.size > 100_000) normalized.clear();
  normalized.set(raw, path);
  return path;
}

function stringScalar(node: YNode | null | undefined): YScalar | undefined {
  const target = deref(node);
  return target?.kind === 'scalar' && target.value !== null && typeof target.value !== 'boolean' ? target : undefined;
}

function scalarList(node: YNode | null | undefined): YScalar[] {
  const target = deref(node);
  if (!target) return [];
  if (target.kind === 'scalar') return stringScalar(target) ? [target] : [];
  if (target.kind !== 'seq') return [];
  const out: YScalar[] = [];
  for (const item of target.items) {
    const itemTarget = deref(item);
    if (itemTarget?.kind === 'map') {
      const path = stringScalar(mapGet(itemTarget, 'path')?.value);
      if (path) out.push(path);
    } else {
      const scalar = stringScalar(itemTarget);
      if (scalar) out.push(scalar);
    }
  }
  return out;
}

/**
 * Matrix variants a whole pipeline expands to, all matrix stages together (a stage without a
 * matrix counts nothing). The matrix that crosses it is reported (`matrix-too-large`) and expands
 * only as far as the budget left; the matrices after it, to one variant each.
 */
export const MAX_VARIANTS = 10_000;

/** A matrix's axes as written: each key with its values. Costs what the matrix text holds, never the product. */
function matrixAxes(matrix: YMap | null): [string, ScalarValue[]][] {
  const axes: [string, ScalarValue[]][] = [];
  for (const pair of mapEntries(matrix)) {
    const list = deref(pair.value);
    const values: ScalarValue[] = [];
    if (list?.kind === 'seq') {
      for (const item of list.items) {
        const target = deref(item);
        if (target?.kind === 'scalar') values.push(target.value);
      }
    }
    axes.push([pair.keyText, values]);
  }
  return axes;
}

/** How many variants the axes multiply to (axes without values count once); Infinity past 2^53. */
function productOf(axes: [string, ScalarValue[]][]): number {
  let product = 1;
  for (const [, values] of axes) {
    if (values.length === 0) continue;
    product *= values.length;
    if (product > Number.MAX_SAFE_INTEGER) return Infinity;
  }
  return product;
}

/**
 * The first `limit` variants in order (the last key varies fastest), built one by one from their
 * index: nothing in proportion to the full product is made when the product passes the limit.
 */
function variantsOf(
  name: string,
  axes: [string, ScalarValue[]][],
  limit: number,
): { keys: string[]; variants: Variant[] } {
  const keys = axes.map(([key]) => key);
  if (keys.length === 0) return { keys, variants: [{ name, values: {} }] };
  const used = axes.filter(([, values]) => values.length > 0);
  const count = Math.min(productOf(axes), limit);
  const variants: Variant[] = [];
  for (let index = 0; index < count; index++) {
    const picks: number[] = new Array<number>(used.length);
    let rest = index;
    for (let axis = used.length - 1; axis >= 0; axis--) {
      picks[axis] = rest % used[axis][1].length;
      rest = Math.floor(rest / used[axis][1].length);
    }
    const values: Record<string, ScalarValue> = {};
    // Defined, not assigned: a key named `__proto__` stays data.
    used.forEach(([key, list], axis) =>
      Object.defineProperty(values, key, {
        value: list[picks[axis]],
        enumerable: true,
        writable: true,
        configurable: true,
      }),
    );
    variants.push({ name: `${name}@${keys.map((key) => String(values[key])).join('-')}`, values });
  }
  return { keys, variants };
}

/** The params files a pipeline reads: its `params` entries, or `params.yaml` beside it when it has none. */
export function declaredParamsFiles(root: YNode | null): { raw: string; node: YScalar | null }[] {
  const rootMap = deref(root);
  const node = rootMap?.kind === 'map' ? deref(mapGet(rootMap, 'params')?.value) : null;
  return node
    ? scalarList(node).map((item) => ({ raw: String(item.value), node: item }))
    : [{ raw: 'params.yaml', node: null }];
}

/**
 * Stages of earlier builds, by their YAML pair. A stage whose block was reused by the parser, under
 * the same params, defaults and alias targets, is the same stage: editing one stage of 1,000 rebuilds one.
 */
export class StageCache {
  private readonly entries = new WeakMap<YPair, { key: string; stage: Stage }>();
  private readonly ids = new WeakMap<object, number>();
  private nextId = 1;

  idOf(value: object | null): number {
    if (!value) return 0;
    let id = this.ids.get(value);
    if (id === undefined) this.ids.set(value, (id = this.nextId++));
    return id;
  }

  get(pair: YPair, key: string): Stage | undefined {
    const entry = this.entries.get(pair);
    return entry && entry.key === key ? entry.stage : undefined;
  }

  set(pair: YPair, key: string, stage: Stage): void {
    this.entries.set(pair, { key, stage });
  }

  /** The last build's stage pairs and what they gave, for an edit that changes a few of them. */
  last:
    | {
        pairs: readonly YPair[];
        key: string;
        stages: Stage[];
        stageByName: Map<string, Stage>;
        variantToStage: Map<string, Stage>;
      }
    | undefined;
}

/**
 * The stages of a pipeline without matrices and with unique names, when the last build's differ
 * from these pairs in one window: the stages outside it are the last build's, the names keep their
 * places in the maps. Undefined when that does not hold (then every pair is looked up).
 */
function patchStages(
  cache: StageCache,
  pairs: readonly YPair[],
  key: string,
  build: (pair: YPair) => Stage,
): { stages: Stage[]; stageByName: Map<string, Stage>; variantToStage: Map<string, Stage> } | undefined {
  const last = cache.last;
  if (!last || last.key !== key || last.pairs === pairs) return undefined;
  let head = 0;
  while (head < last.pairs.length && head < pairs.length && last.pairs[head] === pairs[head]) head++;
  let tail = 0;
  while (
    tail < last.pairs.length - head &&
    tail < pairs.length - head &&
    last.pairs[last.pairs.length - 1 - tail] === pairs[pairs.length - 1 - tail]
  )
    tail++;
  const before = last.stages.slice(head, last.stages.length - tail);
  const after = pairs.slice(head, pairs.length - tail).map(build);
  if (after.some((stage) => stage.matrixKeys.length > 0)) return undefined;
  if (after.length !== before.length || after.some((stage, i) => stage.name !== before[i].name)) return undefined;
  after.forEach((stage, i) => {
    last.stageByName.set(stage.name, stage);
    last.variantToStage.set(stage.name, stage);
    before[i] = stage;
  });
  const stages = [...last.stages.slice(0, head), ...after, ...last.stages.slice(last.stages.length - tail)];
  return { stages, stageByName: last.stageByName, variantToStage: last.variantToStage };
}

interface StageContext {
  text: string;
  params: ParamsIndex | null;
  defaultHost: YScalar | undefined;
  defaultImage: YScalar | undefined;
  defaultGpus: YPair | undefined;
}

/** Builds the pipeline's semantic model from its YAML tree; params fill `${params...}` in paths. */
export function buildPipeline(
  root: YNode | null,
  text: string,
  params: ParamsIndex | null,
  cache?: StageCache,
  aliasVersion = 0,
): PipelineModel {
  const rootMap = deref(root)?.kind === 'map' ? (deref(root) as YMap) : null;
  const get = (map: YMap | null, key: string) => deref(mapGet(map, key)?.value);
  const asMap = (node: YNode | null | undefined) => (deref(node)?.kind === 'map' ? (deref(node) as YMap) : null);

  const defaultsMap = asMap(get(rootMap, 'defaults'));
  const context: StageContext = {
    text,
    params,
    defaultHost: stringScalar(get(defaultsMap, 'host')),
    defaultImage: stringScalar(get(defaultsMap, 'image')),
    defaultGpus: mapGet(asMap(get(defaultsMap, 'resources')), 'gpus'),
  };
  const paramsFiles = declaredParamsFiles(rootMap);

  const hosts = new Map<string, HostDecl>();
  for (const pair of mapEntries(asMap(get(rootMap, 'hosts')))) {
    const decl = asMap(pair.value);
    const gpus = deref(mapGet(decl, 'gpus')?.value);
    const engine = stringScalar(mapGet(decl, 'engine')?.value);
    hosts.set(pair.keyText, {
      name: pair.keyText,
      pair,
      gpus: gpus?.kind === 'scalar' && typeof gpus.value === 'number' ? gpus.value : undefined,
      engine: engine ? String(engine.value) : undefined,
      kubernetes: asMap(mapGet(decl, 'kubernetes')?.value ?? null) ?? undefined,
    });
  }

  const key = cache ? `${cache.idOf(params)}:${cache.idOf(defaultsMap)}:${aliasVersion}` : '';
  let stages: Stage[] = [];
  let stageByName = new Map<string, Stage>();
  let variantToStage = new Map<string, Stage>();
  let budget = MAX_VARIANTS;
  const stagesMap = asMap(get(rootMap, 'stages'));
  const stagePairs = mapEntries(stagesMap);
  // An edit of a few stages of a pipeline without matrices (whose budget makes stages depend on
  // the ones above) or repeated names: only the pairs it changed are looked up.
  const patched =
    cache && stagePairs === stagesMap?.pairs
      ? patchStages(cache, stagePairs, key, (pair) => {
          let stage = cache.get(pair, key);
          if (!stage) cache.set(pair, key, (stage = buildStage(pair, context, MAX_VARIANTS)));
          return stage;
        })
      : undefined;
  if (patched) ({ stages, stageByName, variantToStage } = patched);
  for (const pair of patched ? [] : stagePairs) {
    // The budget left decides how far a matrix expands, so it is part of the cache key, but only
    // for a matrix that needs more than is left: other stages keep their cache while budgets move.
    let stage = cache?.get(pair, key);
    if (stage && stage.matrixSize > 1 && stage.variants.length !== Math.min(stage.matrixSize, Math.max(1, budget)))
      stage = undefined;
    if (!stage) {
      stage = buildStage(pair, context, budget);
      cache?.set(pair, key, stage);
    }
    if (stage.matrixKeys.length > 0) budget = Math.max(0, budget - stage.variants.length);
    stages.push(stage);
    if (!stageByName.has(stage.name)) stageByName.set(stage.name, stage);
    for (const variant of stage.variants) variantToStage.set(variant.name, stage);
  }

  if (cache) {
    const simple =
      stagePairs === stagesMap?.pairs &&
      stageByName.size === stages.length &&
      variantToStage.size === stages.length &&
      stages.every((stage) => stage.matrixKeys.length === 0);
    cache.last = simple ? { pairs: stagePairs, key, stages, stageByName, variantToStage } : undefined;
  }

  const otherInterpolations: Interpolation[] = [];
  for (const pair of rootMap?.pairs ?? []) {
    if (pair.keyText === 'stages' || !pair.value) continue;
    walk(pair.value, (node) => {
      if (node.kind === 'scalar' && typeof node.value === 'string' && node.value.includes('${'))
        otherInterpolations.push(...findInterpolations(text, node));
    });
  }

  const modelMap = asMap(get(rootMap, 'model'));
  const ref = (node: YNode | null | undefined): NameRef | undefined => {
    const scalar = stringScalar(node);
    return scalar ? { name: String(scalar.value), node: scalar } : undefined;
  };
  const driftMap = asMap(get(asMap(get(rootMap, 'monitor')), 'drift'));
  return {
    root: rootMap,
    paramsFiles,
    hosts,
    stages,
    stageByName,
    variantToStage,
    defaultsMap,
    modelCard: ref(get(modelMap, 'card')),
    modelArtifact: ref(get(modelMap, 'artifact')),
    driftPaths: [ref(get(driftMap, 'reference')), ref(get(driftMap, 'current'))].filter((item): item is NameRef =>
      Boolean(item),
    ),
    otherInterpolations,
  };
}

function buildStage(pair: YPair, context: StageContext, budget: number): Stage {
  const { text, params } = context;
  const get = (map: YMap | null, key: string) => deref(mapGet(map, key)?.value);
  const asMap = (node: YNode | null | undefined) => (deref(node)?.kind === 'map' ? (deref(node) as YMap) : null);
  const map = asMap(pair.value);
  const matrix = asMap(get(map, 'matrix'));
  const axes = matrixAxes(matrix);
  const matrixSize = productOf(axes);
  // A stage always keeps one variant, so that its paths and name still take part in the graph.
  const { keys, variants } = variantsOf(pair.keyText, axes, Math.max(1, budget));
  const interpolations: Interpolation[] = [];
  if (pair.value) {
    walk(pair.value, (node) => {
      if (node.kind === 'scalar' && typeof node.value === 'string' && node.value.includes('${'))
        interpolations.push(...findInterpolations(text, node));
    });
  }
  const resolvePaths = (node: YScalar, role: PathRole): PathEntry => {
    const raw = String(node.value);
    const paths = new Set<string>();
    for (const variant of variants) {
      const resolved = substitute(raw, (namespace, path) => {
        if (namespace === 'matrix') return path in variant.values ? String(variant.values[path]) : undefined;
        if (namespace === 'params') {
          const entry = params?.get(path);
          const value = entry ? paramText(entry.value) : undefined;
          // No path is this long; a param that is (a whole mapping, say) leaves the path unresolved.
          return value !== undefined && value.length <= MAX_PATH_LENGTH ? value : undefined;
        }
        return undefined;
      });
      if (!/\$\{\s*(params|matrix)\./.test(resolved)) paths.add(normalizePath(resolved));
    }
    return { raw, node, role, paths: [...paths] };
  };
  const hostScalar = stringScalar(get(map, 'host'));
  const imageScalar = stringScalar(get(map, 'image'));
  const gpusPair = mapGet(asMap(get(map, 'resources')), 'gpus') ?? context.defaultGpus;
  const gpusValue = deref(gpusPair?.value);
  return {
    name: pair.keyText,
    pair,
    map,
    matrix,
    matrixKeys: keys,
    matrixSize,
    variants,
    cmd: scalarList(get(map, 'cmd')),
    deps: scalarList(get(map, 'deps')).map((node) => resolvePaths(node, 'dep')),
    outs: scalarList(get(map, 'outs')).map((node) => resolvePaths(node, 'out')),
    metrics: scalarList(get(map, 'metrics')).map((node) => resolvePaths(node, 'metric')),
    plots: scalarList(get(map, 'plots')).map((node) => resolvePaths(node, 'plot')),
    needs: scalarList(get(map, 'needs')).map((node) => ({ name: String(node.value), node })),
    params: scalarList(get(map, 'params')).map((node) => ({ name: String(node.value), node })),
    host: hostScalar ? String(hostScalar.value) : context.defaultHost ? String(context.defaultHost.value) : 'local',
    hostNode: hostScalar ?? context.defaultHost ?? null,
    image: imageScalar
      ? String(imageScalar.value)
      : context.defaultImage
        ? String(context.defaultImage.value)
        : undefined,
    imageNode: imageScalar ?? context.defaultImage ?? null,
    gpus: gpusPair?.value
      ? { value: gpusValue?.kind === 'scalar' ? gpusValue.value : undefined, node: gpusPair.value }
      : undefined,
    interpolations,
  };
}
