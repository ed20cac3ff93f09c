import { IncrementalYamlParser, type YamlModel } from '../yaml/build';
import { deref, type YNode } from '../yaml/nodes';
import { mapEntries, toJS } from '../yaml/to-js';

/** One addressable param: `train.lr` in `train: {lr: 0.01}`. */
export interface ParamEntry {
  /** Dotted path, list indexes included (`layers.0`). */
  path: string;
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
        entries.set(dotted, { path: dotted, file: path, keyStart: pair.key.start, keyEnd: pair.key.end, value: toJS(pair.value, yaml.aliasesCut), node: pair.value });
        visit(pair.value, dotted, depth + 1);
      }
    } else if (target.kind === 'seq' && prefix) {
      target.items.forEach((item, index) => {
        const dotted = `${prefix}.${index}`;
        entries.set(dotted, { path: dotted, file: path, keyStart: item.start, keyEnd: item.end, value: toJS(item, yaml.aliasesCut), node: item });
        visit(item, dotted, depth + 1);
      });
    }
  };
  visit(yaml.root, '', 0);
  return { path, exists: true, text, yaml, entries };
}

/** The params a pipeline sees: its params files merged, later files winning. */
export class ParamsIndex {
  readonly entries = new Map<string, ParamEntry>();
  private readonly children = new Map<string, Set<string>>();

  constructor(readonly files: ParamsFile[]) {
    for (const file of files) for (const [path, entry] of file.entries) this.entries.set(path, entry);
    for (const path of this.entries.keys()) {
      const dot = path.lastIndexOf('.');
      const parent = dot === -1 ? '' : path.slice(0, dot);
      let set = this.children.get(parent);
      if (!set) this.children.set(parent, (set = new Set()));
      set.add(dot === -1 ? path : path.slice(dot + 1));
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

/** A param value as it reads inside a command or path. */
export function paramText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
