import { existsSync, lstatSync, rmSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { UsageError, UserError } from '../errors';
import { exportHuggingFace, readMetricsInside, type CardData, type ExportResult } from '../modelcard/hf-export';
import { CardFormatError, MAX_README_BYTES } from '../modelcard/hf-frontmatter';
import { IMPORTED_METRICS_FILE, importHuggingFace, type ImportReport } from '../modelcard/hf-import';
import { readStateFile, writeFileAtomic } from '../runs/files';
import { redactUris } from '../tracking/transfer';
import { Boundary, within } from '../util/boundary';
import { isModelCardFile } from '../util/file-kinds';
import { expectOnly, format, parseArgs } from './args';
import { type CliIo } from './io';
import { LineIndex } from '../text/line-index';
import { toJS } from '../yaml/values';
import { nodeFileHost } from '../workspace/file-host';
import { DEFAULT_OPTIONS, Workspace } from '../workspace/workspace';

/**
 * `mlpipe card export --hf [CARD] [--output README.md]` and `mlpipe card import README.md
 * [--output modelcard.yaml]`: model cards to and from Hugging Face README.md files
 * (docs/modelcard.md, "Hugging Face"). Files are written whole or not at all (temporary file and
 * rename), never through a symbolic link, and an existing file only with --force.
 */
export function cardCommand(args: string[], io: CliIo): number {
  try {
    return card(args, io);
  } catch (error) {
    // A README or card that cannot be read as one: exit 1 with the file and line, as check does.
    if (error instanceof CardFormatError) throw new UsageError(error.message, 1);
    throw error;
  }
}

/**
 * The card at `cardPath` as a Hugging Face README.md. The card is read and checked as `mlpipe
 * check` reads it; one with errors is refused, naming the first ones by line.
 */
export function exportCardFile(cardPath: string, shown = cardPath): ExportResult {
  const analysis = new Workspace(nodeFileHost, { ...DEFAULT_OPTIONS, existenceTtlMs: Infinity }).analyze(
    cardPath,
    'modelcard',
  );
  if (analysis.refused) throw new CardFormatError(`${shown}: ${analysis.refused.message}`);
  if (!analysis.yaml) throw new CardFormatError(`${shown} does not exist or cannot be read`);
  const errors = analysis.diagnostics.filter((diagnostic) => diagnostic.severity === 'error');
  if (errors.length > 0) {
    const lines = new LineIndex(analysis.text);
    const found = errors
      .slice(0, 3)
      .map((error) => {
        const at = lines.position(error.start);
        return `  ${shown}:${at.line + 1}:${at.character + 1}: ${error.message}`;
      })
      .join('\n');
    throw new CardFormatError(
      `${shown} has ${errors.length} error(s); fix them first (mlpipe check ${shown} lists them all):\n${found}`,
    );
  }
  // A README is published: no `user:password@` or `?token=` of a URL the card names goes with it.
  let redacted = false;
  const withoutCredentials = (value: unknown): unknown => {
    if (typeof value === 'string') {
      const text = redactUris(value);
      redacted ||= text !== value;
      return text;
    }
    if (Array.isArray(value)) return value.map(withoutCredentials);
    if (value !== null && typeof value === 'object')
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, withoutCredentials(item)]));
    return value;
  };
  const data = withoutCredentials(toJS(analysis.yaml.root, analysis.yaml.aliasesCut)) as CardData;
  const pipelineDir = dirname(analysis.kind === 'modelcard' ? analysis.pipelinePath : cardPath);
  const result = exportHuggingFace(data, (file) => readMetricsInside(pipelineDir, file));
  if (redacted)
    result.notes.push(
      'a URL in the card holds a credential (user:password@, or a token, key or signature parameter); the README has *** in its place',
    );
  return result;
}

function card(args: string[], io: CliIo): number {
  const [sub, ...rest] = args;
  if (sub !== 'export' && sub !== 'import')
    throw new UsageError(`card needs export or import${sub ? ` (not '${sub}')` : ''}`);
  const parsed = parseArgs(rest, new Set(['--output', '--name', '--format']));
  expectOnly(
    parsed,
    sub === 'export' ? ['--hf', '--output', '--force'] : ['--output', '--name', '--force', '--format'],
  );
  if (parsed.positional.length > 1) throw new UsageError(`card ${sub} takes one file`);
  const output = parsed.flags.get('--output') as string | undefined;
  const force = parsed.flags.has('--force');
  if (sub === 'export') {
    if (!parsed.flags.has('--hf'))
      throw new UsageError('card export needs --hf: a Hugging Face README.md is the format it writes');
    const cardPath = parsed.positional[0] ?? 'modelcard.yaml';
    if (!existsSync(resolve(io.cwd, cardPath))) throw new UsageError(`${cardPath} does not exist`);
    const result = exportCardFile(resolve(io.cwd, cardPath), cardPath);
    for (const note of result.notes) io.stderr(`note: ${printable(note)}\n`);
    if (output === undefined) io.stdout(result.readme);
    else {
      write(resolve(io.cwd, output), result.readme, force, io.cwd);
      io.stderr(`wrote ${output}\n`);
    }
    return 0;
  }
  const readme = parsed.positional[0];
  if (!readme) throw new UsageError('card import needs the README.md of a Hugging Face model card');
  const outputPath = resolve(io.cwd, output ?? 'modelcard.yaml');
  if (!isModelCardFile(outputPath))
    throw new UsageError(
      `--output must be named modelcard.yaml or *.modelcard.yaml (not ${basename(outputPath)}), so mlpipe reads it as a model card`,
    );
  let text: string | undefined;
  const readmePath = resolve(io.cwd, readme);
  try {
    // As for writes: inside the current folder no link may lead out of it; elsewhere, out of the README's folder.
    const boundary = new Boundary(within(resolve(io.cwd), readmePath) ? io.cwd : dirname(readmePath));
    text = readStateFile(boundary, readmePath, MAX_README_BYTES, 'follow-inside');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      `${readme} cannot be read: ${code && !(error instanceof UserError) ? code : (error as Error).message}`,
    );
  }
  if (text === undefined) throw new UsageError(`${readme} does not exist`);
  const name = parsed.flags.get('--name') as string | undefined;
  const result = importHuggingFace(text, readme, name === undefined ? {} : { name });
  const metricsPath = join(dirname(outputPath), IMPORTED_METRICS_FILE);
  // Both files are checked before either is written; the metrics file, when new, goes again if the card cannot be written.
  const metricsNew = result.metrics !== undefined && !refuseExisting(metricsPath, force, io.cwd);
  refuseExisting(outputPath, force, io.cwd);
  if (result.metrics) write(metricsPath, result.metrics, force, io.cwd);
  try {
    write(outputPath, result.card, force, io.cwd);
  } catch (error) {
    if (metricsNew) rmSync(metricsPath, { force: true });
    throw error;
  }
  if (format(parsed) === 'json') {
    io.stdout(
      `${JSON.stringify({ version: 1, card: shown(outputPath, io.cwd), metrics: result.metrics ? shown(metricsPath, io.cwd) : null, ...result.report }, null, 2)}\n`,
    );
  } else
    io.stderr(
      reportText(result.report, shown(outputPath, io.cwd), result.metrics ? shown(metricsPath, io.cwd) : undefined),
    );
  return 0;
}

function shown(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith('..') ? rel : path;
}

/** Refuses a path that exists (without --force) or is a folder; whether it exists. */
function refuseExisting(path: string, force: boolean, cwd: string): boolean {
  let stat: ReturnType<typeof lstatSync> | undefined;
  try {
    stat = lstatSync(path);
  } catch {
    return false;
  }
  if (stat.isDirectory()) throw new UsageError(`${shown(path, cwd)} is a folder; name a file to write`);
  if (!force) throw new UsageError(`${shown(path, cwd)} exists; pass --force to replace it`);
  return true;
}

function write(path: string, content: string, force: boolean, cwd: string): void {
  refuseExisting(path, force, cwd);
  // Inside the current folder, that folder is the boundary (no link on the way may lead out of it);
  // elsewhere, the folder the user named. The file is replaced whole, never written through a link.
  try {
    writeFileAtomic(path, content, new Boundary(within(resolve(cwd), path) ? cwd : dirname(path)));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (error instanceof UserError || !code) throw error;
    throw new UsageError(`${shown(path, cwd)} cannot be written: ${code}`);
  }
}

/** Text from a README or card as the terminal shows it: control characters written as \uXXXX, not acted on. */
const printable = (text: string) =>
  text.replace(
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );

export function reportText(report: ImportReport, card: string, metrics: string | undefined): string {
  const lines = [`wrote ${card}${metrics ? ` and ${metrics}` : ''}; mlpipe check ${card} checks it`];
  if (report.fill.length > 0) {
    lines.push('to fill in (marked FILL IN: in the card):');
    for (const item of report.fill) lines.push(`  ${item.field}: ${item.why}`);
  }
  if (report.dropped.length > 0) {
    lines.push('not carried over:');
    for (const item of report.dropped)
      lines.push(`  ${item.what}${item.line !== undefined ? ` (line ${item.line})` : ''}: ${item.why}`);
  }
  if (report.notes.length > 0) {
    lines.push('notes:');
    for (const note of report.notes) lines.push(`  ${note}`);
  }
  return `${lines.map(printable).join('\n')}\n`;
}
