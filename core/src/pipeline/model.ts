import { posix } from 'node:path';
import { deref, walk, type ScalarValue, type YMap, type YNode, type YPair, type YScalar } from '../yaml/nodes';
import { mapEntries, mapGet } from '../yaml/to-js';
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

/** Whether a normalised path stays inside the pipeline's folder (and is not the folder itself). */
export function isInsideWorkspace(path: string): boolean {
  return path !== '' && path !== '.' && path !== '..' && !path.startsWith('../') && !path.startsWith('/') && !/^[A-Za-z]:/.test(path);
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

function variantsOf(name: string, matrix: YMap | null): { keys: string[]; variants: Variant[] } {
  if (!matrix) return { keys: [], variants: [{ name, values: {} }] };
  const axes: [string, ScalarValue[]][] = [];
  for (const pair of mapEntries(matrix)) {
    const list = deref(pair.value);
    const values = list?.kind === 'seq' ? list.items.map((item) => deref(item)).filter((item): item is YScalar => item?.kind === 'scalar').map((item) => item.value) : [];
    axes.push([pair.keyText, values]);
  }
  let combos: Record<string, ScalarValue>[] = [{}];
  for (const [key, values] of axes) {
    if (values.length === 0) continue;
    const next: Record<string, ScalarValue>[] = [];
    for (const combo of combos) for (const value of values) next.push({ ...combo, [key]: value });
    combos = next;
    if (combos.length > 10_000) break; // a matrix this large is a mistake; do not expand further
  }
  const keys = axes.map(([key]) => key);
  if (keys.length === 0) return { keys, variants: [{ name, values: {} }] };
  return { keys, variants: combos.map((values) => ({ name: `${name}@${keys.map((key) => String(values[key])).join('-')}`, values })) };
}

/** The params files a pipeline reads: its `params` entries, or `params.yaml` beside it when it has none. */
export function declaredParamsFiles(root: YNode | null): { raw: string; node: YScalar | null }[] {
  const rootMap = deref(root);
  const node = rootMap?.kind === 'map' ? deref(mapGet(rootMap, 'params')?.value) : null;
  return node ? scalarList(node).map((item) => ({ raw: String(item.value), node: item })) : [{ raw: 'params.yaml', node: null }];
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
}

interface StageContext {
  text: string;
  params: ParamsIndex | null;
  defaultHost: YScalar | undefined;
  defaultImage: YScalar | undefined;
  defaultGpus: YPair | undefined;
}

/** Builds the pipeline's semantic model from its YAML tree; params fill `${params...}` in paths. */
export function buildPipeline(root: YNode | null, text: string, params: ParamsIndex | null, cache?: StageCache, aliasVersion = 0): PipelineModel {
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
    });
  }

  const key = cache ? `${cache.idOf(params)}:${cache.idOf(defaultsMap)}:${aliasVersion}` : '';
  const stages: Stage[] = [];
  const stageByName = new Map<string, Stage>();
  const variantToStage = new Map<string, Stage>();
  for (const pair of mapEntries(asMap(get(rootMap, 'stages')))) {
    let stage = cache?.get(pair, key);
    if (!stage) {
      stage = buildStage(pair, context);
      cache?.set(pair, key, stage);
    }
    stages.push(stage);
    if (!stageByName.has(stage.name)) stageByName.set(stage.name, stage);
    for (const variant of stage.variants) variantToStage.set(variant.name, stage);
  }

  const otherInterpolations: Interpolation[] = [];
  for (const pair of rootMap?.pairs ?? []) {
    if (pair.keyText === 'stages' || !pair.value) continue;
    walk(pair.value, (node) => {
      if (node.kind === 'scalar' && typeof node.value === 'string' && node.value.includes('${')) otherInterpolations.push(...findInterpolations(text, node));
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
    driftPaths: [ref(get(driftMap, 'reference')), ref(get(driftMap, 'current'))].filter((item): item is NameRef => Boolean(item)),
    otherInterpolations,
  };
}

function buildStage(pair: YPair, context: StageContext): Stage {
  const { text, params } = context;
  const get = (map: YMap | null, key: string) => deref(mapGet(map, key)?.value);
  const asMap = (node: YNode | null | undefined) => (deref(node)?.kind === 'map' ? (deref(node) as YMap) : null);
  const map = asMap(pair.value);
  const matrix = asMap(get(map, 'matrix'));
  const { keys, variants } = variantsOf(pair.keyText, matrix);
  const interpolations: Interpolation[] = [];
  if (pair.value) {
    walk(pair.value, (node) => {
      if (node.kind === 'scalar' && typeof node.value === 'string' && node.value.includes('${')) interpolations.push(...findInterpolations(text, node));
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
          return entry ? paramText(entry.value) : undefined;
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
    image: imageScalar ? String(imageScalar.value) : context.defaultImage ? String(context.defaultImage.value) : undefined,
    imageNode: imageScalar ?? context.defaultImage ?? null,
    gpus: gpusPair?.value ? { value: gpusValue?.kind === 'scalar' ? gpusValue.value : undefined, node: gpusPair.value } : undefined,
    interpolations,
  };
}
