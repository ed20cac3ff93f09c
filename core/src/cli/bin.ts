import { constants } from 'node:os';
import { nodeFileHost } from '../workspace/file-host';
import { start } from './start';

// `run` and `push` stop cleanly on the abort signal (containers killed and removed, the record
// written, an upload abandoned); a second signal exits at once. Every other command (drift
// reading a large file, check, runs, gate) has nothing to clean up and ends at the first signal:
// a handler installed for one command must not leave the others deaf to Ctrl-C and to the
// SIGTERM VS Code's "Cancel" sends.
const GRACEFUL = new Set(['run', 'push']);
const argv = process.argv.slice(2);
const stop = new AbortController();

function onSignal(signal: 'SIGINT' | 'SIGTERM'): void {
  const code = 128 + constants.signals[signal];
  if (!GRACEFUL.has(argv[0]) || stop.signal.aborted) {
    // process.exit also terminates worker threads (drift's readers) and closes their files
    const command = /^[a-z]+$/.test(argv[0] ?? '') ? `${argv[0]} ` : '';
    process.stderr.write(`\nmlpipe: ${command}cancelled (${signal})\n`);
    process.exit(code);
  }
  stop.abort();
  if (signal === 'SIGINT') process.stderr.write('\nmlpipe: stopping (Ctrl-C again to quit at once)\n');
}
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));

start(
  argv,
  { cwd: process.cwd(), stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) },
  nodeFileHost,
  stop.signal,
).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // A script the bundle requires beside itself is missing (scripts/build.mjs): an install to fix, not a bug.
    if ((error as { code?: unknown } | null)?.code === 'MLPIPE_INCOMPLETE_DIST') {
      process.stderr.write(`mlpipe: ${(error as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    // Only a bug in mlpipe gets here; user mistakes are UsageErrors or diagnostics.
    process.stderr.write(
      `mlpipe: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\nPlease report it with the command you ran.\n`,
    );
    process.exitCode = 2;
  },
);
