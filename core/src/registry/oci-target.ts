import { redactUri } from '../tracking/transfer';
import { TAG } from './modelpack';
import { PushError } from './types';

/* Where an OCI push goes: `oci://host[:port]/repository[:tag]`, read and checked. */

export interface OciTarget {
  /** The target as written. */
  text: string;
  scheme: 'https' | 'http';
  /** `host[:port]`, as in the target (`[::1]:5000` for IPv6). */
  host: string;
  hostname: string;
  port: number;
  /** `team/churn`. */
  repository: string;
  /** Undefined when the target names none (the package version is used). */
  tag?: string;
}

const REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
/** The hosts plain HTTP may go to: this machine. */
export const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1']);

/**
 * Parses `oci://host[:port]/repo[/more][:tag]` (HTTPS, certificates verified) or
 * `oci+http://...` (plain HTTP, only to this machine: localhost, 127.0.0.1, [::1]).
 */
export function parseOciTarget(text: string): OciTarget {
  const shown = redactUri(text.trim());
  const match = /^(oci|oci\+http|oci\+https):\/\/(.*)$/s.exec(text.trim());
  if (!match)
    throw new PushError(
      `'${shown}' is not an OCI target: write oci://host[:port]/repository[:tag] (or oci+http://localhost:PORT/... for a registry on this machine without TLS)`,
    );
  const scheme = match[1] === 'oci+http' ? 'http' : 'https';
  const rest = match[2]!;
  // user:password@ in front of the host, whatever characters the password holds (`/`, `@`, `:`).
  if (rest.replace(/@[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/, '').includes('@')) {
    throw new PushError(
      `'${shown}': put no credentials in the target; use ~/.docker/config.json or MLPipe: Set Registry Credentials`,
    );
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) throw new PushError(`'${shown}' names no repository: write oci://host[:port]/repository[:tag]`);
  const host = rest.slice(0, slash);
  let path = rest.slice(slash + 1);
  if (path.includes('@'))
    throw new PushError(`'${shown}': push to a tag, not a digest (the digest is computed from the package)`);
  let url: URL;
  try {
    url = new URL(`${scheme}://${host}/`);
  } catch {
    throw new PushError(`'${shown}': '${host}' is not a host name or host:port`);
  }
  if (url.username || url.password)
    throw new PushError(
      `'${shown}': put no credentials in the target; use ~/.docker/config.json or MLPipe: Set Registry Credentials`,
    );
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon > path.lastIndexOf('/')) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag))
      throw new PushError(
        `'${shown}': '${tag}' is not a valid tag (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')`,
      );
  }
  path = path.replace(/\/+$/, '');
  if (!REPOSITORY.test(path))
    throw new PushError(
      `'${shown}': '${path}' is not a valid repository name (lowercase letters, digits and separators '.', '_', '-', '/')`,
    );
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (scheme === 'http' && !LOOPBACK.has(hostname)) {
    throw new PushError(
      `'${shown}': plain HTTP is only allowed to a registry on this machine (localhost, 127.0.0.1, [::1]); use oci://${host}/... (HTTPS), with caFile for a private CA`,
    );
  }
  const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : 80;
  return { text, scheme, host, hostname, port, repository: path, ...(tag !== undefined ? { tag } : {}) };
}
