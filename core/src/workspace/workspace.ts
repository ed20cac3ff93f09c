import { dirname, join, relative, resolve, sep } from 'node:path';
import { type Diagnostic } from '../diagnostics/diagnostic';
import { checkCard, type LinkedPipeline } from '../modelcard/check';
import { ParamsIndex, readParamsFile, type ParamsFile, type ParamsRefusal } from '../params/params';
import { checkPipeline } from '../pipeline/check';
import { PipelineGraph } from '../pipeline/graph';
import {
  StageCache,
  buildPipeline,
  declaredParamsFiles,
  isInsideWorkspace,
  normalizePath,
  type PipelineModel,
} from '../pipeline/model';
import { pipelineSchemaDiagnostics, schemaDiagnostics } from '../schema/validate';
import { type SchemaKind } from '../schema/schemas';
import { IncrementalYamlParser, type YamlModel } from '../yaml/build';
import { deref, type YNode, type YScalar } from '../yaml/nodes';
import { boundMessage } from '../yaml/quote';
import { mapGet, toJS } from '../yaml/values';
import { isWithin, nodeFileHost, type FileHost, type FileStat } from './file-host';
import { kindByName, type FileKind } from '../util/file-kinds';

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

/** Findings one file reports at most; past this one more says how many were left out. */
export const MAX_DIAGNOSTICS = 1_000;
/** Metrics files larger than this are not read for their keys. */
const MAX_METRICS_BYTES = 1_000_000;
/** Keys read from one metrics file at most. */
const MAX_METRIC_KEYS = 10_000;

/**
 * Why a file on disk was not read: it leads out of its pipeline's folder through a symbolic link,
 * or it is too large. `message` is the reason alone, to follow "X is not read: ".
 */
export interface Refusal extends ParamsRefusal {
  /** For a link: the link's own path, relative to the folder (`params.yaml`, or `conf` for `conf/params.yaml`). */
  link?: string;
  /** For a file too large: its size. */
  size?: number;
}

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
  /** Set when the file itself was not read from disk (a link out of its folder, too large). */
  refused?: Refusal;
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

/** What is known of a file on disk at one stamp; its text is read only once the boundary allows it. */
interface DiskEntry {
  stamp: string;
  stat: FileStat | undefined;
  /** Its real path, once asked for; null when it has none (it vanished). */
  real?: string | null;
  read: boolean;
  text?: string;
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
  private readonly disk = new Map<string, DiskEntry>();
  private readonly parsers = new Map<string, IncrementalYamlParser>();
  private readonly stageCaches = new Map<string, StageCache>();
  /** Each pipeline's stage graph, brought up to date by each analysis rather than rebuilt. */
  private readonly graphs = new Map<string, PipelineGraph>();
  private readonly paramsIndexes = new Map<string, { files: ParamsFile[]; index: ParamsIndex }>();
  private readonly analyses = new Map<string, Analysis>();
  private readonly paramsCache = new Map<string, { stamp: string; root: string; file: ParamsFile }>();
  private readonly metricsCache = new Map<string, { stamp: string; root: string; keys: string[] | undefined }>();
  private readonly existence = new Map<string, { exists: boolean; at: number; root?: string; link?: string | null }>();
  /** The folder a file was last read for (its pipeline's), so later reads of it hold the same boundary. */
  private readonly rootHints = new Map<string, string>();
  private readonly realRoots = new Map<string, string>();
  private readonly realPathOf: (path: string) => string | undefined;
  /** Params files by the pipelines that list them, so a params buffer knows what it is. */
  private readonly paramsOwners = new Map<string, Set<string>>();
  private existenceGeneration = 0;

  get settings(): WorkspaceOptions {
    return this.options;
  }

  constructor(
    readonly host: FileHost,
    private options: WorkspaceOptions = DEFAULT_OPTIONS,
  ) {
    // A host that says nothing about links (one that overlays another revision's files) is checked
    // against the disk: a path that is not there has no real path and passes.
    this.realPathOf = host.realPath ? (path) => host.realPath!(path) : (path) => nodeFileHost.realPath!(path);
  }

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
    if (changed) {
      // Params and metrics refused (or read) under the old limit are judged again.
      this.analyses.clear();
      this.paramsCache.clear();
      this.metricsCache.clear();
    }
  }

  close(path: string): void {
    this.forget(path);
    this.overlays.delete(path);
    this.parsers.delete(path);
    this.stageCaches.delete(path);
    this.graphs.delete(path);
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
    this.realRoots.clear();
    this.existenceGeneration++;
  }

  kindOf(path: string): FileKind {
    const byName = kindByName(path);
    if (byName !== 'other') return byName;
    return this.paramsOwners.has(path) ? 'params' : 'other';
  }

  /**
   * A file's current text: the editor buffer when open, else the disk, within the boundary of the
   * folder it was read for (see `read`); undefined when it is missing or refused.
   */
  text(path: string): string | undefined {
    return this.read(path, this.rootOf(path)).text;
  }

  /** The folder whose boundary reads of `path` hold: its pipeline's, once a pipeline read it, else its own. */
  private rootOf(path: string): string {
    return this.rootHints.get(path) ?? dirname(path);
  }

  private diskEntry(path: string): DiskEntry {
    const stat = this.host.stat(path);
    const stamp = stat ? `d${stat.mtimeMs}:${stat.size}` : 'missing';
    const cached = this.disk.get(path);
    if (cached && cached.stamp === stamp) return cached;
    const entry: DiskEntry = { stamp, stat, read: false };
    this.disk.set(path, entry);
    return entry;
  }

  private realRoot(root: string): string {
    let real = this.realRoots.get(root);
    if (real === undefined) this.realRoots.set(root, (real = this.realPathOf(root) ?? root));
    return real;
  }

  /**
   * The symbolic link through which `path` leaves `root` (relative to `root`), or undefined when it
   * stays inside, does not exist, or is outside `root` as written (the caller's to judge: a path
   * in the text is visible in review, a link is not). A link that stays inside is fine.
   */
  private linkOutside(path: string, root: string, real: string | null | undefined): string | undefined {
    if (!real || !isWithin(root, path) || path === root) return undefined;
    const realRoot = this.realRoot(root);
    if (isWithin(realRoot, real)) return undefined;
    // Name the link: the first step from the folder towards the path that leaves it.
    const parts = relative(root, path).split(sep);
    for (let i = 1; i <= parts.length; i++) {
      const step = this.realPathOf(join(root, ...parts.slice(0, i)));
      if (step !== undefined && !isWithin(realRoot, step)) return parts.slice(0, i).join('/');
    }
    return parts.join('/');
  }

  /** Why `path` may not be read for `root`'s boundary, without reading it; undefined when it may (or is missing). */
  private refusalOf(path: string, root: string, maxBytes: number): Refusal | undefined {
    if (this.overlays.has(path)) return undefined;
    const entry = this.diskEntry(path);
    if (!entry.stat) return undefined;
    if (entry.real === undefined) entry.real = this.realPathOf(path) ?? null;
    const link = this.linkOutside(path, root, entry.real);
    if (link !== undefined)
      return {
        code: 'link-outside-workspace',
        severity: 'error',
        link,
        message: linkReason(
          link,
          relative(root, path).split(sep).join('/'),
          this.rootHints.has(path) ? "the pipeline's folder" : 'its folder',
        ),
      };
    if (entry.stat.isFile && entry.stat.size > maxBytes) return tooLarge(entry.stat.size, this.options.maxFileSize);
    return undefined;
  }

  /**
   * Reads a file for the analysis of something in `root`: the editor buffer when open; else from
   * disk once it is proven not to lead out of `root` through a link and not to be far too large
   * (the text is never read otherwise, so it can never be quoted). Every disk read of the analysis
   * comes through here, for the CLI, the language server and the gate alike.
   */
  read(
    path: string,
    root: string,
    maxBytes = 3 * this.options.maxFileSize,
  ): { text: string | undefined; refusal?: Refusal } {
    const overlay = this.overlays.get(path);
    if (overlay) return { text: overlay.text };
    const refusal = this.refusalOf(path, root, maxBytes);
    if (refusal) return { text: undefined, refusal };
    const entry = this.diskEntry(path);
    if (!entry.stat?.isFile) return { text: undefined };
    if (!entry.read) {
      entry.text = this.host.readFile(path);
      entry.read = true;
    }
    return { text: entry.text };
  }

  private stampOf(path: string): string {
    const overlay = this.overlays.get(path);
    if (overlay) return `v${overlay.opening}.${overlay.version}`;
    const stat = this.host.stat(path);
    return stat ? `d${stat.mtimeMs}:${stat.size}` : 'missing';
  }

  /**
   * Without file events (a finite TTL), what is known about the disk is dropped at most once per
   * TTL, when an analysis is computed: the checks then look at every path again, once.
   */
  private expireExistence(): void {
    if (this.options.existenceTtlMs === Infinity) return;
    const now = Date.now();
    if (now - this.existenceSince < this.options.existenceTtlMs) return;
    this.existenceSince = now;
    if (this.existence.size === 0) return;
    this.existence.clear();
    this.existenceGeneration++;
  }

  private existenceSince = Date.now();

  /** Whether a path exists, cached; the answer is refreshed by `filesChanged` or after the TTL. */
  exists(path: string): boolean {
    if (this.overlays.has(path)) return true;
    return this.presence(path).exists;
  }

  private presence(path: string): { exists: boolean; at: number; root?: string; link?: string | null } {
    // Answers hold until `filesChanged`, or until `expireExistence` drops them all after the TTL:
    // within one generation every check sees the same disk.
    const cached = this.existence.get(path);
    if (cached) return cached;
    const entry = { exists: this.host.stat(path) !== undefined, at: 0 };
    this.existence.set(path, entry);
    return entry;
  }

  /** For an existing path: the link through which it leaves `root`, cached with its existence. */
  private existingLinkOutside(path: string, root: string): string | undefined {
    if (this.overlays.has(path)) return undefined;
    const entry = this.presence(path);
    if (!entry.exists) return undefined;
    if (entry.root !== root || entry.link === undefined) {
      entry.root = root;
      entry.link = this.linkOutside(path, root, this.realPathOf(path)) ?? null;
    }
    return entry.link ?? undefined;
  }

  /** Open documents whose last analysis read `path`. */
  dependents(path: string): string[] {
    const result: string[] = [];
    for (const [other, analysis] of this.analyses)
      if (other !== path && this.overlays.has(other) && analysis.inputs.has(path)) result.push(other);
    return result;
  }

  /** The cached analysis when nothing it read has changed since. */
  cached(path: string): Analysis | undefined {
    const analysis = this.analyses.get(path);
    if (!analysis) return undefined;
    if (analysis.stamp !== this.stampOf(path) || analysis.existenceGeneration !== this.existenceGeneration)
      return undefined;
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
    const result = this.computeUnbounded(path, kind);
    result.diagnostics = boundDiagnostics(result.diagnostics);
    return result;
  }

  private computeUnbounded(path: string, kind: FileKind): Analysis {
    this.expireExistence();
    const stamp = this.stampOf(path);
    const read = this.read(path, this.rootOf(path));
    const text = read.text ?? '';
    const base: AnalysisBase = {
      path,
      text,
      stamp,
      yaml: null,
      diagnostics: [],
      inputs: new Map(),
      existenceGeneration: this.existenceGeneration,
      refused: read.refusal,
    };
    const refused = this.refusal(text, read.refusal);
    if (refused || kind === 'other') {
      if (refused) base.diagnostics.push(refused);
      return kind === 'pipeline'
        ? this.emptyPipeline(base)
        : kind === 'modelcard'
          ? { ...base, kind, pipelinePath: '', pipeline: null }
          : { ...base, kind: kind === 'params' ? 'params' : 'other' };
    }
    let parser = this.parsers.get(path);
    if (!parser)
      this.parsers.set(
        path,
        (parser = new IncrementalYamlParser(kind === 'pipeline' ? choosePipelineDocument : undefined)),
      );
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
      if (kind !== 'params')
        base.diagnostics.push({
          start: 0,
          end: Math.min(1, text.length),
          severity: 'error',
          code: 'empty-file',
          message: emptyMessage(kind),
        });
    } else {
      const found =
        schemaKind === 'pipeline'
          ? pipelineSchemaDiagnostics(
              yaml.root,
              (node) => toJS(node, yaml.aliasesCut, yaml.stableValues),
              yaml.problems.some((problem) => problem.code === 'duplicate-key'),
            )
          : schemaDiagnostics(schemaKind, toJS(yaml.root, yaml.aliasesCut, yaml.stableValues), yaml.root);
      base.diagnostics.push(...found.map((d) => withPath(d, path)));
    }
    if (kind === 'params') base.diagnostics.push(...this.params(path, this.rootOf(path)).problems);
    const result =
      kind === 'pipeline'
        ? this.pipeline(base, yaml)
        : kind === 'modelcard'
          ? this.card(base, yaml)
          : { ...base, kind: 'params' as const };
    // A YAML error explains its block; schema and semantic findings inside it would only repeat it.
    const repeats = (d: Diagnostic) =>
      problemStarts.has(d.start) ||
      syntaxLines.has(text.lastIndexOf('\n', d.start - 1) + 1) ||
      yaml.brokenBlocks.some((block) => d.start >= block.start && d.start < block.end);
    if (yaml.problems.length > 0)
      result.diagnostics = [
        ...result.diagnostics.slice(0, yamlCount),
        ...result.diagnostics.slice(yamlCount).filter((d) => !repeats(d)),
      ];
    return result;
  }

  /** Why a text is not analysed (binary, too large), as a reason to follow "X is not read: ". */
  private textRefusal(text: string): Refusal | undefined {
    if (looksBinary(text))
      return { code: 'binary-file', severity: 'error', message: 'it looks like a binary file, not YAML.' };
    if (text.length > this.options.maxFileSize) return tooLarge(text.length, this.options.maxFileSize);
    return undefined;
  }

  /** The one finding of a file that is not analysed at all. */
  private refusal(text: string, disk?: Refusal): Diagnostic | undefined {
    const reason = disk ?? this.textRefusal(text);
    if (!reason) return undefined;
    const end = Math.max(0, Math.min(text.indexOf('\n') === -1 ? text.length : text.indexOf('\n'), 200));
    const message =
      reason.code === 'binary-file'
        ? 'This looks like a binary file, not YAML; mlpipe does not analyse it.'
        : reason.size !== undefined
          ? `This file is ${megabytes(reason.size)} MB, over the ${megabytes(this.options.maxFileSize)} MB limit, so it is not checked; raise the limit with the setting mlpipe.maxFileSizeMB (or mlpipe check --max-file-size).`
          : `This file is not read: ${reason.message}`;
    return { start: 0, end, severity: reason.severity, code: reason.code, message };
  }

  private emptyPipeline(base: AnalysisBase): PipelineAnalysis {
    const model = buildPipeline(null, '', null);
    return {
      ...base,
      kind: 'pipeline',
      model,
      graph: new PipelineGraph(model),
      params: new ParamsIndex([]),
      paramsFiles: [],
    };
  }

  private pipeline(base: AnalysisBase, yaml: YamlModel): PipelineAnalysis {
    const dir = dirname(base.path);
    // Params first: paths and resolved values depend on them.
    const paramsFiles = declaredParamsFiles(yaml.root).map(({ raw, node }) => {
      const path = resolve(dir, raw);
      // Params are read only from inside the pipeline's folder, and never through a link that
      // leaves it: a pipeline under review must not make `mlpipe check` in CI read (and quote)
      // files elsewhere on the machine.
      if (!isInsideWorkspace(normalizePath(raw)))
        return { ...readParamsFile(path, undefined), raw, node, outside: true };
      base.inputs.set(path, this.stampOf(path));
      this.rootHints.set(path, dir);
      let owners = this.paramsOwners.get(path);
      if (!owners) this.paramsOwners.set(path, (owners = new Set()));
      owners.add(base.path);
      return { ...this.params(path, dir), raw, node };
    });
    const existing = paramsFiles.filter((file) => file.exists);
    // Same params files (same objects while unchanged), same index: stage caches key on its identity.
    let indexed = this.paramsIndexes.get(base.path);
    if (
      !indexed ||
      indexed.files.length !== existing.length ||
      indexed.files.some((file, i) => file !== this.params(existing[i].path, dir))
    ) {
      indexed = { files: existing.map((file) => this.params(file.path, dir)), index: new ParamsIndex(existing) };
      this.paramsIndexes.set(base.path, indexed);
    }
    const params = indexed.index;
    let stageCache = this.stageCaches.get(base.path);
    if (!stageCache) this.stageCaches.set(base.path, (stageCache = new StageCache()));
    const model = buildPipeline(
      yaml.root,
      base.text,
      existing.length > 0 ? params : null,
      stageCache,
      yaml.aliasVersion,
    );
    let graph = this.graphs.get(base.path);
    if (graph) graph.update(model);
    else this.graphs.set(base.path, (graph = new PipelineGraph(model)));
    if (model.modelCard) {
      const card = resolve(dir, model.modelCard.name);
      base.inputs.set(card, this.stampOf(card));
      if (isWithin(dir, card)) this.rootHints.set(card, dir);
    }
    const diagnostics = checkPipeline({
      path: base.path,
      text: base.text,
      model,
      graph,
      params,
      paramsFiles,
      exists: this.options.fileChecks === false ? () => true : (relativePath) => this.exists(join(dir, relativePath)),
      linkOutside:
        this.options.fileChecks === false
          ? undefined
          : (relativePath) => this.existingLinkOutside(join(dir, relativePath), dir),
      filesVersion: this.options.fileChecks === false ? undefined : this.existenceGeneration,
    });
    base.diagnostics.push(...diagnostics);
    return { ...base, kind: 'pipeline', model, graph, params, paramsFiles };
  }

  private params(path: string, root: string): ParamsFile {
    const stamp = this.stampOf(path);
    const cached = this.paramsCache.get(path);
    if (cached && cached.stamp === stamp && cached.root === root) return cached.file;
    const read = this.read(path, root);
    // A file not read (a link out of the folder, too large, binary) adds no params; the pipeline says why.
    const refusal = read.refusal ?? (read.text === undefined ? undefined : this.textRefusal(read.text));
    // The file's own parser (the one its analysis uses when it is checked or open): one parse serves both.
    let parser = this.parsers.get(path);
    if (!parser) this.parsers.set(path, (parser = new IncrementalYamlParser()));
    const file = refusal
      ? readParamsFile(path, undefined, refusal)
      : readParamsFile(path, read.text, undefined, parser);
    this.paramsCache.set(path, { stamp, root, file });
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
    const analysed =
      this.exists(pipelinePath) && kindByName(pipelinePath) === 'pipeline'
        ? (this.analyze(pipelinePath, 'pipeline') as PipelineAnalysis)
        : null;
    const pipelineRefusal = analysed?.refused;
    const pipeline = pipelineRefusal ? null : analysed;
    if (pipeline) for (const [input, stamp] of pipeline.inputs) base.inputs.set(input, stamp);
    const pipelineDir = dirname(pipelinePath);
    const linked: LinkedPipeline | null = pipeline
      ? { relative: relative(dir, pipelinePath) || raw, model: pipeline.model, graph: pipeline.graph }
      : null;
    const diagnostics = checkCard({
      path: base.path,
      text: base.text,
      root: yaml.root,
      pipeline: linked,
      pipelineRef: { raw, node: refScalar },
      pipelineRefusal,
      metricsRefusal: (relativePath) => {
        if (!isInsideWorkspace(normalizePath(relativePath))) return undefined;
        return this.refusalOf(join(pipelineDir, relativePath), pipelineDir, Infinity);
      },
      metricKeys: (relativePath) => {
        if (!isInsideWorkspace(normalizePath(relativePath))) return undefined;
        const path = join(pipelineDir, relativePath);
        base.inputs.set(path, this.stampOf(path));
        this.rootHints.set(path, pipelineDir);
        return this.metricKeys(path, pipelineDir);
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
      if (analysis.kind === 'pipeline' && analysis.paramsFiles.some((file) => file.path === paramsPath))
        result.push(analysis);
    }
    return result;
  }

  /** Model cards beside a pipeline (or naming it in `pipeline:`) that link to it. */
  cardsFor(pipelinePath: string): CardAnalysis[] {
    const dir = dirname(pipelinePath);
    const candidates = new Set<string>();
    for (const entry of this.host.readDirectory(dir) ?? [])
      if (!entry.isDirectory && kindByName(join(dir, entry.name)) === 'modelcard')
        candidates.add(join(dir, entry.name));
    for (const path of this.overlays.keys()) if (kindByName(path) === 'modelcard') candidates.add(path);
    const cards: CardAnalysis[] = [];
    for (const path of candidates) {
      const analysis = this.analyze(path, 'modelcard');
      if (analysis.kind === 'modelcard' && analysis.pipelinePath === pipelinePath) cards.push(analysis);
    }
    return cards;
  }

  /**
   * Flattened keys of a metrics file (JSON or YAML): `{"test": {"auc": 0.9}}` gives `test.auc`.
   * Undefined when it is missing, refused (see `read`), over 1 MB or not valid; at most 10,000 keys.
   */
  metricKeys(path: string, root = this.rootOf(path)): string[] | undefined {
    const stamp = this.stampOf(path);
    const cached = this.metricsCache.get(path);
    if (cached && cached.stamp === stamp && cached.root === root) return cached.keys;
    const { text } = this.read(path, root, MAX_METRICS_BYTES);
    let keys: string[] | undefined;
    if (text !== undefined && text.length < MAX_METRICS_BYTES) {
      const yaml = new IncrementalYamlParser().parse(text);
      if (yaml.problems.every((problem) => problem.severity !== 'error')) {
        const found: string[] = [];
        const visit = (value: unknown, prefix: string, depth: number) => {
          if (found.length >= MAX_METRIC_KEYS) return;
          if (value && typeof value === 'object' && !Array.isArray(value) && depth < 8) {
            for (const [key, child] of Object.entries(value))
              visit(child, prefix ? `${prefix}.${key}` : key, depth + 1);
          } else if (prefix) {
            found.push(prefix);
          }
        };
        visit(toJS(yaml.root, yaml.aliasesCut), '', 0);
        keys = found;
      }
    }
    this.metricsCache.set(path, { stamp, root, keys });
    return keys;
  }
}

function megabytes(size: number): string {
  return (size / 1024 / 1024).toFixed(1);
}

function tooLarge(size: number, limit: number): Refusal {
  return {
    code: 'too-large',
    severity: 'warning',
    size,
    message: `it is ${megabytes(size)} MB, over the ${megabytes(limit)} MB limit; raise the limit with the setting mlpipe.maxFileSizeMB (or mlpipe check --max-file-size).`,
  };
}

/** The reason for a link refusal: the link named, its target never. */
function linkReason(link: string, path: string, folder: string): string {
  const what = link === path ? `${link} is a symbolic link` : `${path} lies under ${link}, a symbolic link,`;
  return `${what} that leads outside ${folder}, and mlpipe reads nothing through such a link. Replace the link with the file itself, inside the folder.`;
}

/** Every message bounded (see `boundMessage`), and at most MAX_DIAGNOSTICS findings, then one that counts the rest. */
function boundDiagnostics(diagnostics: Diagnostic[]): Diagnostic[] {
  let result = diagnostics;
  if (result.length > MAX_DIAGNOSTICS) {
    const last = result[MAX_DIAGNOSTICS - 1];
    result = [
      ...result.slice(0, MAX_DIAGNOSTICS),
      {
        start: last.start,
        end: last.end,
        severity: 'information',
        code: 'too-many-findings',
        message: `${(diagnostics.length - MAX_DIAGNOSTICS).toLocaleString('en-US')} more findings in this file are not shown; fix these first.`,
      },
    ];
  }
  for (let i = 0; i < result.length; i++) {
    const diagnostic = result[i];
    const message = boundMessage(diagnostic.message);
    const related = diagnostic.related?.some((item) => boundMessage(item.message) !== item.message)
      ? diagnostic.related.map((item) => ({ ...item, message: boundMessage(item.message) }))
      : diagnostic.related;
    const fixes = diagnostic.fixes?.some((fix) => boundMessage(fix.title) !== fix.title)
      ? diagnostic.fixes.map((fix) => ({ ...fix, title: boundMessage(fix.title) }))
      : diagnostic.fixes;
    if (message !== diagnostic.message || related !== diagnostic.related || fixes !== diagnostic.fixes) {
      if (result === diagnostics) result = [...diagnostics];
      const bounded: Diagnostic = { ...diagnostic, message };
      if (related) bounded.related = related;
      if (fixes) bounded.fixes = fixes;
      result[i] = bounded;
    }
  }
  return result;
}

function emptyMessage(kind: FileKind): string {
  if (kind === 'pipeline') return 'This pipeline is empty; start with `version: 1` and `stages:`.';
  if (kind === 'modelcard') return 'This model card is empty; start with `model:` (name, version, license).';
  return 'This params file is empty.';
}

function withPath(diagnostic: Diagnostic, path: string): Diagnostic {
  if (!diagnostic.fixes) return diagnostic;
  return {
    ...diagnostic,
    fixes: diagnostic.fixes.map((fix) => ({
      ...fix,
      edits: fix.edits.map((edit) => (edit.path ? edit : { ...edit, path })),
    })),
  };
}
