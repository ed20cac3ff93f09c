import { createHash } from 'node:crypto';
import { reservedTop } from '../util/reserved';
import { UserError } from '../errors';

/**
 * `.mlpipe/` holds state that any local container could once write and that a cloned repository
 * may carry: it is input, not trusted state. Every id, hash and path read from it is checked here
 * before it names a file; one parser per record type lives beside its type and calls these.
 */

/** `YYYYMMDD-HHMMSS-mmm-xxxx`, as `newRunId` makes them. */
const RUN_ID = /^\d{8}-\d{6}-\d{3}-[0-9a-f]{4}$/;
/** `sha256:` and 64 lowercase hex digits. */
const DIGEST = /^sha256:[0-9a-f]{64}$/;

export class MetadataError extends UserError {}

export function isRunId(value: unknown): value is string {
  return typeof value === 'string' && RUN_ID.test(value);
}

export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST.test(value);
}

/**
 * A workspace-relative path as metadata may name it: forward slashes, no empty, `.` or `..`
 * segment, not absolute, no NUL, not inside `.git`, `.mlpipe` or `.vscode` (see reservedTop), and of a sane length.
 */
export function isSafeRelativePath(value: unknown): value is string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > 4096 ||
    value.includes('\0') ||
    value.includes('\\')
  )
    return false;
  if (value.startsWith('/') || /^[A-Za-z]:/.test(value)) return false;
  const parts = value.split('/');
  if (parts.some((part) => part === '' || part === '.' || part === '..')) return false;
  return reservedTop(value) === undefined;
}

/** A name below an output folder (a file of a folder output): the same rules, reserved names allowed below the top. */
export function isSafeSubpath(value: unknown): value is string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > 4096 ||
    value.includes('\0') ||
    value.includes('\\') ||
    value.startsWith('/')
  )
    return false;
  return value.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The JSON object `text` holds, or undefined when it is not JSON or not an object (metadata read back is untrusted). */
export function jsonRecord(text: string): Record<string, unknown> | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isRecord(data) ? data : undefined;
}

/**
 * A file name for a stage instance's name: matrix values may hold `/` or `..`, which must never
 * become folders. Letters, digits and `._@=-` stay as they are (existing names keep their files);
 * anything else is percent-encoded, and a name too long for a file system is shortened with a hash.
 */
export function stageFileName(stage: string): string {
  let name = '';
  for (const char of stage)
    name += /[A-Za-z0-9._@=-]/.test(char)
      ? char
      : [...Buffer.from(char, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  if (name.startsWith('.')) name = `%2E${name.slice(1)}`;
  if (name.length <= 200) return name;
  return `${name.slice(0, 120)}~${createHash('sha256').update(stage).digest('hex').slice(0, 32)}`;
}
