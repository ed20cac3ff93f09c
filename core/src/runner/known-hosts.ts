import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Host key verification against the user's `~/.ssh/known_hosts`, read as OpenSSH reads it
 * (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"):
 * - host patterns, comma-separated, matched case-insensitively against the host, or against
 *   `[host]:port` for a port other than 22; `*` and `?` are wildcards; hashed entries
 *   (`|1|salt|hmac-sha1`, as `ssh-keygen -H` writes them);
 * - `!pattern` negates: a host matching a negated pattern is not matched by that line, whatever
 *   its other patterns say;
 * - `@revoked` lines: the key is refused. Stricter than OpenSSH, which applies such a line's host
 *   patterns: a key someone revoked is refused for every host, even where another line lists it;
 * - `@cert-authority` lines: mlpipe's SSH client does not check host certificates, so a host
 *   vouched for only that way is refused with a message that says so, never accepted.
 * An unknown or changed key refuses the connection; mlpipe never adds keys itself.
 */

export interface KnownHosts {
  /** The file read. */
  file: string;
  /** `host` or `[host]:port`, as looked up. */
  name: string;
  /** Keys listed for the host on plain lines, revoked ones left out. */
  keys: Buffer[];
  /** Keys on `@revoked` lines (any host). */
  revoked: Buffer[];
  /** `@cert-authority` lines whose patterns match the host. */
  certAuthorities: number;
}

export function defaultKnownHostsFile(): string {
  return join(homedir(), '.ssh', 'known_hosts');
}

/** The entries of a known_hosts file that concern `host:port`. A missing file has none. */
export function knownHostsFor(host: string, port: number, file = defaultKnownHostsFile()): KnownHosts {
  const name = (port === 22 ? host : `[${host}]:${port}`).toLowerCase();
  const result: KnownHosts = { file, name, keys: [], revoked: [], certAuthorities: 0 };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return result;
  }
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const fields = trimmed.split(/\s+/);
    const marker = fields[0]!.startsWith('@') ? fields.shift()! : undefined;
    const [patterns, , encoded] = fields;
    if (!patterns || !encoded || !/^[A-Za-z0-9+/]+=*$/.test(encoded)) continue;
    const key = Buffer.from(encoded, 'base64');
    if (marker === '@revoked') {
      result.revoked.push(key);
      continue;
    }
    if (!lineMatches(patterns, name)) continue;
    if (marker === '@cert-authority') result.certAuthorities++;
    else if (marker === undefined) result.keys.push(key);
    // Unknown markers: the line is ignored, as OpenSSH does.
  }
  result.keys = result.keys.filter((key) => !result.revoked.some((revoked) => revoked.equals(key)));
  return result;
}

/** The keys known_hosts accepts for the host (revoked ones left out). */
export function knownHostKeys(host: string, port: number, file?: string): Buffer[] {
  return knownHostsFor(host, port, file).keys;
}

/** A line's pattern list matches when a positive pattern matches and no negated one does. */
function lineMatches(list: string, name: string): boolean {
  let matched = false;
  for (const pattern of list.split(',')) {
    if (pattern.startsWith('!')) {
      if (patternMatches(pattern.slice(1), name)) return false;
    } else if (patternMatches(pattern, name)) matched = true;
  }
  return matched;
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  const lower = pattern.toLowerCase();
  if (lower.includes('*') || lower.includes('?')) {
    const regex = new RegExp(
      `^${lower
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
      's',
    );
    return regex.test(name);
  }
  return lower === name;
}

/** `SHA256:...` as `ssh-keygen -l` prints it. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** Why `key` must be refused for the host, or undefined when known_hosts accepts it. */
export function hostKeyProblem(known: KnownHosts, key: Buffer): string | undefined {
  const shown = `the host key of ${known.name} (${fingerprint(key)})`;
  if (known.revoked.some((revoked) => revoked.equals(key))) {
    return `${shown} is marked @revoked in ${known.file}; it is refused whatever other lines say. Ask the host's admin for its new key`;
  }
  if (known.keys.some((candidate) => candidate.equals(key))) return undefined;
  if (known.keys.length === 0 && known.certAuthorities > 0) {
    return `${known.file} trusts ${known.name} only through @cert-authority (host certificates), which mlpipe's SSH client does not check; add the host's own key (ssh-keyscan, then compare its fingerprint with the host's admin)`;
  }
  if (known.keys.length === 0)
    return `${known.name} is not in ${known.file}; connect once with ssh to check and record its key`;
  return `${shown} is not the one ${known.file} lists for it: the key changed, or someone is in between. Check with the host's admin, then update the line (ssh-keygen -R ${known.name})`;
}

/**
 * An ssh2 `hostVerifier`: the key the server presents must be one known_hosts lists for it and not
 * a revoked one. `onRefuse` hears why a key was refused (ssh2 itself only says "verification failed").
 */
export function hostVerifier(
  host: string,
  port: number,
  file?: string,
  onRefuse?: (reason: string) => void,
): (key: Buffer) => boolean {
  const known = knownHostsFor(host, port, file);
  return (key: Buffer) => {
    const problem = hostKeyProblem(known, key);
    if (problem) onRefuse?.(problem);
    return problem === undefined;
  };
}
