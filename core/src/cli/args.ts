import { UsageError, UserError } from '../errors';
import { type CliIo } from './io';

export interface Parsed {
  positional: string[];
  flags: Map<string, string | true>;
}

export function parseArgs(args: string[], withValue: Set<string>): Parsed {
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

export function expectOnly(parsed: Parsed, allowed: string[]): void {
  for (const flag of parsed.flags.keys()) if (!allowed.includes(flag)) throw new UsageError(`unknown option ${flag}`);
}

export function format(parsed: Parsed): 'text' | 'json' {
  const value = (parsed.flags.get('--format') ?? 'text') as string;
  if (value !== 'text' && value !== 'json') throw new UsageError(`--format must be text or json, not '${value}'`);
  return value;
}

export function count(parsed: Parsed, flag: string): number | undefined {
  const value = parsed.flags.get(flag);
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0)
    throw new UsageError(`${flag} must be a number of at least 0, not '${String(value)}'`);
  return number;
}

/** What every command does with an error a user can fix: say it and end with its exit code; undefined for a bug. */
export function exitCodeOf(error: unknown, io: CliIo): number | undefined {
  // UsageError extends UserError; a refusal at the workspace boundary or a damaged .mlpipe file is a UserError too.
  if (!(error instanceof UserError)) return undefined;
  io.stderr(`mlpipe: ${error.message}\n`);
  return error.exitCode;
}
