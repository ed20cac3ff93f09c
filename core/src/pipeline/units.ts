const SIZE = /^([0-9]+(?:\.[0-9]+)?) ?([bkmgt](?:i?b|i)?)?$/i;
const FACTORS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Whether text has the shape of a size, whatever its value (`0g` does). */
export function isSizeSyntax(text: string): boolean {
  return SIZE.test(text.trim());
}

/** Bytes in a Docker-style size (`512m`, `32g`, `1.5GiB`; binary units), or undefined when malformed. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = SIZE.exec(value.trim());
  if (!match) return undefined;
  const unit = (match[2] ?? 'b').charAt(0).toLowerCase();
  const bytes = Math.round(Number(match[1]) * FACTORS[unit]);
  return bytes > 0 ? bytes : undefined;
}

const DURATION_PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)/g;
const DURATION = /^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d))+$/;
const MILLIS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Whether text has the shape of a duration, whatever its value (`0h0m` does). */
export function isDurationSyntax(text: string): boolean {
  return DURATION.test(text.trim());
}

/** Milliseconds in a duration (`90s`, `1h30m`, or a whole number of seconds), or undefined when malformed or zero. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 1 ? value * 1000 : undefined;
  if (typeof value !== 'string' || !DURATION.test(value.trim())) return undefined;
  let total = 0;
  for (const match of value.trim().matchAll(DURATION_PART)) total += Number(match[1]) * MILLIS[match[2]];
  return total > 0 ? total : undefined;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}
