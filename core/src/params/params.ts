import { IncrementalYamlParser, type YamlModel } from '../yaml/build';
import { deref, type YMap, type YNode } from '../yaml/nodes';
import { isMergeKey, mapEntries, toJS } from '../yaml/values';

/** One addressable param: `train.lr` in `train: {lr: 0.01}`. */
export interface ParamEntry {
  /** Dotted path, list indexes included (`layers.0`). */
  path: string;
  /** The key (or index) itself, and the dotted path of what holds it ('' at the top). */
  name: string;
  parent: string;
  file: string;
  keyStart: number;
  keyEnd: number;
  value: unknown;
  node: YNode | null;
}

/** Why a params file was not read (a link out of the pipeline's folder, too large, binary): a finding for the pipeline. */
export interface ParamsRefusal {
  code: string;
  severity: 'error' | 'warning';
  message: string;
}

/** A finding about the params file itself, by offsets into its text. */
export interface ParamsProblem {
  start: number;
  end: number;
  code: string;
  severity: 'error' | 'warning';
  message: string;
}

/** A params file as read from disk or from an editor buffer. */
export interface ParamsFile {
  path: string;
  exists: boolean;
  text: string;
  yaml: YamlModel | null;
  entries: Map<string, ParamEntry>;
  /** The whole file as a plain value (aliases read as null when they were cut). */
  value: unknown;
  /** Set when the file was not read: the pipeline reports it where it names the file. */
  refusal?: ParamsRefusal;
  /** Limits the file ran into while it was indexed. */
  problems: ParamsProblem[];
}

/**
 * Params mlpipe indexes per file (keys and list items, nested ones included). Enough for any real
 * config; a file past it (generated data, an alias bomb just under the expansion limit) is indexed
 * up to here and says so, instead of costing memory in proportion to what it expands to.
 */
export const MAX_PARAM_ENTRIES = 50_000;
/** Levels of nesting below which params get no address of their own. */
export const MAX_PARAM_DEPTH = 32;

/** Reads a params file's text (undefined: missing or refused); `parser` may be the one of an open buffer, to reuse its blocks. */
export function readParamsFile(
  path: string,
  text: string | undefined,
  refusal?: ParamsRefusal,
  parser = new IncrementalYamlParser(),
): ParamsFile {
  if (text === undefined)
    return { path, exists: false, text: '', yaml: null, entries: new Map(), value: null, refusal, problems: [] };
  const yaml = parser.parse(text);
  const entries = new Map<string, ParamEntry>();
  const problems: ParamsProblem[] = [];
  const cut = yaml.aliasesCut;
  // One conversion of the whole file; every entry's value is a part of it (aliases stay shared).
  const value = toJS(yaml.root, cut);
  // Once aliases are cut (an alias bomb), neither an alias nor a merge through one is followed.
  const pairsOf = (map: YMap) => (cut ? map.pairs.filter((pair) => !isMergeKey(pair)) : mapEntries(map));
  let full = false;
  const add = (entry: ParamEntry, at: { start: number; end: number }): boolean => {
    if (entries.size >= MAX_PARAM_ENTRIES && !entries.has(entry.path)) {
      if (!full) {
        full = true;
        problems.push({
          start: at.start,
          end: Math.max(at.end, at.start + 1),
          code: 'too-many-params',
          severity: 'warning',
          message: `This params file holds more than ${MAX_PARAM_ENTRIES.toLocaleString('en-US')} params (keys and list items, nested ones included); mlpipe indexes the first ${MAX_PARAM_ENTRIES.toLocaleString('en-US')} and reads no further, so later ones read as unknown. Move data out of params (into a dep file).`,
        });
      }
      return false;
    }
    entries.set(entry.path, entry);
    return true;
  };
  const visit = (node: YNode | null, current: unknown, prefix: string, depth: number) => {
    if (full || !node || depth > MAX_PARAM_DEPTH || (cut && node.kind === 'alias')) return;
    const target = deref(node);
    if (!target) return;
    if (target.kind === 'map') {
      const object =
        current !== null && typeof current === 'object' && !Array.isArray(current)
          ? (current as Record<string, unknown>)
          : {};
      for (const pair of pairsOf(target)) {
        const dotted = prefix ? `${prefix}.${pair.keyText}` : pair.keyText;
        const child = Object.prototype.hasOwnProperty.call(object, pair.keyText) ? object[pair.keyText] : null;
        if (
          !add(
            {
              path: dotted,
              name: pair.keyText,
              parent: prefix,
              file: path,
              keyStart: pair.key.start,
              keyEnd: pair.key.end,
              value: child,
              node: pair.value,
            },
            pair.key,
          )
        )
          return;
        visit(pair.value, child, dotted, depth + 1);
      }
    } else if (target.kind === 'seq' && prefix) {
      const list = Array.isArray(current) ? current : [];
      for (let index = 0; index < target.items.length; index++) {
        const item = target.items[index];
        const dotted = `${prefix}.${index}`;
        if (
          !add(
            {
              path: dotted,
              name: String(index),
              parent: prefix,
              file: path,
              keyStart: item.start,
              keyEnd: item.end,
              value: list[index] ?? null,
              node: item,
            },
            item,
          )
        )
          return;
        visit(item, list[index], dotted, depth + 1);
      }
    }
  };
  visit(yaml.root, value, '', 0);
  return { path, exists: true, text, yaml, entries, value, refusal, problems };
}

/**
 * The params a pipeline sees: its params files deep-merged in order, as Hydra and OmegaConf merge
 * configs. A later file wins key by key; a mapping in two files merges; a value that replaces a
 * mapping removes the keys under it.
 */
export class ParamsIndex {
  readonly entries = new Map<string, ParamEntry>();
  private readonly children = new Map<string, Set<string>>();

  constructor(readonly files: ParamsFile[]) {
    if (files.length === 1) {
      for (const [path, entry] of files[0].entries) this.entries.set(path, entry);
    } else if (files.length > 1) {
      let merged: unknown = {};
      // A file that is empty (or not a mapping, which its own check reports) adds nothing.
      for (const file of files) {
        merged = deepMerge(merged, isMapping(file.value) ? file.value : {});
      }
      for (const file of files) {
        for (const [path, entry] of file.entries) {
          const value = valueAt(merged, path);
          if (value.found) this.entries.set(path, { ...entry, value: value.value });
        }
      }
      for (const path of [...this.entries.keys()]) if (!valueAt(merged, path).found) this.entries.delete(path);
    }
    for (const entry of this.entries.values()) {
      let set = this.children.get(entry.parent);
      if (!set) this.children.set(entry.parent, (set = new Set()));
      set.add(entry.name);
    }
  }

  get(path: string): ParamEntry | undefined {
    return this.entries.get(path);
  }

  /** Names directly under a dotted prefix ('' for the top level). */
  childrenOf(prefix: string): string[] {
    return [...(this.children.get(prefix) ?? [])];
  }

  /** Every dotted path, for "did you mean". */
  paths(): IterableIterator<string> {
    return this.entries.keys();
  }
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (!isMapping(base) || !isMapping(over)) return over;
  const result: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) result[key] = key in result ? deepMerge(result[key], value) : value;
  return result;
}

function valueAt(root: unknown, path: string): { found: boolean; value?: unknown } {
  let current = root;
  for (const part of path.split('.')) {
    if (Array.isArray(current) && /^\d+$/.test(part) && Number(part) < current.length) current = current[Number(part)];
    else if (isMapping(current) && Object.prototype.hasOwnProperty.call(current, part)) current = current[part];
    else return { found: false };
  }
  return { found: true, value: current };
}

/** A param value as it reads inside a command or path. */
export function paramText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'object') return String(value);
  // A mapping or list reads as JSON, once per value: matrix variants ask for it again and again.
  let text = objectTexts.get(value);
  if (text === undefined) objectTexts.set(value, (text = JSON.stringify(value)));
  return text;
}

const objectTexts = new WeakMap<object, string>();
