import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Host key verification against the user's `~/.ssh/known_hosts`, as OpenSSH does it: plain and
 * hashed (`|1|salt|hash`) host entries, `[host]:port` for ports other than 22. An unknown or
 * changed key refuses the connection; mlpipe never adds keys itself.
 */
export function knownHostKeys(host: string, port: number, file = join(homedir(), '.ssh', 'known_hosts')): Buffer[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const name = port === 22 ? host : `[${host}]:${port}`;
  const keys: Buffer[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const fields = trimmed.split(/\s+/);
    const offset = fields[0].startsWith('@') ? 1 : 0; // @cert-authority / @revoked markers
    if (fields[0] === '@revoked') continue;
    const [hosts, , key] = fields.slice(offset);
    if (!hosts || !key) continue;
    if (hosts.split(',').some((pattern) => matches(pattern, name))) keys.push(Buffer.from(key, 'base64'));
  }
  return keys;
}

function matches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  if (pattern.includes('*') || pattern.includes('?')) {
    const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    return regex.test(name);
  }
  return pattern === name;
}

/** An ssh2 `hostVerifier`: the key the server presents must be one known_hosts lists for it. */
export function hostVerifier(host: string, port: number, file?: string): (key: Buffer) => boolean {
  const known = knownHostKeys(host, port, file);
  return (key: Buffer) => known.some((candidate) => candidate.equals(key));
}
