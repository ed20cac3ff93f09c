import { closeSync } from 'node:fs';
import { Document, visit, type ScalarTag } from 'yaml';
import { Boundary, BoundaryError } from '../util/boundary';
import { IncrementalYamlParser } from '../yaml/build';
import { toJS } from '../yaml/values';
import { toHubLicense } from './hf-license';
import { readOpenedFile } from '../util/read-whole';

/**
 * `mlpipe card export --hf`: a model card as a Hugging Face README.md, front matter (license,
 * library_name, pipeline_tag, tags, language, datasets, base_model, model-index with the values
 * of the card's metrics read from their metrics files) and a Markdown body from the card's
 * sections in the order of the Hub's model card template. Documented in docs/modelcard.md.
 */

/** A metrics file larger than this is not read (the check's limit too). */
const MAX_METRICS_BYTES = 1024 * 1024;

export interface CardData {
  pipeline?: string;
  model?: {
    name?: string;
    version?: string;
    license?: string;
    owners?: (string | { name: string; contact?: string })[];
    description?: string;
    tags?: string[];
    task?: string;
    library?: string;
    references?: string[];
    language?: string[];
    datasets?: string[];
    base_model?: string | string[];
  };
  intended_use?: { primary_uses?: string[]; primary_users?: string[]; out_of_scope?: string[] };
  training_data?: { stage?: string; path?: string; description?: string };
  evaluation?: {
    description?: string;
    metrics?: {
      name: string;
      file: string;
      key?: string;
      threshold?: string;
      description?: string;
      type?: string;
      task?: string;
      dataset?: { type: string; name: string; config?: string; split?: string; revision?: string };
    }[];
  };
  considerations?: {
    limitations?: string[];
    tradeoffs?: string[];
    ethical_risks?: { risk: string; mitigation?: string }[];
  };
}

export interface ExportResult {
  readme: string;
  /** The front matter as written. */
  metadata: Record<string, unknown>;
  /** What the export could not carry exactly, for the user. */
  notes: string[];
}

export interface MetricsRead {
  value?: unknown;
  /** Why there is no value: missing, refused, too large, not JSON or YAML. */
  problem?: string;
}

/** A metrics file's plain value, read inside the pipeline's folder (links may not lead out of it). */
export function readMetricsInside(pipelineDir: string, file: string): MetricsRead {
  const boundary = new Boundary(pipelineDir);
  if (!boundary.contains(file)) return { problem: `${file} is outside the pipeline's folder` };
  let opened: { fd: number; stat: { isFile(): boolean; size: number } };
  try {
    opened = boundary.openRead(file);
  } catch (error) {
    if (error instanceof BoundaryError) return { problem: error.message };
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { problem: `${file} does not exist yet: run the pipeline (mlpipe run), then export again` };
    return { problem: `${file} cannot be read (${(error as Error).message})` };
  }
  try {
    if (!opened.stat.isFile()) return { problem: `${file} is not a file` };
    if (opened.stat.size > MAX_METRICS_BYTES) return { problem: `${file} is over 1 MB; mlpipe does not read it` };
    const yaml = new IncrementalYamlParser().parse(readOpenedFile(opened.fd, opened.stat.size).toString('utf8'));
    if (yaml.problems.some((problem) => problem.severity === 'error'))
      return { problem: `${file} is not valid JSON or YAML` };
    return { value: toJS(yaml.root, yaml.aliasesCut) };
  } finally {
    closeSync(opened.fd);
  }
}

/** `key` in a metrics value: a top-level key first (it may hold dots), then the dotted path. */
function metricValue(values: unknown, key: string): unknown {
  if (values === null || typeof values !== 'object') return undefined;
  if (Object.hasOwn(values, key)) return (values as Record<string, unknown>)[key];
  let current: unknown = values;
  for (const part of key.split('.')) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

const list = (items: string[] | undefined) => (items ?? []).filter((item) => item.trim() !== '');

/**
 * A value written on one Markdown line: its line breaks (CR, LF, U+2028/9, NEL) as spaces, so it
 * starts no line of its own, and `<!--` escaped (`<\!--`), so it hides nothing after it.
 */
const inline = (text: string) => text.replace(/\s*[\r\n\u0085\u2028\u2029]+\s*/g, ' ').replace(/<!--/g, '<\\!--');

function ownerText(owner: string | { name: string; contact?: string }): string {
  return inline(typeof owner === 'string' ? owner : owner.contact ? `${owner.name} (${owner.contact})` : owner.name);
}

/** The Hub's model-index for the card's metrics: one result per (task, dataset), values from the metrics files. */
function modelIndex(
  card: CardData,
  readMetrics: (file: string) => MetricsRead,
  notes: string[],
): { index?: unknown[]; metricTypes: string[]; rows: string[][] } {
  const results: { task: Record<string, string>; dataset: Record<string, string>; metrics: unknown[] }[] = [];
  const byKey = new Map<string, (typeof results)[number]>();
  const files = new Map<string, MetricsRead>();
  const metricTypes: string[] = [];
  const rows: string[][] = [];
  for (const metric of card.evaluation?.metrics ?? []) {
    const key = metric.key ?? metric.name;
    let read = files.get(metric.file);
    if (!read) files.set(metric.file, (read = readMetrics(metric.file)));
    if (read.problem) {
      notes.push(`metric '${metric.name}' is not in model-index: ${read.problem}`);
      continue;
    }
    const value = metricValue(read.value, key);
    if (value === undefined || (value !== null && typeof value === 'object')) {
      notes.push(
        `metric '${metric.name}' is not in model-index: ${metric.file} has no ${value === undefined ? 'key' : 'single value at'} '${key}'`,
      );
      continue;
    }
    const task = metric.task ?? card.model?.task;
    rows.push([metric.name, String(value), metric.dataset?.name ?? metric.file, metric.threshold ?? '']);
    if (!task) {
      notes.push(
        `metric '${metric.name}' is not in model-index: the Hub needs a task; set model.task (a pipeline_tag) or the metric's task`,
      );
      continue;
    }
    const dataset = metric.dataset
      ? Object.fromEntries(Object.entries(metric.dataset).filter(([, item]) => item !== undefined))
      : { type: metric.file, name: metric.file };
    if (!metric.dataset)
      notes.push(
        `metric '${metric.name}' names no dataset; model-index names its metrics file ${metric.file} instead: set the metric's dataset (type: a Hub dataset id, name) to link the result to a dataset`,
      );
    const type = metric.type ?? key.split('.').pop()!;
    if (!metricTypes.includes(type)) metricTypes.push(type);
    const groupKey = JSON.stringify([task, dataset]);
    let result = byKey.get(groupKey);
    if (!result) {
      result = { task: { type: task }, dataset, metrics: [] };
      byKey.set(groupKey, result);
      results.push(result);
    }
    result.metrics.push({ type, name: metric.name, value });
  }
  return {
    index: results.length > 0 ? [{ name: card.model?.name ?? 'model', results }] : undefined,
    metricTypes,
    rows,
  };
}

function bullets(items: string[]): string {
  return items.map((item) => `- ${inline(item)}`).join('\n');
}

/**
 * Plain scalars PyYAML's resolver (yaml/resolver.py) reads as other than text: bool, float, int,
 * merge, null, timestamp and value, whose `<<` and `=` its safe loader refuses outright.
 */
const PYYAML_IMPLICIT = new RegExp(
  [
    '^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$',
    '^(?:[-+]?[0-9][0-9_]*\\.[0-9_]*(?:[eE][-+][0-9]+)?|\\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN))$',
    '^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$',
    '^(?:<<|=|~|null|Null|NULL|)$',
    '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \\t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]*)?(?:[ \\t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$',
  ].join('|'),
);

/** A number JavaScript writes with an exponent and no point (`1e-7`), which PyYAML reads as text: written `1.0e-7`. */
const PYYAML_EXPONENT: ScalarTag = {
  identify: (value) => typeof value === 'number' && Number.isFinite(value) && /^-?\d+e/.test(String(value)),
  default: true,
  tag: 'tag:yaml.org,2002:float',
  test: /^(?!)/, // for writing only
  resolve: (text) => Number(text),
  stringify: ({ value }) => String(value).replace('e', '.0e'),
};

/** The Markdown body, sections in the order of the Hub's model card template; empty sections are left out. */
function body(card: CardData, rows: string[][], license: string | undefined): string {
  const model = card.model ?? {};
  const out: string[] = [`# ${inline(model.name ?? 'Model')}`];
  if (model.description) out.push(model.description.trim());
  const details: string[] = [];
  if (model.owners?.length) details.push(`- **Developed by:** ${model.owners.map(ownerText).join(', ')}`);
  if (model.task) details.push(`- **Model type:** ${inline(model.task)}`);
  if (model.language?.length) details.push(`- **Language(s) (NLP):** ${inline(model.language.join(', '))}`);
  if (license) details.push(`- **License:** ${inline(license)}`);
  if (model.base_model)
    details.push(
      `- **Finetuned from model:** ${inline(Array.isArray(model.base_model) ? model.base_model.join(', ') : model.base_model)}`,
    );
  if (model.version) details.push(`- **Version:** ${inline(model.version)}`);
  if (details.length > 0) out.push('## Model Details', '### Model Description', details.join('\n'));
  if (list(model.references).length > 0) out.push('### Model Sources', bullets(list(model.references)));

  const use = card.intended_use ?? {};
  if (list(use.primary_uses).length + list(use.primary_users).length + list(use.out_of_scope).length > 0) {
    out.push('## Uses');
    if (list(use.primary_uses).length > 0) out.push('### Direct Use', bullets(list(use.primary_uses)));
    if (list(use.primary_users).length > 0) out.push('### Intended Users', bullets(list(use.primary_users)));
    if (list(use.out_of_scope).length > 0) out.push('### Out-of-Scope Use', bullets(list(use.out_of_scope)));
  }

  const considerations = card.considerations ?? {};
  const risks = (considerations.ethical_risks ?? []).filter((risk) => risk.risk?.trim());
  if (list(considerations.limitations).length + list(considerations.tradeoffs).length + risks.length > 0) {
    out.push('## Bias, Risks, and Limitations');
    if (list(considerations.limitations).length > 0) out.push(bullets(list(considerations.limitations)));
    if (risks.length > 0)
      out.push(
        '### Risks and Mitigations',
        risks
          .map(
            (risk) =>
              `- **Risk:** ${inline(risk.risk)}${risk.mitigation ? ` **Mitigation:** ${inline(risk.mitigation)}` : ''}`,
          )
          .join('\n'),
      );
    if (list(considerations.tradeoffs).length > 0) out.push('### Trade-offs', bullets(list(considerations.tradeoffs)));
  }

  const training = card.training_data ?? {};
  if (training.description || training.stage || training.path) {
    out.push('## Training Details', '### Training Data');
    if (training.description) out.push(training.description.trim());
    if (training.stage || training.path)
      out.push(
        `Produced by${training.stage ? ` the pipeline stage \`${inline(training.stage)}\`` : ''}${training.path ? ` as \`${inline(training.path)}\`` : ''}.`,
      );
  }

  const evaluation = card.evaluation ?? {};
  if (evaluation.description || rows.length > 0) {
    out.push('## Evaluation');
    if (evaluation.description) out.push(evaluation.description.trim());
    if (rows.length > 0) {
      const cell = (text: string) => inline(text).replace(/\|/g, '\\|');
      out.push(
        '### Results',
        [
          '| Metric | Value | Dataset | Release threshold |',
          '|---|---|---|---|',
          ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
        ].join('\n'),
      );
    }
  }
  if (model.owners?.length) out.push('## Model Card Contact', bullets(model.owners.map(ownerText)));
  return `${out.join('\n\n')}\n`;
}

/**
 * A card's data (as `mlpipe check` accepts it) as a Hugging Face README.md; `readMetrics` reads
 * the metrics files it names (readMetricsInside the pipeline's folder).
 */
export function exportHuggingFace(card: CardData, readMetrics: (file: string) => MetricsRead): ExportResult {
  const notes: string[] = [];
  const model = card.model ?? {};
  const metadata: Record<string, unknown> = {};
  if (model.language?.length) metadata.language = model.language;
  let hub: ReturnType<typeof toHubLicense> | undefined;
  if (model.license) {
    hub = toHubLicense(model.license);
    metadata.license = hub.license;
    if (hub.license_name) metadata.license_name = hub.license_name;
    if (hub.license_link) metadata.license_link = hub.license_link;
    if (hub.note) notes.push(`license: ${hub.note}`);
  }
  if (model.library) metadata.library_name = model.library;
  if (model.task) metadata.pipeline_tag = model.task;
  if (model.base_model) metadata.base_model = model.base_model;
  if (model.tags?.length) metadata.tags = model.tags;
  if (model.datasets?.length) metadata.datasets = model.datasets;
  const { index, metricTypes, rows } = modelIndex(card, readMetrics, notes);
  if (metricTypes.length > 0) metadata.metrics = metricTypes;
  if (index) metadata['model-index'] = index;
  // YAML 1.1 quoting: the Hub reads front matter with PyYAML, for which `no`, `yes`, `on` are booleans.
  // (The merge key's tag would write `<<` plain whatever its type says: it is text here.)
  const document = new Document(metadata, {
    version: '1.1',
    customTags: (tags) => [
      PYYAML_EXPONENT,
      ...tags.filter((tag) => typeof tag === 'string' || tag.tag !== 'tag:yaml.org,2002:merge'),
    ],
  });
  // And every text PyYAML would read as something else (`1_000`, `0x1F`, `190:20:30`), or refuse (`<<`, `=`), in quotes.
  visit(document, {
    Scalar: (_key, node) => {
      if (typeof node.value === 'string' && PYYAML_IMPLICIT.test(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  const front = document.toString({ lineWidth: 0, indentSeq: false });
  const readme = `---\n${front}---\n\n${body(card, rows, model.license)}`;
  return { readme, metadata, notes };
}
