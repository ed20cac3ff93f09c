import { existsSync, lstatSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { stringify } from 'yaml';
import { UsageError, UserError, EXIT } from '../../errors';
import { Boundary } from '../../util/boundary';
import { readStateFile, writeFileAtomic } from '../../runs/files';
import { HashState } from '../../runs/hash';
import { MlpipeDir } from '../../runs/records';
import { buildPlan } from '../../runner/plan';
import { readSeed, seedPath, writeSeed } from '../../runner/seed';
import { nodeFileHost } from '../../workspace/file-host';
import { Workspace, type PipelineAnalysis } from '../../workspace/workspace';
import { type Diagnostic } from '../../diagnostics/diagnostic';
import { parseLock, verifyInstance, type SeedVerdict } from './lock';
import { listFolder, MAX_DVC_FILE_BYTES, MAX_PARAMS_BYTES, projectNotes, readProjectData } from './project';
import { translateDvc, type ImportNote } from './translate';

export interface ImportOptions {
  /** dvc.yaml, absolute. */
  dvcYaml: string;
  /** The pipeline file to write (default: mlpipe.yaml beside dvc.yaml), absolute. */
  output?: string;
  image: string;
  force: boolean;
  /** Seed mlpipe's state from dvc.lock (default true). */
  lock: boolean;
  /** For messages: paths are shown relative to it. */
  cwd: string;
}

export interface ImportResult {
  /** The pipeline written (absolute), or undefined when nothing was written. */
  written?: string;
  errors: ImportNote[];
  notes: ImportNote[];
  /** `mlpipe check`'s findings on the result (warnings; errors stop the import). */
  findings: { where: string; severity: string; message: string; code: string }[];
  /** Per stage instance: seeded from dvc.lock, or why it will run. */
  lock: SeedVerdict[];
  stages: string[];
}

export class ImportError extends UserError {}

function findingsOf(analysis: PipelineAnalysis, shown: string): ImportResult['findings'] {
  const lines = analysis.text.split('\n');
  const position = (offset: number) => {
    let line = 0;
    let consumed = 0;
    while (line < lines.length - 1 && consumed + lines[line].length + 1 <= offset) consumed += lines[line++].length + 1;
    return `${shown}:${line + 1}:${offset - consumed + 1}`;
  };
  return analysis.diagnostics.map((diagnostic: Diagnostic) => ({
    where: position(diagnostic.start),
    severity: diagnostic.severity,
    message: diagnostic.message,
    code: diagnostic.code,
  }));
}

/** The header of the written pipeline: where it came from and what did not come along. */
function header(source: string, notes: ImportNote[]): string {
  const lines = [`# Imported from ${source} by \`mlpipe import dvc\`. Checked with mlpipe check; see docs/dvc.md.`];
  if (notes.length > 0) {
    lines.push('# Not carried over, or changed on the way:');
    for (const note of notes.slice(0, 50))
      lines.push(
        `#  - ${note.where ? `${note.where}: ` : ''}${note.message}`.replace(
          /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g,
          ' ',
        ),
      );
    if (notes.length > 50) lines.push(`#  - and ${notes.length - 50} more (mlpipe import dvc prints them all)`);
  }
  return `${lines.join('\n')}\n`;
}

/** `mlpipe import dvc`: dvc.yaml (+ params, vars, dvc.lock) into a checked mlpipe.yaml, and seeds from dvc.lock. */
export async function importDvc(options: ImportOptions): Promise<ImportResult> {
  const root = dirname(options.dvcYaml);
  const boundary = new Boundary(root);
  const shown = relative(options.cwd, options.dvcYaml) || basename(options.dvcYaml);
  const output = options.output ?? join(root, 'mlpipe.yaml');
  if (!(output === root || output.startsWith(`${root}/`)) || dirname(output) !== root)
    throw new UsageError(`--output must name a file beside ${shown} (its paths are relative to that folder)`);
  let text: string | undefined;
  try {
    text = readStateFile(boundary, options.dvcYaml, MAX_DVC_FILE_BYTES, 'follow-inside');
  } catch (error) {
    throw new ImportError(`${shown}: ${(error as Error).message}`, EXIT.usage);
  }
  if (text === undefined) throw new UsageError(`${shown}: no such file (give the path of a dvc.yaml)`);
  const translation = translateDvc({
    text,
    shown,
    image: options.image,
    name:
      basename(root)
        .replace(/[^A-Za-z0-9._-]+/g, '-')
        .replace(/^[^A-Za-z0-9]+/, '') || undefined,
    readData: (path) => readProjectData(boundary, join(root, path), MAX_PARAMS_BYTES),
    listFolder: (folder) => listFolder(root, folder),
  });
  const result: ImportResult = {
    errors: translation.errors,
    notes: [...translation.notes, ...projectNotes(boundary, root)],
    findings: [],
    lock: [],
    stages: Object.keys((translation.pipeline.stages as Record<string, unknown> | undefined) ?? {}),
  };
  if (translation.errors.length > 0) return result;

  const yaml =
    header(shown, result.notes) + stringify(translation.pipeline, { lineWidth: 0, aliasDuplicateObjects: false });
  if (Buffer.byteLength(yaml) > MAX_PARAMS_BYTES) {
    // mlpipe check (and the editor) would not read it: it could not be said to check clean.
    result.errors.push({
      where: shown,
      message: `the pipeline would be ${Buffer.byteLength(yaml)} bytes, more than the ${MAX_PARAMS_BYTES} mlpipe check reads; nothing was written`,
    });
    return result;
  }
  // The result is checked as `mlpipe check` would, before anything is written.
  const workspace = new Workspace(nodeFileHost, { maxFileSize: MAX_PARAMS_BYTES, existenceTtlMs: Infinity });
  workspace.open(output, yaml, 1);
  const analysis = workspace.analyze(output, 'pipeline') as PipelineAnalysis;
  const outShown = relative(options.cwd, output) || basename(output);
  result.findings = findingsOf(analysis, outShown);
  if (result.findings.some((finding) => finding.severity === 'error')) return result;
  // What `mlpipe run` would refuse (a path that leads out once params are written in) stops the import too.
  let plan: ReturnType<typeof buildPlan>;
  try {
    plan = buildPlan(analysis);
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    result.errors.push({ where: outShown, message: error.message.replace(/^mlpipe: /, '') });
    return result;
  }

  let exists = false;
  try {
    lstatSync(output);
    exists = true;
  } catch {
    exists = false;
  }
  if (exists && !options.force)
    throw new ImportError(
      `${outShown} exists; give --force to replace it (or --output NAME.pipeline.yaml)`,
      EXIT.failed,
    );
  writeFileAtomic(output, yaml, boundary);
  result.written = output;

  const lockFile = join(root, 'dvc.lock');
  const mlpipe = new MlpipeDir(join(root, '.mlpipe'));
  /** Removes a seed left from before (or brought along by the project) for a stage that runs. */
  const dropSeed = (stage: string) => {
    if (plan.byName.has(stage) && readSeed(mlpipe, stage)) mlpipe.boundary.remove(seedPath(mlpipe, stage));
  };
  const lock =
    options.lock && existsSync(lockFile) ? readProjectData(boundary, lockFile, MAX_DVC_FILE_BYTES) : undefined;
  if (lock?.error)
    result.notes.push({ where: 'dvc.lock', message: `not read (${lock.error}); every stage runs the first time` });
  if (!lock || lock.error) {
    try {
      for (const instance of translation.instances) dropSeed(instance.mlpipeName);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
    }
    return result;
  }
  const locked = parseLock(lock.data);
  const state = new HashState(join(mlpipe.root, 'state.json'));
  const paramsCache = new Map<string, unknown>();
  const params = (file: string) => {
    if (!paramsCache.has(file))
      paramsCache.set(file, readProjectData(boundary, join(root, file), MAX_PARAMS_BYTES).data);
    return paramsCache.get(file);
  };
  try {
    for (const instance of translation.instances) {
      const verdict = await verifyInstance(
        instance,
        locked.get(instance.dvcName),
        plan.byName.get(instance.mlpipeName),
        { root, boundary, state, params, wdir: instance.wdir },
      );
      if (verdict.seed) writeSeed(mlpipe, verdict.seed);
      else dropSeed(instance.mlpipeName);
      result.lock.push(verdict);
    }
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    // The pipeline is written; only the seeds are missing, and every stage left runs the first time.
    result.notes.push({
      where: 'dvc.lock',
      message: `seeds not written (${error.message.replace(/^mlpipe: /, '')}); the stages not listed below run the first time`,
    });
  }
  return result;
}

/** Resolves the dvc.yaml argument: a file, or a folder holding dvc.yaml. */
export function dvcYamlPath(cwd: string, given: string | undefined): string {
  const path = resolve(cwd, given ?? 'dvc.yaml');
  try {
    if (lstatSync(path).isDirectory()) return join(path, 'dvc.yaml');
  } catch {
    // missing: reported when it is read
  }
  return path;
}
