/**
 * `mlpipe review`: what a pull request changes in a pipeline, for a reviewer who does not open it.
 * Built on `mlpipe diff` (stages, params, what reruns and why), plus the affected part of the
 * graph, the metrics of a run of each side with the model card's thresholds, and the change in
 * the card's approval. Ordered the same way on every call (run order, then names), so an updated
 * pull-request comment diffs cleanly.
 */
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type ApprovalBlock, parseThreshold, readApproval, readCard } from '../approval/gate';
import { mlpipeRootOf } from '../runs/records';
import { ExperimentStore, type StoredRun } from '../store/store';
import { valueName } from '../store/series';
import { buildDag, type Dag } from '../runner/dag';
import { pipelineDiffWithPlan, type DiffReport } from '../runner/diff';
import { gitResolve, gitShow } from '../runner/git';
import { RunError } from '../runner/runner';

type Value = number | string | boolean;

export interface RunRef {
  id: string;
  commit?: string;
  dirty?: boolean;
  started: string;
  /** How it was chosen: named with --base-run/--head-run, or found by its commit. */
  chosen: 'named' | 'commit' | 'newest';
}

export interface MetricChange {
  name: string;
  before?: Value;
  after?: Value;
  /** after - before, when both are numbers. */
  delta?: number;
  /** The model card's threshold for this metric, and whether the head run meets it. */
  threshold?: string;
  met?: boolean;
  /** The base card's threshold, when the pull request changes it (`none`: the base had none). */
  thresholdBefore?: string;
}

export interface ApprovalSide {
  status: string;
  by?: string;
  run?: string;
  artifact_digest?: string;
}

export interface ReviewReport extends DiffReport {
  pipeline: string;
  /** The affected part of the graph: stages that change or rerun, and the edges between them. */
  graph: Dag;
  runs: { base?: RunRef; head?: RunRef; notes: string[] };
  metrics: MetricChange[];
  /** `previousCard`: the card the base's pipeline names, when the pull request points model.card elsewhere. */
  approval?: { card: string; previousCard?: string; before?: ApprovalSide; after?: ApprovalSide };
}

export interface ReviewOptions {
  baseRun?: string;
  headRun?: string;
}

/** A card at a revision may be anything: read at most this much of it. */
const MAX_CARD_BYTES = 1024 * 1024;

function side(approval: ApprovalBlock | undefined): ApprovalSide | undefined {
  if (!approval || typeof approval.status !== 'string') return undefined;
  const pick = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return {
    status: approval.status,
    ...(pick(approval.by) ? { by: pick(approval.by) } : {}),
    ...(pick(approval.run) ? { run: pick(approval.run) } : {}),
    ...(pick(approval.artifact_digest) ? { artifact_digest: pick(approval.artifact_digest) } : {}),
  };
}

/** A card's thresholds by the store's metric names (`eval-test.auc`). */
function thresholdsOf(card: unknown): Map<string, string> {
  const thresholds = new Map<string, string>();
  const metrics = (card as { evaluation?: { metrics?: unknown } } | null | undefined)?.evaluation?.metrics;
  for (const metric of Array.isArray(metrics) ? (metrics as Record<string, unknown>[]) : []) {
    if (typeof metric?.file !== 'string' || metric.threshold === undefined || metric.threshold === null) continue;
    const key = typeof metric.key === 'string' ? metric.key : typeof metric.name === 'string' ? metric.name : '';
    if (key) thresholds.set(valueName(metric.file, key), String(metric.threshold));
  }
  return thresholds;
}

function met(threshold: string, value: Value | undefined): boolean | undefined {
  const parsed = parseThreshold(threshold);
  if (!parsed || typeof value !== 'number') return undefined;
  const { op, bound } = parsed;
  return op === '>='
    ? value >= bound
    : op === '>'
      ? value > bound
      : op === '<='
        ? value <= bound
        : op === '<'
          ? value < bound
          : value === bound;
}

function ref(run: StoredRun, chosen: RunRef['chosen']): RunRef {
  return {
    id: run.summary.id,
    ...(run.summary.commit ? { commit: run.summary.commit } : {}),
    ...(run.summary.dirty !== undefined ? { dirty: run.summary.dirty } : {}),
    started: run.summary.started,
    chosen,
  };
}

export async function pipelineReview(
  pipelinePath: string,
  revision: string,
  options: ReviewOptions = {},
): Promise<ReviewReport> {
  const dir = dirname(pipelinePath);
  // The working tree's analysis and plan come with the diff: a large pipeline is parsed once.
  const { report: diff, analysis, plan } = await pipelineDiffWithPlan(pipelinePath, revision);

  // The affected part of the graph: what changes or reruns, and what connects them.
  const affected = new Set(diff.stages.filter((stage) => stage.change !== 'removed').map((stage) => stage.name));
  const whole = buildDag(plan, { sources: false });
  const ids = new Set([...affected].map((name) => `stage:${name}`));
  const graph: Dag = {
    nodes: whole.nodes.filter((node) => ids.has(node.id)),
    edges: whole.edges.filter((edge) => ids.has(edge.from) && ids.has(edge.to)),
  };

  // A run of each side: named, else the newest succeeded run of the pipeline at that commit.
  const pipelineRelative = relative(dir, pipelinePath);
  const notes: string[] = [];
  const runs: ReviewReport['runs'] = { notes };
  let store: ExperimentStore | undefined;
  try {
    store = ExperimentStore.open(mlpipeRootOf(pipelinePath));
  } catch (error) {
    notes.push(`the experiment store could not be read (${(error as Error).message})`);
  }
  if (store?.problem) notes.push(`the experiment store could not be read (${store.problem})`);
  const resolveRun = (id: string, flag: string): StoredRun => {
    try {
      return (store as ExperimentStore).resolve(id);
    } catch (error) {
      throw new RunError(`${flag} ${id}: ${(error as Error).message}`);
    }
  };
  if (store) {
    const ofPipeline = store
      .runs()
      .filter((run) => run.summary.pipeline === pipelineRelative && run.status === 'succeeded');
    const head = await gitResolve(dir, 'HEAD');
    if (options.headRun) runs.head = ref(resolveRun(options.headRun, '--head-run'), 'named');
    else {
      const atHead = ofPipeline.find((run) => run.summary.commit === head);
      // Else the newest run, but never one of the base's commit: its metrics are the base's.
      const newest = ofPipeline.find((run) => run.summary.commit !== diff.commit);
      if (atHead) runs.head = ref(atHead, 'commit');
      else if (newest) {
        runs.head = ref(newest, 'newest');
        notes.push(`no run of HEAD's commit: the head run is the newest succeeded run, ${newest.summary.id}`);
      } else
        notes.push(
          `no run of HEAD's commit (${(head ?? '').slice(0, 10)}) in the experiment store: run the pipeline, or name one with --head-run`,
        );
    }
    if (options.baseRun) runs.base = ref(resolveRun(options.baseRun, '--base-run'), 'named');
    else {
      // A run with uncommitted changes is not the base's: one without them first.
      const atBase = [
        ...ofPipeline.filter((run) => run.summary.dirty !== true),
        ...ofPipeline.filter((run) => run.summary.dirty === true),
      ].find((run) => run.summary.commit === diff.commit && run.summary.id !== runs.head?.id);
      if (atBase) runs.base = ref(atBase, 'commit');
      else
        notes.push(
          `no run of ${revision} (${diff.commit.slice(0, 10)}) in the experiment store: run the pipeline there, or name one with --base-run`,
        );
    }
  }

  // The card: where it is, its thresholds, and its approval on each side.
  const cardName = analysis.model.modelCard?.name;
  const thresholds = new Map<string, string>();
  // The base card's, to say when the pull request moves a threshold the head run is judged by.
  let baseThresholds = new Map<string, string>();
  let approval: ReviewReport['approval'];
  if (cardName) {
    const cardPath = resolve(dir, cardName);
    const cardRelative = relative(dir, cardPath);
    const outside = cardRelative === '..' || cardRelative.startsWith(`..${sep}`) || isAbsolute(cardRelative);
    let after: ApprovalBlock | undefined;
    try {
      // The card is the pipeline's own file: one named outside its folder is not read (nor shown).
      if (outside) throw new Error(`it is outside the pipeline's folder`);
      after = readApproval(cardPath, dir);
      for (const [name, threshold] of thresholdsOf(readCard<unknown>(cardPath, dir))) thresholds.set(name, threshold);
    } catch (error) {
      notes.push(`the model card ${cardRelative} could not be read (${(error as Error).message.split('\n')[0]})`);
    }
    // The base's approval is in the card the base's pipeline names: a pull request may point
    // model.card at a new file that it approves itself.
    let previous = cardRelative;
    const oldPipeline = await gitShow(dir, diff.commit, pipelineRelative);
    try {
      const data = oldPipeline === undefined ? undefined : (parseYaml(oldPipeline, { maxAliasCount: 100 }) as unknown);
      const name = (data as { model?: { card?: unknown } } | null | undefined)?.model?.card;
      if (typeof name === 'string' && name) previous = relative(dir, resolve(dir, name));
    } catch {
      // The diff has already said how the base does not parse.
    }
    const previousOutside = previous === '..' || previous.startsWith(`..${sep}`) || isAbsolute(previous);
    let before: ApprovalBlock | undefined;
    const old = previousOutside ? undefined : await gitShow(dir, diff.commit, previous);
    if (old !== undefined && old.length <= MAX_CARD_BYTES) {
      try {
        const data = parseYaml(old, { maxAliasCount: 100 }) as { approval?: ApprovalBlock } | null;
        before = data?.approval && typeof data.approval === 'object' ? data.approval : undefined;
        baseThresholds = thresholdsOf(data);
      } catch {
        notes.push(`the model card ${previous} at ${revision} does not parse`);
      }
    }
    const was = side(before);
    const is = side(after);
    if (JSON.stringify(was) !== JSON.stringify(is) || previous !== cardRelative)
      approval = {
        card: cardRelative,
        ...(previous !== cardRelative ? { previousCard: previous } : {}),
        ...(was ? { before: was } : {}),
        ...(is ? { after: is } : {}),
      };
  }

  // Metrics of the two runs, by the store's names, sorted.
  const metrics: MetricChange[] = [];
  const summaryOf = (run: RunRef | undefined) => (run && store ? store.get(run.id)?.summary.metrics : undefined);
  const before = summaryOf(runs.base);
  const after = summaryOf(runs.head);
  if (before || after) {
    const names = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])].sort();
    for (const name of names) {
      const a = before?.[name];
      const b = after?.[name];
      const threshold = thresholds.get(name);
      const thresholdBefore = baseThresholds.get(name);
      metrics.push({
        name,
        ...(a !== undefined ? { before: a } : {}),
        ...(b !== undefined ? { after: b } : {}),
        ...(typeof a === 'number' && typeof b === 'number' ? { delta: b - a } : {}),
        ...(threshold !== undefined ? { threshold, met: met(threshold, b) } : {}),
        ...(thresholdBefore !== threshold ? { thresholdBefore: thresholdBefore ?? 'none' } : {}),
      });
    }
  }

  return {
    ...diff,
    pipeline: pipelineRelative,
    graph,
    runs,
    metrics,
    ...(approval ? { approval } : {}),
  };
}
