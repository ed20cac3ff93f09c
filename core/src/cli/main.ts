import { type FileHost } from '../workspace/file-host';
import { runCheck } from './check';
import { type OutputFormat } from './format';
import { cancelCommand, checkoutCommand, diffCommand, runCommand, statusCommand } from './run';
import { type CliIo, UsageError } from './io';

declare const MLPIPE_VERSION: string | undefined;
export const VERSION = typeof MLPIPE_VERSION === 'string' ? MLPIPE_VERSION : '0.0.0-dev';

const USAGE = `Usage: mlpipe <command> [options]

Commands:
  check [paths...]   Check pipelines (mlpipe.yaml, *.pipeline.yaml), model cards
                     (modelcard.yaml, *.modelcard.yaml) and their params files,
                     exactly as the editor does. Folders are searched recursively.
      --format text|json|sarif|github   Output format (default: text)
      --strict                          Exit 1 on warnings too
      --max-file-size MB                Skip larger files with a warning (default: 4)
  run [stage...]     Run the pipeline (or the named stages) in Docker containers,
                     skipping stages whose inputs did not change.
      --upstream                        Also run what the named stages depend on
      --force                           Run even when nothing changed
      --host NAME                       Run every stage on this host
      --jobs N                          Stages at once (default: CPU cores)
      --dry-run                         Say what would run, and why; run nothing
  status [stage...]  Which stages are out of date, and why (dep, param, command, image).
      --format text|json
  cancel             Stop the runs in progress in this workspace.
  diff [REV]         For review: stages, commands and params that differ from a git
                     revision (default HEAD), and the stages that would rerun.
      --format text|json
  checkout RUN       Put a run's outputs back in the workspace from the cache.

  run, status, cancel, diff and checkout work on mlpipe.yaml in the current folder,
  or --pipeline FILE.

Options:
  -h, --help         Show this help
  -v, --version      Show the version

Exit codes: 0 no errors, 1 errors found, 2 usage or I/O error.
`;

interface Parsed {
  positional: string[];
  flags: Map<string, string | true>;
}

function parseArgs(args: string[], withValue: Set<string>): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (withValue.has(name)) {
      const value = eq === -1 ? args[++i] : arg.slice(eq + 1);
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      flags.set(name, value);
    } else {
      if (eq !== -1) throw new UsageError(`${name} takes no value`);
      flags.set(name, true);
    }
  }
  return { positional, flags };
}

function expectOnly(parsed: Parsed, allowed: string[]): void {
  for (const flag of parsed.flags.keys()) if (!allowed.includes(flag)) throw new UsageError(`unknown option ${flag}`);
}

export async function main(argv: string[], io: CliIo, host: FileHost, signal: AbortSignal = new AbortController().signal): Promise<number> {
  try {
    const [command, ...rest] = argv;
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      io.stdout(USAGE);
      return command === undefined ? 2 : 0;
    }
    if (command === '-v' || command === '--version') {
      io.stdout(`${VERSION}\n`);
      return 0;
    }
    switch (command) {
      case 'check': {
        const parsed = parseArgs(rest, new Set(['--format', '--max-file-size']));
        expectOnly(parsed, ['--format', '--strict', '--max-file-size', '--help', '-h']);
        if (parsed.flags.has('--help') || parsed.flags.has('-h')) {
          io.stdout(USAGE);
          return 0;
        }
        const format = (parsed.flags.get('--format') ?? 'text') as string;
        if (!['text', 'json', 'sarif', 'github'].includes(format)) throw new UsageError(`--format must be text, json, sarif or github, not '${format}'`);
        const size = Number(parsed.flags.get('--max-file-size') ?? 4);
        if (!(size > 0)) throw new UsageError('--max-file-size must be a positive number of megabytes');
        return runCheck({ paths: parsed.positional, format: format as OutputFormat, strict: parsed.flags.has('--strict'), maxFileSizeMB: size }, io, host, VERSION);
      }
      case 'run': {
        const parsed = parseArgs(rest, new Set(['--host', '--jobs', '--pipeline']));
        expectOnly(parsed, ['--upstream', '--force', '--host', '--jobs', '--dry-run', '--pipeline']);
        const jobs = parsed.flags.get('--jobs');
        return await runCommand(
          {
            stages: parsed.positional,
            pipeline: parsed.flags.get('--pipeline') as string | undefined,
            upstream: parsed.flags.has('--upstream'),
            force: parsed.flags.has('--force'),
            host: parsed.flags.get('--host') as string | undefined,
            jobs: jobs === undefined ? undefined : Number(jobs),
            dryRun: parsed.flags.has('--dry-run'),
            tty: Boolean(process.stdout.isTTY),
            signal,
          },
          io,
          host,
        );
      }
      case 'status': {
        const parsed = parseArgs(rest, new Set(['--format', '--pipeline']));
        expectOnly(parsed, ['--format', '--pipeline']);
        const format = (parsed.flags.get('--format') ?? 'text') as string;
        if (format !== 'text' && format !== 'json') throw new UsageError(`--format must be text or json, not '${format}'`);
        return await statusCommand({ pipeline: parsed.flags.get('--pipeline') as string | undefined, format, stages: parsed.positional }, io, host);
      }
      case 'cancel': {
        const parsed = parseArgs(rest, new Set(['--pipeline']));
        expectOnly(parsed, ['--pipeline']);
        return await cancelCommand({ pipeline: parsed.flags.get('--pipeline') as string | undefined }, io, host);
      }
      case 'diff': {
        const parsed = parseArgs(rest, new Set(['--format', '--pipeline']));
        expectOnly(parsed, ['--format', '--pipeline']);
        const format = (parsed.flags.get('--format') ?? 'text') as string;
        if (format !== 'text' && format !== 'json') throw new UsageError(`--format must be text or json, not '${format}'`);
        if (parsed.positional.length > 1) throw new UsageError('diff takes one revision');
        return await diffCommand({ pipeline: parsed.flags.get('--pipeline') as string | undefined, revision: parsed.positional[0] ?? 'HEAD', format }, io);
      }
      case 'checkout': {
        const parsed = parseArgs(rest, new Set(['--pipeline']));
        expectOnly(parsed, ['--pipeline']);
        if (parsed.positional.length !== 1) throw new UsageError('checkout takes the id of a run (see .mlpipe/runs)');
        return checkoutCommand({ pipeline: parsed.flags.get('--pipeline') as string | undefined, run: parsed.positional[0] }, io, host);
      }
      default:
        throw new UsageError(`unknown command '${command}'\n\n${USAGE}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`mlpipe: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}
