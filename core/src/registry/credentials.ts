import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { PushError } from './types';
import type { RegistryCredentials } from './oci';

/**
 * Registry credentials from Docker's client configuration, as `docker login` leaves them
 * (docs.docker.com/reference/cli/docker/login/#credential-stores and the docker-credential-helpers
 * protocol): `credHelpers[host]`, else `credsStore` (the helper `docker-credential-<name>` run with
 * `get` and the server on stdin, no shell), else `auths[host]` (`auth`: base64 `user:password`;
 * `identitytoken`: an OAuth2 refresh token). Synchronous: read once when a push starts.
 */

export interface DockerConfig {
  auths?: Record<
    string,
    { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string } | undefined
  >;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
}

/** `https://host:5000/v1/` -> `host:5000`; Docker Hub's aliases -> `docker.io`. */
export function normalizeRegistryHost(key: string): string {
  const host = key
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}

function helperGet(name: string, host: string, configPath: string): RegistryCredentials | undefined {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new PushError(`${configPath}: '${name}' is not a credential helper name`);
  const program = `docker-credential-${name}`;
  const servers = host === 'docker.io' ? ['https://index.docker.io/v1/', host] : [host, `https://${host}`];
  for (const server of servers) {
    let output: string;
    try {
      output = execFileSync(program, ['get'], {
        input: server,
        encoding: 'utf8',
        timeout: 30_000,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (error) {
      const failure = error as NodeJS.ErrnoException & { status?: number | null; stdout?: string; stderr?: string };
      if (failure.code === 'ENOENT') {
        throw new PushError(
          `${configPath} asks the credential helper ${program} for ${host}'s credentials, but ${program} is not installed (not on PATH); install it, or remove '${name}' from credHelpers/credsStore and log in again`,
        );
      }
      const said = `${failure.stdout ?? ''}${failure.stderr ?? ''}`.trim();
      if (/credentials not found/i.test(said)) continue;
      throw new PushError(
        `${program} get failed for ${host} (exit ${failure.status ?? failure.code ?? 'unknown'}): ${said.slice(0, 300) || failure.message}`,
      );
    }
    let parsed: { Username?: string; Secret?: string };
    try {
      parsed = JSON.parse(output) as { Username?: string; Secret?: string };
    } catch {
      throw new PushError(`${program} get answered something other than JSON for ${host}`);
    }
    if (!parsed.Secret) continue;
    // `<token>` as the user name marks an identity token (docker-credential-helpers' convention).
    if (parsed.Username === '<token>') return { token: parsed.Secret };
    return { username: parsed.Username ?? '', password: parsed.Secret };
  }
  return undefined;
}

/**
 * The credentials Docker would use for `registryHost` (`host[:port]`), or undefined when it has
 * none. Throws a PushError when the configuration is unreadable or names a missing helper.
 */
export function dockerCredentials(
  registryHost: string,
  options: { configPath?: string; env?: NodeJS.ProcessEnv } = {},
): RegistryCredentials | undefined {
  const configPath = options.configPath ?? dockerConfigPath(options.env);
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PushError(
      `cannot read ${configPath}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  let config: DockerConfig;
  try {
    config = JSON.parse(text) as DockerConfig;
  } catch (error) {
    throw new PushError(`${configPath} is not valid JSON: ${(error as Error).message}`);
  }
  const host = normalizeRegistryHost(registryHost);
  const helper = Object.entries(config.credHelpers ?? {}).find(([key]) => normalizeRegistryHost(key) === host)?.[1];
  if (helper) return helperGet(helper, host, configPath);
  if (config.credsStore) {
    const found = helperGet(config.credsStore, host, configPath);
    if (found) return found;
  }
  const entry = Object.entries(config.auths ?? {}).find(([key]) => normalizeRegistryHost(key) === host)?.[1];
  if (!entry) return undefined;
  if (entry.identitytoken) return { token: entry.identitytoken };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0)
      throw new PushError(`${configPath}: the auth entry for ${host} is not base64 of user:password; log in again`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  return undefined;
}
