import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import deprecatedIds from 'spdx-license-ids/deprecated.json';
import licenseIds from 'spdx-license-ids/index.json';
import { parse } from 'yaml';
import { readFileBounded } from '../runs/files';
import { PushError, type ModelPackage, type PackageFile } from './types';

/**
 * The artifact an approved model version becomes: an OCI image manifest in the CNCF ModelPack
 * format (github.com/modelpack/model-spec), shared by the registry push (oci.ts) and the local OCI
 * image layout (layout.ts), so both hold byte-identical config and manifest blobs.
 *
 * What was followed, from the spec's repository:
 * - `specs-go/v1/mediatype.go`: the artifact type `application/vnd.cncf.model.manifest.v1+json`, the
 *   config `application/vnd.cncf.model.config.v1+json`, raw (unarchived, uncompressed) layers:
 *   `application/vnd.cncf.model.weight.v1.raw` for the weights and
 *   `application/vnd.cncf.model.doc.v1.raw` for documentation. The spec has no media type for
 *   metrics or run records; they describe the model, so they are `doc` layers too.
 * - `specs-go/v1/config.go` and `schema/config-schema.json`: the config is
 *   `{descriptor, modelfs: {type: "layers", diffIds}, config}`; every object there forbids other
 *   properties, so the metrics go into a manifest annotation (`dev.mlpipe.metrics`) rather than the
 *   config, which stays valid against the schema. For raw layers the DiffID is the layer digest.
 *   The descriptor carries what the model card knows (`cardConfig`): `authors` (owners),
 *   `description`, `licenses` (SPDX), `docURL` (the first web reference), `datasetsURL` (datasets),
 *   and `config.capabilities.languages` (the card's two-letter language codes).
 * - `specs-go/v1/annotations.go`: the layer annotation `org.cncf.model.filepath` (the file's path in
 *   the model), beside OCI's `org.opencontainers.image.title` that ORAS and other tools unpack by.
 * - OCI image-spec `manifest.md` (artifactType, config, layers) and `annotations.md`
 *   (`org.opencontainers.image.created`, `.version`, `.title`, `.revision`, `.source`).
 *
 * Deterministic: keys are sorted at every level and `created` is the approval time, so the same
 * package always gives the same bytes and digests, and a second push is a no-op.
 */

export const MEDIA_TYPE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_TYPE_INDEX = 'application/vnd.oci.image.index.v1+json';
export const ARTIFACT_TYPE_MODEL = 'application/vnd.cncf.model.manifest.v1+json';
export const MEDIA_TYPE_MODEL_CONFIG = 'application/vnd.cncf.model.config.v1+json';
export const MEDIA_TYPE_WEIGHT_RAW = 'application/vnd.cncf.model.weight.v1.raw';
export const MEDIA_TYPE_DOC_RAW = 'application/vnd.cncf.model.doc.v1.raw';

export const ANNOTATION_TITLE = 'org.opencontainers.image.title';
export const ANNOTATION_VERSION = 'org.opencontainers.image.version';
export const ANNOTATION_CREATED = 'org.opencontainers.image.created';
export const ANNOTATION_REVISION = 'org.opencontainers.image.revision';
export const ANNOTATION_SOURCE = 'org.opencontainers.image.source';
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
export const ANNOTATION_MODEL_FILEPATH = 'org.cncf.model.filepath';
export const ANNOTATION_RUN = 'dev.mlpipe.run';
export const ANNOTATION_APPROVED_BY = 'dev.mlpipe.approval.by';
export const ANNOTATION_APPROVED_AT = 'dev.mlpipe.approval.at';
export const ANNOTATION_APPROVAL_NOTE = 'dev.mlpipe.approval.note';
export const ANNOTATION_ARTIFACT_DIGEST = 'dev.mlpipe.artifact.digest';
export const ANNOTATION_METRICS = 'dev.mlpipe.metrics';
export const ANNOTATION_ROLE = 'dev.mlpipe.role';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
}

/** A blob of the artifact: a package file streamed from disk, or bytes made here (the config). */
export interface ArtifactBlob {
  descriptor: Descriptor;
  /** The package file's name, or `config`. */
  name: string;
  /** Where the bytes are read from, for files. */
  file?: string;
  /** The bytes, for the config. */
  content?: Buffer;
  /** Whether the digest was computed here just now (not given by the package); a change is then a race, not tampering. */
  computed: boolean;
}

export interface Artifact {
  /** Layers in manifest order, then the config. Blobs go before the manifest when pushed. */
  blobs: ArtifactBlob[];
  config: Buffer;
  manifest: Buffer;
  manifestDigest: string;
  manifestDescriptor: Descriptor;
}

/** JSON with sorted keys and no spaces: the same value always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

export function sha256(content: Buffer | string): string {
  return `sha256:${createHash('sha256').update(content).digest('hex')}`;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

export function isDigest(text: string): boolean {
  return DIGEST.test(text);
}

/** The sha256 of a file, streamed. */
export async function hashFile(path: string, signal?: AbortSignal): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024, signal }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/**
 * OCI tags allow `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`: a SemVer build suffix (`1.0.0+cuda`) becomes
 * `1.0.0_cuda`, as Helm does for charts in OCI registries.
 */
export function tagForVersion(version: string): string {
  let tag = version.replace(/[^A-Za-z0-9._-]/g, '_');
  if (!/^[A-Za-z0-9_]/.test(tag)) tag = `_${tag}`;
  return tag.slice(0, 128);
}

export const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

const ROLE_ORDER: Record<PackageFile['role'], number> = { model: 0, card: 1, metrics: 2, record: 3 };

function mediaTypeFor(file: PackageFile): string {
  return file.role === 'model' ? MEDIA_TYPE_WEIGHT_RAW : MEDIA_TYPE_DOC_RAW;
}

/** A card larger than this is not read for the config (the gate reads no larger card either). */
const MAX_CARD_BYTES = 4 * 1024 * 1024;

/** What the ModelPack config says from the model card; nothing the card does not say. */
export interface CardConfig {
  authors?: string[];
  description?: string;
  licenses?: string[];
  docURL?: string;
  datasetsURL?: string[];
  languages?: string[];
}

const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string' && item.trim() !== '') : [];

const SPDX_BY_LOWER = new Map<string, string>(
  [...(licenseIds as string[]), ...(deprecatedIds as string[])].map((id) => [id.toLowerCase(), id]),
);
/** Hugging Face keywords (core/src/modelcard/licenses.ts) with an SPDX id, and those that say nothing of the terms. */
const HUB_SPDX: Record<string, string | null> = {
  'lgpl-lr': 'LGPLLR',
  odbl: 'ODbL-1.0',
  'odc-by': 'ODC-By-1.0',
  pddl: 'PDDL-1.0',
  other: null,
  unknown: null,
};

/**
 * The card's license as an SPDX expression, as ModelPack's `licenses` asks. The card checked clean
 * before it was approved (mlpipe check: an SPDX expression in any case, or a Hugging Face keyword),
 * so here each identifier only takes SPDX's case; a keyword becomes its SPDX id where it has one,
 * else `LicenseRef-<keyword>`; `other` and `unknown`, which say nothing of the terms, give nothing.
 */
export function spdxLicense(license: string): string | undefined {
  const text = license.trim();
  const lower = text.toLowerCase();
  if (Object.hasOwn(HUB_SPDX, lower)) return HUB_SPDX[lower] ?? undefined;
  if (/^[a-z0-9.+-]+$/i.test(text) && !SPDX_BY_LOWER.has(lower.replace(/\+$/, '')) && !/^licenseref-/i.test(text))
    return `LicenseRef-${lower.replace(/[^a-z0-9.-]+/g, '-')}`;
  return text.replace(/[A-Za-z0-9.+-]+/g, (token) => {
    if (/^(AND|OR|WITH)$/.test(token)) return token;
    const plus = token.endsWith('+') ? '+' : '';
    return (
      (SPDX_BY_LOWER.get(token.slice(0, token.length - plus.length).toLowerCase()) ??
        token.slice(0, token.length - plus.length)) + plus
    );
  });
}

/** The config fields the package's model card knows, read from the card file it pushes. */
export function cardConfig(pkg: ModelPackage): CardConfig {
  const file = pkg.files.find((item) => item.role === 'card');
  if (!file) return {};
  let text: string;
  try {
    text = readFileBounded(file.file, MAX_CARD_BYTES).toString('utf8');
  } catch (error) {
    throw new PushError(`cannot read the model card ${file.name}: ${(error as Error).message}`);
  }
  let card: { model?: Record<string, unknown> } | null;
  try {
    card = parse(text, { version: '1.2', schema: 'core', maxAliasCount: 100 }) as typeof card;
  } catch (error) {
    throw new PushError(
      `the model card ${file.name} does not parse (${(error as Error).message.split('\n')[0]}); mlpipe check ${file.name} shows where`,
    );
  }
  const model = card?.model;
  if (!model || typeof model !== 'object' || Array.isArray(model)) return {};
  const out: CardConfig = {};
  const authors = (Array.isArray(model.owners) ? (model.owners as unknown[]) : []).flatMap((owner) => {
    if (typeof owner === 'string' && owner.trim()) return [owner.trim()];
    const { name, contact } = (owner ?? {}) as { name?: unknown; contact?: unknown };
    if (typeof name !== 'string' || !name.trim()) return [];
    return [typeof contact === 'string' && contact.trim() ? `${name.trim()} <${contact.trim()}>` : name.trim()];
  });
  if (authors.length > 0) out.authors = authors;
  if (typeof model.description === 'string' && model.description.trim()) out.description = model.description.trim();
  const license = typeof model.license === 'string' ? spdxLicense(model.license) : undefined;
  if (license) out.licenses = [license];
  const docURL = strings(model.references).find((reference) => /^https?:\/\/\S+$/.test(reference));
  if (docURL) out.docURL = docURL;
  const datasets = strings(model.datasets);
  if (datasets.length > 0) out.datasetsURL = datasets;
  // ModelPack encodes languages as ISO 639 two-letter codes; Hub entries such as `multilingual` are not.
  const languages = strings(model.language).filter((code) => /^[a-z]{2}$/.test(code));
  if (languages.length > 0) out.languages = languages;
  return out;
}

/** The approval time as RFC 3339 (UTC), or the text as given when it is no date. */
function rfc3339(text: string): string {
  const time = Date.parse(text);
  return Number.isNaN(time) ? text : new Date(time).toISOString();
}

/**
 * Builds the artifact of a package: stats every file, hashes the ones whose digest the package
 * does not give (card, metrics: small), and makes the config and manifest bytes. The model file's
 * digest is the approved one and is checked while it is streamed, not here.
 */
export async function buildArtifact(pkg: ModelPackage, signal?: AbortSignal): Promise<Artifact> {
  if (!pkg.name) throw new PushError("the model package has no name (the model card's `name`)");
  if (!pkg.version) throw new PushError(`the model package ${pkg.name} has no version (the model card's \`version\`)`);
  if (pkg.files.length === 0) throw new PushError(`the model package ${pkg.name} ${pkg.version} has no files`);
  const names = new Set<string>();
  for (const file of pkg.files) {
    if (names.has(file.name)) throw new PushError(`the model package lists ${file.name} twice`);
    names.add(file.name);
    if (file.name.startsWith('/') || file.name.split('/').includes('..'))
      throw new PushError(`the package file name ${file.name} must be a relative path without '..'`);
  }
  const files = [...pkg.files].sort(
    (a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const blobs: ArtifactBlob[] = [];
  for (const file of files) {
    let size: number;
    try {
      size = statSync(file.file).size;
    } catch (error) {
      throw new PushError(
        `cannot read ${file.name} (${file.file}): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
    let digest =
      file.digest ??
      (file.role === 'model' && files.filter((f) => f.role === 'model').length === 1 ? pkg.artifactDigest : undefined);
    if (digest !== undefined && !isDigest(digest))
      throw new PushError(`the digest of ${file.name} is not a sha256 digest: ${digest}`);
    if (file.size !== undefined && file.size !== size) {
      throw new PushError(
        `${file.name} (${file.file}) is ${size} bytes but was ${file.size} bytes when approved: the file changed after approval; refusing to push it. Run the stage again and approve the new artifact.`,
      );
    }
    let computed = false;
    if (digest === undefined) {
      digest = (await hashFile(file.file, signal)).digest;
      computed = true;
    }
    blobs.push({
      name: file.name,
      file: file.file,
      computed,
      descriptor: {
        mediaType: mediaTypeFor(file),
        digest,
        size,
        annotations: {
          [ANNOTATION_TITLE]: file.name,
          [ANNOTATION_MODEL_FILEPATH]: file.name,
          [ANNOTATION_ROLE]: file.role,
        },
      },
    });
  }
  const created = rfc3339(pkg.approval.at);
  const { languages, ...fromCard } = cardConfig(pkg);
  const config = Buffer.from(
    canonicalJson({
      descriptor: {
        name: pkg.name,
        version: pkg.version,
        createdAt: created,
        revision: pkg.annotations[ANNOTATION_REVISION],
        sourceURL: pkg.annotations[ANNOTATION_SOURCE],
        ...fromCard,
      },
      modelfs: { type: 'layers', diffIds: blobs.map((blob) => blob.descriptor.digest) },
      config: languages ? { capabilities: { languages } } : {},
    }),
  );
  const configDescriptor: Descriptor = {
    mediaType: MEDIA_TYPE_MODEL_CONFIG,
    digest: sha256(config),
    size: config.length,
  };
  const annotations: Record<string, string> = {
    ...pkg.annotations,
    [ANNOTATION_TITLE]: pkg.name,
    [ANNOTATION_VERSION]: pkg.version,
    [ANNOTATION_CREATED]: created,
    [ANNOTATION_RUN]: pkg.run,
    [ANNOTATION_APPROVED_BY]: pkg.approval.by,
    [ANNOTATION_APPROVED_AT]: pkg.approval.at,
    [ANNOTATION_ARTIFACT_DIGEST]: pkg.artifactDigest,
    [ANNOTATION_METRICS]: canonicalJson(pkg.metrics),
  };
  if (pkg.approval.note) annotations[ANNOTATION_APPROVAL_NOTE] = pkg.approval.note;
  const manifest = Buffer.from(
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_MANIFEST,
      artifactType: ARTIFACT_TYPE_MODEL,
      config: configDescriptor,
      layers: blobs.map((blob) => blob.descriptor),
      annotations,
    }),
  );
  const manifestDigest = sha256(manifest);
  blobs.push({ name: 'config', content: config, computed: true, descriptor: configDescriptor });
  return {
    blobs,
    config,
    manifest,
    manifestDigest,
    manifestDescriptor: {
      mediaType: MEDIA_TYPE_MANIFEST,
      digest: manifestDigest,
      size: manifest.length,
      artifactType: ARTIFACT_TYPE_MODEL,
    },
  };
}

/** The message for bytes that no longer match the digest they were approved (or hashed) with. */
export function changedMessage(blob: ArtifactBlob, actual: string): string {
  return blob.computed
    ? `${blob.name} (${blob.file}) changed while it was being pushed (expected ${blob.descriptor.digest}, read ${actual}); nothing was tagged. Push again once nothing writes to it.`
    : `${blob.name} (${blob.file}) no longer matches its approved digest ${blob.descriptor.digest} (its bytes now hash to ${actual}): the file changed after approval; refusing to push it, nothing was tagged. Run the stage again and approve the new artifact, or restore the approved file.`;
}
