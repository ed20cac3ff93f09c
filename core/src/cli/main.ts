import { type FileHost } from '../workspace/file-host';
import { runCheck } from './check';
import { type OutputFormat } from './format';
import { type CliIo } from './io';
import { UsageError, UserError } from '../errors';

// Every command but check is loaded when it is run: `mlpipe check` (and the editor's tasks that
// only check) never evaluate the runner, dockerode and ssh2, the store, the registry clients or
// the drift engine (docs/performance.md, "Start-up"; a test reads the bundle for it).
// esbuild turns each require into a call that evaluates the module (and what it imports) on first use.
const runModule = () => require('./run') as typeof import('./run');
const runsModule = () => require('./runs') as typeof import('./runs');
const releaseModule = () => require('./release') as typeof import('./release');
const driftModule = () => require('./drift') as typeof import('./drift');

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
  runs list          The runs of this workspace, newest first, with params and metrics.
      --filter EXPR                     e.g. "metrics.auc > 0.8 and params.\`train.lr\` < 0.01"
      --sort KEYS                       e.g. "-metrics.auc" or "metrics.auc desc, started"
      --group pipeline|commit           Group the runs
      --columns FIELDS                  e.g. params.train.lr,metrics.auc (default: what differs)
      --limit N, --format text|json
  runs show RUN      A run's stages, params, metrics, series, tags and logs.
  runs compare RUN RUN...   Params and metrics side by side; --all shows equal params.
  runs tag RUN KEY=VALUE... [--remove KEY]   Tag a run (mlpipe.candidate marks a model candidate).
  runs note RUN TEXT        Attach a note.
  runs delete RUN...        Delete runs (records and logs; cached outputs go with gc).
  runs gc [--keep N] [--older-than DAYS] [--dry-run]
                     Free the cache space of old runs (default: all but the newest 10);
                     never a running run, one tagged mlpipe.keep or mlpipe.candidate, or
                     the run a model card's approval names.
  runs reindex       Rebuild the run index from the run records.
  runs sync [--all]  Send the runs queued for MLflow (every run with --all) to
                     MLFLOW_TRACKING_URI now. With that variable set, run, tag and
                     note log to MLflow as they go; a server that is down leaves the
                     runs queued in .mlpipe/tracking/outbox, nothing is lost.
  RUN is a run id or a unique prefix of one.
  gate [--run RUN]   Whether a run's model may be released: the model card checks clean,
                     the card's metric thresholds are met, the cached artifact matches
                     the run's digest, the tree was clean (--allow-dirty acknowledges it),
                     and with --drift no dataset drift. Default run: the model candidate,
                     else the newest succeeded run.  --format text|json
  approve --by NAME [--run RUN] [--note TEXT]
                     Write the approval (who, when, run, artifact digest, metrics) into the
                     model card, when the gate passes; commit it for review.
  reject --by NAME --note TEXT [--run RUN]
                     Write a rejection into the model card.
  push [--to TARGET] [--dry-run]
                     Push the approved model version (model, card, metrics) to local
                     (.mlpipe/registry, an OCI image layout; the default),
                     oci://host[:port]/repo[:tag] (credentials from ~/.docker/config.json,
                     --ca-file for a private CA), oci+http://localhost:PORT/repo, or mlflow
                     (the Model Registry at MLFLOW_TRACKING_URI). Refused unless the card
                     approves exactly that artifact digest.
  drift [REF CUR]    Data drift between a reference and a current dataset (CSV, JSON
                     Lines, Parquet), column by column with Evidently's tests and
                     defaults; without files, the pipeline's monitor.drift section.
      --columns A,B                     Only these columns
      --method COL=METHOD               Force ks, chisquare, z, wasserstein,
                                        jensenshannon, psi or kl (repeatable)
      --drift-share X                   Share of drifted columns that is dataset
                                        drift (default 0.5)
      --format text|json|html           html: a self-contained report file
      --output FILE                     Write the report there
      --details                         JSON: include the histograms and ECDFs
      --fail-on-drift                   Exit 1 when the dataset drifted

  run, status, cancel, diff, checkout and runs work on mlpipe.yaml in the current folder,
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

function format(parsed: Parsed): 'text' | 'json' {
  const value = (parsed.flags.get('--format') ?? 'text') as string;
  if (value !== 'text' && value !== 'json') throw new UsageError(`--format must be text or json, not '${value}'`);
  return value;
}

function count(parsed: Parsed, flag: string): number | undefined {
  const value = parsed.flags.get(flag);
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0)
    throw new UsageError(`${flag} must be a number of at least 0, not '${String(value)}'`);
  return number;
}

async function runsCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  // --remove may repeat: collect it before the generic parser keeps only the last one.
  const removed: string[] = [];
  const others: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--remove') {
      if (rest[i + 1] === undefined) throw new UsageError('--remove needs a tag name');
      removed.push(rest[++i]);
    } else if (rest[i].startsWith('--remove=')) removed.push(rest[i].slice('--remove='.length));
    else others.push(rest[i]);
  }
  const parsed = parseArgs(
    others,
    new Set([
      '--filter',
      '--sort',
      '--group',
      '--columns',
      '--limit',
      '--format',
      '--pipeline',
      '--keep',
      '--older-than',
    ]),
  );
  const allowed: Record<string, string[]> = {
    list: ['--filter', '--sort', '--group', '--columns', '--limit', '--format'],
    show: ['--format'],
    compare: ['--format', '--all'],
    tag: [],
    note: [],
    delete: [],
    gc: ['--keep', '--older-than', '--dry-run', '--format'],
    reindex: [],
    sync: ['--all'],
  };
  if (sub === undefined || !(sub in allowed))
    throw new UsageError(`runs needs one of: ${Object.keys(allowed).join(', ')}${sub ? ` (not '${sub}')` : ''}`);
  expectOnly(parsed, [...allowed[sub], '--pipeline']);
  const { openStore, runsCompare, runsDelete, runsGc, runsList, runsNote, runsReindex, runsShow, runsSync, runsTag } =
    runsModule();
  const store = openStore(io.cwd, parsed.flags.get('--pipeline') as string | undefined);
  const positional = parsed.positional;
  const one = () => {
    if (positional.length < 1) throw new UsageError(`runs ${sub} needs a run id (mlpipe runs list shows them)`);
    return positional[0];
  };
  switch (sub) {
    case 'list': {
      const group = parsed.flags.get('--group') as string | undefined;
      if (group !== undefined && group !== 'pipeline' && group !== 'commit')
        throw new UsageError(`--group must be pipeline or commit, not '${group}'`);
      if (positional.length > 0) throw new UsageError(`runs list takes no arguments (a filter goes in --filter "...")`);
      return runsList(
        {
          filter: parsed.flags.get('--filter') as string | undefined,
          sort: parsed.flags.get('--sort') as string | undefined,
          group,
          columns: parsed.flags.get('--columns') as string | undefined,
          limit: count(parsed, '--limit'),
          format: format(parsed),
        },
        store,
        io,
      );
    }
    case 'show':
      return runsShow(one(), format(parsed), store, io);
    case 'compare':
      return runsCompare(positional, { all: parsed.flags.has('--all'), format: format(parsed) }, store, io);
    case 'tag': {
      const code = runsTag(one(), positional.slice(1), removed, store, io);
      if (process.env.MLFLOW_TRACKING_URI) await runModule().track(store.root, [store.resolve(one()).summary.id], io);
      return code;
    }
    case 'note': {
      if (positional.length !== 2) throw new UsageError('runs note takes a run id and the note (quoted)');
      const code = runsNote(positional[0], positional[1], store, io);
      if (process.env.MLFLOW_TRACKING_URI)
        await runModule().track(store.root, [store.resolve(positional[0]).summary.id], io);
      return code;
    }
    case 'sync':
      return runsSync(parsed.flags.has('--all'), store, io);
    case 'delete':
      return runsDelete(positional, store, io);
    case 'gc':
      return runsGc(
        {
          keep: count(parsed, '--keep'),
          olderThanDays: count(parsed, '--older-than'),
          dryRun: parsed.flags.has('--dry-run'),
          format: format(parsed),
        },
        store,
        io,
      );
    default:
      return runsReindex(store, io);
  }
}

export async function main(
  argv: string[],
  io: CliIo,
  host: FileHost,
  signal: AbortSignal = new AbortController().signal,
): Promise<number> {
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
      case 'run': {
        const parsed = parseArgs(rest, new Set(['--host', '--jobs', '--pipeline']));
        expectOnly(parsed, ['--upstream', '--force', '--host', '--jobs', '--dry-run', '--pipeline']);
        const jobs = parsed.flags.get('--jobs');
        return await runModule().runCommand(
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
        if (format !== 'text' && format !== 'json')
          throw new UsageError(`--format must be text or json, not '${format}'`);
        return await runModule().statusCommand(
          { pipeline: parsed.flags.get('--pipeline') as string | undefined, format, stages: parsed.positional },
          io,
          host,
        );
      }
      case 'cancel': {
        const parsed = parseArgs(rest, new Set(['--pipeline']));
        expectOnly(parsed, ['--pipeline']);
        return await runModule().cancelCommand(
          { pipeline: parsed.flags.get('--pipeline') as string | undefined },
          io,
          host,
        );
      }
      case 'diff': {
        const parsed = parseArgs(rest, new Set(['--format', '--pipeline']));
        expectOnly(parsed, ['--format', '--pipeline']);
        const format = (parsed.flags.get('--format') ?? 'text') as string;
        if (format !== 'text' && format !== 'json')
          throw new UsageError(`--format must be text or json, not '${format}'`);
        if (parsed.positional.length > 1) throw new UsageError('diff takes one revision');
        return await runModule().diffCommand(
          {
            pipeline: parsed.flags.get('--pipeline') as string | undefined,
            revision: parsed.positional[0] ?? 'HEAD',
            format,
          },
          io,
        );
      }
      case 'checkout': {
        const parsed = parseArgs(rest, new Set(['--pipeline']));
        expectOnly(parsed, ['--pipeline']);
        if (parsed.positional.length !== 1) throw new UsageError('checkout takes the id of a run (see .mlpipe/runs)');
        return runModule().checkoutCommand(
          { pipeline: parsed.flags.get('--pipeline') as string | undefined, run: parsed.positional[0] },
          io,
          host,
        );
      }
      case 'runs':
        return await runsCommand(rest, io);
      case 'gate': {
        const parsed = parseArgs(rest, new Set(['--run', '--pipeline', '--format']));
        expectOnly(parsed, ['--run', '--pipeline', '--format', '--allow-dirty', '--drift']);
        return await releaseModule().gateCommand(
          {
            pipeline: parsed.flags.get('--pipeline') as string | undefined,
            run: parsed.flags.get('--run') as string | undefined,
            allowDirty: parsed.flags.has('--allow-dirty'),
            drift: parsed.flags.has('--drift'),
            format: format(parsed),
          },
          io,
        );
      }
      case 'approve':
      case 'reject': {
        const parsed = parseArgs(rest, new Set(['--run', '--pipeline', '--by', '--note']));
        expectOnly(parsed, [
          '--run',
          '--pipeline',
          '--by',
          '--note',
          ...(command === 'approve' ? ['--allow-dirty', '--drift'] : []),
        ]);
        const common = {
          pipeline: parsed.flags.get('--pipeline') as string | undefined,
          run: parsed.flags.get('--run') as string | undefined,
          by: parsed.flags.get('--by') as string | undefined,
          note: parsed.flags.get('--note') as string | undefined,
        };
        return command === 'approve'
          ? await releaseModule().approveCommand(
              { ...common, allowDirty: parsed.flags.has('--allow-dirty'), drift: parsed.flags.has('--drift') },
              io,
            )
          : await releaseModule().rejectCommand(common, io);
      }
      case 'push': {
        const parsed = parseArgs(rest, new Set(['--to', '--pipeline', '--ca-file', '--format']));
        expectOnly(parsed, ['--to', '--pipeline', '--ca-file', '--format', '--dry-run']);
        return await releaseModule().pushCommand(
          {
            pipeline: parsed.flags.get('--pipeline') as string | undefined,
            to: parsed.flags.get('--to') as string | undefined,
            dryRun: parsed.flags.has('--dry-run'),
            caFile: parsed.flags.get('--ca-file') as string | undefined,
            format: format(parsed),
          },
          io,
          signal,
        );
      }
      case 'drift': {
        // --method may repeat.
        const methods: string[] = [];
        const others: string[] = [];
        for (let i = 0; i < rest.length; i++) {
          if (rest[i] === '--method') {
            if (rest[i + 1] === undefined) throw new UsageError('--method needs COLUMN=METHOD');
            methods.push(rest[++i]);
          } else if (rest[i].startsWith('--method=')) methods.push(rest[i].slice('--method='.length));
          else others.push(rest[i]);
        }
        const parsed = parseArgs(others, new Set(['--columns', '--format', '--output', '--drift-share', '--pipeline']));
        expectOnly(parsed, [
          '--columns',
          '--format',
          '--output',
          '--drift-share',
          '--pipeline',
          '--fail-on-drift',
          '--details',
        ]);
        const driftFormat = (parsed.flags.get('--format') ?? 'text') as string;
        if (!['text', 'json', 'html'].includes(driftFormat))
          throw new UsageError(`--format must be text, json or html, not '${driftFormat}'`);
        if (parsed.positional.length !== 0 && parsed.positional.length !== 2)
          throw new UsageError(
            "drift takes two files, REFERENCE and CURRENT, or none to use the pipeline's monitor.drift",
          );
        const share = parsed.flags.get('--drift-share');
        const driftShare = share === undefined ? undefined : Number(share);
        if (driftShare !== undefined && !(driftShare > 0 && driftShare <= 1))
          throw new UsageError(`--drift-share must be a number in (0, 1], not '${String(share)}'`);
        const columns = parsed.flags.get('--columns') as string | undefined;
        return await driftModule().driftCommand(
          {
            reference: parsed.positional[0],
            current: parsed.positional[1],
            pipeline: parsed.flags.get('--pipeline') as string | undefined,
            columns:
              columns === undefined
                ? undefined
                : columns
                    .split(',')
                    .map((column) => column.trim())
                    .filter(Boolean),
            methods,
            driftShare,
            format: driftFormat as 'text' | 'json' | 'html',
            output: parsed.flags.get('--output') as string | undefined,
            failOnDrift: parsed.flags.has('--fail-on-drift'),
            details: parsed.flags.has('--details'),
          },
          io,
        );
      }
      default:
        throw new UsageError(`unknown command '${command}'\n\n${USAGE}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`mlpipe: ${error.message}\n`);
      return error.exitCode;
    }
    // Any other error a user can fix (a refusal at the workspace boundary, a damaged .mlpipe file): not a bug.
    if (error instanceof UserError) {
      io.stderr(`mlpipe: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}
