import { basename, dirname, join } from 'node:path';
import { type FileEdit } from '../diagnostics/diagnostic';
import { findInterpolations } from '../pipeline/interpolation';
import { normalizePath } from '../pipeline/model';
import { type YNode, type YScalar } from '../yaml/nodes';
import { kindByName } from '../util/file-kinds';
import { type Analysis, type CardAnalysis, type PipelineAnalysis, type Workspace } from '../workspace/workspace';
import { nodeAt } from './node-at';

/** A place in some file. */
export interface FileSpan {
  path: string;
  start: number;
  end: number;
}

export type SymbolRef =
  | { kind: 'stage'; name: string; span: FileSpan; pipeline: PipelineAnalysis }
  | {
      kind: 'param';
      name: string;
      span: FileSpan;
      paramsFile: string | undefined;
      pipeline: PipelineAnalysis | undefined;
    }
  | { kind: 'host'; name: string; span: FileSpan; pipeline: PipelineAnalysis }
  | {
      kind: 'file';
      name: string;
      span: FileSpan;
      base: string;
      pipeline: PipelineAnalysis | undefined;
      role: 'dep' | 'out' | 'metric' | 'other';
    }
  | { kind: 'matrix'; name: string; span: FileSpan; pipeline: PipelineAnalysis; stage: string };

const unquoted = (text: string, node: YScalar): { start: number; end: number } => {
  const raw = text.slice(node.start, node.end);
  const quoted = raw.length >= 2 && (raw[0] === '"' || raw[0] === "'") && raw[raw.length - 1] === raw[0];
  return quoted ? { start: node.start + 1, end: node.end - 1 } : { start: node.start, end: node.end };
};

/** What the name under the cursor refers to: a stage, a param, a host, a file or a matrix key. */
export function symbolAt(workspace: Workspace, analysis: Analysis, offset: number): SymbolRef | undefined {
  const root = analysis.yaml?.root ?? null;
  const hit = nodeAt(root, offset);
  const scalar = hit.node?.kind === 'scalar' ? hit.node : undefined;
  const here = (start: number, end: number): FileSpan => ({ path: analysis.path, start, end });

  if (analysis.kind === 'pipeline') {
    if (scalar && typeof scalar.value === 'string' && !hit.onKey) {
      for (const item of findInterpolations(analysis.text, scalar)) {
        if (offset < item.start || offset > item.end) continue;
        if (item.namespace === 'params' && item.path) {
          const segment = segmentAt(item.path, offset - item.pathStart);
          return {
            kind: 'param',
            name: segment.prefix,
            span: here(item.pathStart, item.pathStart + segment.prefix.length),
            paramsFile: analysis.params.get(segment.prefix)?.file,
            pipeline: analysis,
          };
        }
        if (item.namespace === 'matrix' && hit.path[0] === 'stages') {
          return {
            kind: 'matrix',
            name: item.path,
            span: here(item.pathStart, item.pathStart + item.path.length),
            pipeline: analysis,
            stage: String(hit.path[1]),
          };
        }
      }
    }
    const [top, stageName, field] = hit.path;
    if (top === 'stages' && hit.onKey && hit.path.length === 2) {
      return {
        kind: 'stage',
        name: String(stageName),
        span: here(hit.pair!.key.start, hit.pair!.key.end),
        pipeline: analysis,
      };
    }
    if (top === 'stages' && field === 'needs' && scalar) {
      const span = unquoted(analysis.text, scalar);
      const name = String(scalar.value).split('@')[0];
      return { kind: 'stage', name, span: here(span.start, span.start + name.length), pipeline: analysis };
    }
    if (top === 'stages' && field === 'params' && scalar && hit.path.length === 4) {
      const span = unquoted(analysis.text, scalar);
      const segment = segmentAt(String(scalar.value), offset - span.start);
      return {
        kind: 'param',
        name: segment.prefix,
        span: here(span.start, span.start + segment.prefix.length),
        paramsFile: analysis.params.get(segment.prefix)?.file,
        pipeline: analysis,
      };
    }
    if (
      (top === 'stages' && field === 'host' && hit.path.length === 3) ||
      (top === 'defaults' && stageName === 'host')
    ) {
      if (scalar)
        return { kind: 'host', name: String(scalar.value), span: here(scalar.start, scalar.end), pipeline: analysis };
    }
    if (top === 'hosts' && hit.onKey && hit.path.length === 2)
      return {
        kind: 'host',
        name: String(stageName),
        span: here(hit.pair!.key.start, hit.pair!.key.end),
        pipeline: analysis,
      };
    if (top === 'stages' && scalar && !hit.onKey && ['deps', 'outs', 'metrics', 'plots'].includes(String(field))) {
      const role = field === 'deps' ? 'dep' : field === 'metrics' ? 'metric' : 'out';
      return {
        kind: 'file',
        name: String(scalar.value),
        span: here(scalar.start, scalar.end),
        base: dirname(analysis.path),
        pipeline: analysis,
        role,
      };
    }
    if ((top === 'model' || top === 'monitor' || top === 'params') && scalar && !hit.onKey) {
      return {
        kind: 'file',
        name: String(scalar.value),
        span: here(scalar.start, scalar.end),
        base: dirname(analysis.path),
        pipeline: analysis,
        role: top === 'model' && stageName === 'artifact' ? 'out' : 'other',
      };
    }
  }

  if (analysis.kind === 'params' && hit.onKey) {
    const name = hit.path.map(String).join('.');
    const pipeline = workspace.pipelinesUsing(analysis.path)[0];
    return {
      kind: 'param',
      name,
      span: here(hit.pair!.key.start, hit.pair!.key.end),
      paramsFile: analysis.path,
      pipeline,
    };
  }

  if (analysis.kind === 'modelcard' && scalar && !hit.onKey) {
    const card = analysis as CardAnalysis;
    if (hit.path[0] === 'training_data' && hit.path[1] === 'stage' && card.pipeline) {
      const span = unquoted(analysis.text, scalar);
      return { kind: 'stage', name: String(scalar.value), span: here(span.start, span.end), pipeline: card.pipeline };
    }
    if (hit.path[0] === 'evaluation' && hit.path[3] === 'file' && card.pipeline) {
      return {
        kind: 'file',
        name: String(scalar.value),
        span: here(scalar.start, scalar.end),
        base: dirname(card.pipelinePath),
        pipeline: card.pipeline,
        role: 'metric',
      };
    }
    if (hit.path[0] === 'pipeline')
      return {
        kind: 'file',
        name: String(scalar.value),
        span: here(scalar.start, scalar.end),
        base: dirname(analysis.path),
        pipeline: undefined,
        role: 'other',
      };
  }
  return undefined;
}

/** The dotted prefix of `path` up to and including the segment at `column`. */
function segmentAt(path: string, column: number): { prefix: string } {
  const end = path.indexOf('.', Math.max(0, column));
  return { prefix: end === -1 ? path : path.slice(0, end) };
}

export function definition(workspace: Workspace, analysis: Analysis, offset: number): FileSpan[] {
  const symbol = symbolAt(workspace, analysis, offset);
  if (!symbol) return [];
  switch (symbol.kind) {
    case 'stage': {
      const stage = symbol.pipeline.model.stageByName.get(symbol.name);
      return stage ? [{ path: symbol.pipeline.path, start: stage.pair.key.start, end: stage.pair.key.end }] : [];
    }
    case 'param': {
      const entry = symbol.pipeline?.params.get(symbol.name);
      return entry ? [{ path: entry.file, start: entry.keyStart, end: entry.keyEnd }] : [];
    }
    case 'host': {
      const host = symbol.pipeline.model.hosts.get(symbol.name);
      return host ? [{ path: symbol.pipeline.path, start: host.pair.key.start, end: host.pair.key.end }] : [];
    }
    case 'matrix': {
      const stage = symbol.pipeline.model.stageByName.get(symbol.stage);
      const pair = stage?.matrix?.pairs.find((candidate) => candidate.keyText === symbol.name);
      return pair ? [{ path: symbol.pipeline.path, start: pair.key.start, end: pair.key.end }] : [];
    }
    case 'file': {
      const path = normalizePath(symbol.name);
      const results: FileSpan[] = [];
      if (symbol.pipeline && symbol.role !== 'out') {
        for (const producer of symbol.pipeline.graph.producersOf(path)) {
          if (producer.entry.node.start === symbol.span.start && symbol.span.path === symbol.pipeline.path) continue;
          results.push({ path: symbol.pipeline.path, start: producer.entry.node.start, end: producer.entry.node.end });
        }
      }
      const file = join(symbol.base, path);
      const stat = workspace.host.stat(file);
      if (stat?.isFile) results.push({ path: file, start: 0, end: 0 });
      return results;
    }
  }
}

export interface Reference extends FileSpan {
  isDefinition: boolean;
}

export function references(workspace: Workspace, analysis: Analysis, offset: number): Reference[] {
  const symbol = symbolAt(workspace, analysis, offset);
  if (!symbol) return [];
  if (symbol.kind === 'stage') return stageReferences(workspace, symbol.pipeline, symbol.name);
  if (symbol.kind === 'param') return paramReferences(workspace, symbol.paramsFile, symbol.pipeline, symbol.name);
  if (symbol.kind === 'host') {
    const refs: Reference[] = [];
    const host = symbol.pipeline.model.hosts.get(symbol.name);
    if (host)
      refs.push({ path: symbol.pipeline.path, start: host.pair.key.start, end: host.pair.key.end, isDefinition: true });
    const seen = new Set<YNode>();
    for (const stage of symbol.pipeline.model.stages) {
      if (stage.host === symbol.name && stage.hostNode && !seen.has(stage.hostNode)) {
        seen.add(stage.hostNode);
        refs.push({
          path: symbol.pipeline.path,
          start: stage.hostNode.start,
          end: stage.hostNode.end,
          isDefinition: false,
        });
      }
    }
    return refs;
  }
  return definition(workspace, analysis, offset).map((span) => ({ ...span, isDefinition: true }));
}

/** References in source order, each span once: a `needs` inherited by several stages through `<<:` is one place. */
function unique(refs: Reference[]): Reference[] {
  const seen = new Set<string>();
  return refs.filter((ref) => {
    const id = `${ref.path}:${ref.start}:${ref.end}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

function stageReferences(workspace: Workspace, pipeline: PipelineAnalysis, name: string): Reference[] {
  const refs: Reference[] = [];
  const stage = pipeline.model.stageByName.get(name);
  if (stage)
    refs.push({ path: pipeline.path, start: stage.pair.key.start, end: stage.pair.key.end, isDefinition: true });
  for (const other of pipeline.model.stages) {
    for (const need of other.needs) {
      if (need.name !== name && !need.name.startsWith(`${name}@`)) continue;
      const span = unquoted(pipeline.text, need.node);
      refs.push({ path: pipeline.path, start: span.start, end: span.start + name.length, isDefinition: false });
    }
  }
  for (const card of workspace.cardsFor(pipeline.path)) {
    const stageRef = trainingStage(card);
    if (stageRef && String(stageRef.value) === name) {
      const span = unquoted(card.text, stageRef);
      refs.push({ path: card.path, start: span.start, end: span.end, isDefinition: false });
    }
  }
  return unique(refs);
}

function trainingStage(card: CardAnalysis): YScalar | undefined {
  const hit = card.yaml?.root;
  if (hit?.kind !== 'map') return undefined;
  const training = hit.pairs.find((pair) => pair.keyText === 'training_data')?.value;
  if (training?.kind !== 'map') return undefined;
  const stage = training.pairs.find((pair) => pair.keyText === 'stage')?.value;
  return stage?.kind === 'scalar' ? stage : undefined;
}

function paramReferences(
  workspace: Workspace,
  paramsFile: string | undefined,
  from: PipelineAnalysis | undefined,
  name: string,
): Reference[] {
  const refs: Reference[] = [];
  const pipelines = new Map<string, PipelineAnalysis>();
  if (from) pipelines.set(from.path, from);
  const file = paramsFile ?? from?.params.get(name)?.file;
  if (file) for (const pipeline of workspace.pipelinesUsing(file)) pipelines.set(pipeline.path, pipeline);
  const definitionEntry = [...pipelines.values()]
    .map((pipeline) => pipeline.params.get(name))
    .find((entry) => entry && (!file || entry.file === file));
  if (definitionEntry)
    refs.push({
      path: definitionEntry.file,
      start: definitionEntry.keyStart,
      end: definitionEntry.keyEnd,
      isDefinition: true,
    });
  const matches = (path: string) => path === name || path.startsWith(`${name}.`);
  for (const pipeline of pipelines.values()) {
    const all = [
      ...pipeline.model.stages.flatMap((stage) => stage.interpolations),
      ...pipeline.model.otherInterpolations,
    ];
    for (const item of all)
      if (item.namespace === 'params' && matches(item.path))
        refs.push({
          path: pipeline.path,
          start: item.pathStart,
          end: item.pathStart + name.length,
          isDefinition: false,
        });
    for (const stage of pipeline.model.stages) {
      for (const param of stage.params) {
        if (!matches(param.name)) continue;
        const span = unquoted(pipeline.text, param.node);
        refs.push({ path: pipeline.path, start: span.start, end: span.start + name.length, isDefinition: false });
      }
    }
  }
  return unique(refs);
}

export type RenameResult = { ok: true; edits: FileEdit[] } | { ok: false; message: string };

/** The span a rename would change, or why the name under the cursor cannot be renamed. */
export function prepareRename(
  workspace: Workspace,
  analysis: Analysis,
  offset: number,
): { ok: true; span: FileSpan; placeholder: string } | { ok: false; message: string } {
  const symbol = symbolAt(workspace, analysis, offset);
  if (!symbol || (symbol.kind !== 'stage' && symbol.kind !== 'param'))
    return { ok: false, message: 'mlpipe renames stages and params; put the cursor on a stage name or a param.' };
  if (symbol.kind === 'stage' && !symbol.pipeline.model.stageByName.has(symbol.name))
    return { ok: false, message: `There is no stage '${symbol.name}' to rename.` };
  if (
    symbol.kind === 'param' &&
    !paramReferences(workspace, symbol.paramsFile, symbol.pipeline, symbol.name).some((ref) => ref.isDefinition)
  ) {
    return { ok: false, message: `Param '${symbol.name}' is not defined in a params file, so it cannot be renamed.` };
  }
  const lastDot = symbol.name.lastIndexOf('.');
  const placeholder = symbol.kind === 'param' ? symbol.name.slice(lastDot + 1) : symbol.name;
  const span =
    symbol.kind === 'param' && symbol.span.path === analysis.path && analysis.kind !== 'params'
      ? { ...symbol.span, start: symbol.span.start + lastDot + 1 }
      : symbol.span;
  return { ok: true, span, placeholder };
}

export function rename(workspace: Workspace, analysis: Analysis, offset: number, newName: string): RenameResult {
  const prepared = prepareRename(workspace, analysis, offset);
  if (!prepared.ok) return prepared;
  const symbol = symbolAt(workspace, analysis, offset)!;
  if (symbol.kind === 'stage') {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(newName))
      return { ok: false, message: `'${newName}' is not a valid stage name: use letters, digits, '_', '.' and '-'.` };
    if (newName !== symbol.name && symbol.pipeline.model.stageByName.has(newName))
      return { ok: false, message: `A stage named '${newName}' already exists.` };
    return {
      ok: true,
      edits: stageReferences(workspace, symbol.pipeline, symbol.name).map((ref) => ({
        path: ref.path,
        start: ref.start,
        end: ref.end,
        newText: newName,
      })),
    };
  }
  if (symbol.kind !== 'param') return { ok: false, message: 'Nothing to rename here.' };
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(newName))
    return {
      ok: false,
      message: `'${newName}' is not a valid param name: use letters, digits, '_' and '-' (rename one level at a time).`,
    };
  const lastDot = symbol.name.lastIndexOf('.');
  const parent = lastDot === -1 ? '' : symbol.name.slice(0, lastDot);
  const sibling = parent ? `${parent}.${newName}` : newName;
  const refs = paramReferences(workspace, symbol.paramsFile, symbol.pipeline, symbol.name);
  if (sibling !== symbol.name && symbol.pipeline?.params.get(sibling))
    return { ok: false, message: `Param '${sibling}' already exists.` };
  return {
    ok: true,
    edits: refs.map((ref) =>
      ref.isDefinition
        ? { path: ref.path, start: ref.start, end: ref.end, newText: newName }
        : { path: ref.path, start: ref.start + lastDot + 1, end: ref.end, newText: newName },
    ),
  };
}

/** Whether a path names a model card, for callers that look for cards beside a pipeline. */
export function isCardFile(path: string): boolean {
  return kindByName(basename(path)) === 'modelcard';
}
