import { dirname, resolve } from 'node:path';
import { type FileHost } from '../workspace/file-host';
import { type FileKind } from '../util/file-kinds';
import { Workspace, type PipelineAnalysis } from '../workspace/workspace';
import { discover, sniffKind } from './discover';
import {
  countBySeverity,
  formatGithub,
  formatJson,
  formatSarif,
  formatText,
  sortFindings,
  toFindings,
  type Finding,
  type OutputFormat,
} from './format';
import { type CliIo } from './io';
import { UsageError } from '../errors';
import { expectOnly, parseArgs } from './args';
import { USAGE, VERSION } from './usage';

/** `mlpipe check [paths...] [options]`: its arguments checked, then runCheck. */
export function checkCommand(args: string[], io: CliIo, host: FileHost): number {
  const parsed = parseArgs(args, new Set(['--format', '--max-file-size']));
  expectOnly(parsed, ['--format', '--strict', '--max-file-size', '--help', '-h']);
  if (parsed.flags.has('--help') || parsed.flags.has('-h')) {
    io.stdout(USAGE);
    return 0;
  }
  const format = (parsed.flags.get('--format') ?? 'text') as string;
  if (!['text', 'json', 'sarif', 'github'].includes(format))
    throw new UsageError(`--format must be text, json, sarif or github, not '${format}'`);
  const size = Number(parsed.flags.get('--max-file-size') ?? 4);
  if (!(size > 0)) throw new UsageError('--max-file-size must be a positive number of megabytes');
  return runCheck(
    {
      paths: parsed.positional,
      format: format as OutputFormat,
      strict: parsed.flags.has('--strict'),
      maxFileSizeMB: size,
    },
    io,
    host,
    VERSION,
  );
}

export interface CheckOptions {
  paths: string[];
  format: OutputFormat;
  strict: boolean;
  maxFileSizeMB: number;
}

/** `mlpipe check`: the editor's analysis over files and folders; exit 0 clean, 1 errors, 2 usage or I/O. */
export function runCheck(options: CheckOptions, io: CliIo, host: FileHost, version: string): number {
  const workspace = new Workspace(host, { maxFileSize: options.maxFileSizeMB * 1024 * 1024, existenceTtlMs: Infinity });
  const targets: { path: string; kind: FileKind }[] = [];
  for (const given of options.paths.length > 0 ? options.paths : ['.']) {
    const path = resolve(io.cwd, given);
    const stat = host.stat(path);
    if (!stat) throw new UsageError(`${given}: no such file or directory`, 2);
    if (stat.isDirectory) {
      targets.push(...discover(host, path));
      continue;
    }
    let kind = workspace.kindOf(path);
    if (kind === 'other' || kind === 'params') {
      // Read as the analysis reads (within its folder's boundary); a refused file is analysed for
      // its one finding, never read to guess what it is.
      const read = workspace.read(path, dirname(path));
      if (read.text === undefined && !read.refusal) throw new UsageError(`${given}: cannot read the file`, 2);
      kind = kind === 'params' ? 'params' : read.refusal ? 'pipeline' : sniffKind(read.text!);
      if (kind === 'other')
        throw new UsageError(
          `${given}: not a pipeline or model card; name it mlpipe.yaml, *.pipeline.yaml, modelcard.yaml or *.modelcard.yaml`,
          2,
        );
    }
    targets.push({ path, kind });
  }

  const checked = new Map<string, FileKind>();
  const findings: Finding[] = [];
  const analyse = (path: string, kind: FileKind) => {
    if (checked.has(path)) return;
    checked.set(path, kind);
    const analysis = workspace.analyze(path, kind);
    findings.push(...toFindings(path, analysis.text, analysis.diagnostics, io.cwd));
    if (analysis.kind === 'pipeline') {
      // Params files are checked with their pipeline: a broken params.yaml breaks the pipeline.
      for (const file of (analysis as PipelineAnalysis).paramsFiles) if (file.exists) analyse(file.path, 'params');
    }
  };
  for (const target of targets) analyse(target.path, target.kind);
  if (checked.size === 0)
    io.stderr(
      'mlpipe: no pipelines or model cards found (looked for mlpipe.yaml, *.pipeline.yaml, modelcard.yaml, *.modelcard.yaml)\n',
    );

  const sorted = sortFindings(findings);
  const files = [...checked].map(([path, kind]) => ({ path, kind }));
  switch (options.format) {
    case 'json':
      io.stdout(formatJson(sorted, files, io.cwd));
      break;
    case 'sarif':
      io.stdout(formatSarif(sorted, version));
      break;
    case 'github':
      io.stdout(formatGithub(sorted));
      break;
    default:
      io.stdout(formatText(sorted));
  }
  const counts = countBySeverity(sorted);
  if (options.format === 'text') {
    const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
    io.stderr(
      `${plural(checked.size, 'file')} checked: ${plural(counts.errors, 'error')}, ${plural(counts.warnings, 'warning')}\n`,
    );
  }
  return counts.errors > 0 || (options.strict && counts.warnings > 0) ? 1 : 0;
}
