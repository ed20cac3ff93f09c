/**
 * Docker image references, checked against the grammar of distribution/reference (the one Docker
 * and every OCI registry use): [host[:port]/]path[:tag][@digest], lowercase path components.
 */
export interface ImageRef {
  domain?: string;
  path: string;
  tag?: string;
  digest?: string;
}

export type ImageRefResult = { ok: true; ref: ImageRef } | { ok: false; reason: string; suggestion?: string };

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;

export function parseImageRef(input: string): ImageRefResult {
  const text = input.trim();
  if (text === '') return { ok: false, reason: 'the image reference is empty' };
  if (/\s/.test(text)) return { ok: false, reason: 'an image reference cannot contain spaces' };
  const scheme = /^[a-z]+:\/\//i.exec(text);
  if (scheme)
    return {
      ok: false,
      reason: `drop the '${scheme[0]}' prefix: image references have no scheme`,
      suggestion: text.slice(scheme[0].length),
    };
  if (text.length > 255 + 200) return { ok: false, reason: 'the image reference is too long' };

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest))
      return { ok: false, reason: `'${digest}' is not a digest: use sha256: followed by 64 hex digits` };
    if (digest.startsWith('sha256:') && !SHA256.test(digest))
      return { ok: false, reason: 'a sha256 digest has 64 lowercase hex digits' };
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag === '') return { ok: false, reason: "the tag after ':' is empty", suggestion: rest };
    if (!TAG.test(tag))
      return {
        ok: false,
        reason: `'${tag}' is not a valid tag: use letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-')`,
      };
  }
  if (rest === '') return { ok: false, reason: 'the image name is missing' };
  const parts = rest.split('/');
  let domain: string | undefined;
  if (
    parts.length > 1 &&
    (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost' || /[A-Z]/.test(parts[0]))
  ) {
    domain = parts.shift();
    if (!DOMAIN.test(domain!)) return { ok: false, reason: `'${domain}' is not a valid registry host` };
  }
  for (const component of parts) {
    if (component === '')
      return { ok: false, reason: "the image name has an empty path component ('//' or a trailing '/')" };
    if (!PATH_COMPONENT.test(component)) {
      const lower = component.toLowerCase();
      if (PATH_COMPONENT.test(lower)) {
        const fixed =
          [domain, ...parts.map((p) => (p === component ? lower : p))].filter(Boolean).join('/') +
          (tag !== undefined ? `:${tag}` : '') +
          (digest ? `@${digest}` : '');
        return { ok: false, reason: `repository names must be lowercase ('${component}')`, suggestion: fixed };
      }
      return {
        ok: false,
        reason: `'${component}' is not a valid repository name component: use lowercase letters and digits separated by '.', '_', '__' or '-'`,
      };
    }
  }
  const path = parts.join('/');
  if ((domain ? domain.length + 1 : 0) + path.length > 255)
    return { ok: false, reason: 'the repository name is longer than 255 characters' };
  return { ok: true, ref: { domain, path, tag, digest } };
}
