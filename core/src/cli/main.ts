import { type FileHost } from '../workspace/file-host';
import { count, exitCodeOf, expectOnly, format, parseArgs } from './args';
import { checkCommand } from './check';
import { type CliIo } from './io';
import { UsageError } from '../errors';
import { helpOrVersion, USAGE } from './usage';

// Every command but check is loaded when it is run: `mlpipe check` (and the editor's tasks that
// only check) never evaluate the runner, dockerode and ssh2, the store, the registry clients or
// the drift engine (docs/performance.md, "Start-up"; a test reads the bundle for it).
// esbuild turns each require into a call that evaluates the module (and what it imports) on first use.
const runModule = () => require('./run') as typeof import('./run');
const runsModule = () => require('./runs') as typeof import('./runs');
const releaseModule = () => require('./release') as typeof import('./release');
const driftModule = () => require('./drift') as typeof import('./drift');
const dagModule = () => require('./dag') as typeof import('./dag');
const reviewModule = () => require('./review') as typeof import('./review');
const cacheModule = () => require('./cache') as typeof import('./cache');
const cardModule = () => require('./card') as typeof import('./card');
const importModule = () => require('./import') as typeof import('./import');

/** `mlpipe cache push|pull|status|gc`: --stage may repeat; `gc --remote` may name no remote (the default). */
async function cacheCommand(args: string[], io: CliIo, host: FileHost, signal: AbortSignal): Promise<number> {
  const [sub, ...rest] = args;
  const subs = ['push', 'pull', 'status', 'gc'] as const;
  if (!subs.includes(sub as (typeof subs)[number]))
    throw new UsageError(`cache needs one of: ${subs.join(', ')}${sub ? ` (not '${sub}')` : ''}`);
  const stages: string[] = [];
  const others: string[] = [];
  let onRemote = false;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--stage') {
      if (rest[i + 1] === undefined) throw new UsageError('--stage needs a stage name');
      stages.push(rest[++i]!);
    } else if (arg.startsWith('--stage=')) stages.push(arg.slice('--stage='.length));
    else if (arg === '--remote' && (rest[i + 1] === undefined || rest[i + 1]!.startsWith('-'))) onRemote = true;
    else others.push(arg);
  }
  const parsed = parseArgs(others, new Set(['--remote', '--jobs', '--pipeline', '--format', '--keep-days']));
  const allowed: Record<(typeof subs)[number], string[]> = {
    push: ['--remote', '--jobs', '--format'],
    pull: ['--remote', '--jobs', '--format'],
    status: ['--remote', '--format'],
    gc: ['--remote', '--keep-days', '--dry-run', '--format'],
  };
  expectOnly(parsed, [...allowed[sub as (typeof subs)[number]], '--pipeline']);
  if (stages.length > 0 && sub !== 'pull') throw new UsageError('--stage is an option of cache pull');
  if (parsed.positional.length > 0 && sub !== 'push' && sub !== 'pull')
    throw new UsageError(`cache ${sub} takes no run ids`);
  const jobs = parsed.flags.get('--jobs');
  const keepDays = parsed.flags.get('--keep-days');
  if (keepDays !== undefined && !(Number(keepDays) >= 0)) throw new UsageError('--keep-days must be a number of days');
  const remote = parsed.flags.get('--remote') as string | undefined;
  return cacheModule().cacheCommand(
    {
      sub: sub as (typeof subs)[number],
      runs: parsed.positional,
      pipeline: parsed.flags.get('--pipeline') as string | undefined,
      ...(remote ? { remote } : {}),
      ...(jobs !== undefined ? { jobs: Number(jobs) } : {}),
      stages,
      format: format(parsed) === 'json' ? 'json' : 'text',
      tty: Boolean(process.stderr.isTTY),
      signal,
      onRemote: onRemote || remote !== undefined,
      ...(keepDays !== undefined ? { keepDays: Number(keepDays) } : {}),
      dryRun: parsed.flags.has('--dry-run'),
    },
    io,
    host,
  );
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
      '--experiment',
    ]),
  );
  const allowed: Record<string, string[]> = {
    list: ['--filter', '--sort', '--group', '--columns', '--limit', '--format', '--server', '--experiment'],
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
  // The tracking server's runs, whoever logged them: no workspace needed.
  if (sub === 'list' && (parsed.flags.has('--server') || parsed.flags.has('--experiment'))) {
    for (const flag of ['--sort', '--group', '--columns'])
      if (parsed.flags.has(flag))
        throw new UsageError(`runs list --server takes --experiment, --filter, --limit and --format, not ${flag}`);
    if (parsed.positional.length > 0)
      throw new UsageError('runs list takes no arguments (a filter goes in --filter "...")');
    return runsModule().runsListServer(
      {
        experiment: parsed.flags.get('--experiment') as string | undefined,
        filter: parsed.flags.get('--filter') as string | undefined,
        limit: count(parsed, '--limit'),
        format: format(parsed),
      },
      io,
    );
  }
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
    const quick = helpOrVersion(command, io);
    if (quick !== undefined) return quick;
    switch (command) {
      case 'check':
        return checkCommand(rest, io, host);
      case 'cache':
        return await cacheCommand(rest, io, host, signal);
      case 'run': {
        const parsed = parseArgs(rest, new Set(['--host', '--jobs', '--pipeline']));
        expectOnly(parsed, [
          '--upstream',
          '--force',
          '--host',
          '--jobs',
          '--dry-run',
          '--pipeline',
          '--no-pull',
          '--push',
        ]);
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
            pull: !parsed.flags.has('--no-pull'),
            push: parsed.flags.has('--push'),
            tty: Boolean(process.stdout.isTTY),
            signal,
          },
          io,
          host,
        );
      }
      case 'status': {
        const parsed = parseArgs(rest, new Set(['--format', '--pipeline']));
        expectOnly(parsed, ['--format', '--pipeline', '--no-remote']);
        const format = (parsed.flags.get('--format') ?? 'text') as string;
        if (format !== 'text' && format !== 'json')
          throw new UsageError(`--format must be text or json, not '${format}'`);
        return await runModule().statusCommand(
          {
            pipeline: parsed.flags.get('--pipeline') as string | undefined,
            format,
            stages: parsed.positional,
            remote: !parsed.flags.has('--no-remote'),
          },
          io,
          host,
        );
      }
      case 'dag': {
        const parsed = parseArgs(rest, new Set(['--format', '--pipeline']));
        expectOnly(parsed, ['--format', '--pipeline', '--no-status', '--no-sources']);
        const dagFormat = (parsed.flags.get('--format') ?? 'text') as string;
        if (!['text', 'dot', 'mermaid', 'json'].includes(dagFormat))
          throw new UsageError(`--format must be text, dot, mermaid or json, not '${dagFormat}'`);
        if (parsed.positional.length > 0)
          throw new UsageError('dag takes no arguments; choose the pipeline with --pipeline');
        return await dagModule().dagCommand(
          {
            pipeline: parsed.flags.get('--pipeline') as string | undefined,
            format: dagFormat as 'text' | 'dot' | 'mermaid' | 'json',
            status: !parsed.flags.has('--no-status'),
            sources: !parsed.flags.has('--no-sources'),
          },
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
      case 'review': {
        const parsed = parseArgs(rest, new Set(['--format', '--pipeline', '--base-run', '--head-run']));
        expectOnly(parsed, ['--format', '--pipeline', '--base-run', '--head-run']);
        const format = (parsed.flags.get('--format') ?? 'markdown') as string;
        if (format !== 'markdown' && format !== 'json')
          throw new UsageError(`--format must be markdown or json, not '${format}'`);
        if (parsed.positional.length > 1) throw new UsageError('review takes one base revision');
        return await reviewModule().reviewCommand(
          {
            pipeline: parsed.flags.get('--pipeline') as string | undefined,
            revision: parsed.positional[0] ?? 'HEAD',
            format,
            baseRun: parsed.flags.get('--base-run') as string | undefined,
            headRun: parsed.flags.get('--head-run') as string | undefined,
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
      case 'card':
        return cardModule().cardCommand(rest, io);
      case 'import':
        return await importModule().importCommand(rest, io);
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
        const parsed = parseArgs(
          others,
          new Set(['--columns', '--format', '--output', '--drift-share', '--pipeline', '--delimiter', '--decimal']),
        );
        expectOnly(parsed, [
          '--columns',
          '--format',
          '--output',
          '--drift-share',
          '--pipeline',
          '--fail-on-drift',
          '--details',
          '--delimiter',
          '--decimal',
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
            delimiter: parsed.flags.get('--delimiter') as string | undefined,
            decimal: parsed.flags.get('--decimal') as string | undefined,
          },
          io,
        );
      }
      default:
        throw new UsageError(`unknown command '${command}'\n\n${USAGE}`);
    }
  } catch (error) {
    const code = exitCodeOf(error, io);
    if (code !== undefined) return code;
    throw error;
  }
}
