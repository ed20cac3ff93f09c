import { dirname, join, relative, resolve } from 'node:path';
import { type Diagnostic } from '../analysis/diagnostic';
import { checkCard, type LinkedPipeline } from '../modelcard/check';
import { ParamsIndex, readParamsFile, type ParamsFile } from '../params/params';
import { checkPipeline } from '../pipeline/check';
import { PipelineGraph } from '../pipeline/graph';
import { StageCache, buildPipeline, declaredParamsFiles, isInsideWorkspace, normalizePath, type PipelineModel } from '../pipeline/model';
import { schemaDiagnostics } from '../schema/validate';
import { type SchemaKind } from '../schema/schemas';
import { IncrementalYamlParser, type YamlModel } from '../yaml/build';
import { deref, type YNode, type YScalar } from '../yaml/nodes';
import { mapGet, toJS } from '../yaml/to-js';
import { type FileHost } from './file-host';
import { kindByName, type FileKind } from './kinds';

export interface WorkspaceOptions {
  /** Files longer than this (in UTF-16 units, about bytes) get one diagnostic instead of an analysis. */
  maxFileSize: number;
  /** How long a cached answer to "does this path exist" stays valid; Infinity when file events keep it fresh. */
  existenceTtlMs: number;
  /**
   * Whether to look on disk for the paths a pipeline names (the missing-dep, card-missing warnings).
   * The runner turns it off: it shows errors only, and hashing finds missing deps anyway.
   */
  fileChecks?: boolean;
}

export const DEFAULT_OPTIONS: WorkspaceOptions = { maxFileSize: 4 * 1024 * 1024, existenceTtlMs: Infinity };

interface AnalysisBase {
  path: string;
  text: string;
  stamp: string;
  /** Null when the file was not parsed (too large, binary). */
  yaml: YamlModel | null;
  diagnostics: Diagnostic[];
  /** Other files this analysis read, with their stamps when read. */
  inputs: Map<string, string>;
  existenceGeneration: number;
}

export interface PipelineAnalysis extends AnalysisBase {
  kind: 'pipeline';
  model: PipelineModel;
  graph: PipelineGraph;
  params: ParamsIndex;
  paramsFiles: (ParamsFile & { raw: string; node: YScalar | null; outside?: boolean })[];
}

export interface CardAnalysis extends AnalysisBase {
  kind: 'modelcard';
  pipelinePath: string;
  pipeline: PipelineAnalysis | null;
}

export interface PlainAnalysis extends AnalysisBase {
  kind: 'params' | 'other';
}

export type Analysis = PipelineAnalysis | CardAnalysis | PlainAnalysis;

interface Overlay {
  text: string;
  version: number;
  /** Distinguishes two openings of one file: editors restart versions at 1. */
  opening: number;
}

interface DiskText {
  stamp: string;
  text: string | undefined;
}

/**
 * An unquoted `${` after a `[` or `{` on one line: a classic way to break a flow collection. One
 * pass over the line (a regular expression here backtracks quadratically on long lines).
 */
function flowInterpolation(line: string): boolean {
  let last = '';
  const end = Math.min(line.length, 10_000);
  for (let i = 0; i < end; i++) {
    const c = line[i];
    if (c === '$' && line[i + 1] === '{' && (last === '[' || last === '{')) return true;
    if (c === '[' || c === '{' || c === ']' || c === '}' || c === '"' || c === "'") last = c;
  }
  return false;
}

/** The first document with `stages` is the pipeline; otherwise the first document. */
function choosePipelineDocument(roots: (YNode | null)[]): number {
  const index = roots.findIndex((root) => {
    const map = deref(root);
    return map?.kind === 'map' && map.pairs.some((pair) => pair.keyText === 'stages');
  });
  return index === -1 ? 0 : index;
}

export function looksBinary(text: string): boolean {
  const head = text.slice(0, 65_536);
  if (head.includes('\u0000')) return true;
  let replaced = 0;
  for (let i = 0; i < Math.min(head.length, 8192); i++) if (head.charCodeAt(i) === 0xfffd) replaced++;
  return replaced > 16;
}

/**
 * The files mlpipe analyses, as one unit: editor buffers over disk contents, parsed incrementally,
 * with cross-file links (pipeline -> params, model card -> pipeline -> metrics files) tracked so a
 * change re-checks exactly the files that read it. Used by the language server and by the CLI.
 */
export class Workspace {
  private readonly overlays = new Map<string, Overlay>();
  private readonly disk = new Map<string, DiskText>();
  private readonly parsers = new Map<string, IncrementalYamlParser>();
  private readonly stageCaches = new Map<string, StageCache>();
  private readonly paramsIndexes = new Map<string, { files: ParamsFile[]; index: ParamsIndex }>();
  private readonly analyses = new Map<string, Analysis>();
  private readonly paramsCache = new Map<string, { stamp: string; file: ParamsFile }>();
  private readonly metricsCache = new Map<string, { stamp: string; keys: string[] | undefined }>();
  private readonly existence = new Map<string, { exists: boolean; at: number }>();
  /** Params files by the pipelines that list them, so a params buffer knows what it is. */
  private readonly paramsOwners = new Map<string, Set<string>>();
  private existenceGeneration = 0;

  get settings(): WorkspaceOptions {
    return this.options;
  }

  constructor(
    readonly host: FileHost,
    private options: WorkspaceOptions = DEFAULT_OPTIONS,
  ) {}

  private openings = 0;

  open(path: string, text: string, version: number): void {
    this.forget(path);
    this.overlays.set(path, { text, version, opening: ++this.openings });
  }

  change(path: string, text: string, version: number): void {
    this.overlays.set(path, { text, version, opening: this.overlays.get(path)?.opening ?? ++this.openings });
  }

  /** Drops what was derived from a file's content, so nothing stale survives a reopen or a disk change. */
  private forget(path: string): void {
    this.paramsCache.delete(path);
    this.metricsCache.delete(path);
    this.disk.delete(path);
  }

  /** New options; analyses made under the old ones (the size limit, say) are dropped. */
  configure(options: WorkspaceOptions): void {
    const changed = options.maxFileSize !== this.options.maxFileSize;
    this.options = options;
    if (changed) this.analyses.clear();
  }

  close(path: string): void {
    this.forget(path);
    this.overlays.delete(path);
    this.parsers.delete(path);
    this.stageCaches.delete(path);
    this.paramsIndexes.delete(path);
    this.analyses.delete(path);
  }

  isOpen(path: string): boolean {
    return this.overlays.has(path);
  }

  /** Files changed on disk (from file watchers): forget what was cached about them. */
  filesChanged(paths: readonly string[]): void {
    for (const path of paths) {
      this.forget(path);
      if (!this.overlays.has(path)) {
        this.parsers.delete(path);
        this.analyses.delete(path);
      }
    }
    this.existence.clear();
    this.existenceGeneration++;
  }

  kindOf(path: string): FileKind {
    const byName = kindByName(path);
    if (byName !== 'other') return byName;
    return this.paramsOwners.has(path) ? 'params' : 'other';
  }

  /** A file's current text: the editor buffer when open, else the disk. */
  text(path: string): string | undefined {
    return this.overlays.get(path)?.text ?? this.readDisk(path).text;
  }

  private readDisk(path: string): DiskText {
    const stat = this.host.stat(path);
    const stamp = stat ? `d${stat.mtimeMs}:${stat.size}` : 'missing';
    const cached = this.disk.get(path);
    if (cached && cached.stamp === stamp) return cached;
    const entry: DiskText = { stamp, text: stat?.isFile ? this.host.readFile(path) : undefined };
    this.disk.set(path, entry);
    return entry;
  }

  private stampOf(path: string): string {
    const overlay = this.overlays.get(path);
    if (overlay) return `v${overlay.opening}.${overlay.version}`;
    const stat = this.host.stat(path);
    return stat ? `d${stat.mtimeMs}:${stat.size}` : 'missing';
  }

  /** Whether a path exists, cached; the answer is refreshed by `filesChanged` or after the TTL. */
  exists(path: string): boolean {
    if (this.overlays.has(path)) return true;
    const now = this.options.existenceTtlMs === Infinity ? 0 : Date.now();
    const cached = this.existence.get(path);
    if (cached && (this.options.existenceTtlMs === Infinity || now - cached.at < this.options.existenceTtlMs)) return cached.exists;
    const exists = this.host.stat(path) !== undefined;
    this.existence.set(path, { exists, at: now });
    return exists;
  }

  /** Open documents whose last analysis read `path`. */
  dependents(path: string): string[] {
    const result: string[] = [];
    for (const [other, analysis] of this.analyses) if (other !== path && this.overlays.has(other) && analysis.inputs.has(path)) result.push(other);
    return result;
  }

  /** The cached analysis when nothing it read has changed since. */
  cached(path: string): Analysis | undefined {
    const analysis = this.analyses.get(path);
    if (!analysis) return undefined;
    if (analysis.stamp !== this.stampOf(path) || analysis.existenceGeneration !== this.existenceGeneration) return undefined;
    for (const [input, stamp] of analysis.inputs) if (this.stampOf(input) !== stamp) return undefined;
    return analysis;
  }

  analyze(path: string, kind: FileKind = this.kindOf(path)): Analysis {
    const cached = this.cached(path);
    if (cached && cached.kind === kind) return cached;
    const analysis = this.compute(path, kind);
    this.analyses.set(path, analysis);
    return analysis;
  }

  private compute(path: string, kind: FileKind): Analysis {
    const stamp = this.stampOf(path);
    const text = this.text(path) ?? '';
    const base: AnalysisBase = { path, text, stamp, yaml: null, diagnostics: [], inputs: new Map(), existenceGeneration: this.existenceGeneration };
    const refused = this.refusal(text);
    if (refused || kind === 'other') {
      if (refused) base.diagnostics.push(refused);
      return kind === 'pipeline' ? this.emptyPipeline(base) : kind === 'modelcard' ? { ...base, kind, pipelinePath: '', pipeline: null } : { ...base, kind: kind === 'params' ? 'params' : 'other' };
    }
    let parser = this.parsers.get(path);
    if (!parser) this.parsers.set(path, (parser = new IncrementalYamlParser(kind === 'pipeline' ? choosePipelineDocument : undefined)));
    const yaml = parser.parse(text);
    base.yaml = yaml;
    const syntaxLines = new Set<number>();
    const problemStarts = new Set<number>();
    for (const problem of yaml.problems) {
      problemStarts.add(problem.start);
      const diagnostic: Diagnostic = { ...problem };
      if (problem.code === 'yaml-syntax') {
        const lineStart = text.lastIndexOf('\n', problem.start - 1) + 1;
        // After the first syntax error on a line the parser is lost; the rest would be noise.
        if (syntaxLines.has(lineStart)) continue;
        syntaxLines.add(lineStart);
        if (flowInterpolation(text.slice(lineStart, text.indexOf('\n', lineStart) >>> 0))) {
          diagnostic.message += ' Inside [ ] and { }, YAML reads { and } as structure: quote values that contain ${…}.';
        }
      }
      base.diagnostics.push(diagnostic);
    }
    for (const ignored of yaml.ignoredDocuments) {
      base.diagnostics.push({
        start: ignored.start,
        end: Math.min(ignored.end, ignored.start + 3),
        severity: 'information',
        code: 'ignored-document',
        message: `mlpipe reads document ${yaml.chosenDocument + 1} of this file as the ${kind === 'pipeline' ? 'pipeline' : kind === 'modelcard' ? 'model card' : 'params'}; this document is ignored.`,
      });
    }
    const yamlCount = base.diagnostics.length;
    const schemaKind: SchemaKind = kind;
    if (yaml.root === null) {
      if (kind !== 'params') base.diagnostics.push({ start: 0, end: Math.min(1, text.length), severity: 'error', code: 'empty-file', message: emptyMessage(kind) });
    } else {
      base.diagnostics.push(...schemaDiagnostics(schemaKind, toJS(yaml.root, yaml.aliasesCut, yaml.stableValues), yaml.root).map((d) => withPath(d, path)));
    }
    const result = kind === 'pipeline' ? this.pipeline(base, yaml) : kind === 'modelcard' ? this.card(base, yaml) : { ...base, kind: 'params' as const };
    // A YAML error explains its block; schema and semantic findings inside it would only repeat it.
    const repeats = (d: Diagnostic) =>
      problemStarts.has(d.start) || syntaxLines.has(text.lastIndexOf('\n', d.start - 1) + 1) || yaml.brokenBlocks.some((block) => d.start >= block.start && d.start < block.end);
    if (yaml.problems.length > 0) result.diagnostics = [...result.diagnostics.slice(0, yamlCount), ...result.diagnostics.slice(yamlCount).filter((d) => !repeats(d))];
    return result;
  }

  private refusal(text: string): Diagnostic | undefined {
    const end = Math.max(0, Math.min(text.indexOf('\n') === -1 ? text.length : text.indexOf('\n'), 200));
    if (looksBinary(text)) return { start: 0, end, severity: 'error', code: 'binary-file', message: 'This looks like a binary file, not YAML; mlpipe does not analyse it.' };
    if (text.length > this.options.maxFileSize) {
      const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
      return {
        start: 0,
        end,
        severity: 'warning',
        code: 'too-large',
        message: `This file is ${mb(text.length)} MB, over the ${mb(this.options.maxFileSize)} MB limit, so it is not checked; raise the limit with the setting mlpipe.maxFileSizeMB (or mlpipe check --max-file-size).`,
      };
    }
    return undefined;
  }

  private emptyPipeline(base: AnalysisBase): PipelineAnalysis {
    const model = buildPipeline(null, '', null);
    return { ...base, kind: 'pipeline', model, graph: new PipelineGraph(model), params: new ParamsIndex([]), paramsFiles: [] };
  }

  private pipeline(base: AnalysisBase, yaml: YamlModel): PipelineAnalysis {
    const dir = dirname(base.path);
    // Params first: paths and resolved values depend on them.
    const paramsFiles = declaredParamsFiles(yaml.root).map(({ raw, node }) => {
      const path = resolve(dir, raw);
      // Params are read only from inside the pipeline's folder: a pipeline under review must not
      // make `mlpipe check` in CI read (and quote) files elsewhere on the machine.
      if (!isInsideWorkspace(normalizePath(raw))) return { ...readParamsFile(path, undefined), raw, node, outside: true };
      base.inputs.set(path, this.stampOf(path));
      let owners = this.paramsOwners.get(path);
      if (!owners) this.paramsOwners.set(path, (owners = new Set()));
      owners.add(base.path);
      return { ...this.params(path), raw, node };
    });
    const existing = paramsFiles.filter((file) => file.exists);
    // Same params files (same objects while unchanged), same index: stage caches key on its identity.
    let indexed = this.paramsIndexes.get(base.path);
    if (!indexed || indexed.files.length !== existing.length || indexed.files.some((file, i) => file !== this.params(existing[i].path))) {
      indexed = { files: existing.map((file) => this.params(file.path)), index: new ParamsIndex(existing) };
      this.paramsIndexes.set(base.path, indexed);
    }
    const params = indexed.index;
    let stageCache = this.stageCaches.get(base.path);
    if (!stageCache) this.stageCaches.set(base.path, (stageCache = new StageCache()));
    const model = buildPipeline(yaml.root, base.text, existing.length > 0 ? params : null, stageCache, yaml.aliasVersion);
    const graph = new PipelineGraph(model);
    if (model.modelCard) base.inputs.set(resolve(dir, model.modelCard.name), this.stampOf(resolve(dir, model.modelCard.name)));
    const diagnostics = checkPipeline({
      path: base.path,
      text: base.text,
      model,
      graph,
      params,
      paramsFiles,
      exists: this.options.fileChecks === false ? () => true : (relativePath) => this.exists(join(dir, relativePath)),
    });
    base.diagnostics.push(...diagnostics);
    return { ...base, kind: 'pipeline', model, graph, params, paramsFiles };
  }

  private params(path: string): ParamsFile {
    const stamp = this.stampOf(path);
    const cached = this.paramsCache.get(path);
    if (cached && cached.stamp === stamp) return cached.file;
    const text = this.text(path);
    const file = text === undefined || this.refusal(text) ? readParamsFile(path, text === undefined ? undefined : '') : readParamsFile(path, text);
    this.paramsCache.set(path, { stamp, file });
    return file;
  }

  private card(base: AnalysisBase, yaml: YamlModel): CardAnalysis {
    const dir = dirname(base.path);
    const rootMap = deref(yaml.root);
    const refNode = deref(mapGet(rootMap?.kind === 'map' ? rootMap : null, 'pipeline')?.value);
    const refScalar = refNode?.kind === 'scalar' && typeof refNode.value === 'string' ? refNode : null;
    const raw = refScalar ? String(refScalar.value) : 'mlpipe.yaml';
    const pipelinePath = resolve(dir, raw);
    base.inputs.set(pipelinePath, this.stampOf(pipelinePath));
    // Only a file named as a pipeline is read as one, so `pipeline:` cannot make mlpipe quote another file's keys.
    const pipeline = this.exists(pipelinePath) && kindByName(pipelinePath) === 'pipeline' ? (this.analyze(pipelinePath, 'pipeline') as PipelineAnalysis) : null;
    if (pipeline) for (const [input, stamp] of pipeline.inputs) base.inputs.set(input, stamp);
    const pipelineDir = dirname(pipelinePath);
    const linked: LinkedPipeline | null = pipeline ? { relative: relative(dir, pipelinePath) || raw, model: pipeline.model, graph: pipeline.graph } : null;
    const diagnostics = checkCard({
      path: base.path,
      text: base.text,
      root: yaml.root,
      pipeline: linked,
      pipelineRef: { raw, node: refScalar },
      metricKeys: (relativePath) => {
        if (!isInsideWorkspace(normalizePath(relativePath))) return undefined;
        const path = join(pipelineDir, relativePath);
        base.inputs.set(path, this.stampOf(path));
        return this.metricKeys(path);
      },
    });
    base.diagnostics.push(...diagnostics);
    return { ...base, kind: 'modelcard', pipelinePath, pipeline };
  }

  /** Pipelines that read a params file: those already analysed, and the pipelines beside it. */
  pipelinesUsing(paramsPath: string): PipelineAnalysis[] {
    const dir = dirname(paramsPath);
    for (const entry of this.host.readDirectory(dir) ?? []) {
      const candidate = join(dir, entry.name);
      if (!entry.isDirectory && kindByName(candidate) === 'pipeline') this.analyze(candidate, 'pipeline');
    }
    const result: PipelineAnalysis[] = [];
    for (const owner of this.paramsOwners.get(paramsPath) ?? []) {
      const analysis = this.analyze(owner, 'pipeline');
      if (analysis.kind === 'pipeline' && analysis.paramsFiles.some((file) => file.path === paramsPath)) result.push(analysis);
    }
    return result;
  }

  /** Model cards beside a pipeline (or naming it in `pipeline:`) that link to it. */
  cardsFor(pipelinePath: string): CardAnalysis[] {
    const dir = dirname(pipelinePath);
    const candidates = new Set<string>();
    for (const entry of this.host.readDirectory(dir) ?? []) if (!entry.isDirectory && kindByName(join(dir, entry.name)) === 'modelcard') candidates.add(join(dir, entry.name));
    for (const path of this.overlays.keys()) if (kindByName(path) === 'modelcard') candidates.add(path);
    const cards: CardAnalysis[] = [];
    for (const path of candidates) {
      const analysis = this.analyze(path, 'modelcard');
      if (analysis.kind === 'modelcard' && analysis.pipelinePath === pipelinePath) cards.push(analysis);
    }
    return cards;
  }

  /** Flattened keys of a metrics file (JSON or YAML): `{"test": {"auc": 0.9}}` gives `test.auc`. */
  metricKeys(path: string): string[] | undefined {
    const stamp = this.stampOf(path);
    const cached = this.metricsCache.get(path);
    if (cached && cached.stamp === stamp) return cached.keys;
    const text = this.text(path);
    let keys: string[] | undefined;
    if (text !== undefined && text.length < 1_000_000) {
      const yaml = new IncrementalYamlParser().parse(text);
      if (yaml.problems.every((problem) => problem.severity !== 'error')) {
        keys = [];
        const visit = (value: unknown, prefix: string, depth: number) => {
          if (value && typeof value === 'object' && !Array.isArray(value) && depth < 8) {
            for (const [key, child] of Object.entries(value)) visit(child, prefix ? `${prefix}.${key}` : key, depth + 1);
          } else if (prefix) {
            keys!.push(prefix);
          }
        };
        visit(toJS(yaml.root, yaml.aliasesCut), '', 0);
      }
    }
    this.metricsCache.set(path, { stamp, keys });
    return keys;
  }
}

function emptyMessage(kind: FileKind): string {
  if (kind === 'pipeline') return 'This pipeline is empty; start with `version: 1` and `stages:`.';
  if (kind === 'modelcard') return 'This model card is empty; start with `model:` (name, version, license).';
  return 'This params file is empty.';
}

function withPath(diagnostic: Diagnostic, path: string): Diagnostic {
  if (!diagnostic.fixes) return diagnostic;
  return { ...diagnostic, fixes: diagnostic.fixes.map((fix) => ({ ...fix, edits: fix.edits.map((edit) => (edit.path ? edit : { ...edit, path })) })) };
}
