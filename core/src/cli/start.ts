import { type FileHost } from '../workspace/file-host';
import { exitCodeOf } from './args';
import { checkCommand } from './check';
import { type CliIo } from './io';
import { helpOrVersion } from './usage';

/**
 * The mlpipe command's entry (bin.ts): `check`, help and the version are answered here; every
 * other command goes to main.ts, required when one is run. The bundle (scripts/build.mjs) keeps
 * main.ts's code as text that is compiled on that first require, so `mlpipe check` neither
 * evaluates nor parses the runner, dockerode, the store, the registry clients or the drift engine.
 */
export async function start(argv: string[], io: CliIo, host: FileHost, signal: AbortSignal): Promise<number> {
  const [command, ...rest] = argv;
  try {
    const quick = helpOrVersion(command, io);
    if (quick !== undefined) return quick;
    if (command === 'check') return checkCommand(rest, io, host);
  } catch (error) {
    const code = exitCodeOf(error, io);
    if (code !== undefined) return code;
    throw error;
  }
  const { main } = require('./main') as typeof import('./main');
  return main(argv, io, host, signal);
}
