import { redactUri } from './transfer';

/*
 * Which MLflow tracking server runs go to (the setting mlpipe.tracking.uri, else
 * MLFLOW_TRACKING_URI), and reading its address: only http(s) servers count, and a user:password
 * in the URI is taken apart so that it is never shown.
 */

function configuredUri(
  setting: string | undefined,
  env: NodeJS.ProcessEnv,
): { value: string; source: string } | undefined {
  if (setting?.trim()) return { value: setting.trim(), source: 'the setting mlpipe.tracking.uri' };
  if (env.MLFLOW_TRACKING_URI?.trim()) return { value: env.MLFLOW_TRACKING_URI.trim(), source: 'MLFLOW_TRACKING_URI' };
  return undefined;
}

/** A tracking URI taken apart: the address without credentials, and any user:password it held. */
export interface ParsedTrackingUri {
  /** The address without user:password, without a trailing slash: safe to show. */
  address: string;
  username?: string;
  password?: string;
}

/**
 * Reads an http(s) tracking URI, or says why it cannot be read. A user:password whose password
 * holds `/`, `?` or `#` unencoded (`http://ana:pa/ss@host:5000`) cannot be told apart from a path:
 * it is refused with what to do, never guessed at (a guess could send the password to a wrong
 * host), and never shown.
 */
export function parseTrackingUri(value: string): ParsedTrackingUri | { problem: string } {
  const text = value.trim();
  const shown = redactUri(text);
  if (!/^https?:\/\//i.test(text)) return { problem: `'${shown}' is not an http(s) address` };
  const rest = text.slice(text.indexOf('//') + 2);
  const authorityEnd = rest.search(/[/?#]/);
  const at = rest.lastIndexOf('@');
  if (authorityEnd >= 0 && at > authorityEnd) {
    return {
      problem: `'${shown}' has an '@' after a '/', '?' or '#': a password holding those characters must be percent-encoded (%2F, %3F, %23, %40) to be read unambiguously. Better, leave credentials out of the URI and set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)`,
    };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { problem: `'${shown}' is not a valid URL` };
  }
  let username: string;
  let password: string;
  try {
    username = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } catch {
    return { problem: `'${shown}': its user:password part has a malformed %-escape` };
  }
  url.username = '';
  url.password = '';
  return {
    address: url.toString().replace(/\/+$/, ''),
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
  };
}

function isHttpUri(value: string): boolean {
  return 'address' in parseTrackingUri(value);
}

/**
 * The MLflow tracking server to send runs to: the `mlpipe.tracking.uri` setting, else
 * `MLFLOW_TRACKING_URI`. Only http(s) servers count; for anything else this is undefined and
 * `trackingUriProblem` says why.
 */
export function trackingUri(setting: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const configured = configuredUri(setting, env);
  return configured && isHttpUri(configured.value) ? configured.value.replace(/\/+$/, '') : undefined;
}

/** Why the configured tracking URI cannot be used, in words with what to do; undefined when it can (or none is set). */
export function trackingUriProblem(
  setting: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const configured = configuredUri(setting, env);
  if (!configured || isHttpUri(configured.value)) return undefined;
  const shown = redactUri(configured.value);
  if (/^https?:\/\//i.test(configured.value)) {
    const parsed = parseTrackingUri(configured.value);
    return `${configured.source}: ${'problem' in parsed ? parsed.problem : shown}.`;
  }
  const kind = /^databricks/i.test(configured.value)
    ? 'a Databricks workspace, which mlpipe does not talk to'
    : /^(file:|sqlite:|[./~]|[A-Za-z]:\\)/i.test(configured.value) || !configured.value.includes(':')
      ? 'a local store'
      : 'not an http(s) address';
  return `${configured.source} is '${shown}', ${kind}: mlpipe sends runs to an MLflow tracking server over HTTP. Start one (mlflow server --backend-store-uri sqlite:///mlflow.db) and set ${configured.source} to its address, such as http://127.0.0.1:5000.`;
}
