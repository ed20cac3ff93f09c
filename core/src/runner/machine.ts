import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';

let cached: string | undefined;

/**
 * An id for this machine (this user's home on it), put on every container mlpipe starts so that
 * orphan cleanup on a shared engine removes only this machine's containers: two CI runners with
 * the same workspace path talk to one remote engine. Kept in `~/.config/mlpipe/machine-id`
 * (XDG_CONFIG_HOME honoured), made at first use; where the home cannot be written, derived from
 * /etc/machine-id and the host name.
 */
export function machineId(): string {
  if (cached) return cached;
  const folder = join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'mlpipe');
  const file = join(folder, 'machine-id');
  try {
    const text = readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{32}$/.test(text)) return (cached = text);
  } catch {
    // made below
  }
  const made = randomBytes(16).toString('hex');
  try {
    mkdirSync(folder, { recursive: true });
    writeFileSync(file, `${made}\n`, { flag: 'wx', mode: 0o644 });
    return (cached = made);
  } catch (error) {
    // Another mlpipe made it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      const text = readFileSync(file, 'utf8').trim();
      if (/^[0-9a-f]{32}$/.test(text)) return (cached = text);
    }
  }
  let system = '';
  try {
    system = readFileSync('/etc/machine-id', 'utf8').trim();
  } catch {
    // none: the host name alone
  }
  return (cached = createHash('sha256').update(`${system}\n${hostname()}\n${homedir()}`).digest('hex').slice(0, 32));
}
