import { basename } from 'node:path';
import { MAX_PARAM_ENTRIES } from '../params/params';
import { didYouMean } from '../util/did-you-mean';
import { RESERVED_KEEPER, reservedTop } from '../util/reserved';
import { type PipelineCheck, type PipelineCheckInput, spanOf } from './check-context';
import { replaceFix } from './check-fixes';
import { isInsideWorkspace, normalizePath, type Stage } from './model';

/* Rules on the files a pipeline names: params files, deps and outputs, the model artifact and card, drift data. */

/** Params files: inside the folder, readable, present, and within mlpipe's limits. */
export function checkParamsFiles(check: PipelineCheck): void {
  const { input, out } = check;
  const top = {
    start: 0,
    end: Math.max(
      1,
      Math.min(input.text.length, input.text.indexOf('\n') === -1 ? input.text.length : input.text.indexOf('\n')),
    ),
  };
  for (const file of input.paramsFiles) {
    if (file.outside && file.node) {
      out.push({
        ...spanOf(file.node),
        severity: 'error',
        code: 'path-outside-workspace',
        message: `Params file '${file.raw}' is outside the pipeline's folder; mlpipe reads params only from files inside it. Move it (or copy it) into the pipeline's folder.`,
      });
    } else if (file.refusal) {
      // The implicit params.yaml has no node: the finding goes on the first line.
      out.push({
        ...(file.node ? spanOf(file.node) : top),
        severity: file.refusal.severity,
        code: file.refusal.code,
        message: `Params file '${file.raw}' is not read: ${file.refusal.message}`,
      });
    } else if (!file.exists && file.node) {
      out.push({
        ...spanOf(file.node),
        severity: 'error',
        code: 'params-file-missing',
        message: `Params file '${file.raw}' does not exist; create it or fix the path (it is relative to this pipeline).`,
      });
    } else if (file.exists) {
      // Limits the params file ran into: said where the pipeline names it too, since an editor
      // shows findings of open files only and this one may not be open.
      const where = file.node ? spanOf(file.node) : top;
      if (file.yaml?.aliasesCut) {
        out.push({
          ...where,
          severity: 'warning',
          code: 'alias-expansion',
          message: `Aliases in params file '${file.raw}' expand too far (an alias bomb?); mlpipe reads them as empty, so params under them are unknown. ${file.raw} shows where.`,
        });
      }
      if (file.problems.some((problem) => problem.code === 'too-many-params')) {
        out.push({
          ...where,
          severity: 'warning',
          code: 'too-many-params',
          message: `Params file '${file.raw}' holds more than ${MAX_PARAM_ENTRIES.toLocaleString('en-US')} params; mlpipe indexes the first ${MAX_PARAM_ENTRIES.toLocaleString('en-US')}, so later ones read as unknown.`,
        });
      }
    }
  }
}

/** What no output may be or hold: the folders mlpipe keeps, the pipeline itself, its params files and card (keys lower case). */
function protectedFilesOf(input: PipelineCheckInput): Map<string, string> {
  const { model } = input;
  const protectedFiles = new Map<string, string>([[basename(input.path).toLowerCase(), 'the pipeline file itself']]);
  for (const file of input.paramsFiles)
    if (!file.outside)
      protectedFiles.set(normalizePath(file.raw).toLowerCase(), `params file ${normalizePath(file.raw)}`);
  if (model.modelCard && isInsideWorkspace(normalizePath(model.modelCard.name)))
    protectedFiles.set(
      normalizePath(model.modelCard.name).toLowerCase(),
      `the model card ${normalizePath(model.modelCard.name)}`,
    );
  return protectedFiles;
}

/**
 * A close output for a dep that nothing produces. Suggestions compare with outputs in the same
 * top folder or with the same file name, once per path: a pipeline of 1,000 stages missing one
 * shared file must not cost a million edit distances.
 */
function outputSuggester(input: PipelineCheckInput): (path: string) => string | undefined {
  const { graph } = input;
  const suggestions = new Map<string, string | undefined>();
  let byFolderOrName: Map<string, string[]> | undefined;
  return (path: string): string | undefined => {
    if (suggestions.has(path)) return suggestions.get(path);
    if (!byFolderOrName) {
      byFolderOrName = new Map();
      for (const out of graph.outputsInFileOrder()) {
        for (const key of [`dir:${out.split('/')[0]}`, `name:${out.slice(out.lastIndexOf('/') + 1)}`]) {
          const list = byFolderOrName.get(key);
          if (list) list.push(out);
          else byFolderOrName.set(key, [out]);
        }
      }
    }
    const candidates = new Set([
      ...(byFolderOrName.get(`dir:${path.split('/')[0]}`) ?? []),
      ...(byFolderOrName.get(`name:${path.slice(path.lastIndexOf('/') + 1)}`) ?? []),
    ]);
    const suggestion = didYouMean(path, candidates);
    suggestions.set(path, suggestion);
    return suggestion;
  };
}

/** Deps that nothing produces and that are not on disk, or lead out through a link; outputs outside the folder or on what mlpipe keeps. */
export function checkStagePaths(check: PipelineCheck): void {
  const { input, out } = check;
  const { model, graph } = input;
  const protectedFiles = protectedFilesOf(input);
  const suggestOutput = outputSuggester(input);
  // While the files on disk, what the stage's deps resolve to and the protected names hold, a
  // stage that had nothing to say has nothing to say: it is not looked up again.
  const context =
    input.filesVersion === undefined
      ? undefined
      : `${input.filesVersion}:${input.linkOutside ? 1 : 0}:${[...protectedFiles.keys()].join('\0')}`;
  for (const stage of model.stages) {
    const clean = cleanPaths.get(stage);
    if (
      context !== undefined &&
      clean?.graph === graph &&
      clean.deps === graph.depsVersion(stage) &&
      clean.context === context
    )
      continue;
    const before = out.length;
    stagePaths(check, stage, protectedFiles, suggestOutput);
    if (context !== undefined && out.length === before)
      cleanPaths.set(stage, { graph, deps: graph.depsVersion(stage), context });
  }
}

/** Stages whose paths were all fine, with what that held under. */
const cleanPaths = new WeakMap<Stage, { graph: object; deps: number; context: string }>();

function stagePaths(
  check: PipelineCheck,
  stage: Stage,
  protectedFiles: Map<string, string>,
  suggestOutput: (path: string) => string | undefined,
): void {
  const { input, out } = check;
  const { graph } = input;
  for (const dep of stage.deps) {
    for (const path of dep.paths) {
      if (!isInsideWorkspace(path)) {
        out.push({
          ...spanOf(dep.node),
          severity: 'warning',
          code: 'path-outside-workspace',
          message: `Dep ${dep.raw} is outside the pipeline's folder; remote hosts cannot receive it. Use a path relative to this file.`,
        });
        break;
      }
      if (graph.producersOf(path).length > 0) continue;
      if (input.exists(path)) {
        const link = input.linkOutside?.(path);
        if (link !== undefined) {
          out.push({
            ...spanOf(dep.node),
            severity: 'error',
            code: 'link-outside-workspace',
            message: linkMessage(`Dep ${path}`, link, path),
          });
          break;
        }
        continue;
      }
      const suggestion = suggestOutput(path);
      out.push({
        ...spanOf(dep.node),
        severity: 'warning',
        code: 'missing-dep',
        message: `Dep ${path} does not exist and no stage writes it${suggestion ? `; did you mean ${suggestion} (written by stage '${graph.outputs.get(suggestion)![0].stage.name}')?` : '.'}`,
        fixes:
          suggestion && dep.paths.length === 1 && dep.raw === path
            ? [replaceFix(input.path, dep.node, suggestion, input.text)]
            : undefined,
      });
      break;
    }
  }
  for (const entry of [...stage.outs, ...stage.metrics, ...stage.plots]) {
    // Every variant's path: the runner removes an output before running, so none may be the folder itself or outside it.
    const outside = entry.paths.find((path) => !isInsideWorkspace(path));
    if (outside !== undefined) {
      out.push({
        ...spanOf(entry.node),
        severity: 'error',
        code: 'path-outside-workspace',
        message: `Output ${entry.raw}${outside !== entry.raw ? ` (${outside || '.'} for one variant)` : ''} must be a path inside the pipeline's folder${outside === '' || outside === '.' ? ', not the folder itself' : ''}.`,
      });
      continue;
    }
    // Nor may it be (or hold) what mlpipe itself keeps there: .git, .mlpipe, the pipeline, its params and card.
    for (const path of entry.paths) {
      const hit = protectedBy(path, protectedFiles);
      if (!hit) continue;
      out.push({
        ...spanOf(entry.node),
        severity: 'error',
        code: 'reserved-output',
        message: `Output ${entry.raw}${path !== entry.raw ? ` (${path} for ${stage.variants.length > 1 ? 'one variant' : 'this stage'})` : ''} ${hit}; the runner removes an output before the stage runs, so it never writes or removes that. Choose another path.`,
      });
      break;
    }
  }
}

/** The model artifact: some stage writes it. */
export function checkModelArtifact(check: PipelineCheck): void {
  const { input, out } = check;
  const { model, graph } = input;
  if (model.modelArtifact) {
    const path = normalizePath(model.modelArtifact.name);
    if (graph.producersOf(path).length === 0) {
      out.push({
        ...spanOf(model.modelArtifact.node),
        severity: 'warning',
        code: 'artifact-not-produced',
        message: `No stage writes the model artifact ${path}; list it in the outs of the stage that trains the model.`,
      });
    }
  }
}

/** The model card: present, and not reached through a link that leads out. */
export function checkModelCard(check: PipelineCheck): void {
  const { input, out } = check;
  const { model } = input;
  if (model.modelCard) {
    const path = normalizePath(model.modelCard.name);
    if (!input.exists(path)) {
      out.push({
        ...spanOf(model.modelCard.node),
        severity: 'warning',
        code: 'card-missing',
        message: `Model card ${model.modelCard.name} does not exist yet; create it (MLPipe's model card format is documented in docs/modelcard.md).`,
      });
    } else {
      const link = isInsideWorkspace(path) ? input.linkOutside?.(path) : undefined;
      if (link !== undefined)
        out.push({
          ...spanOf(model.modelCard.node),
          severity: 'error',
          code: 'link-outside-workspace',
          message: linkMessage(`Model card ${path}`, link, path),
        });
    }
  }
}

/** Drift data: written by a stage or present, and not reached through a link that leads out. */
export function checkDriftData(check: PipelineCheck): void {
  const { input, out } = check;
  const { model, graph } = input;
  for (const ref of model.driftPaths) {
    const path = normalizePath(ref.name);
    if (graph.producersOf(path).length > 0) continue;
    if (!input.exists(path)) {
      out.push({
        ...spanOf(ref.node),
        severity: 'warning',
        code: 'missing-dep',
        message: `Drift data ${path} does not exist and no stage writes it.`,
      });
    } else {
      const link = isInsideWorkspace(path) ? input.linkOutside?.(path) : undefined;
      if (link !== undefined)
        out.push({
          ...spanOf(ref.node),
          severity: 'error',
          code: 'link-outside-workspace',
          message: linkMessage(`Drift data ${path}`, link, path),
        });
    }
  }
}

/** What a path names that no output may touch, in words; undefined when it is free. `files` keys are lower case. */
function protectedBy(path: string, files: Map<string, string>): string | undefined {
  // Compared without case: on macOS and Windows `.GIT` is `.git`.
  const lower = path.toLowerCase();
  const reserved = reservedTop(path);
  if (reserved)
    return `${path.includes('/') ? 'lies inside' : 'is'} ${reserved}/, which ${RESERVED_KEEPER[reserved]} keeps to itself`;
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

/** Image and document files: a plot is data mlpipe draws, not a picture of it. */
const IMAGE_FILE = /\.(png|jpe?g|gif|svg|webp|bmp|tiff?|pdf|html?)$/i;

/** A plot that names an image (`plots: [confusion.png]`): mlpipe could never draw it; it belongs in outs. */
export function checkPlotFormats(check: PipelineCheck): void {
  const { input, out } = check;
  for (const stage of input.model.stages)
    for (const entry of stage.plots) {
      const image =
        entry.paths.find((path) => IMAGE_FILE.test(path)) ?? (IMAGE_FILE.test(entry.raw) ? entry.raw : undefined);
      if (image === undefined) continue;
      out.push({
        ...spanOf(entry.node),
        severity: 'warning',
        code: 'plot-format',
        message: `Plot ${entry.raw} is an image; plots are data mlpipe draws (CSV, TSV, JSON or YAML rows or columns). List the image under outs (it is cached and kept with the run), and plot the data it was drawn from.`,
      });
    }
}
