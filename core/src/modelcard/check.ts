import { type Diagnostic, type Fix } from '../diagnostics/diagnostic';
import { type PipelineGraph } from '../pipeline/graph';
import { normalizePath, type PipelineModel } from '../pipeline/model';
import { didYouMean, quoteList } from '../util/did-you-mean';
import { deref, type YMap, type YNode, type YScalar } from '../yaml/nodes';
import { mapGet } from '../yaml/values';
import { licenseFinding } from './licenses';
import { isPipelineFile, PIPELINE_NAMES } from '../util/file-kinds';

export interface LinkedPipeline {
  /** The pipeline file, relative to the card, as the user would name it. */
  relative: string;
  model: PipelineModel;
  graph: PipelineGraph;
}

export interface CardCheckInput {
  path: string;
  text: string;
  root: YNode | null;
  /** Null when no pipeline could be found; `pipelineRef` then says where mlpipe looked. */
  pipeline: LinkedPipeline | null;
  pipelineRef: { raw: string; node: YScalar | null };
  /** Flattened keys of a metrics file on disk (`test.auc`), or undefined when it is not there or unreadable. */
  metricKeys: (relativeToPipeline: string) => string[] | undefined;
  /** Why a metrics file was not read (a link out of the pipeline's folder), when it was not. */
  metricsRefusal?: (relativeToPipeline: string) => { code: string; message: string } | undefined;
  /** Why the pipeline was not read, when it exists but was refused (a link out of its folder). */
  pipelineRefusal?: { code: string; message: string };
}

export interface CardMetric {
  name: string | undefined;
  file: YScalar | undefined;
  key: YScalar | undefined;
  threshold: YScalar | undefined;
  map: YMap;
}

const asMap = (node: YNode | null | undefined): YMap | null =>
  deref(node)?.kind === 'map' ? (deref(node) as YMap) : null;
const asScalar = (node: YNode | null | undefined): YScalar | undefined => {
  const target = deref(node);
  return target?.kind === 'scalar' && target.value !== null ? target : undefined;
};

export function cardMetrics(root: YNode | null): CardMetric[] {
  const list = deref(mapGet(asMap(mapGet(asMap(root), 'evaluation')?.value), 'metrics')?.value);
  if (list?.kind !== 'seq') return [];
  return list.items
    .map((item) => asMap(item))
    .filter((map): map is YMap => map !== null)
    .map((map) => ({
      name: asScalar(mapGet(map, 'name')?.value)?.value?.toString(),
      file: asScalar(mapGet(map, 'file')?.value),
      key: asScalar(mapGet(map, 'key')?.value),
      threshold: asScalar(mapGet(map, 'threshold')?.value),
      map,
    }));
}

/** Metrics files the pipeline's stages declare, after matrix expansion, with the stage of each. */
export function declaredMetricFiles(pipeline: LinkedPipeline): Map<string, string> {
  const files = new Map<string, string>();
  for (const stage of pipeline.model.stages)
    for (const entry of stage.metrics) for (const path of entry.paths) files.set(path, stage.name);
  return files;
}

export function checkCard(input: CardCheckInput): Diagnostic[] {
  const out: Diagnostic[] = [];
  const root = asMap(input.root);
  if (!root) return out;
  const at = (node: YNode) => ({ start: node.start, end: Math.max(node.end, node.start + 1) });
  const replace = (node: YScalar, text: string): Fix => {
    const raw = input.text.slice(node.start, node.end);
    const quoted = /^["']/.test(raw) && raw.length >= 2 ? 1 : 0;
    return {
      title: `Change to '${text}'`,
      preferred: true,
      edits: [{ path: input.path, start: node.start + quoted, end: node.end - quoted, newText: text }],
    };
  };

  const license = asScalar(mapGet(asMap(mapGet(root, 'model')?.value), 'license')?.value);
  const licensed = license && typeof license.value === 'string' ? licenseFinding(license.value) : undefined;
  if (license && licensed) {
    const { fix, ...finding } = licensed;
    out.push({ ...at(license), ...finding, fixes: fix ? [replace(license, fix)] : undefined });
  }

  const metrics = cardMetrics(root);
  const pipeline = input.pipeline;
  const needsPipeline =
    metrics.some((metric) => metric.file) || Boolean(mapGet(asMap(mapGet(root, 'training_data')?.value), 'stage'));
  if (!pipeline) {
    if (input.pipelineRefusal) {
      const node = input.pipelineRef.node ?? root.pairs[0]?.key;
      if (node)
        out.push({
          ...at(node),
          severity: 'error',
          code: input.pipelineRefusal.code,
          message: `Pipeline ${input.pipelineRef.raw} is not read: ${input.pipelineRefusal.message}`,
        });
    } else if (needsPipeline) {
      const node = input.pipelineRef.node ?? root.pairs[0]?.key;
      if (node) {
        out.push({
          ...at(node),
          severity: input.pipelineRef.node ? 'error' : 'warning',
          code: 'pipeline-missing',
          message: input.pipelineRef.node
            ? isPipelineFile(input.pipelineRef.raw)
              ? `Pipeline ${input.pipelineRef.raw} does not exist; metrics and the training stage cannot be checked.`
              : `pipeline: must name a pipeline file (${PIPELINE_NAMES}), not ${input.pipelineRef.raw}.`
            : `No pipeline beside this model card (looked for ${input.pipelineRef.raw}); set \`pipeline:\` so its metrics and training stage can be checked.`,
        });
      }
    }
    return out;
  }

  const declared = declaredMetricFiles(pipeline);
  for (const metric of metrics) {
    if (!metric.file) continue;
    const path = normalizePath(String(metric.file.value));
    if (!declared.has(path)) {
      const suggestion = didYouMean(path, declared.keys());
      out.push({
        ...at(metric.file),
        severity: 'error',
        code: 'unknown-metrics-file',
        message: `No stage of ${pipeline.relative} declares metrics file ${path}${suggestion ? `; did you mean ${suggestion}?` : declared.size > 0 ? `; declared metrics files are ${quoteList([...declared.keys()])}.` : "; declare it under a stage's `metrics:`."}`,
        fixes: suggestion ? [replace(metric.file, suggestion)] : undefined,
      });
      continue;
    }
    const refused = input.metricsRefusal?.(path);
    if (refused) {
      out.push({
        ...at(metric.file),
        severity: 'error',
        code: refused.code,
        message: `Metrics file ${path} is not read: ${refused.message}`,
      });
      continue;
    }
    const keys = input.metricKeys(path);
    const key = metric.key ? String(metric.key.value) : metric.name;
    if (keys && key && !keys.includes(key)) {
      const suggestion = didYouMean(key, keys);
      const node = metric.key ?? metric.file;
      out.push({
        ...at(node),
        severity: 'warning',
        code: 'unknown-metric-key',
        message: `${path} (from the last run of stage '${declared.get(path)}') has no key '${key}'${suggestion ? `; did you mean '${suggestion}'?` : keys.length > 0 ? `; it has ${quoteList(keys)}.` : '.'}`,
        fixes: suggestion && metric.key ? [replace(metric.key, suggestion)] : undefined,
      });
    }
  }

  const training = asMap(mapGet(root, 'training_data')?.value);
  const stageRef = asScalar(mapGet(training, 'stage')?.value);
  if (stageRef) {
    const name = String(stageRef.value);
    const stage = pipeline.model.stageByName.get(name) ?? pipeline.model.variantToStage.get(name);
    if (!stage) {
      const suggestion = didYouMean(name, pipeline.model.stageByName.keys());
      out.push({
        ...at(stageRef),
        severity: 'error',
        code: 'unknown-stage',
        message: `Unknown stage '${name}' in ${pipeline.relative}${suggestion ? `; did you mean '${suggestion}'?` : '.'}`,
        fixes: suggestion ? [replace(stageRef, suggestion)] : undefined,
      });
    } else {
      const dataPath = asScalar(mapGet(training, 'path')?.value);
      if (dataPath) {
        const path = normalizePath(String(dataPath.value));
        const written = [...stage.outs, ...stage.metrics, ...stage.plots].some((entry) =>
          entry.paths.some((out) => out === path || path.startsWith(`${out}/`)),
        );
        if (!written)
          out.push({
            ...at(dataPath),
            severity: 'warning',
            code: 'training-data-not-produced',
            message: `Stage '${stage.name}' does not write ${path}; list it in its outs or fix the path.`,
          });
      }
    }
  }
  return out;
}
