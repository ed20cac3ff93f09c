import { closeSync, copyFileSync, constants, existsSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { delimiter, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { Boundary, BoundaryError, within } from '../util/boundary';
import { MlflowError } from './mlflow-error';
import { redactUri } from './transfer';
import { readOpenedFile } from '../util/read-whole';

/*
 * Where a run's artifacts go, read from the artifact URI the tracking server hands out with the
 * run, as MLflow's own Python client reads it:
 * - `mlflow-artifacts:/...`: through the server's artifact proxy (`mlflow server`, which serves
 *   artifacts by default), over HTTP with the client's bounds;
 * - `file:///...` or a bare absolute path (`mlflow server --default-artifact-root /srv/mlruns`, or
 *   `--no-serve-artifacts`): written straight to that folder, when it is reachable from this
 *   machine (the rule below);
 * - `s3://bucket/key`: straight to the bucket, with the remote cache's S3 client, which the remote
 *   layer provides (remote/mlflow-s3.ts calls provideS3Artifacts: tracking sits below remote, ADR 0018);
 * - anything else (gs:, wasbs:, hdfs:, ...): not reachable from mlpipe; the run is logged in part
 *   and the message says how to start the server so that it is (with the proxy, the server writes
 *   to any store itself).
 *
 * The rule for a local path, which the server chose and mlpipe does not trust:
 * - it is written only when the server runs on this machine (its address is localhost, 127.0.0.1
 *   or ::1: the folder it names is on this disk), or when the path lies below a folder the user
 *   names in MLPIPE_MLFLOW_ARTIFACT_DIRS (a share mounted here and on the server, `:`-separated);
 * - the part of the path that exists is resolved once (as MLflow's client would follow a link
 *   there); the place it leads to must not be inside the workspace (a server may not point mlpipe
 *   at the workspace's own files) nor out of the named share; no `..` or `.` segment is taken;
 * - below that, mlpipe makes the folders itself and never passes a symbolic link (each folder is
 *   opened without following links, util/boundary.ts), so a link planted later is refused;
 * - each file is copied to a temporary name beside its place and renamed, so none is half-written.
 */

/** Addresses of this machine. */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1']);

/** The environment variable that names folders shared with a remote MLflow server. */
export const ARTIFACT_DIRS_ENV = 'MLPIPE_MLFLOW_ARTIFACT_DIRS';

export type ArtifactLocation =
  | { kind: 'proxy'; root: string }
  | { kind: 'file'; path: string }
  | { kind: 's3'; bucket: string; key: string }
  | { kind: 'unsupported'; scheme: string };

/** What an artifact URI names, without touching anything. */
export function artifactLocation(uri: string): ArtifactLocation {
  const proxy = /^mlflow-artifacts:(?:\/\/[^/]*)?(\/.*)$/.exec(uri);
  if (proxy) return { kind: 'proxy', root: proxy[1] };
  if (uri.startsWith('/')) return { kind: 'file', path: uri };
  if (/^file:/i.test(uri)) {
    try {
      const url = new URL(uri);
      if (url.hostname && url.hostname !== 'localhost')
        return { kind: 'unsupported', scheme: 'file (on another host)' };
      return { kind: 'file', path: fileURLToPath(url) };
    } catch {
      return { kind: 'unsupported', scheme: 'file' };
    }
  }
  const s3 = /^s3a?:\/\/([^/]+)\/?(.*)$/i.exec(uri);
  if (s3) return { kind: 's3', bucket: s3[1], key: s3[2].replace(/\/+$/, '') };
  return { kind: 'unsupported', scheme: /^([a-z][a-z0-9+.-]*):/i.exec(uri)?.[1] ?? 'a relative path' };
}

/** A bucket's keys below a prefix, as the remote layer's S3 client reaches them. */
export interface ObjectStoreClient {
  put(relative: string, file: string, size: number): Promise<void>;
  /** Undefined when the key does not exist. */
  get(relative: string, maxBytes: number): Promise<Buffer | undefined>;
  close(): void;
}

/** Opens the S3 client for a bucket and prefix; errors are RemoteErrors, said as they are. */
export type ObjectStoreOpener = (
  place: { bucket: string; prefix: string },
  env: NodeJS.ProcessEnv,
) => Promise<ObjectStoreClient>;

let s3Opener: ObjectStoreOpener | undefined;

/** Called by the remote layer (remote/mlflow-s3.ts) when it is loaded: from then on s3: artifact URIs are written. */
export function provideS3Artifacts(opener: ObjectStoreOpener): void {
  s3Opener = opener;
}

export function s3Artifacts(): ObjectStoreOpener | undefined {
  return s3Opener;
}

/** Advice for a server whose artifact store mlpipe cannot reach. */
export const SERVE_ARTIFACTS_ADVICE =
  'start the server with the artifact proxy (mlflow server --serve-artifacts --artifacts-destination PATH, and no --default-artifact-root) and log to a new experiment';

/** The files below one run's local artifact folder, as reached from this machine (see the rule above). */
export class LocalArtifacts {
  private constructor(
    /** The run's artifact folder. */
    readonly dir: string,
    private readonly boundary: Boundary,
    private readonly server: string,
  ) {}

  /**
   * The run's local artifact folder if this machine may write it, else an MlflowError (kind
   * `rejected`, no status: the run is then logged in part) saying why and what to do.
   */
  static open(
    path: string,
    options: { server: string; workspace?: string; env?: NodeJS.ProcessEnv; endpoint: string },
  ): LocalArtifacts {
    const { server, endpoint } = options;
    const env = options.env ?? process.env;
    const refuse = (why: string) =>
      new MlflowError(
        'rejected',
        server,
        endpoint,
        `MLflow at ${server} stores this run's artifacts in the folder ${redactUri(path)}, ${why}`,
      );
    if (!isAbsolute(path)) throw refuse(`which is not an absolute path; ${SERVE_ARTIFACTS_ADVICE}`);
    if (path.split('/').some((part) => part === '..' || part === '.'))
      throw refuse('whose path has . or .. in it; mlpipe does not write there');
    const dir = resolve(path);
    const shared = (env[ARTIFACT_DIRS_ENV] ?? '')
      .split(delimiter)
      .filter((one) => isAbsolute(one))
      .map((one) => resolve(one))
      .find((one) => within(one, dir));
    if (shared) {
      if (!isDirectory(shared))
        throw refuse(`below ${shared} of ${ARTIFACT_DIRS_ENV}, which is not a folder on this machine; mount it here`);
    } else {
      let host = '';
      try {
        host = new URL(server).hostname.replace(/^\[|\]$/g, '');
      } catch {
        // not a URL: not this machine
      }
      if (!LOOPBACK.has(host))
        throw refuse(
          `a path on the server's machine that mlpipe does not write from here; ${SERVE_ARTIFACTS_ADVICE}, or, when that folder is a share mounted at the same path here, name it in ${ARTIFACT_DIRS_ENV}`,
        );
    }
    // The part that exists is resolved once, as MLflow's client would follow it; below it mlpipe
    // makes the folders itself and never passes a link (Boundary).
    let existing = dir;
    while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
    if (!isDirectory(existing)) throw refuse(`but ${existing} is not a folder`);
    const root = realOf(existing);
    const real = join(root, relative(existing, dir));
    if (shared && !within(realOf(shared), real))
      throw refuse(
        `which leads out of ${shared} (of ${ARTIFACT_DIRS_ENV}) through a symbolic link; mlpipe does not follow it`,
      );
    if (options.workspace) {
      const workspace = realOf(options.workspace);
      if (within(workspace, real))
        throw refuse(
          `which is inside this workspace (${options.workspace}); mlpipe never writes a server's artifacts among the workspace's own files. Give the server an artifact root outside it`,
        );
    }
    return new LocalArtifacts(real, new Boundary(root), server);
  }

  private target(path: string): string {
    const parts = path.split('/').filter((part) => part !== '' && part !== '.');
    if (parts.length === 0 || parts.includes('..')) throw new Error(`'${path}' is not an artifact path`);
    return join(this.dir, ...parts);
  }

  /** Copies `file` to `path` below the run's folder: beside it under a temporary name, then renamed. */
  upload(path: string, file: string, endpoint: string): void {
    const target = this.target(path);
    try {
      const anchored = this.boundary.openParent(target, true)!;
      const temporary = `${anchored.folder}/.${anchored.name}.mlpipe-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
      try {
        copyFileSync(file, temporary, constants.COPYFILE_EXCL);
        renameSync(temporary, anchored.path);
      } catch (error) {
        rmSync(temporary, { force: true });
        throw error;
      } finally {
        anchored.close();
      }
    } catch (error) {
      throw this.failure(`writing ${target}`, error, endpoint);
    }
  }

  /** The bytes of the artifact at `path`, refused beyond `maxBytes`; never read through a link. */
  download(path: string, maxBytes: number, endpoint: string): Buffer {
    const target = this.target(path);
    let opened: ReturnType<Boundary['openRead']>;
    try {
      opened = this.boundary.openRead(target, 'refuse');
    } catch (error) {
      throw this.failure(`reading ${target}`, error, endpoint);
    }
    try {
      if (!opened.stat.isFile()) throw new Error('it is not a file');
      if (opened.stat.size > maxBytes) throw new Error(`it is larger than ${maxBytes} bytes`);
      return readOpenedFile(opened.fd, opened.stat.size);
    } catch (error) {
      throw this.failure(`reading ${target}`, error, endpoint);
    } finally {
      closeSync(opened.fd);
    }
  }

  private failure(doing: string, error: unknown, endpoint: string): MlflowError {
    const code = (error as NodeJS.ErrnoException).code;
    const detail =
      error instanceof BoundaryError
        ? error.message
        : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
          ? `this user may not write there (${code}); give it write access, or ${SERVE_ARTIFACTS_ADVICE}`
          : (error as Error).message;
    return new MlflowError('rejected', this.server, endpoint, `MLflow at ${this.server}: ${doing} failed: ${detail}`);
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function realOf(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    return resolve(path);
  }
}
