import { basename } from 'node:path';
import { type Diagnostic, type Fix, type FileEdit } from '../diagnostics/diagnostic';
import { MAX_PARAM_ENTRIES, type ParamsFile, type ParamsIndex } from '../params/params';
import { RESERVED_KEEPER, reservedTop } from '../util/reserved';
import { didYouMean, quoteList } from '../util/did-you-mean';
import { deref, type YMap, type YNode, type YScalar } from '../yaml/nodes';
import { quoteValue } from '../yaml/quote';
import { mapGet } from '../yaml/values';
import { parseImageRef } from './image-ref';
import { type Interpolation } from './interpolation';
import { PipelineGraph, type Producer } from './graph';
import { MAX_VARIANTS, isInsideWorkspace, normalizePath, type PipelineModel, type Stage } from './model';
import { isDurationSyntax, isSizeSyntax, parseDuration, parseSize } from './units';
import { inlineCodeProblems } from './command';

/** What the semantic checks need from outside the pipeline text. */
export interface PipelineCheckInput {
  path: string;
  text: string;
  model: PipelineModel;
  graph: PipelineGraph;
  params: ParamsIndex;
  /** The params files as declared, resolved: absent ones have `exists: false`. */
  paramsFiles: (ParamsFile & { raw: string; node: YScalar | null; outside?: boolean })[];
  /** Whether a workspace-relative path exists on disk (relative to the pipeline's folder). */
  exists: (relative: string) => boolean;
  /**
   * Whether an existing path leads out of the pipeline's folder through a symbolic link: the
   * link's name (relative to the folder) when it does. Absent: links are not looked at.
   */
  linkOutside?: (relative: string) => string | undefined;
}

const SHELL_SPLIT = /[\s'"=,;|&<>()`]+/;
const pathTokens = new Map<string, string[]>();

/** Words of a command that look like paths, normalised; memoised per command text. */
function pathLikeTokens(command: string): string[] {
  let tokens = pathTokens.get(command);
  if (tokens) return tokens;
  tokens = [];
  for (const token of command.split(SHELL_SPLIT)) {
    if (!token.includes('/') && !token.includes('.')) continue;
    if (token.startsWith('-') || token.includes('${') || token.includes('://')) continue;
    tokens.push(token);
  }
  if (pathTokens.size > 50_000) pathTokens.clear();
  pathTokens.set(command, tokens);
  return tokens;
}

export function checkPipeline(input: PipelineCheckInput): Diagnostic[] {
  const out: Diagnostic[] = [];
  const { model, graph } = input;
  const at = (node: { start: number; end: number }) => ({ start: node.start, end: Math.max(node.end, node.start + 1) });
  const line = (offset: number) => lineOf(input.text, offset);

  // Params files.
  const top = { start: 0, end: Math.max(1, Math.min(input.text.length, input.text.indexOf('\n') === -1 ? input.text.length : input.text.indexOf('\n'))) };
  for (const file of input.paramsFiles) {
    if (file.outside && file.node) {
      out.push({ ...at(file.node), severity: 'error', code: 'path-outside-workspace', message: `Params file '${file.raw}' is outside the pipeline's folder; mlpipe reads params only from files inside it. Move it (or copy it) into the pipeline's folder.` });
    } else if (file.refusal) {
      // The implicit params.yaml has no node: the finding goes on the first line.
      out.push({ ...(file.node ? at(file.node) : top), severity: file.refusal.severity, code: file.refusal.code, message: `Params file '${file.raw}' is not read: ${file.refusal.message}` });
    } else if (!file.exists && file.node) {
      out.push({ ...at(file.node), severity: 'error', code: 'params-file-missing', message: `Params file '${file.raw}' does not exist; create it or fix the path (it is relative to this pipeline).` });
    } else if (file.exists) {
      // Limits the params file ran into: said where the pipeline names it too, since an editor
      // shows findings of open files only and this one may not be open.
      const where = file.node ? at(file.node) : top;
      if (file.yaml?.aliasesCut) {
        out.push({ ...where, severity: 'warning', code: 'alias-expansion', message: `Aliases in params file '${file.raw}' expand too far (an alias bomb?); mlpipe reads them as empty, so params under them are unknown. ${file.raw} shows where.` });
      }
      if (file.problems.some((problem) => problem.code === 'too-many-params')) {
        out.push({ ...where, severity: 'warning', code: 'too-many-params', message: `Params file '${file.raw}' holds more than ${MAX_PARAM_ENTRIES.toLocaleString('en-US')} params; mlpipe indexes the first ${MAX_PARAM_ENTRIES.toLocaleString('en-US')}, so later ones read as unknown.` });
      }
    }
  }

  // Stage names and needs.
  const stageNames = [...model.stageByName.keys()];
  const variantNames = [...model.variantToStage.keys()];
  for (const stage of model.stages) {
    if (stage.name.includes('@')) continue; // the schema reports the name itself
    for (const need of stage.needs) {
      if (need.name === stage.name || model.variantToStage.get(need.name) === stage) {
        out.push({ ...at(need.node), severity: 'error', code: 'self-need', message: `Stage '${stage.name}' cannot need itself; remove '${need.name}' from its needs.` });
        continue;
      }
      if (model.stageByName.has(need.name) || model.variantToStage.has(need.name)) continue;
      const suggestion = didYouMean(need.name, need.name.includes('@') ? variantNames : stageNames);
      out.push({
        ...at(need.node),
        severity: 'error',
        code: 'unknown-stage',
        message: `Unknown stage '${need.name}' in needs of stage '${stage.name}'${suggestion ? `; did you mean '${suggestion}'?` : `; stages are ${quoteList(stageNames)}.`}`,
        fixes: suggestion ? [replaceFix(input.path, need.node, suggestion, input.text)] : undefined,
      });
    }
  }

  // Cycles: one diagnostic per link, each naming the whole cycle.
  for (const cycle of graph.cycles()) {
    if (cycle.length === 0) continue;
    const names = [...cycle.map((edge) => edge.from.name), cycle[0].from.name].join(' -> ');
    for (const edge of cycle) {
      const why = edge.kind === 'needs' ? `'${edge.from.name}' needs '${edge.to.name}'` : `'${edge.from.name}' reads ${edge.node.value}, which '${edge.to.name}' writes`;
      out.push({ ...at(edge.node), severity: 'error', code: 'cycle', message: `Dependency cycle: ${names}. Here ${why}; break one link of the cycle.` });
    }
  }

  // Outputs: one producer each, no output inside another.
  for (const [path, producers] of graph.outputs) {
    const owners = new Map<Stage, Producer>();
    for (const producer of producers) if (!owners.has(producer.stage)) owners.set(producer.stage, producer);
    if (owners.size < 2) continue;
    const [first, ...others] = [...owners.values()];
    for (const other of others) {
      out.push({
        ...at(other.entry.node),
        severity: 'error',
        code: 'duplicate-output',
        message: `Stages '${first.stage.name}' and '${other.stage.name}' both write ${path}; an output must have one producer.`,
        related: [{ ...at(first.entry.node), message: `'${first.stage.name}' writes ${path} here (line ${line(first.entry.node.start)})` }],
      });
    }
  }
  for (const [outer, inner] of graph.overlaps()) {
    if (outer.stage === inner.stage && outer.entry === inner.entry) continue;
    out.push({
      ...at(inner.entry.node),
      severity: 'error',
      code: 'overlapping-output',
      message: `Output ${inner.path} of stage '${inner.stage.name}' lies inside output ${outer.path} of stage '${outer.stage.name}'; outputs must not contain one another.`,
      related: [{ ...at(outer.entry.node), message: `${outer.path} is declared here` }],
    });
  }
  for (const stage of model.stages) {
    if (stage.variants.length < 2) continue;
    // Resolved per variant, fewer distinct paths than variants means some variants share a file.
    const varying = stage.matrixKeys.filter((key) => new Set(stage.variants.map((variant) => JSON.stringify(variant.values[key]))).size > 1);
    for (const entry of [...stage.outs, ...stage.metrics, ...stage.plots]) {
      if (entry.paths.length === 0 || entry.paths.length >= stage.variants.length) continue;
      const all = entry.paths.length === 1;
      const used = new Set(stage.interpolations.filter((item) => item.namespace === 'matrix' && item.start >= entry.node.start && item.end <= entry.node.end).map((item) => item.path));
      const absent = varying.filter((key) => !used.has(key));
      const advice = absent.length > 0 ? `put ${absent.map((key) => `\${matrix.${key}}`).join(' and ')} in the path` : 'make the path differ for every variant (some matrix values print the same)';
      out.push({
        ...at(entry.node),
        severity: 'error',
        code: 'matrix-output-collision',
        message: `${all ? `All ${stage.variants.length} variants` : `${stage.variants.length} variants`} of stage '${stage.name}' write ${all ? entry.paths[0] : `only ${entry.paths.length} distinct paths`}; ${advice}.`,
      });
    }
  }

  // Matrices past the pipeline's budget of variants: one finding on each matrix that did not fit.
  let expanded = 0;
  for (const stage of model.stages) {
    if (stage.matrixKeys.length === 0) continue;
    if (stage.variants.length < stage.matrixSize && stage.matrix) {
      const size = Number.isFinite(stage.matrixSize) ? stage.matrixSize.toLocaleString('en-US') : 'more than 2^53';
      const before = expanded >= MAX_VARIANTS ? ', and the matrices above it use all of them' : expanded > 0 ? `, and the matrices above it expand to ${expanded.toLocaleString('en-US')}` : '';
      const checked = stage.variants.length === 1 ? 'its first variant' : `its first ${stage.variants.length.toLocaleString('en-US')} variants`;
      out.push({
        start: stage.matrix.start,
        end: Math.max(stage.matrix.end, stage.matrix.start + 1),
        severity: 'error',
        code: 'matrix-too-large',
        message: `The matrix of stage '${stage.name}' multiplies to ${size} variants; all matrices of a pipeline together expand to at most ${MAX_VARIANTS.toLocaleString('en-US')}${before}. mlpipe checks only ${checked} and will not run this pipeline: use fewer values, or split the sweep into several pipelines.`,
      });
    }
    expanded = Math.min(MAX_VARIANTS, expanded + stage.variants.length);
  }

  // What no output may be or hold: the folders mlpipe keeps, the pipeline itself, its params files and card.
  const protectedFiles = new Map<string, string>([[basename(input.path).toLowerCase(), 'the pipeline file itself']]);
  for (const file of input.paramsFiles) if (!file.outside) protectedFiles.set(normalizePath(file.raw).toLowerCase(), `params file ${normalizePath(file.raw)}`);
  if (model.modelCard && isInsideWorkspace(normalizePath(model.modelCard.name))) protectedFiles.set(normalizePath(model.modelCard.name).toLowerCase(), `the model card ${normalizePath(model.modelCard.name)}`);

  // Deps that nothing produces and that are not on disk. Suggestions compare with outputs in the
  // same top folder or with the same file name, once per path: a pipeline of 1,000 stages missing
  // one shared file must not cost a million edit distances.
  const suggestions = new Map<string, string | undefined>();
  let byFolderOrName: Map<string, string[]> | undefined;
  const suggestOutput = (path: string): string | undefined => {
    if (suggestions.has(path)) return suggestions.get(path);
    if (!byFolderOrName) {
      byFolderOrName = new Map();
      for (const out of graph.outputs.keys()) {
        for (const key of [`dir:${out.split('/')[0]}`, `name:${out.slice(out.lastIndexOf('/') + 1)}`]) {
          const list = byFolderOrName.get(key);
          if (list) list.push(out);
          else byFolderOrName.set(key, [out]);
        }
      }
    }
    const candidates = new Set([...(byFolderOrName.get(`dir:${path.split('/')[0]}`) ?? []), ...(byFolderOrName.get(`name:${path.slice(path.lastIndexOf('/') + 1)}`) ?? [])]);
    const suggestion = didYouMean(path, candidates);
    suggestions.set(path, suggestion);
    return suggestion;
  };
  for (const stage of model.stages) {
    for (const dep of stage.deps) {
      for (const path of dep.paths) {
        if (!isInsideWorkspace(path)) {
          out.push({ ...at(dep.node), severity: 'warning', code: 'path-outside-workspace', message: `Dep ${dep.raw} is outside the pipeline's folder; remote hosts cannot receive it. Use a path relative to this file.` });
          break;
        }
        if (graph.producersOf(path).length > 0) continue;
        if (input.exists(path)) {
          const link = input.linkOutside?.(path);
          if (link !== undefined) {
            out.push({ ...at(dep.node), severity: 'error', code: 'link-outside-workspace', message: linkMessage(`Dep ${path}`, link, path) });
            break;
          }
          continue;
        }
        const suggestion = suggestOutput(path);
        out.push({
          ...at(dep.node),
          severity: 'warning',
          code: 'missing-dep',
          message: `Dep ${path} does not exist and no stage writes it${suggestion ? `; did you mean ${suggestion} (written by stage '${graph.outputs.get(suggestion)![0].stage.name}')?` : '.'}`,
          fixes: suggestion && dep.paths.length === 1 && dep.raw === path ? [replaceFix(input.path, dep.node, suggestion, input.text)] : undefined,
        });
        break;
      }
    }
    for (const entry of [...stage.outs, ...stage.metrics, ...stage.plots]) {
      // Every variant's path: the runner removes an output before running, so none may be the folder itself or outside it.
      const outside = entry.paths.find((path) => !isInsideWorkspace(path));
      if (outside !== undefined) {
        out.push({ ...at(entry.node), severity: 'error', code: 'path-outside-workspace', message: `Output ${entry.raw}${outside !== entry.raw ? ` (${outside || '.'} for one variant)` : ''} must be a path inside the pipeline's folder${outside === '' || outside === '.' ? ', not the folder itself' : ''}.` });
        continue;
      }
      // Nor may it be (or hold) what mlpipe itself keeps there: .git, .mlpipe, the pipeline, its params and card.
      for (const path of entry.paths) {
        const hit = protectedBy(path, protectedFiles);
        if (!hit) continue;
        out.push({
          ...at(entry.node),
          severity: 'error',
          code: 'reserved-output',
          message: `Output ${entry.raw}${path !== entry.raw ? ` (${path} for ${stage.variants.length > 1 ? 'one variant' : 'this stage'})` : ''} ${hit}; the runner removes an output before the stage runs, so it never writes or removes that. Choose another path.`,
        });
        break;
      }
    }
  }

  // Interpolations. A params file that was not read (its finding is above) makes every param
  // unknown; saying so once per use would bury that finding.
  const paramsRefused = input.paramsFiles.some((file) => file.refusal);
  const paramPaths = () => [...input.params.paths()];
  const checkInterpolation = (item: Interpolation, stage: Stage | undefined) => {
    const span = { start: item.start, end: item.end };
    if (item.namespace === 'params') {
      if (!item.path) {
        out.push({ ...span, severity: 'error', code: 'unknown-param', message: 'Name a param after `params.`, such as ${params.train.lr}.' });
        return;
      }
      if (input.params.get(item.path) || paramsRefused) return;
      out.push(unknownParam(input, item.path, { start: item.pathStart, end: item.pathStart + item.path.length }, paramPaths));
    } else if (item.namespace === 'matrix') {
      if (!stage) {
        out.push({ ...span, severity: 'error', code: 'unknown-matrix-key', message: `\${${item.expression}} is outside any stage; \${matrix.…} only works inside a stage with a matrix.` });
      } else if (stage.matrixKeys.length === 0) {
        out.push({ ...span, severity: 'error', code: 'unknown-matrix-key', message: `Stage '${stage.name}' has no matrix; add \`matrix: { ${item.path || 'key'}: [...] }\` or remove \${${item.expression}}.` });
      } else if (!stage.matrixKeys.includes(item.path)) {
        const suggestion = didYouMean(item.path, stage.matrixKeys);
        out.push({
          start: item.pathStart,
          end: item.pathStart + Math.max(1, item.path.length),
          severity: 'error',
          code: 'unknown-matrix-key',
          message: `Unknown matrix key '${item.path}' in stage '${stage.name}'${suggestion ? `; did you mean '${suggestion}'?` : `; its keys are ${quoteList(stage.matrixKeys)}.`}`,
          fixes: suggestion ? [{ title: `Change to '${suggestion}'`, preferred: true, edits: [{ path: input.path, start: item.pathStart, end: item.pathStart + item.path.length, newText: suggestion }] }] : undefined,
        });
      }
    } else {
      out.push({
        ...span,
        severity: 'warning',
        code: 'unknown-interpolation',
        message: `mlpipe fills \${params.…} and \${matrix.…}; '\${${item.expression}}' is neither. Write $\${…} for a literal, or \${NAME} for a shell variable.`,
      });
    }
  };
  for (const stage of model.stages) for (const item of stage.interpolations) checkInterpolation(item, stage);
  for (const item of model.otherInterpolations) {
    // An `x-` field holds anchors for stages to merge; a matrix there belongs to whichever stage uses it.
    if (item.namespace === 'matrix' && extensionFieldAt(model, item.start)) continue;
    checkInterpolation(item, undefined);
  }
  for (const stage of model.stages) {
    for (const param of stage.params) {
      if (input.params.get(param.name) || paramsRefused) continue;
      const quoted = param.node.style === 'single' || param.node.style === 'double' ? 1 : 0;
      out.push(unknownParam(input, param.name, { start: param.node.start + quoted, end: param.node.end - quoted }, paramPaths));
    }
  }

  // Hosts, GPUs, images, and values that only resolve through params. A host or image given
  // once (in defaults, or through an anchor) is checked once, where it is written.
  const hostNames = ['local', ...model.hosts.keys()];
  const checkedNodes = new Set<YNode>();
  for (const stage of model.stages) {
    const host = model.hosts.get(stage.host);
    const hostKnown = Boolean(host) || stage.host === 'local';
    if (!hostKnown && stage.hostNode && !checkedNodes.has(stage.hostNode)) {
      checkedNodes.add(stage.hostNode);
      const suggestion = didYouMean(stage.host, hostNames);
      out.push({
        ...at(stage.hostNode),
        severity: 'error',
        code: 'unknown-host',
        message: `Unknown host '${stage.host}'${suggestion ? `; did you mean '${suggestion}'?` : `; declare it under hosts, or use ${quoteList(hostNames)}.`}`,
        fixes: suggestion && stage.hostNode.kind === 'scalar' ? [replaceFix(input.path, stage.hostNode, suggestion, input.text)] : undefined,
      });
    }
    if (stage.gpus && hostKnown) checkGpus(stage, host?.gpus, input, out);
    if (!stage.image) {
      out.push({ ...at(stage.pair.key), severity: 'error', code: 'missing-image', message: `Stage '${stage.name}' has no image; set \`image:\` on it or \`defaults.image\` for every stage.` });
    } else if (stage.imageNode && !checkedNodes.has(stage.imageNode)) {
      checkedNodes.add(stage.imageNode);
      checkImage(stage.image, stage.imageNode, input, out);
    }
  }
  checkValues(input, out);
  const defaultImage = deref(model.defaultsMap?.pairs.find((pair) => pair.keyText === 'image')?.value);
  if (defaultImage?.kind === 'scalar' && typeof defaultImage.value === 'string' && !checkedNodes.has(defaultImage)) checkImage(defaultImage.value, defaultImage, input, out);

  // Commands that read another stage's output without declaring it.
  for (const stage of model.stages) checkUndeclaredInputs(stage, input, out);
  for (const stage of model.stages) checkValuesInCode(stage, out);

  // The model section and drift data.
  if (model.modelArtifact) {
    const path = normalizePath(model.modelArtifact.name);
    if (graph.producersOf(path).length === 0) {
      out.push({ ...at(model.modelArtifact.node), severity: 'warning', code: 'artifact-not-produced', message: `No stage writes the model artifact ${path}; list it in the outs of the stage that trains the model.` });
    }
  }
  if (model.modelCard) {
    const path = normalizePath(model.modelCard.name);
    if (!input.exists(path)) {
      out.push({ ...at(model.modelCard.node), severity: 'warning', code: 'card-missing', message: `Model card ${model.modelCard.name} does not exist yet; create it (MLPipe's model card format is documented in docs/modelcard.md).` });
    } else {
      const link = isInsideWorkspace(path) ? input.linkOutside?.(path) : undefined;
      if (link !== undefined) out.push({ ...at(model.modelCard.node), severity: 'error', code: 'link-outside-workspace', message: linkMessage(`Model card ${path}`, link, path) });
    }
  }
  for (const ref of model.driftPaths) {
    const path = normalizePath(ref.name);
    if (graph.producersOf(path).length > 0) continue;
    if (!input.exists(path)) {
      out.push({ ...at(ref.node), severity: 'warning', code: 'missing-dep', message: `Drift data ${path} does not exist and no stage writes it.` });
    } else {
      const link = isInsideWorkspace(path) ? input.linkOutside?.(path) : undefined;
      if (link !== undefined) out.push({ ...at(ref.node), severity: 'error', code: 'link-outside-workspace', message: linkMessage(`Drift data ${path}`, link, path) });
    }
  }
  return out;
}

/** What a path names that no output may touch, in words; undefined when it is free. `files` keys are lower case. */
function protectedBy(path: string, files: Map<string, string>): string | undefined {
  // Compared without case: on macOS and Windows `.GIT` is `.git`.
  const lower = path.toLowerCase();
  const reserved = reservedTop(path);
  if (reserved) return `${path.includes('/') ? 'lies inside' : 'is'} ${reserved}/, which ${RESERVED_KEEPER[reserved]} keeps to itself`;
  for (const [file, what] of files) {
    if (file === lower) return `is ${what}`;
    if (file.startsWith(`${lower}/`)) return `holds ${what}`;
  }
  return undefined;
}

/** The finding for a path that leads out of the pipeline's folder through a link (named, never followed). */
export function linkMessage(what: string, link: string, path: string): string {
  const where = link === path ? 'is a symbolic link' : `lies under ${link}, a symbolic link,`;
  return `${what} ${where} that leads outside the pipeline's folder; mlpipe reads nothing through it. Replace the link with the file itself, inside the folder.`;
}

function extensionFieldAt(model: PipelineModel, offset: number): boolean {
  return (model.root?.pairs ?? []).some((pair) => pair.keyText.startsWith('x-') && offset >= pair.start && offset <= pair.end);
}

function checkGpus(stage: Stage, hostGpus: number | undefined, input: PipelineCheckInput, out: Diagnostic[]): void {
  const node = stage.gpus!.node;
  let value = stage.gpus!.value;
  if (typeof value === 'string' && /^\$\{\s*params\.([^}\s]+)\s*\}$/.test(value)) value = input.params.get(/params\.([^}\s]+)/.exec(value)![1])?.value;
  const asked = value === 'all' ? Infinity : typeof value === 'number' ? value : 0;
  if (!(asked > 0)) return;
  const span = { start: node.start, end: Math.max(node.end, node.start + 1) };
  const insideStage = node.start >= stage.pair.start && node.end <= stage.pair.end;
  const where = insideStage ? span : { start: stage.pair.key.start, end: stage.pair.key.end };
  const count = value === 'all' ? 'all GPUs' : `${value} GPU${value === 1 ? '' : 's'}`;
  if (hostGpus === undefined || hostGpus === 0) {
    const local = stage.host === 'local' && hostGpus === undefined;
    out.push({
      ...where,
      severity: local ? 'warning' : 'error',
      code: 'no-gpus',
      message: local
        ? `Stage '${stage.name}' asks for ${count} on host 'local', which declares none; add \`hosts: { local: { docker: unix:///var/run/docker.sock, gpus: N } }\` if this machine has GPUs, or run the stage on a GPU host.`
        : `Stage '${stage.name}' asks for ${count}, but host '${stage.host}' declares none (hosts.${stage.host}.gpus); pick a GPU host or drop resources.gpus.`,
    });
  } else if (asked !== Infinity && asked > hostGpus) {
    out.push({ ...where, severity: 'error', code: 'no-gpus', message: `Stage '${stage.name}' asks for ${count}, but host '${stage.host}' has ${hostGpus}.` });
  }
}

function checkImage(image: string, node: YNode, input: PipelineCheckInput, out: Diagnostic[]): void {
  let resolved = image;
  if (image.includes('${')) {
    resolved = image.replace(/\$\{\s*params\.([^}\s]+)\s*\}/g, (whole, path: string) => {
      const entry = input.params.get(path);
      return entry && typeof entry.value !== 'object' ? String(entry.value) : whole;
    });
    if (resolved.includes('${')) return; // unresolved references are reported on their own
  }
  const result = parseImageRef(resolved);
  if (result.ok) return;
  const fixes: Fix[] | undefined = result.suggestion && resolved === image && node.kind === 'scalar' ? [replaceFix(input.path, node, result.suggestion, input.text)] : undefined;
  out.push({
    start: node.start,
    end: Math.max(node.end, node.start + 1),
    severity: 'error',
    code: 'bad-image',
    message: `Malformed image reference '${quoteValue(resolved)}': ${result.reason}${result.suggestion ? ` (did you mean '${quoteValue(result.suggestion)}'?)` : ''}.`,
    fixes,
  });
}

interface ValueRule {
  field: string;
  /** Valid as the runner will read it (after `${params...}`). */
  valid: (value: unknown) => boolean;
  code: string;
  expected: string;
}

const RULES: Record<string, ValueRule> = {
  memory: { field: 'memory', valid: (v) => parseSize(v) !== undefined, code: 'bad-size', expected: 'a size larger than zero, such as 32g' },
  shm: { field: 'shm', valid: (v) => parseSize(v) !== undefined, code: 'bad-size', expected: 'a size larger than zero, such as 8g' },
  cpus: { field: 'cpus', valid: (v) => typeof v === 'number' && v > 0, code: 'schema', expected: 'a positive number of CPUs' },
  gpus: { field: 'gpus', valid: (v) => v === 'all' || (typeof v === 'number' && Number.isInteger(v) && v >= 0), code: 'schema', expected: "a number of GPUs or 'all'" },
  timeout: { field: 'timeout', valid: (v) => parseDuration(v) !== undefined, code: 'bad-duration', expected: 'a duration longer than zero, such as 2h' },
  retries: { field: 'retries', valid: (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 10, code: 'schema', expected: 'a whole number from 0 to 10' },
};

/**
 * Values the schema lets through but the runner could not use: zero sizes and timeouts, and
 * anything given through `${params...}` (checked once resolved). Each value is checked once,
 * where it is written, whether a stage sets it, `defaults` does, or an anchor shared by several.
 */
function checkValues(input: PipelineCheckInput, out: Diagnostic[]): void {
  const { model } = input;
  const seen = new Set<YNode>();
  const visit = (node: YNode | null | undefined, rule: ValueRule, owner: string) => {
    const scalar = deref(node);
    if (!scalar || scalar.kind !== 'scalar' || seen.has(scalar)) return;
    seen.add(scalar);
    const match = typeof scalar.value === 'string' ? /^\$\{\s*params\.([^}\s]+)\s*\}$/.exec(scalar.value) : null;
    if (!match) {
      // Literals of the right shape but no size: `0s`, `0g` (other literals are the schema's to judge).
      const literal = scalar.value;
      const wellFormed = typeof literal === 'string' && (rule.field === 'timeout' ? isDurationSyntax(literal) : (rule.field === 'memory' || rule.field === 'shm') && isSizeSyntax(literal));
      if (wellFormed && !rule.valid(literal)) {
        const what = rule.field === 'timeout' ? `would stop ${owner} at once` : `leaves ${owner} no ${rule.field === 'shm' ? 'shared memory' : 'memory'}`;
        out.push({ start: scalar.start, end: scalar.end, severity: 'error', code: rule.code, message: `A ${rule.field} of ${literal} ${what}; use ${rule.expected}, or remove ${rule.field}.` });
      }
      return;
    }
    const entry = input.params.get(match[1]);
    if (!entry || rule.valid(entry.value)) return;
    out.push({ start: scalar.start, end: scalar.end, severity: 'error', code: rule.code, message: `${rule.field} of ${owner} reads params.${quoteValue(match[1])} = ${typeof entry.value === 'string' ? `"${quoteValue(entry.value)}"` : quoteValue(entry.value)}, but needs ${rule.expected}.` });
  };
  const resourcesOf = (map: YMap | null) => {
    const resources = deref(mapGet(map, 'resources')?.value);
    return resources?.kind === 'map' ? resources : null;
  };
  const checkMap = (map: YMap | null, owner: string) => {
    const resources = resourcesOf(map);
    for (const field of ['memory', 'shm', 'cpus', 'gpus']) visit(mapGet(resources, field)?.value, RULES[field], owner);
    for (const field of ['timeout', 'retries']) visit(mapGet(map, field)?.value, RULES[field], owner);
  };
  checkMap(model.defaultsMap, 'every stage');
  for (const stage of model.stages) checkMap(stage.map, `stage '${stage.name}'`);
}

function checkUndeclaredInputs(stage: Stage, input: PipelineCheckInput, out: Diagnostic[]): void {
  const { graph } = input;
  if (stage.cmd.length === 0 || graph.outputs.size === 0) return;
  const declared = new Set<string>();
  for (const entry of [...stage.deps, ...stage.outs, ...stage.metrics, ...stage.plots]) for (const path of entry.paths) declared.add(path);
  const isDeclared = (path: string) => {
    for (let current = path; current; current = current.includes('/') ? current.slice(0, current.lastIndexOf('/')) : '') if (declared.has(current)) return true;
    return false;
  };
  let upstream: Set<Stage> | undefined;
  const reported = new Set<string>();
  for (const cmd of stage.cmd) {
    const text = String(cmd.value);
    for (const token of pathLikeTokens(text)) {
      const path = normalizePath(token);
      if (!path || path.startsWith('/') || reported.has(path) || isDeclared(path)) continue;
      const producer = graph.producersOf(path).find((candidate) => candidate.stage !== stage);
      if (!producer || graph.inside(path).length > 0 && !graph.outputs.has(path)) continue;
      reported.add(path);
      upstream ??= graph.upstream(stage);
      const ordered = upstream.has(producer.stage);
      const offset = input.text.indexOf(token, cmd.start);
      const span = offset !== -1 && offset < cmd.end ? { start: offset, end: offset + token.length } : { start: cmd.start, end: cmd.end };
      const fixes: Fix[] = [];
      const depsEdit = appendToList(input, stage, 'deps', path);
      if (depsEdit) fixes.push({ title: `Add ${path} to the deps of '${stage.name}'`, edits: [depsEdit], preferred: true });
      if (!ordered && !stage.needs.some((need) => need.name === producer.stage.name)) {
        const needsEdit = appendToList(input, stage, 'needs', producer.stage.name);
        if (needsEdit) fixes.push({ title: `Add '${producer.stage.name}' to the needs of '${stage.name}'`, edits: [needsEdit] });
      }
      out.push({
        ...span,
        severity: 'warning',
        code: 'undeclared-input',
        message: ordered
          ? `The command reads ${path}, which stage '${producer.stage.name}' writes, but it is not in deps: a change to it will not rerun '${stage.name}'.`
          : `The command reads ${path}, which stage '${producer.stage.name}' writes, but it is not in deps: '${stage.name}' may run before '${producer.stage.name}' and will not rerun when the file changes.`,
        fixes,
      });
    }
  }
}

/**
 * A `${...}` inside code another interpreter parses (`python -c`, a nested `sh -c` in a shell
 * command, an awk program): the runner refuses to paste a value there, so check says so first.
 */
function checkValuesInCode(stage: Stage, out: Diagnostic[]): void {
  if (stage.cmd.length === 0) return;
  const [problem] = inlineCodeProblems(stage.cmd.map((cmd) => String(cmd.value)));
  if (!problem) return;
  const node = stage.cmd.find((cmd) => inlineCodeProblems([String(cmd.value)]).length > 0) ?? stage.cmd[0];
  out.push({ start: node.start, end: node.end, severity: 'error', code: 'value-in-code', message: problem });
}

/** A close param for a misspelt one: the last segment among its siblings, else the whole path among all. */
function suggestParam(input: PipelineCheckInput, path: string, paths: () => string[]): string | undefined {
  const dot = path.lastIndexOf('.');
  const parent = dot === -1 ? '' : path.slice(0, dot);
  if (parent === '' || input.params.get(parent)) {
    const sibling = didYouMean(path.slice(dot + 1), input.params.childrenOf(parent));
    return sibling === undefined ? undefined : parent ? `${parent}.${sibling}` : sibling;
  }
  return didYouMean(path, paths().filter((candidate) => candidate.split('.').length === path.split('.').length));
}

function unknownParam(input: PipelineCheckInput, path: string, span: { start: number; end: number }, paths: () => string[]): Diagnostic {
  const suggestion = suggestParam(input, path, paths);
  // The last existing file wins the merge, so a key added there is the one the pipeline reads.
  const file = [...input.paramsFiles].reverse().find((candidate) => candidate.exists) ?? input.paramsFiles[0];
  const fixes: Fix[] = [];
  if (suggestion) fixes.push({ title: `Change to '${suggestion}'`, preferred: true, edits: [{ path: input.path, start: span.start, end: span.end, newText: suggestion }] });
  const fileName = file?.raw ?? 'params.yaml';
  if (file) fixes.push({ title: file.exists ? `Add '${path}' to ${fileName}` : `Create ${fileName} with '${path}'`, edits: [insertParam(file, path)] });
  const noFile = !input.paramsFiles.some((candidate) => candidate.exists);
  return {
    ...span,
    severity: 'error',
    code: 'unknown-param',
    message: noFile
      ? `Unknown param '${path}': there is no params file (${fileName}); create it${input.paramsFiles.some((f) => f.node) ? ', or fix `params:`' : ', or set `params:` to your params file'}.`
      : `Unknown param '${path}' (not in ${input.paramsFiles.filter((f) => f.exists).map((f) => f.raw).join(', ')})${suggestion ? `; did you mean '${suggestion}'?` : '.'}`,
    fixes,
  };
}

/** An edit that adds `a.b.c: null` to a params file, nested under the deepest key that already exists. */
export function insertParam(file: ParamsFile, dotted: string): FileEdit {
  const parts = dotted.split('.');
  let depth = parts.length - 1;
  while (depth > 0 && !file.entries.get(parts.slice(0, depth).join('.'))) depth--;
  const text = file.text;
  const placeholder = 'null # TODO: set a value';
  const nest = (names: string[], indent: string) =>
    names.map((name, i) => `${indent}${'  '.repeat(i)}${name}:${i === names.length - 1 ? ` ${placeholder}` : ''}`).join('\n');
  if (depth > 0) {
    const parent = file.entries.get(parts.slice(0, depth).join('.'))!;
    const node = deref(parent.node);
    if (node?.kind === 'map' && !node.flow && node.pairs.length > 0) {
      const first = node.pairs[0].key.start;
      const indent = ' '.repeat(first - (text.lastIndexOf('\n', first - 1) + 1));
      const at = endOfContent(text, node.end);
      return { path: file.path, start: at, end: at, newText: `\n${nest(parts.slice(depth), indent)}` };
    }
  }
  const trimmed = text.replace(/\s+$/, '');
  const edit: FileEdit = { path: file.path, start: trimmed.length, end: text.length, newText: `${trimmed.length > 0 ? '\n' : ''}${nest(parts, '')}\n` };
  if (!file.exists) edit.createFile = true;
  return edit;
}

/** An edit appending an item to a stage's list key (`deps`, `needs`), creating the key when absent. */
function appendToList(input: PipelineCheckInput, stage: Stage, key: string, item: string): FileEdit | undefined {
  const text = input.text;
  const map = stage.map;
  if (!map || map.flow) return undefined;
  const pair = mapGet(map, key);
  // A list the stage inherits through `<<:` is not the stage's to edit: a new key would replace it.
  if (pair && !map.pairs.includes(pair)) return undefined;
  const value = pair?.value;
  const quotedItem = /^[A-Za-z0-9_./@-]+$/.test(item) ? item : JSON.stringify(item);
  if (value?.kind === 'seq' && value.flow) {
    const close = text.lastIndexOf(']', value.end);
    if (close === -1) return undefined;
    return { path: input.path, start: close, end: close, newText: value.items.length > 0 ? `, ${quotedItem}` : quotedItem };
  }
  if (value?.kind === 'seq' && value.items.length > 0) {
    const last = value.items[value.items.length - 1];
    const lineStart = text.lastIndexOf('\n', last.start) + 1;
    const prefix = text.slice(lineStart, last.start);
    const position = endOfContent(text, last.end);
    return { path: input.path, start: position, end: position, newText: `\n${prefix}${quotedItem}` };
  }
  if (pair) return undefined;
  const first = map.pairs[0]?.key.start ?? map.start;
  const indent = ' '.repeat(first - (text.lastIndexOf('\n', first - 1) + 1));
  const lastPair = map.pairs[map.pairs.length - 1];
  const position = endOfContent(text, lastPair.end);
  return { path: input.path, start: position, end: position, newText: `\n${indent}${key}: [${quotedItem}]` };
}

/**
 * Where to insert a line after a node: the end of the line holding its last character. A node's
 * end can lie past trailing newlines (a block scalar's does), which would put the new line
 * inside whatever comes next.
 */
function endOfContent(text: string, end: number): number {
  let last = Math.min(end, text.length);
  while (last > 0 && /\s/.test(text[last - 1])) last--;
  const newline = text.indexOf('\n', last);
  return newline === -1 ? text.length : newline;
}

function replaceFix(path: string, node: YNode, replacement: string, text: string): Fix {
  // Keep quotes as written: replace what is inside them.
  const raw = text.slice(node.start, node.end);
  const quoted = raw.length >= 2 && (raw[0] === '"' || raw[0] === "'") && raw[raw.length - 1] === raw[0];
  const start = quoted ? node.start + 1 : node.start;
  const end = quoted ? node.end - 1 : node.end;
  return { title: `Change to '${replacement}'`, preferred: true, edits: [{ path, start, end, newText: replacement }] };
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}
