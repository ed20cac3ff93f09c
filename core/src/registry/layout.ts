import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  fsyncSync,
  lstatSync,
  openSync,
  closeSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readStateFile, writeFileAtomic } from '../runs/files';
import { acquireFileLock } from '../runs/file-lock';
import {
  ANNOTATION_REF_NAME,
  buildArtifact,
  changedMessage,
  MEDIA_TYPE_INDEX,
  tagForVersion,
  TAG,
  type ArtifactBlob,
  type Descriptor,
} from './modelpack';
import { PushError, type ModelPackage, type PushProgress, type PushResult } from './types';
import { isDigest, isRecord } from '../runs/metadata';
import { Boundary } from '../util/boundary';

/**
 * The local registry: an OCI image layout (opencontainers/image-spec, image-layout.md) holding the
 * same ModelPack artifacts, byte for byte, as an OCI push (modelpack.ts):
 *
 *   DIR/oci-layout             {"imageLayoutVersion":"1.0.0"}
 *   DIR/blobs/sha256/<hex>     every blob, named by its digest
 *   DIR/index.json             an image index; one manifest descriptor per tag, annotated
 *                              org.opencontainers.image.ref.name = <tag>
 *
 * Blobs are written to a temporary file beside their place, hashed while written, fsynced and
 * renamed, so a blob's name always matches its content. index.json is rewritten atomically under a
 * lock file (`index.json.lock`), so concurrent pushes of different tags all land.
 *
 * The reference a push returns is `oci-layout://<absolute dir>:<tag>@sha256:<manifest digest>`.
 * Tools read the layout as `oras pull --oci-layout <dir>:<tag>` or `skopeo inspect oci:<dir>:<tag>`.
 */

export const LAYOUT_VERSION = '1.0.0';

export interface LayoutPushOptions {
  onProgress?: PushProgress;
  /** The tag; default: the package version (made a valid tag). */
  tag?: string;
  /** What PushResult.target says (default `local`). */
  target?: string;
  signal?: AbortSignal;
  /**
   * Where the layout may be written: the workspace for the default `.mlpipe/registry` (a link
   * there, committed in a repository, must not make the push write elsewhere); the layout's own
   * folder otherwise. Nothing is read or written through a link below it.
   */
  boundary?: Boundary;
}

/** An index of 100,000 tags is about 30 MB. */
const MAX_INDEX_BYTES = 64 * 1024 * 1024;
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface LayoutEntry {
  tag: string;
  /** The manifest's digest and size. */
  digest: string;
  size: number;
  artifactType?: string;
  /** The manifest's annotations (name, version, created, run, approval, metrics...). */
  annotations: Record<string, string>;
  /** `oci-layout://DIR:TAG@DIGEST`. */
  reference: string;
}

interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export function layoutReference(dir: string, tag: string, digest: string): string {
  return `oci-layout://${resolve(dir)}:${tag}@${digest}`;
}

function blobPath(dir: string, digest: string): string {
  // A digest read from an index names a file: only a real sha256 digest may.
  if (!isDigest(digest))
    throw new PushError(
      `local: '${String(digest).slice(0, 80)}' is not a sha256 digest; the layout's index is damaged`,
    );
  return join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

/** Whether something (a link too) is at `path`. */
function lstatSafe(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function readIndex(dir: string, boundary: Boundary): ImageIndex {
  const path = join(dir, 'index.json');
  let text: string | undefined;
  try {
    text = readStateFile(boundary, path, MAX_INDEX_BYTES);
  } catch (error) {
    throw new PushError(
      `${path} cannot be read (${error instanceof Error ? error.message : String(error)}); it is not an OCI image layout mlpipe can add to`,
    );
  }
  if (text === undefined) return { schemaVersion: 2, mediaType: MEDIA_TYPE_INDEX, manifests: [] };
  let index: ImageIndex;
  try {
    index = JSON.parse(text) as ImageIndex;
  } catch {
    // The parser's message quotes the text: say only that it is not JSON.
    throw new PushError(`${path} is not valid JSON; it is not an OCI image layout mlpipe can add to`);
  }
  if (
    !isRecord(index) ||
    index.schemaVersion !== 2 ||
    !Array.isArray(index.manifests) ||
    !index.manifests.every((entry) => isRecord(entry) && isDigest(entry.digest))
  )
    throw new PushError(`${path} is not an OCI image index (schemaVersion 2 with manifests)`);
  return index;
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // not supported here
  }
}

/** Writes one blob into the layout unless it is there; returns whether it wrote it. */
async function writeBlob(
  dir: string,
  blob: ArtifactBlob,
  progress: PushProgress,
  boundary: Boundary,
  signal?: AbortSignal,
): Promise<boolean> {
  const { digest, size } = blob.descriptor;
  const path = blobPath(dir, digest);
  try {
    if (statSync(path).size === size) {
      progress({ file: blob.name, bytes: size, total: size });
      return false;
    }
  } catch {
    // not there yet
  }
  boundary.makeDirs(join(dir, 'blobs', 'sha256'));
  const temporary = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    if (blob.content) {
      writeFileAtomic(path, blob.content, boundary);
      progress({ file: blob.name, bytes: size, total: size });
      return true;
    }
    const hash = createHash('sha256');
    let written = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        written += chunk.length;
        progress({ file: blob.name, bytes: written, total: size });
        done(null, chunk);
      },
    });
    const out = createWriteStream(temporary, { flags: 'wx' });
    await pipeline(
      createReadStream(blob.file!, { highWaterMark: 1024 * 1024 }),
      meter,
      out,
      ...(signal ? [{ signal }] : []),
    );
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== digest || written !== size)
      throw new PushError(
        `local: ${changedMessage(blob, written === size ? actual : `${written} bytes instead of ${size}`)}`,
      );
    const fd = openSync(temporary, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
    return true;
  } catch (error) {
    rmSync(temporary, { force: true });
    if (error instanceof PushError) throw error;
    const failure = error as NodeJS.ErrnoException;
    if (failure.name === 'AbortError') throw new PushError('local: the push was cancelled; nothing was tagged');
    throw new PushError(`local: writing ${blob.name} into ${dir} failed: ${failure.code ?? failure.message}`);
  }
}

/**
 * Writes a package into the OCI image layout at `dir` (created when missing) and tags it;
 * idempotent, and the tag moves to the new manifest when it named another one.
 */
export async function pushToLayout(
  pkg: ModelPackage,
  dir: string,
  options: LayoutPushOptions = {},
): Promise<PushResult> {
  const tag = options.tag ?? tagForVersion(pkg.version);
  if (!TAG.test(tag)) throw new PushError(`local: '${tag}' is not a valid tag`);
  const progress = options.onProgress ?? (() => undefined);
  const artifact = await buildArtifact(pkg, options.signal);
  const boundary = options.boundary ?? new Boundary(dir);
  boundary.makeDirs(dir);
  const layoutFile = join(dir, 'oci-layout');
  if (existsSync(layoutFile) || lstatSafe(layoutFile)) {
    let version: unknown;
    try {
      version = (JSON.parse(readStateFile(boundary, layoutFile, 64 * 1024) ?? '') as { imageLayoutVersion?: unknown })
        .imageLayoutVersion;
    } catch {
      version = undefined;
    }
    if (version !== LAYOUT_VERSION)
      throw new PushError(
        `local: ${layoutFile} does not say imageLayoutVersion ${LAYOUT_VERSION}; not an OCI image layout mlpipe can write to`,
      );
  } else {
    writeFileAtomic(layoutFile, `${JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION })}\n`, boundary);
  }

  let uploadedBlobs = 0;
  let skippedBlobs = 0;
  let bytesUploaded = 0;
  // Blobs first, the manifest blob next, the index last: a tag never names something incomplete.
  for (const blob of artifact.blobs) {
    if (await writeBlob(dir, blob, progress, boundary, options.signal)) {
      uploadedBlobs++;
      bytesUploaded += blob.descriptor.size;
    } else skippedBlobs++;
  }
  const manifestPath = blobPath(dir, artifact.manifestDigest);
  if (!existsSync(manifestPath)) writeFileAtomic(manifestPath, artifact.manifest, boundary);
  syncDir(join(dir, 'blobs', 'sha256'));

  const indexPath = join(dir, 'index.json');
  const release = acquireFileLock(`${indexPath}.lock`);
  try {
    // Read, change and write with no await between: the lock is held only synchronously.
    const index = readIndex(dir, boundary);
    const manifests = index.manifests.filter((entry) => entry.annotations?.[ANNOTATION_REF_NAME] !== tag);
    manifests.push({ ...artifact.manifestDescriptor, annotations: { [ANNOTATION_REF_NAME]: tag } });
    const next: ImageIndex = { ...index, schemaVersion: 2, mediaType: MEDIA_TYPE_INDEX, manifests };
    writeFileAtomic(indexPath, `${JSON.stringify(next, null, 2)}\n`, boundary);
  } finally {
    release();
  }
  progress({ message: `local ${tag} -> ${artifact.manifestDigest}` });
  return {
    target: options.target ?? 'local',
    reference: layoutReference(dir, tag, artifact.manifestDigest),
    tag,
    digest: artifact.manifestDigest,
    uploadedBlobs,
    skippedBlobs,
    bytesUploaded,
  };
}

/** The tagged manifests of a layout, newest index entries last; [] when there is no layout. */
export function listLayout(dir: string, boundary: Boundary = new Boundary(dir)): LayoutEntry[] {
  if (!existsSync(join(dir, 'index.json'))) return [];
  const entries: LayoutEntry[] = [];
  for (const descriptor of readIndex(dir, boundary).manifests) {
    const tag = descriptor.annotations?.[ANNOTATION_REF_NAME];
    if (!tag) continue;
    let annotations: Record<string, string> = {};
    let artifactType = descriptor.artifactType;
    try {
      const manifest = JSON.parse(
        readStateFile(boundary, blobPath(dir, descriptor.digest), MAX_MANIFEST_BYTES) ?? '{}',
      ) as { annotations?: Record<string, string>; artifactType?: string };
      annotations = manifest.annotations ?? {};
      artifactType ??= manifest.artifactType;
    } catch {
      // a manifest blob missing or unreadable: listed without annotations
    }
    entries.push({
      tag,
      digest: descriptor.digest,
      size: descriptor.size,
      ...(artifactType ? { artifactType } : {}),
      annotations,
      reference: layoutReference(dir, tag, descriptor.digest),
    });
  }
  return entries;
}
