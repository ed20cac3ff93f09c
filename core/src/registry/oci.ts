import { buildArtifact, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, tagForVersion, type Artifact } from './modelpack';
import { type BlobPush, type BlobTally, DEFAULT_CHUNK_SIZE, DEFAULT_MONOLITHIC_LIMIT, pushBlob } from './oci-blobs';
import { type PartialPush, RegistryPushError } from './oci-errors';
import { header, type OciPushOptions, type Response, Session } from './oci-session';
import { type OciTarget, parseOciTarget } from './oci-target';
import { type ModelPackage, type PushResult } from './types';

/**
 * A client of the OCI distribution spec (github.com/opencontainers/distribution-spec, spec.md:
 * "Pushing blobs", "Pushing a blob monolithically", "Pushing a blob in chunks", "Mounting a blob
 * from another repository", "Pushing Manifests") that pushes a model package as a ModelPack
 * artifact (modelpack.ts). This file holds the push's order (blobs, then the manifest, then the
 * tag's check); oci-target.ts reads the target, oci-session.ts holds the exchanges and
 * authentication, oci-blobs.ts the blob steps, oci-errors.ts what a failed push says.
 *
 * Over node:http/node:https rather than fetch, so that request bodies stream from disk with
 * backpressure (a 1 GB model never sits in memory) and a private CA can be added to the system's
 * (TLS verification is always on). Authentication follows the registry's `WWW-Authenticate`
 * challenge: Basic, or Bearer with a token from the realm (Docker's token protocol), cached per
 * scope.
 *
 * Crash safety: every blob is uploaded and checked with HEAD before the manifest is put, so a tag
 * only ever names a complete artifact; an interrupted push leaves at most unreferenced blobs or
 * upload sessions (which the registry purges), is reported as not pushed, and is simply run again.
 *
 * A registry is untrusted (tracking/transfer.ts): every exchange fails after a stall or past a
 * deadline proportional to its size, answers are read up to a cap, reads follow at most a few
 * redirects (never HTTPS -> HTTP, credentials only to the same host) and writes none; idempotent
 * requests (HEAD, GET, the manifest PUT) and whole blob uploads are tried again after a reset, a
 * stall or a 429/502/503/504.
 */

export { DEFAULT_CHUNK_SIZE, DEFAULT_MONOLITHIC_LIMIT } from './oci-blobs';
export { type PartialPush, RegistryPushError } from './oci-errors';
export { type OciPushOptions, parseChallenge, type RegistryCredentials } from './oci-session';
export { type OciTarget, parseOciTarget } from './oci-target';

const ACCEPT_MANIFEST = [
  MEDIA_TYPE_MANIFEST,
  MEDIA_TYPE_INDEX,
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/**
 * Pushes a model package to an OCI registry as a ModelPack artifact: blobs (HEAD, mount, or
 * upload, each checked), then the manifest by tag (checked by digest). The tag defaults to the
 * package version.
 */
export async function pushToOci(
  pkg: ModelPackage,
  target: string | OciTarget,
  options: OciPushOptions = {},
): Promise<PushResult> {
  const parsed = typeof target === 'string' ? parseOciTarget(target) : target;
  const tag = parsed.tag ?? tagForVersion(pkg.version);
  const chunkSize = Math.max(1, Math.floor(options.chunkSize ?? DEFAULT_CHUNK_SIZE));
  const monolithicLimit = options.monolithicLimit ?? DEFAULT_MONOLITHIC_LIMIT;
  const artifact = await buildArtifact(pkg, options.signal);
  const progress = options.onProgress ?? (() => undefined);
  const session = new Session(parsed, options, (message) => progress({ message }));
  const repo = parsed.repository;
  const push: BlobPush = { session, repo, options, progress, chunkSize, monolithicLimit };
  const tally: BlobTally = { uploadedBlobs: 0, skippedBlobs: 0, bytesUploaded: 0 };
  let manifestPut = false;
  try {
    for (const blob of artifact.blobs) await pushBlob(push, blob, tally);
    const manifestUrl = session.resolve(`/v2/${repo}/manifests/${tag}`);
    const put = await putManifest(session, manifestUrl, artifact);
    manifestPut = true;
    await confirmTag(session, manifestUrl, put, tag, artifact);
    progress({ message: `${parsed.host}/${repo}:${tag} -> ${artifact.manifestDigest}` });
    return {
      target: parsed.text,
      reference: `${parsed.host}/${repo}@${artifact.manifestDigest}`,
      tag,
      digest: artifact.manifestDigest,
      uploadedBlobs: tally.uploadedBlobs,
      skippedBlobs: tally.skippedBlobs,
      bytesUploaded: tally.bytesUploaded,
    };
  } catch (error) {
    throw notPushed(error, parsed, tag, {
      blobsStored: tally.uploadedBlobs + tally.skippedBlobs,
      blobsTotal: artifact.blobs.length,
      manifestPut,
    });
  } finally {
    session.close();
  }
}

/** Puts the manifest under the tag, once every blob is stored; putting the same bytes under the same tag again is idempotent. */
async function putManifest(session: Session, manifestUrl: URL, artifact: Artifact): Promise<Response> {
  const put = await session.request(
    'putting the manifest',
    'PUT',
    manifestUrl,
    { 'Content-Type': MEDIA_TYPE_MANIFEST },
    artifact.manifest,
    { idempotent: true },
  );
  if (put.status !== 201 && put.status !== 200) throw session.statusError('putting the manifest', put);
  return put;
}

/** Checks that the registry stored the manifest as sent and that the tag names it now. */
async function confirmTag(
  session: Session,
  manifestUrl: URL,
  put: Response,
  tag: string,
  artifact: Artifact,
): Promise<void> {
  const answered = header(put, 'docker-content-digest');
  if (answered && answered !== artifact.manifestDigest) {
    throw session.fail(
      'putting the manifest',
      `the registry stored it as ${answered}, not ${artifact.manifestDigest}: it rewrote the manifest`,
    );
  }
  const check = await session.request('checking the tag', 'HEAD', manifestUrl, { Accept: ACCEPT_MANIFEST });
  if (check.status !== 200) throw session.statusError('checking the tag', check);
  const tagged = header(check, 'docker-content-digest');
  if (tagged !== artifact.manifestDigest) {
    throw session.fail(
      'checking the tag',
      `${tag} points at ${tagged ?? 'no digest'}, not at the manifest just pushed (${artifact.manifestDigest}); another push to the same tag may have raced this one`,
    );
  }
}

/** A failed push, said as such: which tag was not pushed and how far it got. */
function notPushed(error: unknown, target: OciTarget, tag: string, partial: PartialPush): unknown {
  if (!(error instanceof RegistryPushError)) return error;
  const where = `${target.host}/${target.repository}:${tag}`;
  const state = partial.manifestPut
    ? `the manifest was put but ${tag} could not be confirmed to name it; check it, or push again`
    : `${partial.blobsStored} of ${partial.blobsTotal} blobs are in the registry and no manifest names them, so ${tag} was not pushed (where it existed, it still points where it did); pushing again skips the stored blobs`;
  const wrapped = new RegistryPushError(
    `${error.message} NOT PUSHED: ${where}: ${state}.`,
    error.status,
    error.registry,
    error.step,
    error.code,
  );
  wrapped.partial = partial;
  return wrapped;
}
