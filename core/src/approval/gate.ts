import { closeSync, existsSync, readSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { isMap, parse as parseYaml, parseDocument } from 'yaml';
import { computeDrift } from '../drift/engine';
import { monitorTarget } from '../drift/monitor';
import { writeFileAtomic } from '../runs/files';
import { hashFile } from '../runs/hash';
import { type RunRecord } from '../runs/records';
import { ContentStore } from '../runs/content-cache';
import { ExperimentStore, type StoredRun } from '../store/store';
import { Boundary, BoundaryError } from '../util/boundary';
import { nodeFileHost } from '../workspace/file-host';
import { DEFAULT_OPTIONS, Workspace } from '../workspace/workspace';
import { UserError } from '../errors';
import { mlpipeRootOf } from '../runs/records';
import { isCandidate } from './candidate';

/**
 * The approval gate and the approval block of a model card (docs/registry.md). A candidate is a
 * run's model artifact plus the model card; it passes when every condition holds:
 *   card       the model card checks with no errors (as `mlpipe check`)
 *   metrics    every metric with a threshold in the card is met by the run's metrics
 *   artifact   the cached artifact's bytes hash to the digest the run recorded for it
 *   clean      the git tree was clean at the run (or the user acknowledges a dirty one)
 *   drift      (optional) the pipeline's monitor.drift finds no dataset drift
 */

export class GateError extends UserError {}

/** A file the gate will not read at all (a link out of the pipeline's folder, far too large). */
class RefusedFileError extends GateError {}

export interface GateCondition {
  name: 'card' | 'run' | 'metrics' | 'artifact' | 'clean' | 'drift';
  ok: boolean;
  /** Why, in words: what was checked and what was found. */
  detail: string;
}

export interface Candidate {
  pipelinePath: string;
  cardPath: string;
  /** The artifact's path relative to the pipeline's folder (the pipeline's `model.artifact`). */
  artifactPath: string;
  run: RunRecord;
  /** The digest the run recorded for the artifact (`sha256:...`). */
  artifactDigest: string | undefined;
  /** The artifact's bytes in the cache (what a push sends), when the cache still has them. */
  cachedArtifact: string | undefined;
  card: { name: string; version: string };
  /** Every scalar metric of the run, by `file:key`-free name (`eval-test.auc`). */
  metrics: Record<string, number | string | boolean | null>;
}

export interface GateResult {
  candidate: Candidate;
  conditions: GateCondition[];
  passed: boolean;
}

interface PipelineModel {
  card: string;
  artifact: string;
}

/** Pipelines and cards larger than this are not read by the gate (the editor's default limit). */
const MAX_READ_BYTES = 4 * 1024 * 1024;

/**
 * A file the gate reads, opened inside the pipeline's folder: a symbolic link that leads out of it
 * (a card linked to ~/.docker/config.json, say) is refused before a byte is read, so nothing of it
 * is quoted, approved into the card or pushed. Missing files give undefined.
 */
function readInside(path: string, root: string, what: string): string | undefined {
  let opened: { fd: number; stat: { isFile(): boolean; size: number } };
  try {
    opened = new Boundary(root).openRead(path);
  } catch (error) {
    if (error instanceof BoundaryError) throw new RefusedFileError(`${what}: ${error.message}`);
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new GateError(`${what}: cannot read it (${error instanceof Error ? error.message : String(error)})`);
  }
  try {
    if (!opened.stat.isFile()) throw new GateError(`${what} is not a file`);
    const tooLarge = () =>
      new RefusedFileError(
        `${what} is over ${MAX_READ_BYTES / 1024 / 1024} MB; mlpipe does not read it (mlpipe check shows the same)`,
      );
    if (opened.stat.size > MAX_READ_BYTES) throw tooLarge();
    const buffer = Buffer.alloc(MAX_READ_BYTES + 1);
    let length = 0;
    for (let n; length < buffer.length && (n = readSync(opened.fd, buffer, length, buffer.length - length, null)) > 0;)
      length += n;
    if (length > MAX_READ_BYTES) throw tooLarge();
    return buffer.toString('utf8', 0, length);
  } finally {
    closeSync(opened.fd);
  }
}

function pipelineModel(pipelinePath: string): PipelineModel {
  let data: unknown;
  try {
    const text = readInside(pipelinePath, dirname(pipelinePath), basename(pipelinePath));
    if (text === undefined) throw new GateError(`${basename(pipelinePath)} does not exist`);
    data = parseYaml(text);
  } catch (error) {
    if (error instanceof GateError) throw error;
    throw new GateError(
      `${basename(pipelinePath)}: cannot read the pipeline (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); mlpipe check shows the problem`,
    );
  }
  const model = (data as { model?: { card?: unknown; artifact?: unknown } } | null)?.model;
  if (typeof model?.card !== 'string' || typeof model.artifact !== 'string') {
    throw new GateError(
      `${basename(pipelinePath)} has no model section naming the card and the artifact; add:\n  model:\n    card: modelcard.yaml\n    artifact: models/model.bin`,
    );
  }
  return { card: model.card, artifact: model.artifact };
}

/** The run to gate: the one given (id or prefix), else the pipeline's model candidate, else its newest succeeded run. */
export function chooseRun(store: ExperimentStore, pipelineRelative: string, runId: string | undefined): StoredRun {
  if (runId) {
    try {
      return store.resolve(runId);
    } catch (error) {
      throw new GateError(error instanceof Error ? error.message : String(error));
    }
  }
  const ofPipeline = store.runs().filter((run) => run.summary.pipeline === pipelineRelative);
  const chosen = ofPipeline.find(isCandidate) ?? ofPipeline.find((run) => run.status === 'succeeded');
  if (!chosen && store.problem) throw new GateError(`no run of ${pipelineRelative} could be read: ${store.problem}`);
  if (!chosen)
    throw new GateError(
      `no succeeded run of ${pipelineRelative} yet: run the pipeline (mlpipe run), or name a run with --run`,
    );
  return chosen;
}

/** Flattened run metrics, named as the experiment store names them. */
function runMetric(run: RunRecord, file: string, key: string): unknown {
  for (const stage of run.stages) {
    const values = stage.metrics?.[file];
    if (values && key in values) return values[key];
  }
  return undefined;
}

/** `>= 0.75`, `> 0.8`, `<= 0.1`, `< 2`, `== 1`: the comparison and the bound. */
export function parseThreshold(text: string): { op: '>=' | '>' | '<=' | '<' | '=='; bound: number } | undefined {
  const match = /^\s*(>=|>|<=|<|==|=)?\s*(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)\s*$/i.exec(text);
  if (!match) return undefined;
  const op = (match[1] === '=' ? '==' : (match[1] ?? '>=')) as '>=' | '>' | '<=' | '<' | '==';
  return { op, bound: Number(match[2]) };
}

function meets(value: number, threshold: { op: string; bound: number }): boolean {
  switch (threshold.op) {
    case '>=':
      return value >= threshold.bound;
    case '>':
      return value > threshold.bound;
    case '<=':
      return value <= threshold.bound;
    case '<':
      return value < threshold.bound;
    default:
      return value === threshold.bound;
  }
}

/** A card's data; a card that does not parse is a GateError naming it (`mlpipe check` shows where). */
export function readCard<T>(cardPath: string, root = dirname(cardPath)): T | null {
  const text = readInside(cardPath, root, basename(cardPath));
  if (text === undefined) throw new GateError(`the model card ${basename(cardPath)} does not exist`);
  try {
    return parseYaml(text) as T | null;
  } catch (error) {
    throw new GateError(
      `${basename(cardPath)} does not parse (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); fix it first: mlpipe check ${basename(cardPath)}`,
    );
  }
}

/** The candidate: pipeline, card, run and artifact, without judging them yet. */
export function loadCandidate(pipelinePath: string, runId?: string): Candidate {
  const model = pipelineModel(pipelinePath);
  const dir = dirname(pipelinePath);
  const cardPath = resolve(dir, model.card);
  // The card is part of what a push sends: it must be a file of this pipeline, not one it points at.
  const boundary = new Boundary(dir);
  if (!boundary.contains(cardPath))
    throw new GateError(
      `the model card ${model.card} (model.card in ${basename(pipelinePath)}) is outside the pipeline's folder; move it inside`,
    );
  try {
    if (boundary.resolveRead(cardPath) === undefined)
      throw new GateError(`the model card ${model.card} (model.card in ${basename(pipelinePath)}) does not exist`);
  } catch (error) {
    if (error instanceof BoundaryError)
      throw new GateError(`the model card (model.card in ${basename(pipelinePath)}): ${error.message}`);
    throw error;
  }
  const root = mlpipeRootOf(pipelinePath);
  const store = ExperimentStore.open(root);
  const stored = chooseRun(store, relative(dir, pipelinePath), runId);
  const run = store.fullRecord(stored.summary.id);
  if (!run)
    throw new GateError(
      `run ${stored.summary.id} has no record in ${relative(process.cwd(), store.dir.runs) || store.dir.runs}; mlpipe runs reindex if it was deleted`,
    );
  const artifactPath = model.artifact.replace(/^\.\//, '');
  let artifactDigest: string | undefined;
  for (const stage of run.stages) if (stage.outputs?.[artifactPath]) artifactDigest = stage.outputs[artifactPath];
  const cache = new ContentStore(join(root, 'cache'));
  const cachedArtifact =
    artifactDigest && existsSync(cache.objectFile(artifactDigest)) ? cache.objectFile(artifactDigest) : undefined;
  let card: { model?: { name?: unknown; version?: unknown } } | null = null;
  try {
    card = readCard(cardPath, dir);
  } catch (error) {
    // A card that does not parse is the gate's card condition to report; one that leads out of the folder is refused here.
    if (error instanceof RefusedFileError) throw error;
  }
  const metrics: Record<string, number | string | boolean | null> = {};
  for (const [name, value] of Object.entries(stored.summary.metrics)) metrics[name] = value;
  return {
    pipelinePath,
    cardPath,
    artifactPath,
    run,
    artifactDigest,
    cachedArtifact,
    card: {
      name: typeof card?.model?.name === 'string' ? card.model.name : basename(dirname(pipelinePath)),
      version: card?.model?.version === undefined ? '0.0.0' : String(card.model.version),
    },
    metrics,
  };
}

export async function evaluateGate(
  pipelinePath: string,
  options: { runId?: string; allowDirty?: boolean; drift?: boolean } = {},
): Promise<GateResult> {
  const candidate = loadCandidate(pipelinePath, options.runId);
  const conditions: GateCondition[] = [];
  const run = candidate.run;
  const dir = dirname(pipelinePath);
  const shown = (path: string) => relative(process.cwd(), path) || path;

  conditions.push({
    name: 'run',
    ok: run.status === 'succeeded',
    detail:
      run.status === 'succeeded'
        ? `run ${run.id} succeeded`
        : `run ${run.id} ${run.status}: only a succeeded run can be released`,
  });

  // The card checks clean, exactly as `mlpipe check` and the editor see it.
  const analysis = new Workspace(nodeFileHost, DEFAULT_OPTIONS).analyze(candidate.cardPath, 'modelcard');
  const errors = analysis.diagnostics.filter((diagnostic) => diagnostic.severity === 'error');
  conditions.push({
    name: 'card',
    ok: errors.length === 0,
    detail:
      errors.length === 0
        ? `${shown(candidate.cardPath)} checks with no errors`
        : `${shown(candidate.cardPath)} has ${errors.length} error${errors.length === 1 ? '' : 's'}: ${errors[0].message}${errors.length > 1 ? ' ...' : ''} (mlpipe check ${shown(candidate.cardPath)})`,
  });

  // Every thresholded metric of the card, against this run's metrics files.
  const checks: string[] = [];
  let metricsOk = true;
  let card: {
    evaluation?: { metrics?: { name?: string; file?: string; key?: string; threshold?: unknown }[] };
  } | null = null;
  try {
    card = readCard(candidate.cardPath, dir);
  } catch (error) {
    metricsOk = false;
    checks.push(error instanceof Error ? error.message : String(error));
  }
  for (const metric of Array.isArray(card?.evaluation?.metrics) ? card.evaluation.metrics : []) {
    if (metric?.threshold === undefined || metric.threshold === null) continue;
    const label = metric.name ?? metric.key ?? '?';
    const threshold = parseThreshold(String(metric.threshold));
    if (!threshold || !metric.file) {
      metricsOk = false;
      checks.push(`${label}: threshold '${String(metric.threshold)}' or file missing in the card`);
      continue;
    }
    const value = runMetric(run, metric.file, metric.key ?? metric.name ?? '');
    if (typeof value !== 'number') {
      metricsOk = false;
      checks.push(`${label}: run ${run.id} has no value for ${metric.key ?? metric.name} in ${metric.file}`);
      continue;
    }
    const ok = meets(value, threshold);
    if (!ok) metricsOk = false;
    checks.push(
      `${label} ${Number(value.toPrecision(4))} ${ok ? 'meets' : 'misses'} ${threshold.op} ${threshold.bound}`,
    );
  }
  conditions.push({
    name: 'metrics',
    ok: metricsOk,
    detail: checks.length > 0 ? checks.join('; ') : 'the card sets no metric thresholds',
  });

  // The bytes a push would send are the bytes the run produced.
  if (!candidate.artifactDigest) {
    conditions.push({
      name: 'artifact',
      ok: false,
      detail: `run ${run.id} recorded no output ${candidate.artifactPath} (model.artifact): did a stage declare it in outs?`,
    });
  } else if (!candidate.cachedArtifact) {
    conditions.push({
      name: 'artifact',
      ok: false,
      detail: `the cache no longer holds ${candidate.artifactPath} of run ${run.id} (${candidate.artifactDigest.slice(0, 19)}...); rerun the pipeline`,
    });
  } else {
    const actual = await hashFile(candidate.cachedArtifact);
    const workspaceFile = join(dir, candidate.artifactPath);
    // Compared only when it is a file of the pipeline's folder: hashing a link's target elsewhere would tell whether it matches.
    let inWorkspace = '';
    const boundary = new Boundary(dir);
    if (boundary.contains(workspaceFile) && existsSync(workspaceFile)) {
      try {
        boundary.resolveRead(workspaceFile);
        inWorkspace =
          (await hashFile(workspaceFile)) === candidate.artifactDigest
            ? ' (the workspace holds the same file)'
            : " (the workspace file differs now: the run's version is the one released)";
      } catch (error) {
        if (!(error instanceof BoundaryError)) throw error;
        inWorkspace = ` (the workspace's ${candidate.artifactPath} is a symbolic link out of the pipeline's folder: not read)`;
      }
    }
    conditions.push({
      name: 'artifact',
      ok: actual === candidate.artifactDigest,
      detail:
        actual === candidate.artifactDigest
          ? `${candidate.artifactPath} ${candidate.artifactDigest}${inWorkspace}`
          : `${candidate.artifactPath}: the cached bytes hash to ${actual}, not the ${candidate.artifactDigest} the run recorded`,
    });
  }

  // Reproducible from a commit.
  if (!run.git)
    conditions.push({
      name: 'clean',
      ok: Boolean(options.allowDirty),
      detail: options.allowDirty
        ? 'no git commit recorded; acknowledged with --allow-dirty'
        : 'the run recorded no git commit (not a git repository?); commit the pipeline and rerun, or acknowledge with --allow-dirty',
    });
  else if (run.git.dirty)
    conditions.push({
      name: 'clean',
      ok: Boolean(options.allowDirty),
      detail: options.allowDirty
        ? `commit ${run.git.commit.slice(0, 10)} with uncommitted changes; acknowledged with --allow-dirty`
        : `commit ${run.git.commit.slice(0, 10)} had uncommitted changes at the run; commit and rerun, or acknowledge with --allow-dirty`,
    });
  else
    conditions.push({
      name: 'clean',
      ok: true,
      detail: `commit ${run.git.commit.slice(0, 10)}, no uncommitted changes`,
    });

  if (options.drift) {
    try {
      const target = monitorTarget(pipelinePath);
      const report = await computeDrift(target.reference, target.current, { ...target.options, details: false });
      conditions.push({
        name: 'drift',
        ok: !report.dataset_drift,
        detail: `${report.number_of_drifted_columns} of ${report.number_of_columns} columns drifted (dataset drift at ${report.drift_share}): ${report.dataset_drift ? 'drift' : 'no dataset drift'}`,
      });
    } catch (error) {
      conditions.push({
        name: 'drift',
        ok: false,
        detail: `drift check failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
      });
    }
  }
  return { candidate, conditions, passed: conditions.every((condition) => condition.ok) };
}

export interface ApprovalBlock {
  status: 'approved' | 'rejected' | 'pending';
  by?: string;
  at?: string;
  run?: string;
  artifact_digest?: string;
  note?: string;
  metrics?: Record<string, number | string | boolean | null>;
}

/** Reads a card's approval block (undefined when it has none or it is not a mapping). */
export function readApproval(cardPath: string, root = dirname(cardPath)): ApprovalBlock | undefined {
  const data = readCard<{ approval?: ApprovalBlock }>(cardPath, root);
  const approval = data?.approval;
  return approval && typeof approval === 'object' ? approval : undefined;
}

/** Replaces the card's approval block, keeping the rest of the file (comments, order) as it is. */
export function writeApproval(cardPath: string, approval: ApprovalBlock, root = dirname(cardPath)): void {
  const text = readInside(cardPath, root, basename(cardPath));
  if (text === undefined) throw new GateError(`the model card ${basename(cardPath)} does not exist`);
  const document = parseDocument(text);
  if (document.errors.length > 0)
    throw new GateError(`${cardPath}: ${document.errors[0].message}; fix the card first (mlpipe check)`);
  if (!isMap(document.contents)) throw new GateError(`${cardPath}: not a mapping; fix the card first (mlpipe check)`);
  const block = Object.fromEntries(Object.entries(approval).filter(([, value]) => value !== undefined));
  document.set('approval', document.createNode(block));
  writeFileAtomic(cardPath, document.toString({ lineWidth: 0 }), new Boundary(root));
}

/** The metrics snapshot an approval records: the run's scalar metrics the card names, else all of them. */
export function approvalMetrics(candidate: Candidate): Record<string, number | string | boolean | null> {
  return Object.fromEntries(Object.entries(candidate.metrics).sort(([a], [b]) => a.localeCompare(b)));
}

export function nowIso(): string {
  return `${new Date().toISOString().slice(0, 19)}Z`;
}
