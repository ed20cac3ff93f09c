/** Secrets out of what is shown: URIs with credentials, known secrets, echoed Authorization values. */

const DIGEST_SUFFIX = /@[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SECRET_QUERY =
  /([?&;][^=&#;\s]*(?:token|password|passwd|pwd|secret|key|signature|sig|credential|auth)[^=&#;\s]*=)[^&#;\s]*/gi;

/**
 * A URI or URI-like text as it may be shown: any `user:password@` replaced by `***@`, and the values
 * of query parameters that look like secrets (`token=`, `X-Amz-Signature=`...) by `***`. Robust to
 * passwords holding `/`, `@`, `:`, `?` or `#`, encoded or not: everything between `//` and the last
 * `@` goes (an OCI `@sha256:...` digest suffix is not taken for one).
 */
export function redactUri(text: string): string {
  const digest = DIGEST_SUFFIX.exec(text)?.[0] ?? '';
  let rest = digest ? text.slice(0, -digest.length) : text;
  const slashes = rest.indexOf('//');
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    if (slashes >= 0 && slashes < at) rest = `${rest.slice(0, slashes)}//***@${rest.slice(at + 1)}`;
    else if (slashes < 0) rest = `***@${rest.slice(at + 1)}`;
  }
  return `${rest}${digest}`.replace(SECRET_QUERY, '$1***');
}

/** Every URI in a text (an error, a server's message) redacted as `redactUri` does. */
export function redactUris(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s'"<>`]+/gi, (uri) => redactUri(uri));
}

/**
 * A text safe to show: URIs redacted, every known secret (and its URL-encoded form) replaced by
 * `***`, and any `Basic`/`Bearer` credential a server echoed taken out.
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = redactUris(text);
  for (const secret of secrets) {
    if (secret.length < 3) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) out = out.split(form).join('***');
  }
  return out.replace(/\b(Basic|Bearer)\s+(?!\*\*\*)[A-Za-z0-9+/=._~-]{6,}/g, '$1 ***');
}
