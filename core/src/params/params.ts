import { IncrementalYamlParser, type YamlModel } from '../yaml/build';
import { deref, type YNode } from '../yaml/nodes';
import { mapEntries, toJS } from '../yaml/to-js';

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

/** A params file as read from disk or from an editor buffer. */
export interface ParamsFile {
  path: string;
  exists: boolean;
  text: string;
  yaml: YamlModel | null;
  entries: Map<string, ParamEntry>;
}

export function readParamsFile(path: string, text: string | undefined): ParamsFile {
  if (text === undefined) return { path, exists: false, text: '', yaml: null, entries: new Map() };
  const yaml = new IncrementalYamlParser().parse(text);
  const entries = new Map<string, ParamEntry>();
  const visit = (node: YNode | null, prefix: string, depth: number) => {
    const target = deref(node);
    if (!target || depth > 32) return;
    if (target.kind === 'map') {
      for (const pair of mapEntries(target)) {
        const dotted = prefix ? `${prefix}.${pair.keyText}` : pair.keyText;
        entries.set(dotted, { path: dotted, name: pair.keyText, parent: prefix, file: path, keyStart: pair.key.start, keyEnd: pair.key.end, value: toJS(pair.value, yaml.aliasesCut), node: pair.value });
        visit(pair.value, dotted, depth + 1);
      }
    } else if (target.kind === 'seq' && prefix) {
      target.items.forEach((item, index) => {
        const dotted = `${prefix}.${index}`;
        entries.set(dotted, { path: dotted, name: String(index), parent: prefix, file: path, keyStart: item.start, keyEnd: item.end, value: toJS(item, yaml.aliasesCut), node: item });
        visit(item, dotted, depth + 1);
      });
    }
  };
  visit(yaml.root, '', 0);
  return { path, exists: true, text, yaml, entries };
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
        const value = file.yaml ? toJS(file.yaml.root, file.yaml.aliasesCut) : null;
        merged = deepMerge(merged, isMapping(value) ? value : {});
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
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
