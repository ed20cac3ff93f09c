import { nodeFileHost } from '../workspace/file-host';
import { main } from './main';

// Ctrl-C asks a run to stop cleanly (containers killed and removed, record written); a second one exits at once.
const stop = new AbortController();
process.on('SIGINT', () => {
  if (stop.signal.aborted) process.exit(130);
  stop.abort();
  process.stderr.write('\nmlpipe: stopping (Ctrl-C again to quit at once)\n');
});
process.on('SIGTERM', () => stop.abort());

main(process.argv.slice(2), { cwd: process.cwd(), stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) }, nodeFileHost, stop.signal).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // Only a bug in mlpipe gets here; user mistakes are UsageErrors or diagnostics.
    process.stderr.write(`mlpipe: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\nPlease report it with the command you ran.\n`);
    process.exitCode = 2;
  },
);
