import { nodeFileHost } from '../workspace/file-host';
import { main } from './main';

try {
  process.exitCode = main(process.argv.slice(2), { cwd: process.cwd(), stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) }, nodeFileHost);
} catch (error) {
  // Only a bug in mlpipe gets here; user mistakes are UsageErrors or diagnostics.
  process.stderr.write(`mlpipe: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\nPlease report it with the command you ran.\n`);
  process.exitCode = 2;
}
