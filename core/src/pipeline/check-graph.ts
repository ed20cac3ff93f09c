import { didYouMean, quoteList } from '../util/did-you-mean';
import { lineOf, type PipelineCheck, spanOf } from './check-context';
import { replaceFix } from './check-fixes';
import { type Producer } from './graph';
import { MAX_VARIANTS, type Stage } from './model';

/* Rules on the stages as a graph: what they need, cycles, which stage writes which output, matrices. */

/** Stage names in needs: known, and not the stage itself. */
export function checkNeeds(check: PipelineCheck): void {
  const { input, out } = check;
  const { model } = input;
  // Listed only for a finding (a pipeline without one must not copy every name on every edit).
  let names: { stages: string[]; variants: string[] } | undefined;
  const listed = () =>
    (names ??= { stages: [...model.stageByName.keys()], variants: [...model.variantToStage.keys()] });
  for (const stage of model.stages) {
    if (stage.name.includes('@')) continue; // the schema reports the name itself
    for (const need of stage.needs) {
      if (need.name === stage.name || model.variantToStage.get(need.name) === stage) {
        out.push({
          ...spanOf(need.node),
          severity: 'error',
          code: 'self-need',
          message: `Stage '${stage.name}' cannot need itself; remove '${need.name}' from its needs.`,
        });
        continue;
      }
      if (model.stageByName.has(need.name) || model.variantToStage.has(need.name)) continue;
      const { stages: stageNames, variants: variantNames } = listed();
      const suggestion = didYouMean(need.name, need.name.includes('@') ? variantNames : stageNames);
      out.push({
        ...spanOf(need.node),
        severity: 'error',
        code: 'unknown-stage',
        message: `Unknown stage '${need.name}' in needs of stage '${stage.name}'${suggestion ? `; did you mean '${suggestion}'?` : `; stages are ${quoteList(stageNames)}.`}`,
        fixes: suggestion ? [replaceFix(input.path, need.node, suggestion, input.text)] : undefined,
      });
    }
  }
}

/** Cycles: one diagnostic per link, each naming the whole cycle. */
export function checkCycles(check: PipelineCheck): void {
  const { input, out } = check;
  const { graph } = input;
  for (const cycle of graph.cycles()) {
    if (cycle.length === 0) continue;
    const names = [...cycle.map((edge) => edge.from.name), cycle[0].from.name].join(' -> ');
    for (const edge of cycle) {
      const why =
        edge.kind === 'needs'
          ? `'${edge.from.name}' needs '${edge.to.name}'`
          : `'${edge.from.name}' reads ${edge.node.value}, which '${edge.to.name}' writes`;
      out.push({
        ...spanOf(edge.node),
        severity: 'error',
        code: 'cycle',
        message: `Dependency cycle: ${names}. Here ${why}; break one link of the cycle.`,
      });
    }
  }
}

/** Outputs: one producer each. */
export function checkOutputProducers(check: PipelineCheck): void {
  const { input, out } = check;
  const { graph } = input;
  for (const path of graph.sharedOutputs()) {
    const producers = graph.outputs.get(path)!;
    const owners = new Map<Stage, Producer>();
    for (const producer of producers) if (!owners.has(producer.stage)) owners.set(producer.stage, producer);
    if (owners.size < 2) continue;
    const [first, ...others] = [...owners.values()];
    for (const other of others) {
      out.push({
        ...spanOf(other.entry.node),
        severity: 'error',
        code: 'duplicate-output',
        message: `Stages '${first.stage.name}' and '${other.stage.name}' both write ${path}; an output must have one producer.`,
        related: [
          {
            ...spanOf(first.entry.node),
            message: `'${first.stage.name}' writes ${path} here (line ${lineOf(input.text, first.entry.node.start)})`,
          },
        ],
      });
    }
  }
}

/** Outputs: none inside another. */
export function checkOverlappingOutputs(check: PipelineCheck): void {
  const { input, out } = check;
  const { graph } = input;
  for (const [outer, inner] of graph.overlaps()) {
    if (outer.stage === inner.stage && outer.entry === inner.entry) continue;
    out.push({
      ...spanOf(inner.entry.node),
      severity: 'error',
      code: 'overlapping-output',
      message: `Output ${inner.path} of stage '${inner.stage.name}' lies inside output ${outer.path} of stage '${outer.stage.name}'; outputs must not contain one another.`,
      related: [{ ...spanOf(outer.entry.node), message: `${outer.path} is declared here` }],
    });
  }
}

/** Outputs of a matrix stage: a path of its own for every variant. */
export function checkMatrixOutputCollisions(check: PipelineCheck): void {
  const { input, out } = check;
  const { model } = input;
  for (const stage of model.stages) {
    if (stage.variants.length < 2) continue;
    // Resolved per variant, fewer distinct paths than variants means some variants share a file.
    const varying = stage.matrixKeys.filter(
      (key) => new Set(stage.variants.map((variant) => JSON.stringify(variant.values[key]))).size > 1,
    );
    for (const entry of [...stage.outs, ...stage.metrics, ...stage.plots]) {
      if (entry.paths.length === 0 || entry.paths.length >= stage.variants.length) continue;
      const all = entry.paths.length === 1;
      const used = new Set(
        stage.interpolations
          .filter((item) => item.namespace === 'matrix' && item.start >= entry.node.start && item.end <= entry.node.end)
          .map((item) => item.path),
      );
      const absent = varying.filter((key) => !used.has(key));
      const advice =
        absent.length > 0
          ? `put ${absent.map((key) => `\${matrix.${key}}`).join(' and ')} in the path`
          : 'make the path differ for every variant (some matrix values print the same)';
      out.push({
        ...spanOf(entry.node),
        severity: 'error',
        code: 'matrix-output-collision',
        message: `${all ? `All ${stage.variants.length} variants` : `${stage.variants.length} variants`} of stage '${stage.name}' write ${all ? entry.paths[0] : `only ${entry.paths.length} distinct paths`}; ${advice}.`,
      });
    }
  }
}

/** Matrices past the pipeline's budget of variants: one finding on each matrix that did not fit. */
export function checkMatrixBudget(check: PipelineCheck): void {
  const { input, out } = check;
  const { model } = input;
  let expanded = 0;
  for (const stage of model.stages) {
    if (stage.matrixKeys.length === 0) continue;
    if (stage.variants.length < stage.matrixSize && stage.matrix) {
      const size = Number.isFinite(stage.matrixSize) ? stage.matrixSize.toLocaleString('en-US') : 'more than 2^53';
      const before =
        expanded >= MAX_VARIANTS
          ? ', and the matrices above it use all of them'
          : expanded > 0
            ? `, and the matrices above it expand to ${expanded.toLocaleString('en-US')}`
            : '';
      const checked =
        stage.variants.length === 1
          ? 'its first variant'
          : `its first ${stage.variants.length.toLocaleString('en-US')} variants`;
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
}
