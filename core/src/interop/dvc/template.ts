/**
 * DVC's `${...}` templating (dvc/parsing/interpolate.py): `${a.b}`, `${a[b]}`, `${a.0}`, a
 * backslash escapes (`\${...}` is the text `${...}`). Only what the translation needs: finding
 * references, splitting their names, and writing values as DVC writes them.
 */

/** One `${...}` in a string: where it starts, its whole text and the name inside. */
export interface TemplateRef {
  index: number;
  text: string;
  name: string;
}

const REFERENCE = /(\\)?\$\{([^{}]*)\}/g;

/** The references of a string, escaped ones left out (DVC's KEYCRE). */
export function references(value: string): TemplateRef[] {
  const found: TemplateRef[] = [];
  for (const match of value.matchAll(REFERENCE)) {
    if (match[1]) continue;
    found.push({ index: match.index, text: match[0], name: match[2].trim() });
  }
  return found;
}

/** Whether the whole string is exactly one reference: its value then replaces it whole (a list, a mapping). */
export function wholeReference(value: string): TemplateRef | undefined {
  const found = references(value);
  return found.length === 1 && found[0].index === 0 && found[0].text.length === value.length ? found[0] : undefined;
}

/** `a.b[c][0]` -> ['a', 'b', 'c', '0']; undefined for a name DVC would not read either. */
export function segments(name: string): string[] | undefined {
  if (name === '') return undefined;
  const parts: string[] = [];
  for (const piece of name.split('.')) {
    const match = /^([^[\]]*)((?:\[[^[\]]+\])*)$/.exec(piece);
    if (!match) return undefined;
    if (match[1] !== '') parts.push(match[1]);
    else if (!match[2]) return undefined;
    for (const index of match[2].matchAll(/\[([^[\]]+)\]/g)) parts.push(index[1].trim());
  }
  return parts.every((part) => part !== '') ? parts : undefined;
}

/** The value at a path of segments, or undefined (a list is indexed by number). */
export function lookup(data: unknown, path: readonly string[]): { found: boolean; value?: unknown } {
  let current = data;
  for (const part of path) {
    if (Array.isArray(current) && /^\d+$/.test(part) && Number(part) < current.length) current = current[Number(part)];
    else if (isMapping(current) && Object.prototype.hasOwnProperty.call(current, part)) current = current[part];
    else return { found: false };
  }
  return { found: true, value: current };
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** A scalar as DVC writes it into a string (Python's str; booleans lowercased, as DVC does). */
export function scalarText(value: string | number | boolean | null): string {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return String(value);
}

/**
 * A list or mapping inside `cmd`, as DVC unpacks it with its default parsing settings: a list
 * joins its items with spaces; a mapping becomes `--key value` per entry (`--key` alone for true,
 * nothing for false, nested keys dotted). `render` writes each scalar: a param reference where
 * the value comes from a params file, so it stays tracked.
 */
export function unpack(
  value: unknown,
  path: readonly string[],
  render: (path: readonly string[], value: string | number | boolean | null) => string,
): string {
  if (Array.isArray(value))
    return value
      .map((item, index) =>
        isScalar(item) || item === null ? render([...path, String(index)], item) : JSON.stringify(item),
      )
      .join(' ');
  if (!isMapping(value)) return render(path, value as string | number | boolean | null);
  const parts: string[] = [];
  const walk = (mapping: Record<string, unknown>, prefix: string[], names: string[]) => {
    for (const [key, item] of Object.entries(mapping)) {
      const flag = `--${[...names, key].join('.')}`;
      if (isMapping(item)) walk(item, [...prefix, key], [...names, key]);
      else if (item === true) parts.push(flag);
      else if (item === false) continue;
      else if (Array.isArray(item)) parts.push(`${flag} ${unpack(item, [...prefix, key], render)}`);
      else parts.push(`${flag} ${render([...prefix, key], item as string | number | null)}`);
    }
  };
  walk(value, [...path], []);
  return parts.join(' ');
}
