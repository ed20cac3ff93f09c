import { dirname, join, sep } from 'node:path';
import licenseIds from 'spdx-license-ids/index.json';
import { cardMetrics, declaredMetricFiles } from '../modelcard/check';
import { paramText } from '../params/params';
import { description, schemaAt, typesOf, type JsonSchema, type SchemaKind } from '../schema/schemas';
import { deref, type YMap } from '../yaml/nodes';
import { locate, mapEntries, mapGet } from '../yaml/values';
import { type Analysis, type PipelineAnalysis, type Workspace } from '../workspace/workspace';
import { cursorContext, type CursorContext } from './context';

export type CompletionKind =
  'property' | 'value' | 'enum' | 'stage' | 'param' | 'file' | 'folder' | 'host' | 'snippet' | 'metric' | 'variable';

export interface CompletionEntry {
  label: string;
  kind: CompletionKind;
  detail?: string;
  /** Markdown. */
  documentation?: string;
  /** Text to insert; a snippet when `snippet` is set. Defaults to the label. */
  insertText?: string;
  snippet?: boolean;
  replaceStart: number;
  replaceEnd: number;
  sortText?: string;
  filterText?: string;
  /** Ask for completion again after inserting (a folder, `params.`). */
  retrigger?: boolean;
}

/** SPDX identifiers models most often carry, offered first. */
const POPULAR_LICENSES = [
  'Apache-2.0',
  'MIT',
  'BSD-3-Clause',
  'CC-BY-4.0',
  'CC-BY-NC-4.0',
  'CC-BY-SA-4.0',
  'GPL-3.0-only',
  'LGPL-3.0-only',
  'MPL-2.0',
  'other',
];

const SKIP_DIRS = new Set(['.git', '.mlpipe', 'node_modules', '__pycache__', '.venv']);

export function complete(workspace: Workspace, analysis: Analysis, offset: number): CompletionEntry[] {
  if (analysis.kind !== 'pipeline' && analysis.kind !== 'modelcard' && analysis.kind !== 'params') return [];
  const context = cursorContext(analysis.text, offset);
  const kind: SchemaKind = analysis.kind;
  if (context.interpolation) return analysis.kind === 'pipeline' ? interpolationItems(analysis, context) : [];
  return context.kind === 'key' ? keyItems(kind, analysis, context) : valueItems(workspace, kind, analysis, context);
}

function keyItems(kind: SchemaKind, analysis: Analysis, context: CursorContext): CompletionEntry[] {
  const schema = schemaAt(kind, context.path);
  if (!schema) return [];
  const existing = new Set<string>();
  const found = deref(locate(analysis.yaml?.root ?? null, context.path.map(String)).node);
  if (found?.kind === 'map') for (const pair of mapEntries(found)) existing.add(pair.keyText);
  const items: CompletionEntry[] = [];
  const range = { replaceStart: context.replaceStart, replaceEnd: context.replaceEnd };
  const underCursor = analysis.text.slice(context.replaceStart, context.replaceEnd);
  for (const [key, raw] of Object.entries(schema.properties ?? {})) {
    if (existing.has(key) && key !== underCursor) continue;
    const property = schemaAt(kind, [...context.path, key]) ?? raw;
    items.push({
      ...range,
      label: key,
      kind: 'property',
      detail: typeLabel(property),
      documentation: description(property),
      insertText: keySnippet(key, property, context.inFlow),
      snippet: true,
      sortText: `${(schema.required ?? []).includes(key) ? '0' : '1'}${key}`,
    });
  }
  for (const snippet of schema.defaultSnippets ?? []) {
    items.push({
      ...range,
      label: snippet.label ?? 'snippet',
      kind: 'snippet',
      detail: 'snippet',
      documentation: snippet.markdownDescription ?? snippet.description,
      insertText: toYamlSnippet(snippet.body, 0),
      snippet: true,
      sortText: '2',
    });
  }
  return items;
}

function valueItems(
  workspace: Workspace,
  kind: SchemaKind,
  analysis: Analysis,
  context: CursorContext,
): CompletionEntry[] {
  const path = context.path;
  const last = [...path].reverse().find((segment): segment is string => typeof segment === 'string');
  const range = { replaceStart: context.replaceStart, replaceEnd: context.replaceEnd };
  // The word being replaced may already be in a list; offering it again is what lets the user keep it.
  const underCursor = analysis.text.slice(context.replaceStart, context.replaceEnd);
  const items: CompletionEntry[] = [];
  const dir = dirname(analysis.path);

  if (analysis.kind === 'pipeline') {
    const { model, graph } = analysis;
    const inStage = path[0] === 'stages' && typeof path[1] === 'string' ? model.stageByName.get(path[1]) : undefined;
    const field = inStage ? path[2] : path[0];
    if (inStage && field === 'needs') {
      const listed = new Set(inStage.needs.map((need) => need.name));
      for (const stage of model.stages) {
        if (stage === inStage || (listed.has(stage.name) && stage.name !== underCursor)) continue;
        items.push({
          ...range,
          label: stage.name,
          kind: 'stage',
          detail: stageDetail(stage.cmd[0]?.value),
          documentation: stageDoc(analysis, stage.name),
          sortText: `0${String(model.stages.indexOf(stage)).padStart(6, '0')}`,
        });
        if (stage.variants.length > 1)
          for (const variant of stage.variants)
            items.push({
              ...range,
              label: variant.name,
              kind: 'stage',
              detail: `variant of ${stage.name}`,
              sortText: `1${variant.name}`,
            });
      }
      return items;
    }
    if (last === 'host' && (inStage || path[0] === 'defaults')) {
      items.push({
        ...range,
        label: 'local',
        kind: 'host',
        detail: 'the local Docker engine (DOCKER_HOST or the current context)',
      });
      for (const host of model.hosts.values())
        if (host.name !== 'local')
          items.push({
            ...range,
            label: host.name,
            kind: 'host',
            detail: host.kubernetes
              ? 'a Kubernetes cluster: stages run as Jobs'
              : host.gpus
                ? `${host.gpus} GPU${host.gpus === 1 ? '' : 's'}`
                : 'no GPUs declared',
          });
      return items;
    }
    if (inStage && field === 'deps') {
      const own = new Set(inStage.deps.flatMap((dep) => dep.paths));
      // Outputs of other stages first: they may not exist yet, and they are what a stage usually reads.
      for (const [out, producers] of graph.outputs) {
        if (producers.some((producer) => producer.stage === inStage) || own.has(out)) continue;
        items.push({
          ...range,
          label: out,
          kind: 'file',
          detail: `written by ${producers[0].stage.name}`,
          sortText: `0${out}`,
        });
      }
      items.push(...pathItems(workspace, dir, context, false));
      return items;
    }
    if (
      inStage &&
      (field === 'outs' || field === 'metrics' || field === 'plots') &&
      (last === field || last === 'path')
    )
      return pathItems(workspace, dir, context, true);
    if (inStage && field === 'params' && path.length >= 3) {
      const listed = new Set(inStage.params.map((param) => param.name));
      for (const [name, entry] of analysis.params.entries) {
        if (listed.has(name) && name !== underCursor) continue;
        items.push({
          ...range,
          label: name,
          kind: 'param',
          detail: preview(entry.value),
          sortText: `${name.split('.').length}${name}`,
        });
      }
      return items;
    }
    if (last === 'image') {
      const images = new Set<string>();
      for (const stage of model.stages) if (stage.image) images.add(stage.image);
      for (const image of images)
        items.push({ ...range, label: image, kind: 'value', detail: 'used in this pipeline' });
      return items;
    }
    if (path[0] === 'params')
      return pathItems(workspace, dir, context, false).filter(
        (item) => item.kind === 'folder' || /\.ya?ml$/.test(item.label),
      );
    if (path[0] === 'model' && last === 'artifact') {
      for (const out of graph.outputs.keys())
        items.push({
          ...range,
          label: out,
          kind: 'file',
          detail: `written by ${graph.outputs.get(out)![0].stage.name}`,
        });
      return items;
    }
    if (path[0] === 'model' && last === 'card')
      return pathItems(workspace, dir, context, false).filter(
        (item) => item.kind === 'folder' || /modelcard\.ya?ml$/.test(item.label),
      );
    if (path[0] === 'monitor' && (last === 'reference' || last === 'current')) {
      for (const out of graph.outputs.keys())
        items.push({
          ...range,
          label: out,
          kind: 'file',
          detail: `written by ${graph.outputs.get(out)![0].stage.name}`,
          sortText: `0${out}`,
        });
      items.push(...pathItems(workspace, dir, context, false));
      return items;
    }
  }

  if (analysis.kind === 'modelcard') {
    const pipeline = analysis.pipeline;
    if (path[0] === 'evaluation' && last === 'file' && pipeline) {
      for (const [file, stage] of declaredMetricFiles({ relative: '', model: pipeline.model, graph: pipeline.graph }))
        items.push({ ...range, label: file, kind: 'file', detail: `metrics of stage ${stage}` });
      return items;
    }
    if (path[0] === 'evaluation' && last === 'key' && pipeline) {
      const index = path.findIndex((segment) => typeof segment === 'number');
      const metric = cardMetrics(analysis.yaml?.root ?? null)[Number(path[index] ?? 0)];
      // The cursor's own list item: find the one whose span holds the cursor.
      const own =
        cardMetrics(analysis.yaml?.root ?? null).find(
          (candidate) => candidate.map.start <= context.replaceStart && context.replaceStart <= candidate.map.end,
        ) ?? metric;
      const file = own?.file ? String(own.file.value) : undefined;
      const keys = file ? workspace.metricKeys(join(dirname(analysis.pipelinePath), file)) : undefined;
      for (const key of keys ?? []) items.push({ ...range, label: key, kind: 'metric', detail: file });
      return items;
    }
    if (path[0] === 'training_data' && last === 'stage' && pipeline) {
      for (const stage of pipeline.model.stages)
        items.push({ ...range, label: stage.name, kind: 'stage', detail: stageDetail(stage.cmd[0]?.value) });
      return items;
    }
    if (path[0] === 'training_data' && last === 'path' && pipeline) {
      for (const out of pipeline.graph.outputs.keys())
        items.push({
          ...range,
          label: out,
          kind: 'file',
          detail: `written by ${pipeline.graph.outputs.get(out)![0].stage.name}`,
        });
      return items;
    }
    if (path[0] === 'model' && last === 'license') {
      POPULAR_LICENSES.forEach((id, i) =>
        items.push({
          ...range,
          label: id,
          kind: 'value',
          detail: 'SPDX license',
          sortText: `0${String(i).padStart(2, '0')}`,
        }),
      );
      for (const id of licenseIds as string[])
        if (!POPULAR_LICENSES.includes(id))
          items.push({ ...range, label: id, kind: 'value', detail: 'SPDX license', sortText: `1${id}` });
      return items;
    }
    if (path[0] === 'pipeline')
      return pathItems(workspace, dir, context, false).filter(
        (item) => item.kind === 'folder' || /(mlpipe|\.pipeline)\.ya?ml$/.test(item.label),
      );
  }

  const schema = schemaAt(kind, path);
  if (!schema) return items;
  const values =
    schema.enum ??
    (schema.const !== undefined ? [schema.const] : typesOf(schema).includes('boolean') ? [true, false] : []);
  values.forEach((value, i) => {
    items.push({
      ...range,
      label: String(value),
      kind: 'enum',
      documentation: schema.markdownEnumDescriptions?.[i],
      detail: value === schema.default ? 'default' : undefined,
    });
  });
  // A list item that may be a mapping (`plots: - path: ...`): offer its keys too.
  if (typeof path[path.length - 1] === 'number' && typesOf(schema).includes('object') && schema.properties) {
    items.push(...keyItems(kind, analysis, { ...context, kind: 'key' }));
  }
  return items;
}

function interpolationItems(analysis: PipelineAnalysis, context: CursorContext): CompletionEntry[] {
  const { typed, start, end } = context.interpolation!;
  const stage =
    context.path[0] === 'stages' && typeof context.path[1] === 'string'
      ? analysis.model.stageByName.get(context.path[1])
      : undefined;
  const dot = typed.indexOf('.');
  if (dot === -1) {
    const items: CompletionEntry[] = [
      {
        label: 'params',
        kind: 'variable',
        detail: 'values from the params file',
        insertText: 'params.',
        replaceStart: start,
        replaceEnd: end,
        retrigger: true,
      },
    ];
    if (stage && stage.matrixKeys.length > 0)
      items.push({
        label: 'matrix',
        kind: 'variable',
        detail: "this stage's matrix values",
        insertText: 'matrix.',
        replaceStart: start,
        replaceEnd: end,
        retrigger: true,
      });
    return items;
  }
  const namespace = typed.slice(0, dot);
  const rest = typed.slice(dot + 1);
  const lastDot = rest.lastIndexOf('.');
  const parent = lastDot === -1 ? '' : rest.slice(0, lastDot);
  const segmentStart = start + dot + 1 + (lastDot + 1);
  // Replace only the segment being typed, up to the end of the word.
  let segmentEnd = start + typed.length;
  while (segmentEnd < end && analysis.text[segmentEnd] !== '.') segmentEnd++;
  const range = { replaceStart: segmentStart, replaceEnd: segmentEnd };
  if (namespace === 'params') {
    return analysis.params.childrenOf(parent).flatMap((name) => {
      const full = parent ? `${parent}.${name}` : name;
      const entry = analysis.params.get(full);
      // A key with a dot in it cannot be addressed as ${params...} (the params file reports it).
      if (!entry) return [];
      const nested = entry.value !== null && typeof entry.value === 'object';
      return {
        ...range,
        label: name,
        kind: 'param',
        detail: nested ? (Array.isArray(entry.value) ? 'list' : 'mapping') : preview(entry.value),
        documentation: `\`params.${full}\``,
        insertText: nested ? `${name}.` : name,
        retrigger: nested,
      } satisfies CompletionEntry;
    });
  }
  if (namespace === 'matrix' && stage) {
    return stage.matrixKeys.map((key) => ({
      ...range,
      label: key,
      kind: 'variable' as const,
      detail: stage.variants
        .map((variant) => String(variant.values[key]))
        .filter((v, i, all) => all.indexOf(v) === i)
        .join(', '),
    }));
  }
  return [];
}

function pathItems(
  workspace: Workspace,
  base: string,
  context: CursorContext,
  foldersOnly: boolean,
): CompletionEntry[] {
  const typed = context.prefix.replace(/^\.\//, '');
  const slash = typed.lastIndexOf('/');
  const folder = slash === -1 ? '' : typed.slice(0, slash + 1);
  // A folder reached through a link out of the pipeline's folder is not listed: completion would
  // show the names of files elsewhere on this machine (a repository can commit `data -> /home`).
  const listed = join(base, folder);
  const realBase = workspace.host.realPath?.(base);
  const realListed = workspace.host.realPath?.(listed);
  if (
    realBase !== undefined &&
    realListed !== undefined &&
    realListed !== realBase &&
    !realListed.startsWith(`${realBase}${sep}`)
  )
    return [];
  const entries = workspace.host.readDirectory(listed) ?? [];
  const items: CompletionEntry[] = [];
  for (const entry of entries) {
    if (SKIP_DIRS.has(entry.name) || (entry.name.startsWith('.') && !typed.startsWith('.'))) continue;
    if (foldersOnly && !entry.isDirectory) continue;
    const label = `${folder}${entry.name}${entry.isDirectory ? '/' : ''}`;
    items.push({
      label,
      kind: entry.isDirectory ? 'folder' : 'file',
      replaceStart: context.replaceStart,
      replaceEnd: context.replaceEnd,
      sortText: `1${entry.isDirectory ? 'a' : 'b'}${label}`,
      retrigger: entry.isDirectory,
    });
    if (items.length >= 500) break;
  }
  return items;
}

function keySnippet(key: string, schema: JsonSchema, inFlow: boolean): string {
  const types = typesOf(schema);
  if (schema.enum && schema.enum.length > 0)
    return `${key}: \${1|${schema.enum.map((v) => String(v).replace(/[|,]/g, '\\$&')).join(',')}|}`;
  if (types.length === 1 && types[0] === 'boolean') return `${key}: \${1|true,false|}`;
  if (inFlow) return `${key}: $0`;
  if (types[0] === 'object') return `${key}:\n  $0`;
  if (types[0] === 'array') return `${key}:\n  - $0`;
  if (schema.default !== undefined && typeof schema.default !== 'object')
    return `${key}: \${1:${escapeSnippet(String(schema.default))}}`;
  return `${key}: $0`;
}

/** A defaultSnippets body as block YAML, keeping `${1:...}` placeholders. */
function toYamlSnippet(body: unknown, indent: number): string {
  const pad = '  '.repeat(indent);
  if (Array.isArray(body))
    return body
      .map((item) => `${pad}- ${typeof item === 'object' ? toYamlSnippet(item, indent + 1).trimStart() : String(item)}`)
      .join('\n');
  if (body && typeof body === 'object') {
    return Object.entries(body)
      .map(([key, value]) => {
        if (value && typeof value === 'object') return `${pad}${key}:\n${toYamlSnippet(value, indent + 1)}`;
        return `${pad}${key}: ${String(value)}`;
      })
      .join('\n');
  }
  return `${pad}${String(body)}`;
}

function escapeSnippet(text: string): string {
  return text.replace(/[$}\\]/g, '\\$&');
}

function typeLabel(schema: JsonSchema): string | undefined {
  if (schema.enum) return schema.enum.map(String).join(' | ');
  const types = typesOf(schema);
  return types.length > 0 ? types.join(' | ') : undefined;
}

function preview(value: unknown): string {
  const text = paramText(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function stageDetail(cmd: unknown): string | undefined {
  if (typeof cmd !== 'string') return undefined;
  return cmd.length > 60 ? `${cmd.slice(0, 57)}...` : cmd;
}

/** Markdown summary of a stage: its command, inputs and outputs. */
export function stageDoc(analysis: PipelineAnalysis, name: string): string {
  const stage = analysis.model.stageByName.get(name) ?? analysis.model.variantToStage.get(name);
  if (!stage) return '';
  const map = stage.map as YMap | null;
  const lines = [
    `**stage ${stage.name}**${stage.variants.length > 1 ? ` (${stage.variants.length} variants: ${stage.variants.map((v) => v.name).join(', ')})` : ''}`,
  ];
  const describe = deref(mapGet(map, 'description')?.value);
  if (describe?.kind === 'scalar' && describe.value) lines.push('', String(describe.value));
  if (stage.cmd.length > 0) lines.push('', '```sh', ...stage.cmd.map((cmd) => String(cmd.value)), '```');
  const list = (label: string, paths: string[]) =>
    paths.length > 0 && lines.push(`- ${label}: ${paths.map((p) => `\`${p}\``).join(', ')}`);
  lines.push('');
  list(
    'deps',
    stage.deps.map((dep) => dep.raw),
  );
  list(
    'outs',
    [...stage.outs, ...stage.metrics, ...stage.plots].map((out) => out.raw),
  );
  lines.push(`- runs on \`${stage.host}\`${stage.image ? ` in \`${stage.image}\`` : ''}`);
  return lines.join('\n');
}
