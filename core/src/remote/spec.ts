import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { LOOPBACK, parseOciTarget, type OciTarget } from '../registry/oci-target';
import { PushError } from '../registry/types';
import { redactUri } from '../tracking/transfer';
import { readStateFile } from '../runs/files';
import { isRecord } from '../runs/metadata';
import { type Boundary } from '../util/boundary';
import { EXIT, UserError } from '../errors';

/*
 * Where a team's cache lives: the `remotes:` a pipeline declares, as the user overrides them
 * without editing the file (`.mlpipe/config.yaml`, git-ignored, and the environment). No field
 * holds a credential: S3 keys come from the AWS places (environment, ~/.aws profiles), registry
 * logins from ~/.docker/config.json or VS Code's SecretStorage.
 */

export type RemoteKind = 's3' | 'oci' | 'folder';

export interface RemoteSpec {
  name: string;
  kind: RemoteKind;
  /** As written: `s3://bucket/prefix`, `oci://host/repo`, `file:///abs/folder`. */
  url: string;
  /** S3: the bucket and the key prefix (no leading or trailing `/`, may be empty). */
  bucket?: string;
  prefix?: string;
  /** S3: an S3-compatible service's address (`http://127.0.0.1:9000`); AWS when absent. */
  endpoint?: string;
  region?: string;
  /** S3: path-style addressing (`endpoint/bucket/key`); the default with an endpoint. */
  pathStyle?: boolean;
  /** S3: the profile of ~/.aws/credentials to use (AWS_PROFILE otherwise). */
  profile?: string;
  /** OCI: the registry and repository. */
  oci?: OciTarget;
  /** Folder: its absolute path. */
  folder?: string;
  /** Where the URL came from, for messages: `mlpipe.yaml`, `.mlpipe/config.yaml`, `MLPIPE_REMOTE_TEAM_URL`. */
  source: string;
}

export interface RemoteConfig {
  remotes: Map<string, RemoteSpec>;
  /** The remote a run consults and `mlpipe cache` uses unless told otherwise; undefined when none is declared. */
  defaultName?: string;
  /** Push each run when it ends (`push: true` in .mlpipe/config.yaml, or MLPIPE_PUSH=1). */
  push: boolean;
}

/** A remote that cannot be used as configured; says which one, where, and what to write. */
export class RemoteConfigError extends UserError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** S3 bucket names: 3-63 characters of lowercase letters, digits, dots and hyphens. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const MAX_CONFIG_BYTES = 64 * 1024;
const FIELDS = new Set(['url', 'endpoint', 'region', 'path_style', 'profile', 'default', 'description']);

/** The environment variable prefix of one remote: `team-eu` -> `MLPIPE_REMOTE_TEAM_EU_`. */
export function envPrefix(name: string): string {
  return `MLPIPE_REMOTE_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_`;
}

/**
 * The remotes of a pipeline: `declared` is its `remotes:` (already schema-checked by mlpipe check,
 * checked again here since a plan may come from a cache), then `.mlpipe/config.yaml`'s `remotes:`
 * (field by field over the pipeline's, or new ones) and `remote:` (the default), then the
 * environment: `MLPIPE_REMOTE_<NAME>_URL|ENDPOINT|REGION|PROFILE` and `MLPIPE_REMOTE=<name>`.
 */
export function resolveRemotes(
  declared: Record<string, unknown> | undefined,
  options: { pipelineFile: string; boundary?: Boundary; mlpipeRoot?: string; env?: NodeJS.ProcessEnv },
): RemoteConfig {
  const env = options.env ?? process.env;
  const raw = new Map<string, { fields: Record<string, unknown>; source: string }>();
  let defaultName: string | undefined;
  let push = ['1', 'true', 'yes'].includes((env.MLPIPE_PUSH ?? '').toLowerCase());
  const take = (remotes: unknown, source: string) => {
    if (remotes === undefined || remotes === null) return;
    if (!isRecord(remotes)) throw new RemoteConfigError(`${source}: remotes must be a map of name -> { url: ... }`);
    for (const [name, value] of Object.entries(remotes)) {
      if (!NAME.test(name))
        throw new RemoteConfigError(
          `${source}: remote name '${name.slice(0, 60)}' must use letters, digits, '.', '_' and '-'`,
        );
      if (!isRecord(value)) throw new RemoteConfigError(`${source}: remotes.${name} must be a map with a url`);
      for (const field of Object.keys(value))
        if (!FIELDS.has(field))
          throw new RemoteConfigError(
            `${source}: remotes.${name}.${field.slice(0, 40)} is not a remote field (url, endpoint, region, path_style, profile, default)${/key|secret|password|token/i.test(field) ? '; credentials never go in a file mlpipe reads: use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, an ~/.aws profile, or docker login' : ''}`,
          );
      const before = raw.get(name);
      raw.set(name, {
        fields: { ...before?.fields, ...value },
        source: value.url !== undefined ? source : (before?.source ?? source),
      });
      if (value.default === true && defaultName === undefined) defaultName = name;
    }
  };
  take(declared, options.pipelineFile);
  if (options.mlpipeRoot && options.boundary) {
    const path = join(options.mlpipeRoot, 'config.yaml');
    const text = readStateFile(options.boundary, path, MAX_CONFIG_BYTES);
    if (text !== undefined) {
      let config: unknown;
      try {
        config = parseYaml(text, { maxAliasCount: 10, uniqueKeys: true });
      } catch (error) {
        throw new RemoteConfigError(`.mlpipe/config.yaml: ${(error as Error).message.split('\n')[0]}`);
      }
      if (config !== null && config !== undefined) {
        if (!isRecord(config)) throw new RemoteConfigError('.mlpipe/config.yaml must be a map (remotes:, remote:)');
        take(config.remotes, '.mlpipe/config.yaml');
        if (config.push !== undefined) {
          if (typeof config.push !== 'boolean')
            throw new RemoteConfigError('.mlpipe/config.yaml: push must be true or false');
          push ||= config.push;
        }
        if (config.remote !== undefined) {
          if (typeof config.remote !== 'string' || !raw.has(config.remote))
            throw new RemoteConfigError(
              `.mlpipe/config.yaml: remote: '${String(config.remote).slice(0, 60)}' names no declared remote (${[...raw.keys()].join(', ') || 'none declared'})`,
            );
          defaultName = config.remote;
        }
      }
    }
  }
  for (const [name, entry] of raw) {
    const prefix = envPrefix(name);
    for (const [suffix, field] of [
      ['URL', 'url'],
      ['ENDPOINT', 'endpoint'],
      ['REGION', 'region'],
      ['PROFILE', 'profile'],
    ] as const) {
      const value = env[`${prefix}${suffix}`];
      if (value) {
        entry.fields[field] = value;
        if (field === 'url') entry.source = `${prefix}URL`;
      }
    }
  }
  const chosen = env.MLPIPE_REMOTE;
  if (chosen) {
    if (!raw.has(chosen))
      throw new RemoteConfigError(
        `MLPIPE_REMOTE=${chosen.slice(0, 60)} names no declared remote (${[...raw.keys()].join(', ') || 'none declared'})`,
      );
    defaultName = chosen;
  }
  const remotes = new Map<string, RemoteSpec>();
  for (const [name, { fields, source }] of raw) remotes.set(name, parseRemote(name, fields, source));
  return { remotes, defaultName: defaultName ?? remotes.keys().next().value, push };
}

function parseRemote(name: string, fields: Record<string, unknown>, source: string): RemoteSpec {
  const where = `remote '${name}' (${source})`;
  const url = fields.url;
  if (typeof url !== 'string' || url.trim() === '')
    throw new RemoteConfigError(
      `${where} has no url: write s3://bucket/prefix, oci://registry/repository or file:///folder`,
    );
  const shown = redactUri(url);
  const text = (key: string) => {
    const value = fields[key];
    if (value !== undefined && typeof value !== 'string')
      throw new RemoteConfigError(`${where}: ${key} must be a string`);
    return value;
  };
  const base = { name, url: url.trim(), source };
  if (/^s3:\/\//i.test(url)) {
    const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/i.exec(url.trim())!;
    const bucket = match[1]!;
    if (bucket.includes('@') || bucket.includes(':'))
      throw new RemoteConfigError(
        `${where}: '${shown}' puts credentials or a port in the bucket; the bucket is a name, the server goes in endpoint, keys in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY`,
      );
    if (!BUCKET.test(bucket))
      throw new RemoteConfigError(
        `${where}: '${bucket.slice(0, 70)}' is not an S3 bucket name (3-63 lowercase letters, digits, '.' and '-')`,
      );
    const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
    if (prefix.split('/').some((part) => part === '..' || part === '.'))
      throw new RemoteConfigError(`${where}: the key prefix '${prefix.slice(0, 80)}' may not hold '.' or '..'`);
    const endpoint = text('endpoint');
    if (endpoint !== undefined) checkEndpoint(where, endpoint);
    const pathStyle = fields.path_style;
    if (pathStyle !== undefined && typeof pathStyle !== 'boolean')
      throw new RemoteConfigError(`${where}: path_style must be true or false`);
    const region = text('region');
    const profile = text('profile');
    return {
      ...base,
      kind: 's3',
      bucket,
      prefix,
      ...(endpoint ? { endpoint } : {}),
      ...(region ? { region } : {}),
      pathStyle: pathStyle ?? endpoint !== undefined,
      ...(profile ? { profile } : {}),
    };
  }
  if (/^oci(\+https?)?:\/\//i.test(url)) {
    let oci: OciTarget;
    try {
      oci = parseOciTarget(url.trim());
    } catch (error) {
      throw new RemoteConfigError(`${where}: ${error instanceof PushError ? error.message : String(error)}`);
    }
    if (oci.tag)
      throw new RemoteConfigError(`${where}: '${shown}' names a tag; a cache remote is a repository (oci://host/repo)`);
    return { ...base, kind: 'oci', oci };
  }
  if (/^file:\/\//i.test(url)) {
    let folder: string;
    try {
      const parsed = new URL(url.trim());
      if (parsed.host) throw new Error('host');
      folder = decodeURIComponent(parsed.pathname);
    } catch {
      throw new RemoteConfigError(`${where}: '${shown}' is not a folder URL; write file:///absolute/path`);
    }
    folder = folder.replace(/\/{2,}/g, '/');
    if (!folder.startsWith('/') || folder.split('/').includes('..') || folder === '/')
      throw new RemoteConfigError(
        `${where}: '${shown}' must name an absolute folder (file:///mnt/shared/mlpipe-cache)`,
      );
    return { ...base, kind: 'folder', folder: folder.replace(/\/+$/, '') };
  }
  throw new RemoteConfigError(
    `${where}: '${shown}' is not a remote URL; write s3://bucket/prefix, oci://registry/repository or file:///folder`,
  );
}

/** An endpoint is HTTPS (verified), or plain HTTP only to this machine. */
function checkEndpoint(where: string, endpoint: string): void {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new RemoteConfigError(`${where}: endpoint '${redactUri(endpoint)}' is not a URL (https://host[:port])`);
  }
  if (url.username || url.password)
    throw new RemoteConfigError(
      `${where}: endpoint '${redactUri(endpoint)}' holds credentials; use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an ~/.aws profile`,
    );
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname.replace(/^\[|\]$/g, ''))) return;
  throw new RemoteConfigError(
    `${where}: endpoint '${redactUri(endpoint)}' must be https:// (plain http:// only to this machine: 127.0.0.1, localhost)`,
  );
}

/** The remote to use: the one named, else the default; a clear error when there is none. */
export function pickRemote(config: RemoteConfig, name?: string): RemoteSpec {
  if (name !== undefined) {
    const spec = config.remotes.get(name);
    if (!spec)
      throw new RemoteConfigError(
        `no remote named '${name.slice(0, 60)}'; declared: ${[...config.remotes.keys()].join(', ') || 'none (add remotes: to the pipeline)'}`,
      );
    return spec;
  }
  const spec = config.defaultName ? config.remotes.get(config.defaultName) : undefined;
  if (!spec)
    throw new RemoteConfigError(
      'the pipeline declares no remote: add remotes: { team: { url: s3://bucket/prefix } } to it (or to .mlpipe/config.yaml)',
    );
  return spec;
}
