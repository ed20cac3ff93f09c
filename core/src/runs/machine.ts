import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
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

let secret: Buffer | null | undefined;

/**
 * A key only this user of this machine has (`~/.config/mlpipe/secret`, 32 random bytes, mode
 * 0600, made at first use), to sign caches kept in the workspace: a cloned repository or another
 * machine cannot make a cache mlpipe will believe. Null when the home cannot hold it (caches are
 * then not used).
 */
function machineSecret(): Buffer | null {
  if (secret !== undefined) return secret;
  const folder = join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'mlpipe');
  const file = join(folder, 'secret');
  const read = (): Buffer | null => {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      if (!fstatSync(fd).isFile()) return null;
      const buffer = Buffer.alloc(32);
      return readSync(fd, buffer, 0, 32, 0) === 32 ? buffer : null;
    } finally {
      closeSync(fd);
    }
  };
  try {
    return (secret = read());
  } catch {
    // made below
  }
  try {
    mkdirSync(folder, { recursive: true });
    writeFileSync(file, randomBytes(32), { flag: 'wx', mode: 0o600 });
  } catch {
    // another mlpipe made it first, or the home is read-only
  }
  try {
    return (secret = read());
  } catch {
    return (secret = null);
  }
}

/** An HMAC of `text` under this machine's secret; undefined when there is no secret. */
export function sign(text: string): string | undefined {
  const key = machineSecret();
  return key ? createHmac('sha256', key).update(text).digest('hex') : undefined;
}

/** Whether `mac` is this machine's signature of `text`. */
export function verify(text: string, mac: string): boolean {
  const expected = sign(text);
  return (
    expected !== undefined && mac.length === expected.length && timingSafeEqual(Buffer.from(mac), Buffer.from(expected))
  );
}
