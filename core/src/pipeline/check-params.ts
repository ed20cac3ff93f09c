import { type Diagnostic, type Fix } from '../diagnostics/diagnostic';
import { didYouMean, quoteList } from '../util/did-you-mean';
import { type PipelineCheck, type PipelineCheckInput } from './check-context';
import { insertParam } from './check-fixes';
import { type Interpolation } from './interpolation';
import { type PipelineModel, type Stage } from './model';

/* Rules on params and `${...}`: each param and matrix key a stage reads exists. */

/** Interpolations: `${params.…}` names a param, `${matrix.…}` a key of the stage's matrix, nothing else is filled. */
export function checkInterpolations(check: PipelineCheck): void {
  const { input, out } = check;
  const { model } = input;
  // A params file that was not read (its finding is above) makes every param unknown; saying so
  // once per use would bury that finding.
  const paramsRefused = input.paramsFiles.some((file) => file.refusal);
  const paramPaths = () => [...input.params.paths()];
  const checkInterpolation = (item: Interpolation, stage: Stage | undefined) => {
    const span = { start: item.start, end: item.end };
    if (item.namespace === 'params') {
      if (!item.path) {
        out.push({
          ...span,
          severity: 'error',
          code: 'unknown-param',
          message: 'Name a param after `params.`, such as ${params.train.lr}.',
        });
        return;
      }
      if (input.params.get(item.path) || paramsRefused) return;
      out.push(
        unknownParam(input, item.path, { start: item.pathStart, end: item.pathStart + item.path.length }, paramPaths),
      );
    } else if (item.namespace === 'matrix') {
      if (!stage) {
        out.push({
          ...span,
          severity: 'error',
          code: 'unknown-matrix-key',
          message: `\${${item.expression}} is outside any stage; \${matrix.…} only works inside a stage with a matrix.`,
        });
      } else if (stage.matrixKeys.length === 0) {
        out.push({
          ...span,
          severity: 'error',
          code: 'unknown-matrix-key',
          message: `Stage '${stage.name}' has no matrix; add \`matrix: { ${item.path || 'key'}: [...] }\` or remove \${${item.expression}}.`,
        });
      } else if (!stage.matrixKeys.includes(item.path)) {
        const suggestion = didYouMean(item.path, stage.matrixKeys);
        out.push({
          start: item.pathStart,
          end: item.pathStart + Math.max(1, item.path.length),
          severity: 'error',
          code: 'unknown-matrix-key',
          message: `Unknown matrix key '${item.path}' in stage '${stage.name}'${suggestion ? `; did you mean '${suggestion}'?` : `; its keys are ${quoteList(stage.matrixKeys)}.`}`,
          fixes: suggestion
            ? [
                {
                  title: `Change to '${suggestion}'`,
                  preferred: true,
                  edits: [
                    {
                      path: input.path,
                      start: item.pathStart,
                      end: item.pathStart + item.path.length,
                      newText: suggestion,
                    },
                  ],
                },
              ]
            : undefined,
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
  for (const stage of model.stages) {
    // A stage whose interpolations all resolved, under these params, says nothing again.
    const clean = cleanInterpolations.get(stage);
    if (clean && clean.params === input.params && clean.refused === paramsRefused) continue;
    const before = out.length;
    for (const item of stage.interpolations) checkInterpolation(item, stage);
    if (out.length === before) cleanInterpolations.set(stage, { params: input.params, refused: paramsRefused });
  }
  for (const item of model.otherInterpolations) {
    // An `x-` field holds anchors for stages to merge; a matrix there belongs to whichever stage uses it.
    if (item.namespace === 'matrix' && extensionFieldAt(model, item.start)) continue;
    checkInterpolation(item, undefined);
  }
}

/** Stages whose interpolations all resolved, by the params they were checked under. */
const cleanInterpolations = new WeakMap<Stage, { params: object; refused: boolean }>();

/** The params a stage lists under `params:` exist. */
export function checkStageParams(check: PipelineCheck): void {
  const { input, out } = check;
  const { model } = input;
  // Not said when a params file was not read, as in checkInterpolations.
  const paramsRefused = input.paramsFiles.some((file) => file.refusal);
  const paramPaths = () => [...input.params.paths()];
  for (const stage of model.stages) {
    for (const param of stage.params) {
      if (input.params.get(param.name) || paramsRefused) continue;
      const quoted = param.node.style === 'single' || param.node.style === 'double' ? 1 : 0;
      out.push(
        unknownParam(input, param.name, { start: param.node.start + quoted, end: param.node.end - quoted }, paramPaths),
      );
    }
  }
}

function extensionFieldAt(model: PipelineModel, offset: number): boolean {
  return (model.root?.pairs ?? []).some(
    (pair) => pair.keyText.startsWith('x-') && offset >= pair.start && offset <= pair.end,
  );
}

/** A close param for a misspelt one: the last segment among its siblings, else the whole path among all. */
function suggestParam(input: PipelineCheckInput, path: string, paths: () => string[]): string | undefined {
  const dot = path.lastIndexOf('.');
  const parent = dot === -1 ? '' : path.slice(0, dot);
  if (parent === '' || input.params.get(parent)) {
    const sibling = didYouMean(path.slice(dot + 1), input.params.childrenOf(parent));
    return sibling === undefined ? undefined : parent ? `${parent}.${sibling}` : sibling;
  }
  return didYouMean(
    path,
    paths().filter((candidate) => candidate.split('.').length === path.split('.').length),
  );
}

function unknownParam(
  input: PipelineCheckInput,
  path: string,
  span: { start: number; end: number },
  paths: () => string[],
): Diagnostic {
  const suggestion = suggestParam(input, path, paths);
  // The last existing file wins the merge, so a key added there is the one the pipeline reads.
  const file = [...input.paramsFiles].reverse().find((candidate) => candidate.exists) ?? input.paramsFiles[0];
  const fixes: Fix[] = [];
  if (suggestion)
    fixes.push({
      title: `Change to '${suggestion}'`,
      preferred: true,
      edits: [{ path: input.path, start: span.start, end: span.end, newText: suggestion }],
    });
  const fileName = file?.raw ?? 'params.yaml';
  if (file)
    fixes.push({
      title: file.exists ? `Add '${path}' to ${fileName}` : `Create ${fileName} with '${path}'`,
      edits: [insertParam(file, path)],
    });
  const noFile = !input.paramsFiles.some((candidate) => candidate.exists);
  return {
    ...span,
    severity: 'error',
    code: 'unknown-param',
    message: noFile
      ? `Unknown param '${path}': there is no params file (${fileName}); create it${input.paramsFiles.some((f) => f.node) ? ', or fix `params:`' : ', or set `params:` to your params file'}.`
      : `Unknown param '${path}' (not in ${input.paramsFiles
          .filter((f) => f.exists)
          .map((f) => f.raw)
          .join(', ')})${suggestion ? `; did you mean '${suggestion}'?` : '.'}`,
    fixes,
  };
}
