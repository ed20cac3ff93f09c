import { resolve } from 'node:path';
import { UsageError } from '../errors';
import { dvcYamlPath, importDvc, type ImportResult } from '../interop/dvc/import';
import { SAMPLE_IMAGE } from '../interop/dvc/translate';
import { expectOnly, format, parseArgs } from './args';
import { type CliIo } from './io';

/** `mlpipe import dvc [dvc.yaml] [--image REF] [--output FILE] [--force] [--no-lock] [--format text|json]`. */
export async function importCommand(args: string[], io: CliIo): Promise<number> {
  const [kind, ...rest] = args;
  if (kind !== 'dvc') throw new UsageError(`import needs a source: dvc${kind ? ` (not '${kind}')` : ''}`);
  const parsed = parseArgs(rest, new Set(['--image', '--output', '--format']));
  expectOnly(parsed, ['--image', '--output', '--format', '--force', '--no-lock']);
  if (parsed.positional.length > 1) throw new UsageError('import dvc takes one dvc.yaml (or the folder holding it)');
  const output = parsed.flags.get('--output') as string | undefined;
  const result = await importDvc({
    dvcYaml: dvcYamlPath(io.cwd, parsed.positional[0]),
    ...(output ? { output: resolve(io.cwd, output) } : {}),
    image: (parsed.flags.get('--image') as string | undefined) ?? SAMPLE_IMAGE,
    force: parsed.flags.has('--force'),
    lock: !parsed.flags.has('--no-lock'),
    cwd: io.cwd,
  });
  if (format(parsed) === 'json') io.stdout(`${JSON.stringify(result, jsonPaths(io.cwd), 2)}\n`);
  else report(result, io);
  return result.written ? 0 : 1;
}

function jsonPaths(cwd: string) {
  return (key: string, value: unknown) =>
    key === 'written' && typeof value === 'string'
      ? value.slice(cwd.length + 1) || value
      : key === 'seed'
        ? undefined
        : value;
}

/** A line of text from dvc.yaml without control characters (a stage name could set the terminal's title). */
const printable = (text: string) => text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');

function report(result: ImportResult, io: CliIo): void {
  const line = (note: { where?: string; message: string }, kind: string) =>
    `${note.where ? `${printable(note.where)}: ` : ''}${kind}${printable(note.message)}\n`;
  for (const error of result.errors) io.stderr(line(error, 'error: '));
  for (const finding of result.findings)
    io.stderr(`${finding.where}: ${finding.severity}: ${printable(finding.message)} [${finding.code}]\n`);
  if (!result.written) {
    const count = result.errors.length + result.findings.filter((finding) => finding.severity === 'error').length;
    io.stderr(`mlpipe: nothing written: ${count} error${count === 1 ? '' : 's'} to fix first\n`);
    return;
  }
  io.stdout(
    `wrote ${result.written.startsWith(io.cwd) ? result.written.slice(io.cwd.length + 1) : result.written} (${result.stages.length} stage${result.stages.length === 1 ? '' : 's'}); it checks clean\n`,
  );
  if (result.notes.length > 0) {
    io.stdout('not carried over, or changed on the way:\n');
    for (const note of result.notes) io.stdout(`  ${line(note, '')}`);
  }
  if (result.lock.length > 0) {
    io.stdout('from dvc.lock:\n');
    for (const verdict of result.lock)
      io.stdout(
        `  ${verdict.stage}: ${verdict.seed ? 'up to date (its files match dvc.lock): mlpipe run skips it' : `runs (${printable(verdict.why ?? '')})`}\n`,
      );
  }
}
