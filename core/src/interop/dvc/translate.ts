import { posix } from 'node:path';
import { LineCounter, isScalar as isScalarNode, parseDocument, visit, type Document, type Node } from 'yaml';
import { didYouMean } from '../../util/did-you-mean';
import {
  isMapping,
  isScalar,
  lookup,
  references,
  scalarText,
  segments,
  unpack,
  wholeReference,
  type TemplateRef,
} from './template';

/** The sample image (scripts/sample-image.ts), the import's default. */
export const SAMPLE_IMAGE = 'localhost/mlpipe-python:3.11';

/** Bounds on an untrusted dvc.yaml: past them the import stops with an error naming the limit. */
export const DVC_LIMITS = {
  /** Stages written in dvc.yaml. */
  stages: 1_000,
  /** Stage instances once foreach and matrix are expanded. */
  instances: 10_000,
  /** Nesting of mappings and lists. */
  depth: 64,
  /** Entries of one list (deps, outs, foreach items). */
  listItems: 10_000,
  /** Aliases expanded while reading. */
  aliases: 1_000,
  /** Errors reported one by one; past them a line says how many more. */
  errors: 100,
  /**
   * Characters of commands and paths read and written once foreach and matrix are expanded (what
   * DVC would run included, for dvc.lock): a short dvc.yaml must not become gigabytes.
   */
  text: 16 * 1024 * 1024,
} as const;

/** Something the import reports: a position in dvc.yaml when it has one. */
export interface ImportNote {
  where?: string;
  message: string;
}

/** What one DVC stage instance became, for dvc.lock: its DVC name and what DVC would run. */
export interface InstanceMap {
  dvcName: string;
  mlpipeName: string;
  /** The command as DVC resolves it (a list joined as dvc.lock writes it). */
  dvcCmd: string | string[];
  /** Params per params file (pipeline-relative), names as dvc.lock keys them. */
  params: Record<string, string[]>;
  /** The stage's wdir as written ('' for none): dvc.lock's paths are relative to it. */
  wdir: string;
}

export interface Translation {
  pipeline: Record<string, unknown>;
  errors: ImportNote[];
  notes: ImportNote[];
  instances: InstanceMap[];
  /** Params files the translation read (pipeline-relative). */
  paramsFiles: string[];
}

export interface TranslateInput {
  /** The dvc.yaml text, and its name as shown in messages (relative to the current folder). */
  text: string;
  shown: string;
  /** A params or vars file's data (path relative to dvc.yaml's folder), or why it cannot be read. */
  readData: (path: string) => { data?: unknown; error?: string; missing?: boolean };
  /** The image every stage runs in. */
  image: string;
  /** The pipeline's name. */
  name?: string;
  /** Files below a folder output (relative to dvc.yaml's folder), to split it; undefined when it is not there. */
  listFolder?: (path: string) => string[] | undefined;
}

type Path = (string | number)[];

/** Where a reference's value comes from: a params file (stays a `${params...}`) or literal data. */
interface Source {
  data: unknown;
  params?: string;
}

interface Scope {
  /** foreach's `item`/`key`, matrix's `item`. */
  item?: { value: unknown; origin?: string[]; matrix?: boolean; key?: string };
  vars: Source[];
}

const STAGE_KEYS = new Set([
  'cmd',
  'wdir',
  'deps',
  'outs',
  'params',
  'metrics',
  'plots',
  'frozen',
  'always_changed',
  'desc',
  'meta',
  'vars',
  'live',
]);

/** A stage name as mlpipe allows it: letters, digits, `_`, `.`, `-`. */
function stageName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[-.]+/, '');
  return cleaned === '' ? 'stage' : cleaned;
}

function depthOf(value: unknown, limit: number, depth = 0): number {
  if (depth > limit) return depth;
  let deepest = depth;
  if (Array.isArray(value)) for (const item of value) deepest = Math.max(deepest, depthOf(item, limit, depth + 1));
  else if (isMapping(value))
    for (const item of Object.values(value)) deepest = Math.max(deepest, depthOf(item, limit, depth + 1));
  return deepest;
}

/** Turns a dvc.yaml (with its params and vars files) into an mlpipe pipeline, or says why not. */
export function translateDvc(input: TranslateInput): Translation {
  const errors: ImportNote[] = [];
  const notes: ImportNote[] = [];
  const instances: InstanceMap[] = [];
  const lines = new LineCounter();
  // Keys are checked for duplicates below, in one pass: the yaml library's own check compares
  // every key of a mapping with every other (minutes for a mapping of 100,000 keys).
  const doc: Document = parseDocument(input.text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
  if (doc.errors.length === 0)
    visit(doc, {
      Map(_, map) {
        const seen = new Set<unknown>();
        for (const pair of map.items) {
          if (!isScalarNode(pair.key)) continue;
          if (seen.has(pair.key.value) && errors.length < 10) {
            const { line, col } = lines.linePos(pair.key.range?.[0] ?? 0);
            errors.push({
              where: `${input.shown}:${line}:${col}`,
              message: `not valid YAML: Map keys must be unique (${String(pair.key.value).slice(0, 100)} is written twice)`,
            });
          }
          seen.add(pair.key.value);
        }
      },
    });
  const where = (path: Path, needle?: string): string => {
    let node: unknown = doc.getIn(path, true);
    for (let cut = path.length - 1; !(node as Node | undefined)?.range && cut >= 0; cut--)
      node = doc.getIn(path.slice(0, cut), true);
    const range = (node as Node | undefined)?.range;
    let offset = range?.[0] ?? 0;
    // Point at the reference itself when the value's source holds it as written.
    const found = range && needle ? input.text.slice(range[0], range[1]).indexOf(needle) : -1;
    if (found >= 0) offset += found;
    const { line, col } = lines.linePos(offset);
    return `${input.shown}:${line}:${col}`;
  };
  let errorCount = 0;
  const error = (path: Path | undefined, message: string, needle?: string) => {
    if (++errorCount <= DVC_LIMITS.errors) errors.push({ ...(path ? { where: where(path, needle) } : {}), message });
  };
  /** Whether another error would still be shown (past the limit, finding its words is wasted time). */
  const reporting = () => errorCount < DVC_LIMITS.errors;
  // Text read and written (see DVC_LIMITS.text); past the budget the translation stops.
  let spent = 0;
  let exhausted = false;
  // A reference costs more than its characters: it is looked up.
  const REFERENCE_COST = 64;
  const spend = (characters: number, at: Path): boolean => {
    spent += characters;
    if (spent <= DVC_LIMITS.text) return true;
    if (!exhausted)
      error(
        at,
        `commands and paths expand to more than ${DVC_LIMITS.text} characters once foreach and matrix are written out, more than an import writes`,
      );
    exhausted = true;
    return false;
  };
  const note = (path: Path | undefined, message: string) =>
    notes.push({ ...(path ? { where: where(path) } : {}), message });
  const empty = (pipeline: Record<string, unknown> = {}): Translation => {
    if (errorCount > DVC_LIMITS.errors)
      errors.push({
        message: `and ${errorCount - DVC_LIMITS.errors} more errors (the first ${DVC_LIMITS.errors} are shown)`,
      });
    return { pipeline, errors, notes, instances, paramsFiles: [] };
  };

  if (errors.length > 0) return empty();
  if (doc.errors.length > 0) {
    for (const problem of doc.errors.slice(0, 10)) {
      const { line, col } = lines.linePos(problem.pos[0]);
      errors.push({
        where: `${input.shown}:${line}:${col}`,
        message: `not valid YAML: ${problem.message.split('\n')[0]}`,
      });
    }
    return empty();
  }
  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: DVC_LIMITS.aliases });
  } catch (problem) {
    error([], `${(problem as Error).message}; dvc.yaml may expand at most ${DVC_LIMITS.aliases} aliases`);
    return empty();
  }
  if (depthOf(root, DVC_LIMITS.depth) > DVC_LIMITS.depth) {
    error([], `nests deeper than ${DVC_LIMITS.depth} levels; no DVC pipeline needs that, so it is not read`);
    return empty();
  }
  if (!isMapping(root) || !isMapping(root.stages)) {
    error(isMapping(root) ? ['stages'] : [], 'has no `stages:` mapping, so there is no pipeline to import');
    return empty();
  }
  const stageEntries = Object.entries(root.stages);
  if (stageEntries.length === 0) {
    error(['stages'], 'has no stages');
    return empty();
  }
  if (stageEntries.length > DVC_LIMITS.stages) {
    error(['stages'], `has ${stageEntries.length} stages, more than the ${DVC_LIMITS.stages} an import reads`);
    return empty();
  }
  for (const key of Object.keys(root))
    if (!['stages', 'vars', 'params', 'metrics', 'plots', 'artifacts', 'datasets'].includes(key))
      note([key], `top-level \`${key}\` is not a DVC key; it was ignored`);

  // Params: params.yaml beside dvc.yaml is always loaded, as DVC does; others join when a stage names them.
  const paramsData = new Map<string, unknown>();
  const paramsFiles: string[] = [];
  const loadParams = (file: string, at: Path | undefined): unknown => {
    if (paramsData.has(file)) return paramsData.get(file);
    const read = input.readData(file);
    if (read.error) error(at, `${file}: ${read.error}`);
    paramsData.set(file, read.data);
    return read.data;
  };
  const defaultParams = input.readData('params.yaml');
  if (defaultParams.error) error(undefined, `params.yaml: ${defaultParams.error}`);
  if (!defaultParams.missing && !defaultParams.error) {
    paramsData.set('params.yaml', defaultParams.data ?? {});
    paramsFiles.push('params.yaml');
  }
  const globalVars: Source[] = [];
  if (paramsData.has('params.yaml')) globalVars.push({ data: paramsData.get('params.yaml'), params: 'params.yaml' });
  const readVars = (list: unknown, at: Path): Source[] => {
    const sources: Source[] = [];
    if (list === undefined || list === null) return sources;
    if (!Array.isArray(list)) {
      error(at, '`vars` must be a list of file names and mappings');
      return sources;
    }
    list.forEach((entry, index) => {
      if (isMapping(entry)) sources.push({ data: entry });
      else if (typeof entry === 'string') {
        const [file, keys] = entry.split(':', 2) as [string, string | undefined];
        const path = safePath(file, [...at, index]);
        if (path === undefined) return;
        const read = input.readData(path);
        if (read.error || read.missing) {
          error([...at, index], `vars file ${path}: ${read.error ?? 'does not exist'}`);
          return;
        }
        let data = read.data;
        if (keys && isMapping(data))
          data = Object.fromEntries(
            keys
              .split(',')
              .map((key) => key.trim())
              .filter((key) => key in (data as Record<string, unknown>))
              .map((key) => [key, (data as Record<string, unknown>)[key]]),
          );
        // params.yaml named again in vars is the same params file: it stays tracked.
        sources.push(path === 'params.yaml' ? { data, params: 'params.yaml' } : { data });
      } else error([...at, index], '`vars` entries are file names or mappings');
    });
    return sources;
  };
  globalVars.push(...readVars(root.vars, ['vars']));

  /** A path written in dvc.yaml, normalised and proven to stay in the workspace; undefined (with an error) when not. */
  function safePath(path: string, at: Path, wdir = ''): string | undefined {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
      note(
        at,
        `${path} is outside the workspace (a URL): mlpipe stages read and write workspace files only; it was left out`,
      );
      return undefined;
    }
    if (path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path)) {
      error(at, `${path} is an absolute path; paths must stay inside the project folder`);
      return undefined;
    }
    const joined = posix.normalize(posix.join(wdir || '.', path.replace(/\\/g, '/'))).replace(/\/+$/, '');
    if (joined === '..' || joined.startsWith('../')) {
      error(at, `${path} leads out of the project folder; an import writes nothing that reads or writes outside it`);
      return undefined;
    }
    return joined === '' ? '.' : joined;
  }

  /** The top-level names of each scope's vars, for suggestions. */
  const knownNames = new WeakMap<Source[], Set<string>>();

  /** Finds a reference: the stage's item, then params.yaml and vars. */
  function resolveRef(
    ref: TemplateRef,
    scope: Scope,
    at: Path,
  ): { value: unknown; params?: { file: string; path: string[] }; matrix?: string } | undefined {
    const parts = segments(ref.name);
    if (!parts) {
      error(at, `\`${ref.text}\` is not a name DVC can look up (write \`\${a.b}\` or \`\${a[b]}\`)`, ref.text);
      return undefined;
    }
    if (parts[0] === 'item' || parts[0] === 'key') {
      if (!scope.item) {
        error(at, `\`${ref.text}\` is only defined inside \`foreach\`/\`do\` or a \`matrix\` stage`, ref.text);
        return undefined;
      }
      if (parts[0] === 'key') {
        if (scope.item.key === undefined) {
          error(at, `\`${ref.text}\`: \`key\` exists only when foreach iterates over a mapping`, ref.text);
          return undefined;
        }
        return { value: scope.item.key };
      }
      const found = lookup(scope.item.value, parts.slice(1));
      if (!found.found) {
        error(
          at,
          `\`${ref.text}\` names nothing in this stage's item ${JSON.stringify(scope.item.value).slice(0, 200)}`,
          ref.text,
        );
        return undefined;
      }
      if (scope.item.matrix) return { value: found.value, matrix: parts.length === 1 ? 'item' : parts[1] };
      if (scope.item.origin && (isScalar(found.value) || found.value === null))
        return { value: found.value, params: { file: 'params.yaml', path: [...scope.item.origin, ...parts.slice(1)] } };
      return { value: found.value };
    }
    for (const source of [...scope.vars].reverse()) {
      const found = lookup(source.data, parts);
      if (found.found)
        return { value: found.value, ...(source.params ? { params: { file: source.params, path: parts } } : {}) };
    }
    if (!reporting()) {
      error(at, '');
      return undefined;
    }
    // A suggestion is looked for among a few thousand names, not a whole large params file's.
    let known = knownNames.get(scope.vars);
    if (!known) {
      known = new Set<string>();
      for (const source of scope.vars)
        if (isMapping(source.data) && known.size <= DVC_LIMITS.listItems)
          for (const key of Object.keys(source.data)) known.add(key);
      knownNames.set(scope.vars, known);
    }
    const close = known.size <= DVC_LIMITS.listItems ? didYouMean(parts[0], known) : undefined;
    error(
      at,
      `\`${ref.text}\` cannot be resolved: ${parts.join('.')} is in neither params.yaml nor \`vars\` (DVC would refuse it too)${close ? `; did you mean ${close}?` : ''}`,
      ref.text,
    );
    return undefined;
  }

  /** A value written in: a `${` in it is text to DVC (it does not substitute twice), so mlpipe's escape. */
  const literal = (value: string | number | boolean | null) => scalarText(value).replace(/\$\{/g, () => '$${');

  /** A string with its references rewritten: params stay `${params...}`, the rest is written in. */
  function text(value: string, scope: Scope, at: Path, field: 'cmd' | 'path' | 'text'): string | undefined {
    if (exhausted) return undefined;
    let out = '';
    let last = 0;
    let failed = false;
    for (const ref of references(value)) {
      out += value.slice(last, ref.index).replace(/\\\$\{/g, () => '$${');
      last = ref.index + ref.text.length;
      const found = resolveRef(ref, scope, at);
      if (!found) {
        failed = true;
        continue;
      }
      if (found.matrix) out += `\${matrix.${found.matrix}}`;
      else if (isScalar(found.value) || found.value === null) {
        out += found.params ? `\${params.${found.params.path.join('.')}}` : literal(found.value);
      } else if (field === 'cmd') {
        out += unpack(found.value, found.params?.path ?? [], (path, scalar) =>
          found.params ? `\${params.${path.join('.')}}` : literal(scalar),
        );
      } else {
        error(at, `\`${ref.text}\` is a ${Array.isArray(found.value) ? 'list' : 'mapping'}; only \`cmd\` can hold one`);
        failed = true;
      }
    }
    out += value.slice(last).replace(/\\\$\{/g, () => '$${');
    if (!spend(value.length + out.length + REFERENCE_COST * references(value).length, at)) return undefined;
    return failed ? undefined : out;
  }

  /** The same string as DVC itself resolves it (for comparing with dvc.lock). */
  function dvcText(value: string, scope: Scope, at: Path): string {
    if (exhausted) return '';
    let out = '';
    let last = 0;
    for (const ref of references(value)) {
      out += value.slice(last, ref.index);
      last = ref.index + ref.text.length;
      const parts = segments(ref.name) ?? [];
      let found: unknown;
      if (parts[0] === 'key') found = scope.item?.key;
      else if (parts[0] === 'item') found = lookup(scope.item?.value, parts.slice(1)).value;
      else
        for (const source of scope.vars) if (lookup(source.data, parts).found) found = lookup(source.data, parts).value;
      out += isScalar(found) || found === null ? scalarText(found ?? null) : unpack(found, [], (_, s) => scalarText(s));
    }
    out = (out + value.slice(last)).replace(/\\\$\{/g, '${');
    return spend(value.length + out.length + REFERENCE_COST * references(value).length, at) ? out : '';
  }

  /** A value that may be one whole reference (`foreach: ${models}`), resolved to its data. */
  function data(value: unknown, scope: Scope, at: Path): { value: unknown; origin?: string[] } | undefined {
    if (typeof value !== 'string') return { value };
    const ref = wholeReference(value);
    if (!ref) return { value };
    const found = resolveRef(ref, scope, at);
    if (!found) return undefined;
    return { value: found.value, ...(found.params ? { origin: found.params.path } : {}) };
  }

  const stages: Record<string, unknown> = {};
  const producers = new Map<string, { stage: Record<string, unknown>; name: string }>();
  let instanceCount = 0;

  for (const [name, definition] of stageEntries) {
    if (exhausted) break;
    const at: Path = ['stages', name];
    if (!isMapping(definition)) {
      error(at, `stage '${name}' is not a mapping`);
      continue;
    }
    const stageVars = [...globalVars, ...readVars(definition.vars, [...at, 'vars'])];
    if ('foreach' in definition) {
      const items = data(definition.foreach, { vars: stageVars }, [...at, 'foreach']);
      const body = definition.do;
      if (!items) continue;
      if (!isMapping(body)) {
        error([...at, 'do'], `stage '${name}' has foreach but no \`do\` mapping`);
        continue;
      }
      const list = items.value;
      if (
        Array.isArray(list) &&
        list.length > 0 &&
        list.every((item) => isScalar(item)) &&
        new Set(list).size === list.length
      ) {
        // A list of plain values is an mlpipe matrix: stage@value, as DVC names it.
        if (!countInstances(list.length, at)) continue;
        const stage = translateStage(name, body, { vars: stageVars, item: { value: list[0], matrix: true } }, [
          ...at,
          'do',
        ]);
        if (!stage) continue;
        stage.matrix = { item: list };
        place(stageName(name), stage, at);
        for (const value of list) {
          if (exhausted) break;
          registerInstance(
            `${name}@${scalarText(value)}`,
            `${stageName(name)}@${scalarText(value)}`,
            body,
            {
              vars: stageVars,
              item: { value },
            },
            at,
          );
        }
        continue;
      }
      const entries: [string, unknown][] = Array.isArray(list)
        ? list.map((item, index) => [String(index), item])
        : isMapping(list)
          ? Object.entries(list)
          : [];
      if (entries.length === 0) {
        error([...at, 'foreach'], `foreach of stage '${name}' must be a non-empty list or mapping`);
        continue;
      }
      if (!countInstances(entries.length, at)) continue;
      // Anything else is written out stage by stage (mlpipe's matrix holds plain values only).
      for (const [key, value] of entries) {
        if (exhausted) break;
        const scope: Scope = {
          vars: stageVars,
          item: {
            value,
            ...(isMapping(list) ? { key } : {}),
            ...(items.origin ? { origin: [...items.origin, key] } : {}),
          },
        };
        const mlpipeName = `${stageName(name)}-${stageName(key)}`;
        const stage = translateStage(`${name}@${key}`, body, scope, [...at, 'do']);
        if (!stage) continue;
        place(mlpipeName, stage, at);
        registerInstance(`${name}@${key}`, mlpipeName, body, scope, at);
      }
      note(
        [...at, 'foreach'],
        `stage '${name}' iterates over ${Array.isArray(list) ? 'a list of mappings' : 'a mapping'}: written out as ${entries.length} stages (${stageName(name)}-KEY), since an mlpipe matrix holds plain values only`,
      );
      continue;
    }
    if ('matrix' in definition) {
      const matrix = data(definition.matrix, { vars: stageVars }, [...at, 'matrix']);
      if (!matrix) continue;
      if (!isMapping(matrix.value) || Object.keys(matrix.value).length === 0) {
        error([...at, 'matrix'], `matrix of stage '${name}' must be a mapping of key to a list`);
        continue;
      }
      const axes: Record<string, (string | number | boolean)[]> = {};
      let ok = true;
      for (const [key, values] of Object.entries(matrix.value)) {
        const resolved = data(values, { vars: stageVars }, [...at, 'matrix', key]);
        if (!resolved) {
          ok = false;
          continue;
        }
        const list = resolved.value;
        if (!Array.isArray(list) || list.length === 0 || !list.every((item) => isScalar(item))) {
          error(
            [...at, 'matrix', key],
            `matrix key ${key} of stage '${name}' must list plain values (strings, numbers, booleans); lists or mappings as values are not carried over`,
          );
          ok = false;
          continue;
        }
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
          error([...at, 'matrix', key], `matrix key ${key}: mlpipe matrix keys use letters, digits and _`);
          ok = false;
        }
        axes[key] = list;
      }
      if (!ok) continue;
      const total = Object.values(axes).reduce((product, list) => product * list.length, 1);
      if (!countInstances(total, at)) continue;
      const first = Object.fromEntries(Object.entries(axes).map(([key, list]) => [key, list[0]]));
      const stage = translateStage(name, definition, { vars: stageVars, item: { value: first, matrix: true } }, at);
      if (!stage) continue;
      stage.matrix = axes;
      place(stageName(name), stage, at);
      for (const combination of product(axes)) {
        if (exhausted) break;
        const suffix = Object.values(combination).map(scalarText).join('-');
        registerInstance(
          `${name}@${suffix}`,
          `${stageName(name)}@${suffix}`,
          definition,
          {
            vars: stageVars,
            item: { value: combination },
          },
          at,
        );
      }
      continue;
    }
    if (!countInstances(1, at)) continue;
    const stage = translateStage(name, definition, { vars: stageVars }, at);
    if (!stage) continue;
    if (stageName(name) !== name)
      note(at, `stage '${name}' is named ${stageName(name)} (mlpipe stage names use letters, digits, _ . -)`);
    place(stageName(name), stage, at);
    registerInstance(name, stageName(name), definition, { vars: stageVars }, at);
  }

  /** A translated stage under its mlpipe name; two DVC names that become one are an error. */
  function place(mlpipeName: string, stage: Record<string, unknown>, at: Path) {
    if (stages[mlpipeName])
      error(at, `two stages become ${mlpipeName} in mlpipe (its stage names use letters, digits, _ . -); rename one`);
    else stages[mlpipeName] = stage;
  }

  function countInstances(count: number, at: Path): boolean {
    instanceCount += count;
    if (instanceCount <= DVC_LIMITS.instances) return true;
    error(at, `expands to more than ${DVC_LIMITS.instances} stages; an import stops there`);
    return false;
  }

  function registerInstance(
    dvcName: string,
    mlpipeName: string,
    body: Record<string, unknown>,
    scope: Scope,
    at: Path,
  ) {
    const cmd = body.cmd;
    const dvcCmd = Array.isArray(cmd)
      ? cmd.map((part) => (typeof part === 'string' ? dvcText(part, scope, [...at, 'cmd']) : String(part)))
      : typeof cmd === 'string'
        ? dvcText(cmd, scope, [...at, 'cmd'])
        : '';
    instances.push({
      dvcName,
      mlpipeName,
      dvcCmd,
      params: stageParamsOf(body),
      wdir: typeof body.wdir === 'string' ? dvcText(body.wdir, scope, [...at, 'wdir']) : '',
    });
  }

  function stageParamsOf(body: Record<string, unknown>): Record<string, string[]> {
    const result: Record<string, string[]> = {};
    const wdir = typeof body.wdir === 'string' ? body.wdir : '';
    for (const entry of Array.isArray(body.params) ? body.params : []) {
      if (typeof entry === 'string') (result[posix.join(wdir || '.', 'params.yaml')] ??= []).push(entry);
      else if (isMapping(entry))
        for (const [file, names] of Object.entries(entry))
          (result[posix.join(wdir || '.', file)] ??= []).push(...(Array.isArray(names) ? names.map(String) : []));
    }
    return result;
  }

  /** One stage's keys (deps, outs, metrics, plots, params, ...) in mlpipe's form. */
  function translateStage(
    name: string,
    body: Record<string, unknown>,
    scope: Scope,
    at: Path,
  ): Record<string, unknown> | undefined {
    const stage: Record<string, unknown> = {};
    const before = errorCount;
    for (const key of Object.keys(body))
      if (!STAGE_KEYS.has(key))
        note([...at, key], `\`${key}\` of stage '${name}' is not a DVC stage key; it was ignored`);
    let wdir = '';
    // The wdir with params' values written in, as DVC runs it: a `${params...}` kept in a path is
    // checked by its value too (mlpipe writes the value in at run time).
    let dvcWdir = '';
    if (body.wdir !== undefined) {
      if (typeof body.wdir !== 'string') error([...at, 'wdir'], `wdir of stage '${name}' must be a folder name`);
      const given = typeof body.wdir === 'string' ? text(body.wdir, scope, [...at, 'wdir'], 'path') : undefined;
      const safe = given === undefined ? undefined : safePath(given, [...at, 'wdir']);
      const valued =
        safe?.includes('${params.') === true
          ? safePath(dvcText(body.wdir as string, scope, [...at, 'wdir']), [...at, 'wdir'])
          : safe;
      if (valued !== undefined && valued !== '.') dvcWdir = valued;
      if (safe !== undefined && valued !== undefined && safe !== '.') {
        wdir = safe;
        stage.workdir = safe;
      }
    }
    if (typeof body.desc === 'string') stage.description = body.desc;
    const cmd = body.cmd;
    if (typeof cmd === 'string' && cmd.trim() !== '') stage.cmd = text(cmd, scope, [...at, 'cmd'], 'cmd');
    else if (
      Array.isArray(cmd) &&
      cmd.length > 0 &&
      cmd.every((part) => typeof part === 'string' && part.trim() !== '')
    )
      stage.cmd = cmd.map((part, index) => text(part as string, scope, [...at, 'cmd', index], 'cmd'));
    else error([...at, 'cmd'], `stage '${name}' has no command (\`cmd\`)`);

    const listOf = (key: string): unknown[] => {
      const value = body[key];
      if (value === undefined || value === null) return [];
      if (!Array.isArray(value)) {
        error([...at, key], `\`${key}\` of stage '${name}' must be a list`);
        return [];
      }
      if (value.length > DVC_LIMITS.listItems) {
        error([...at, key], `\`${key}\` of stage '${name}' has more than ${DVC_LIMITS.listItems} entries`);
        return [];
      }
      return value;
    };
    /** An entry `path` or `{path: {options}}`: its path rewritten, and its options. */
    const entry = (item: unknown, path: Path): { path: string; options: Record<string, unknown> } | undefined => {
      let raw: unknown = item;
      let options: Record<string, unknown> = {};
      if (isMapping(item) && Object.keys(item).length === 1) {
        [raw] = Object.keys(item);
        const value = Object.values(item)[0];
        options = isMapping(value) ? value : {};
      }
      if (typeof raw !== 'string' || raw === '') {
        error(path, `an entry of stage '${name}' is not a path`);
        return undefined;
      }
      const resolved = text(raw, scope, path, 'path');
      if (resolved === undefined) return undefined;
      const safe = safePath(resolved, path, wdir);
      if (safe?.includes('${params.') === true && safePath(dvcText(raw, scope, path), path, dvcWdir) === undefined)
        return undefined;
      return safe === undefined ? undefined : { path: safe, options };
    };

    const deps = listOf('deps')
      .map((item, index) => entry(item, [...at, 'deps', index]))
      .filter((item) => item !== undefined)
      .map((item) => item.path);
    if (deps.length > 0) stage.deps = [...new Set(deps)];

    const outs: unknown[] = [];
    listOf('outs').forEach((item, index) => {
      const out = entry(item, [...at, 'outs', index]);
      if (!out) return;
      const { cache, persist, remote, checkpoint, push } = out.options;
      if (remote !== undefined)
        note(
          [...at, 'outs', index],
          `output ${out.path} names DVC remote '${String(remote)}': DVC remotes are not carried over`,
        );
      if (checkpoint === true)
        note(
          [...at, 'outs', index],
          `output ${out.path} is a DVC 2 checkpoint: mlpipe has no checkpoints; it is a plain output`,
        );
      if (push === false)
        note([...at, 'outs', index], `output ${out.path} has push: false: mlpipe pushes every cached output`);
      outs.push(
        cache === false || persist === true
          ? {
              path: out.path,
              ...(cache === false ? { cache: false } : {}),
              ...(persist === true ? { persist: true } : {}),
            }
          : out.path,
      );
    });
    if (outs.length > 0) stage.outs = outs;

    const metrics: string[] = [];
    listOf('metrics').forEach((item, index) => {
      const metric = entry(item, [...at, 'metrics', index]);
      if (metric) metrics.push(metric.path);
    });
    if (metrics.length > 0) stage.metrics = metrics;

    const plots: unknown[] = [];
    listOf('plots').forEach((item, index) => {
      const plot = entry(item, [...at, 'plots', index]);
      if (!plot) return;
      plots.push(plotSpec(plot.path, plot.options, [...at, 'plots', index]));
    });
    if (plots.length > 0) stage.plots = plots;

    const params: string[] = [];
    listOf('params').forEach((item, index) => {
      const path: Path = [...at, 'params', index];
      if (typeof item === 'string') {
        params.push(...paramNames(posix.join(wdir || '.', 'params.yaml'), [item], path, name));
        return;
      }
      if (!isMapping(item)) {
        error(path, `a params entry of stage '${name}' is neither a name nor {file: [names]}`);
        return;
      }
      for (const [file, names] of Object.entries(item)) {
        const safe = safePath(file, [...path, file], wdir);
        if (safe === undefined) continue;
        if (!/\.(ya?ml|json)$/i.test(safe)) {
          note(
            [...path, file],
            `params file ${safe}: mlpipe reads YAML and JSON params files; this one was not carried over`,
          );
          continue;
        }
        if (names === null || (Array.isArray(names) && names.length === 0)) {
          // The whole file: every top-level param of it.
          const content = loadParams(safe, [...path, file]);
          if (!paramsFiles.includes(safe) && content !== undefined) paramsFiles.push(safe);
          params.push(...(isMapping(content) ? Object.keys(content) : []));
        } else if (Array.isArray(names)) params.push(...paramNames(safe, names.map(String), [...path, file], name));
        else error([...path, file], `params of ${file} in stage '${name}' must be a list of names`);
      }
    });
    if (params.length > 0) stage.params = [...new Set(params)];

    if (body.always_changed === true) stage.always_run = true;
    if (body.frozen === true)
      note(
        at,
        `stage '${name}' is frozen in DVC (never rerun): mlpipe has no frozen stages; it runs when its inputs change`,
      );
    if (body.live !== undefined)
      note([...at, 'live'], `\`live\` of stage '${name}' (DVC 2's dvclive section) is not carried over`);
    if (errorCount > before) return undefined;
    const mlpipeName = stageName(name.replace(/@/g, '-'));
    for (const output of [...outs, ...metrics, ...plots])
      producers.set(typeof output === 'string' ? output : ((output as { path: string }).path as string), {
        stage,
        name: mlpipeName,
      });
    return stage;
  }

  function plotSpec(path: string, options: Record<string, unknown>, at: Path): unknown {
    const spec: Record<string, unknown> = { path };
    if (typeof options.x === 'string') spec.x = options.x;
    if (typeof options.y === 'string' || (Array.isArray(options.y) && options.y.every((y) => typeof y === 'string')))
      spec.y = options.y;
    if (typeof options.title === 'string') spec.title = options.title;
    if (options.template !== undefined && options.template !== 'linear' && options.template !== 'simple')
      note(
        at,
        `plot ${path}: DVC's template '${String(options.template)}' (a Vega-Lite template) is not carried over; mlpipe draws lines`,
      );
    return Object.keys(spec).length === 1 ? path : spec;
  }

  function paramNames(file: string, names: string[], at: Path, stage: string): string[] {
    const content = loadParams(file, at);
    if (content === undefined) {
      error(at, `stage '${stage}' reads params from ${file}, which does not exist`);
      return [];
    }
    if (!paramsFiles.includes(file)) paramsFiles.push(file);
    const found: string[] = [];
    for (const dotted of names) {
      const parts = segments(dotted);
      if (!parts || !lookup(content, parts).found) {
        const close = didYouMean(dotted, isMapping(content) ? Object.keys(content) : []);
        error(
          at,
          `stage '${stage}' tracks param ${dotted}, which ${file} does not define${close ? `; did you mean ${close}?` : ''}`,
        );
        continue;
      }
      found.push(parts.join('.'));
    }
    return found;
  }

  // Top-level metrics and plots (DVC 3) belong to the stage that writes them.
  const attach = (file: string, at: Path, add: (stage: Record<string, unknown>, file: string) => void): boolean => {
    // The nearest output holding the file (a folder split before still counts, by its files).
    let best: string | undefined;
    for (const output of producers.keys())
      if ((output === file || file.startsWith(`${output}/`)) && (!best || output.length > best.length)) best = output;
    if (best !== undefined) {
      const producer = producers.get(best)!;
      if (best !== file) splitFolder(producer.stage, best, file);
      add(producer.stage, file);
      return true;
    }
    note(at, `${file} is written by no stage, so it has no stage to belong to in mlpipe; it was left out`);
    return false;
  };
  const addMetric = (stage: Record<string, unknown>, file: string) => {
    const list = (stage.metrics as string[] | undefined) ?? [];
    if (!list.includes(file)) list.push(file);
    stage.metrics = list;
    removeOut(stage, file);
  };
  const addPlot = (stage: Record<string, unknown>, spec: unknown) => {
    const path = typeof spec === 'string' ? spec : (spec as { path: string }).path;
    if (!/\.(csv|tsv|json)$/i.test(path)) {
      // mlpipe plots are CSV, TSV or JSON series; an image or a folder of them stays an output.
      note(
        undefined,
        `plot ${path} is not a CSV, TSV or JSON file (an image, or a folder of plots): it is an output of its stage, not an mlpipe plot`,
      );
      const list = (stage.outs as unknown[] | undefined) ?? [];
      if (!list.some((out) => (typeof out === 'string' ? out : (out as { path: string }).path) === path))
        list.push(path);
      stage.outs = list;
      return;
    }
    const list = (stage.plots as unknown[] | undefined) ?? [];
    const index = list.findIndex(
      (plot) => (typeof plot === 'string' ? plot : (plot as { path: string }).path) === path,
    );
    if (index >= 0) list[index] = typeof spec === 'string' ? list[index] : spec;
    else list.push(spec);
    stage.plots = list;
    removeOut(stage, path);
  };
  if (Array.isArray(root.metrics))
    root.metrics.forEach((item, index) => {
      if (typeof item !== 'string') return;
      const path = safePath(item, ['metrics', index]);
      if (path !== undefined) attach(path, ['metrics', index], addMetric);
    });
  if (Array.isArray(root.plots))
    root.plots.forEach((item, index) => {
      const at: Path = ['plots', index];
      if (typeof item === 'string') {
        const path = safePath(item, at);
        if (path !== undefined) attach(path, at, (stage, file) => addPlot(stage, file));
        return;
      }
      if (!isMapping(item) || Object.keys(item).length !== 1) return;
      const [id, options] = Object.entries(item)[0];
      const spec = isMapping(options) ? options : {};
      if (spec.template !== undefined && spec.template !== 'linear' && spec.template !== 'simple')
        note(
          at,
          `plot '${id}': DVC's template '${String(spec.template)}' (a Vega-Lite template) is not carried over; mlpipe draws lines`,
        );
      const x = typeof spec.x === 'string' ? spec.x : undefined;
      // y: a column, a list of columns, or {file: column(s)}; without y the id is the file.
      const files: [string, unknown][] = isMapping(spec.y) ? Object.entries(spec.y) : [[id, spec.y]];
      for (const [file, column] of files) {
        const path = safePath(file, [...at, id]);
        if (path === undefined) continue;
        const y =
          typeof column === 'string' || (Array.isArray(column) && column.every((c) => typeof c === 'string'))
            ? column
            : undefined;
        const plot =
          x || y || isMapping(spec.y)
            ? {
                path,
                ...(x ? { x } : {}),
                ...(y ? { y } : {}),
                ...(isMapping(spec.y) ? { title: id } : typeof spec.title === 'string' ? { title: spec.title } : {}),
              }
            : path;
        attach(path, [...at, id], (stage) => addPlot(stage, plot));
      }
    });
  if (root.params !== undefined)
    note(
      ['params'],
      'top-level `params` (files DVC shows in `dvc params diff`) are not carried over: mlpipe records the params each run used',
    );

  function removeOut(stage: Record<string, unknown>, path: string) {
    if (!Array.isArray(stage.outs)) return;
    stage.outs = (stage.outs as unknown[]).filter(
      (out) => (typeof out === 'string' ? out : (out as { path: string }).path) !== path,
    );
    if ((stage.outs as unknown[]).length === 0) delete stage.outs;
  }

  /**
   * A folder output holding a metrics or plots file is split: mlpipe does not let one output lie
   * inside another, so the folder's other entries (as the workspace has them, else the files DVC's
   * top-level sections name) become the outputs.
   */
  function splitFolder(stage: Record<string, unknown>, folder: string, inside: string) {
    const outs = (stage.outs as unknown[] | undefined) ?? [];
    const index = outs.findIndex((out) => (typeof out === 'string' ? out : (out as { path: string }).path) === folder);
    if (index < 0) return;
    const template = outs[index];
    const listed = input.listFolder?.(folder);
    const children = new Set<string>();
    for (const file of listed ?? []) {
      const relative = file.slice(folder.length + 1);
      const insideRel = inside.slice(folder.length + 1).split('/');
      const parts = relative.split('/');
      // Keep the top-most entry that does not hold the metrics/plots file.
      let depth = 0;
      while (depth < insideRel.length - 1 && parts[depth] === insideRel[depth]) depth++;
      children.add(`${folder}/${parts.slice(0, depth + 1).join('/')}`);
    }
    children.delete(inside);
    const rewritten = [...children]
      .sort()
      .map((path) => (typeof template === 'string' ? path : { ...(template as object), path }));
    outs.splice(index, 1, ...rewritten);
    stage.outs = outs;
    if (outs.length === 0) delete stage.outs;
    for (const child of children) producers.set(child, { stage, name: '' });
    producers.set(inside, { stage, name: '' });
    if (!listed)
      note(
        undefined,
        `output folder ${folder} holds ${inside}; mlpipe outputs cannot nest, so the folder was split into the files dvc.yaml names. Other files the stage writes into ${folder} are not declared: add them to outs`,
      );
  }

  // The sample image has python3 only; most DVC projects call `python`.
  const callsPython = Object.entries(stages as Record<string, { cmd?: unknown }>)
    .filter(([, stage]) =>
      (Array.isArray(stage.cmd) ? stage.cmd : [stage.cmd]).some(
        (cmd: unknown) => typeof cmd === 'string' && /^\s*python\s/.test(cmd),
      ),
    )
    .map(([name]) => name);
  if (input.image === SAMPLE_IMAGE && callsPython.length > 0)
    note(
      undefined,
      `stages ${callsPython.join(', ')} call \`python\`; the sample image ${SAMPLE_IMAGE} has \`python3\` (with numpy) only: give --image with the project's environment (its requirements installed) to run them`,
    );

  // The model: an artifact of type model that a stage writes.
  const pipeline: Record<string, unknown> = { version: 1 };
  if (input.name) pipeline.name = input.name;
  pipeline.description = `Imported from ${posix.basename(input.shown)} by mlpipe import dvc.`;
  if (paramsFiles.length > 1 || (paramsFiles.length === 1 && paramsFiles[0] !== 'params.yaml'))
    pipeline.params = paramsFiles;
  pipeline.defaults = { image: input.image };
  pipeline.stages = stages;
  if (isMapping(root.artifacts)) {
    for (const [id, artifact] of Object.entries(root.artifacts)) {
      if (!isMapping(artifact) || typeof artifact.path !== 'string') continue;
      const written = [...producers.keys()].includes(posix.normalize(artifact.path));
      if (artifact.type === 'model' && written && !pipeline.model)
        pipeline.model = { artifact: posix.normalize(artifact.path) };
      else
        note(
          ['artifacts', id],
          `artifact '${id}' (${artifact.path}) is not carried over${artifact.type === 'model' ? (written ? ': mlpipe has one model per pipeline' : ': no stage writes it') : ''}`,
        );
    }
  }
  if (errors.length > 0) return empty(pipeline);
  return { pipeline, errors, notes, instances, paramsFiles };
}

function* product(
  axes: Record<string, (string | number | boolean)[]>,
): Generator<Record<string, string | number | boolean>> {
  const keys = Object.keys(axes);
  const index = keys.map(() => 0);
  for (;;) {
    yield Object.fromEntries(keys.map((key, i) => [key, axes[key][index[i]]]));
    let position = keys.length - 1;
    while (position >= 0 && ++index[position] === axes[keys[position]].length) index[position--] = 0;
    if (position < 0) return;
  }
}
