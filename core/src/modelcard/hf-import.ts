import { Document, isScalar, type Scalar, type YAMLMap } from 'yaml';
import { isMap, isSeq, type YNode } from '../yaml/nodes';
import { mapGet } from '../yaml/values';
import { type CardData } from './hf-export';
import { CardFormatError, readFrontMatter } from './hf-frontmatter';
import { fromHubLicense } from './hf-license';

/**
 * `mlpipe card import README.md`: a Hugging Face model card as a `modelcard.yaml` that `mlpipe
 * check` accepts. Nothing is made up: what the Hub card says goes where the model card has a
 * place for it; what the model card requires and the Hub card lacks gets a placeholder marked
 * `# FILL IN:` and a line in the report; what has no place is listed in the report by key or by
 * section and line. The model-index values go into a metrics file beside the card (the values as
 * the Hub card reports them), which the card's metrics name. Documented in docs/modelcard.md.
 */

/** The metrics file the imported card's metrics name, beside the card. */
export const IMPORTED_METRICS_FILE = 'hf-model-index.json';
/** The marker on placeholders the user must replace. */
export const FILL_IN = 'FILL IN:';

export interface ImportReport {
  /** Model card fields filled with a placeholder, to replace (`model.version`). */
  fill: { field: string; why: string }[];
  /** What the Hub card says that the model card has no place for. */
  dropped: { what: string; line?: number; why: string }[];
  /** How something was carried over, where it changed form. */
  notes: string[];
}

export interface ImportResult {
  /** The model card's text. */
  card: string;
  data: CardData;
  /** The metrics file's text (JSON), when the Hub card has model-index results. */
  metrics?: string;
  report: ImportReport;
}

/** Sections without a place listed one by one in the report; the rest are counted. */
const MAX_REPORTED_SECTIONS = 200;

const PLACEHOLDER = /^\s*(\[?more information needed\]?|\[?needs more information\]?|tbd|todo|n\/a)\.?\s*$/i;

interface Section {
  level: number;
  title: string;
  /** 1-based line of the heading in the README. */
  line: number;
  text: string;
}

/** The body's sections by ATX heading, outside fenced code blocks; text before the first heading has level 0. */
function sections(body: string, firstLine: number): Section[] {
  const out: Section[] = [{ level: 0, title: '', line: firstLine, text: '' }];
  let fence: string | undefined;
  const lines = body.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fenceMatch = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (fenceMatch) {
      if (fence === undefined) fence = fenceMatch[1][0];
      else if (fenceMatch[1][0] === fence) fence = undefined;
    }
    const heading = fence === undefined ? /^ {0,3}(#{1,6})(?:[ \t]+(.*))?$/.exec(line) : null;
    if (heading)
      out.push({ level: heading[1].length, title: headingTitle(heading[2] ?? ''), line: firstLine + i, text: '' });
    else out[out.length - 1].text += `${line}\n`;
  }
  return out;
}

/** A heading's text without the closing `#`s Markdown allows (`## Uses ##`); by hand, as a pattern would backtrack. */
function headingTitle(text: string): string {
  let end = text.trimEnd().length;
  let hashes = end;
  while (hashes > 0 && text[hashes - 1] === '#') hashes--;
  if (hashes < end && (hashes === 0 || text[hashes - 1] === ' ' || text[hashes - 1] === '\t')) end = hashes;
  return text.slice(0, end).trim();
}

/** Section text without HTML comments (an unclosed one runs to the end) and placeholders; empty when nothing is left. */
function clean(text: string): string {
  let out = '';
  let at = 0;
  for (let open = text.indexOf('<!--'); open !== -1; open = text.indexOf('<!--', at)) {
    out += text.slice(at, open);
    const close = text.indexOf('-->', open + 4);
    at = close === -1 ? text.length : close + 3;
  }
  // `<\!--` is the escape export writes for a `<!--` in a value.
  const stripped = (out + text.slice(at)).replace(/<\\!--/g, '<!--').trim();
  return PLACEHOLDER.test(stripped) ? '' : stripped;
}

/** Longer items are not split into parts by the patterns below (a name and contact, a risk and mitigation). */
const MAX_PARSED_ITEM = 2_000;

/** A section's items: its bullets when it is a bullet list, else its paragraphs. */
function items(text: string): string[] {
  const lines = text.split('\n');
  if (
    lines.filter((line) => line.trim()).every((line) => /^\s*([-*+]|\d+\.)\s+/.test(line) || /^\s{2,}\S/.test(line))
  ) {
    const found: string[] = [];
    for (const line of lines) {
      const bullet = /^\s*(?:[-*+]|\d+\.)\s+(.*)$/.exec(line);
      if (bullet && !/^\s{2,}/.test(line)) found.push(bullet[1].trim());
      else if (line.trim() && found.length > 0) found[found.length - 1] += ` ${line.trim()}`;
    }
    return found.filter((item) => !PLACEHOLDER.test(item));
  }
  return text
    .split(/\n\s*\n/)
    .map((paragraph) => paragraph.trim())
    .filter((paragraph) => paragraph && !PLACEHOLDER.test(paragraph));
}

const normal = (title: string) =>
  title
    .toLowerCase()
    .replace(/\[optional\]/g, '')
    .replace(/[^a-z0-9&]+/g, ' ')
    .trim();

/** Where a section goes, by its heading (the Hub template's, the Trainer's and common variants). */
const HOMES: Record<string, string> = {
  'model description': 'description',
  description: 'description',
  'model details': 'description',
  overview: 'description',
  'model architecture': 'description',
  architecture: 'description',
  'model sources': 'references',
  uses: 'uses',
  'direct use': 'uses',
  'intended use': 'uses',
  'intended uses': 'uses',
  'intended uses & limitations': 'uses',
  'intended uses and limitations': 'uses',
  'intended users': 'users',
  'primary users': 'users',
  'out of scope use': 'out_of_scope',
  'out of scope uses': 'out_of_scope',
  'misuse and out of scope use': 'out_of_scope',
  'bias risks and limitations': 'limitations',
  'limitations and bias': 'limitations',
  'limitations and biases': 'limitations',
  limitations: 'limitations',
  'bias and limitations': 'limitations',
  'risks and limitations': 'limitations',
  'risks and mitigations': 'risks',
  'trade offs': 'tradeoffs',
  tradeoffs: 'tradeoffs',
  'training data': 'training',
  training: 'training',
  datasets: 'training',
  'training datasets': 'training',
  'training and evaluation data': 'training',
  'training details': 'training_parent',
  evaluation: 'evaluation',
  'evaluation results': 'evaluation',
  'eval results': 'evaluation',
  results: 'evaluation',
  performance: 'evaluation',
  references: 'references',
  'model card contact': 'owners',
  'model card authors': 'owners',
};

/** A model card name (`^[a-z0-9]+([._-][a-z0-9]+)*$`) from a Hub name; undefined when nothing is left. */
export function cardName(text: string): string | undefined {
  const name = text
    .toLowerCase()
    .replace(/^model card for\s+/, '')
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/[._-]{2,}/g, (run) => run[0])
    .replace(/^[._-]+|[._-]+$/g, '');
  return name || undefined;
}

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/** A front matter value as a list of texts; a list or mapping inside it is reported under `what`, not written as `[object Object]`. */
function strings(value: unknown, what?: string, report?: ImportReport): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const items = Array.isArray(value) ? value : [value];
  const texts = items.filter((item) => item === null || typeof item !== 'object');
  if (what && report && texts.length < items.length)
    report.dropped.push({ what, why: 'it holds a list or mapping where the model card takes a text' });
  const all = texts.map((item) => String(item).trim()).filter(Boolean);
  return all.length > 0 ? [...new Set(all)] : undefined;
}

/** Front matter keys mlpipe reads; the rest go into the report. */
const READ_KEYS = new Set([
  'license',
  'license_name',
  'license_link',
  'library_name',
  'pipeline_tag',
  'tags',
  'language',
  'datasets',
  'base_model',
  'model-index',
  'model_name',
  'metrics',
]);

interface ParsedIndex {
  name?: string;
  metrics: NonNullable<NonNullable<CardData['evaluation']>['metrics']>;
  values: Record<string, unknown>;
}

/**
 * A plain scalar as PyYAML resolves it (YAML 1.1, yaml/resolver.py and constructor.py): the Hub
 * reads front matter with PyYAML, mlpipe with YAML 1.2, where `yes`, `1_000`, `012`, `190:20:30`
 * are other values and `1e5`, `0o12` numbers. Dates stay text (JSON has none).
 */
export function pyyamlPlain(text: string): unknown {
  if (/^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/.test(text)) return true;
  if (/^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/.test(text)) return false;
  if (/^(?:~|null|Null|NULL|)$/.test(text)) return null;
  const base60 = (digits: string) => digits.split(':').reduce((sum, part) => sum * 60 + Number(part), 0);
  const int =
    /^([-+]?)(?:0b([0-1_]+)|0x([0-9a-fA-F_]+)|0([0-7_]+)|(0|[1-9][0-9_]*)|([1-9][0-9_]*(?::[0-5]?[0-9])+))$/.exec(text);
  if (int) {
    const [, sign, binary, hex, octal, decimal, sexagesimal] = int.map((part) => part?.replace(/_/g, ''));
    const value =
      binary !== undefined
        ? parseInt(binary || '0', 2)
        : hex !== undefined
          ? parseInt(hex || '0', 16)
          : octal !== undefined
            ? parseInt(octal || '0', 8)
            : decimal !== undefined
              ? Number(decimal)
              : base60(sexagesimal!);
    return sign === '-' ? -value : value;
  }
  if (/^\.(?:nan|NaN|NAN)$/.test(text)) return NaN;
  const float =
    /^([-+]?)(?:([0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?)|([0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*)|\.(?:inf|Inf|INF))$/.exec(
      text,
    );
  if (float) {
    const [, sign, plain, sexagesimal] = float.map((part) => part?.replace(/_/g, ''));
    const value = plain !== undefined ? Number(plain) : sexagesimal !== undefined ? base60(sexagesimal) : Infinity;
    return sign === '-' ? -value : value;
  }
  return text;
}

/** model-index: the metrics, their values by key, and what was dropped; malformed entries are reported, not guessed. */
function parseModelIndex(
  value: unknown,
  report: ImportReport,
  /** The source text of a metric's value when it is a plain scalar (results[r].metrics[m], m undefined for a single mapping). */
  plainSource: (r: number, m: number | undefined) => string | undefined = () => undefined,
): ParsedIndex {
  const out: ParsedIndex = { metrics: [], values: {} };
  if (value === undefined) return out;
  if (!Array.isArray(value)) {
    report.dropped.push({ what: 'model-index', why: 'it is not a list of models' });
    return out;
  }
  if (value.length > 1)
    report.dropped.push({
      what: `model-index entries 2 to ${value.length}`,
      why: 'a model card describes one model; only the first entry was read',
    });
  const entry = value[0] as { name?: unknown; results?: unknown } | undefined;
  if (!entry || typeof entry !== 'object') return out;
  if (typeof entry.name === 'string') out.name = entry.name;
  const results = Array.isArray(entry.results) ? entry.results : [];
  const kept = new Set<string>();
  results.forEach((raw, r) => {
    const result = raw as { task?: Record<string, unknown>; dataset?: Record<string, unknown>; metrics?: unknown };
    const where = `model-index results[${r}]`;
    const task = typeof result?.task?.type === 'string' ? result.task.type : undefined;
    const dataset = result?.dataset;
    if (!task || !dataset || typeof dataset.type !== 'string' || typeof dataset.name !== 'string') {
      report.dropped.push({
        what: where,
        why: 'the Hub requires task.type, dataset.type and dataset.name, and this result lacks one',
      });
      return;
    }
    if (result.task?.name !== undefined) kept.add('task.name (the task type is kept)');
    if (dataset.args !== undefined) kept.add('dataset.args');
    for (const key of Object.keys(dataset))
      if (!['type', 'name', 'config', 'split', 'revision', 'args'].includes(key)) kept.add(`dataset.${key}`);
      else if (key !== 'args' && dataset[key] !== null && typeof dataset[key] !== 'string')
        kept.add(`dataset.${key} that is not a text (${JSON.stringify(dataset[key])?.slice(0, 40)})`);
    const metrics = Array.isArray(result.metrics)
      ? result.metrics
      : result.metrics && typeof result.metrics === 'object'
        ? [result.metrics]
        : [];
    for (const [m, rawMetric] of metrics.entries()) {
      const metric = rawMetric as Record<string, unknown>;
      if (typeof metric?.type !== 'string' || metric.value === undefined || metric.value === null) {
        report.dropped.push({ what: `${where}.metrics[${m}]`, why: 'it has no type or no value' });
        continue;
      }
      for (const key of Object.keys(metric))
        if (!['type', 'name', 'value'].includes(key))
          kept.add(
            key === 'verified' || key === 'verifyToken'
              ? 'metrics[].verified and verifyToken (the Hub signs only the evaluations it ran; a copied card is not verified)'
              : `metrics[].${key}`,
          );
      let value: unknown = metric.value;
      const plain = plainSource(r, Array.isArray(result.metrics) ? m : undefined);
      if (plain !== undefined) {
        const hub = pyyamlPlain(plain);
        if (!Object.is(hub, value) && hub !== null) {
          report.notes.push(
            `${where} ${metric.type} = '${plain}' is ${String(hub)} as the Hub reads it (YAML 1.1, PyYAML), not ${JSON.stringify(value)} as YAML 1.2 reads it; kept as the Hub reads it`,
          );
          value = hub;
        }
      }
      if (typeof value === 'string' && /^-?\d+,\d+$/.test(value.trim()))
        report.notes.push(
          `${where} ${metric.type} = '${value}' is text (a decimal comma?); kept as written in ${IMPORTED_METRICS_FILE}, write ${value.replace(',', '.')} if that is what it means`,
        );
      else if (typeof value === 'object') {
        report.dropped.push({ what: `${where}.metrics[${m}]`, why: 'its value is not a single value' });
        continue;
      } else if (typeof value === 'number' && !Number.isFinite(value)) {
        report.dropped.push({
          what: `${where}.metrics[${m}] (${metric.type} = ${String(value)})`,
          why: `JSON, the format of ${IMPORTED_METRICS_FILE}, cannot hold ${String(value)}`,
        });
        continue;
      }
      const base = [dataset.type, dataset.config, dataset.split]
        .filter((part) => typeof part === 'string' && part)
        .join('/')
        .replace(/\./g, '_');
      let key = `${base}:${metric.type.replace(/\./g, '_')}`;
      for (let n = 2; Object.hasOwn(out.values, key); n++) key = `${base}:${metric.type.replace(/\./g, '_')}#${n}`;
      Object.defineProperty(out.values, key, { value, enumerable: true, writable: true, configurable: true });
      out.metrics.push({
        name: typeof metric.name === 'string' && metric.name.trim() ? metric.name : metric.type,
        file: IMPORTED_METRICS_FILE,
        key,
        type: metric.type,
        task,
        dataset: {
          type: dataset.type,
          name: dataset.name,
          ...(typeof dataset.config === 'string' ? { config: dataset.config } : {}),
          ...(typeof dataset.split === 'string' ? { split: dataset.split } : {}),
          ...(typeof dataset.revision === 'string' ? { revision: dataset.revision } : {}),
        },
      });
    }
  });
  for (const what of kept)
    report.dropped.push({
      what: `model-index ${what}`,
      why: 'the model card keeps a metric by task, dataset, type, name and value',
    });
  return out;
}

/** Owners from "Developed by" or a contact section's bullets: `Name (contact)` or `Name <contact>`. */
function owner(text: string): string | { name: string; contact: string } {
  const match = text.length <= MAX_PARSED_ITEM ? /^(.*?)\s*[(<]([^()<>]+)[)>]\s*$/.exec(text) : null;
  return match && match[1] ? { name: match[1].trim(), contact: match[2].trim() } : text.trim();
}

/** Imports a Hub README's text; `file` names it in errors and the report. */
export function importHuggingFace(text: string, file: string, options: { name?: string } = {}): ImportResult {
  const front = readFrontMatter(text, file);
  const meta = front.data;
  const report: ImportReport = { fill: [], dropped: [], notes: [] };
  if (!front.present) report.notes.push(`${file} has no front matter; only its Markdown was read`);
  for (const key of Object.keys(meta))
    if (!READ_KEYS.has(key) && meta[key] !== null)
      report.dropped.push({ what: `front matter '${key}'`, why: 'the model card has no field for it' });

  const card: CardData = {};
  const model: NonNullable<CardData['model']> = {};
  // The model-index values' source text, to read them again as the Hub does.
  const index = parseModelIndex(meta['model-index'], report, (r, m) => {
    let node: YNode | null | undefined = front.yaml?.root;
    for (const part of ['model-index', 0, 'results', r, 'metrics', ...(m === undefined ? [] : [m]), 'value'])
      node =
        typeof part === 'string'
          ? isMap(node)
            ? mapGet(node, part)?.value
            : undefined
          : isSeq(node)
            ? node.items[part]
            : undefined;
    return node?.kind === 'scalar' && node.style === 'plain' && node.tag === undefined
      ? front.yaml!.text.slice(node.start, node.end)
      : undefined;
  });
  // `metrics` lists the metric ids of model-index; without results, the card keeps no such list.
  if (strings(meta.metrics) && index.metrics.length === 0)
    report.dropped.push({ what: "front matter 'metrics'", why: 'the card has no model-index results to carry them' });
  const parts = sections(front.body, front.bodyLine);
  const title = parts.find((section) => section.level === 1);

  // Name: the command's --name, else model-index, model_name, the first heading.
  const named =
    options.name ??
    index.name ??
    (typeof meta.model_name === 'string' ? meta.model_name : undefined) ??
    title?.title.replace(/^model card for\s+/i, '');
  const name = named === undefined ? undefined : cardName(named);
  if (name) {
    model.name = name;
    if (named !== name)
      report.notes.push(`model.name '${name}' is the Hub name '${named}' as a registry name (lowercase)`);
  } else {
    model.name = 'model';
    report.fill.push({ field: 'model.name', why: 'the Hub card names no model (no model-index name, no heading)' });
  }

  const license = fromHubLicense(meta.license, meta.license_name, meta.license_link);
  if (license.license) model.license = license.license;
  else {
    model.license = 'unknown';
    report.fill.push({
      field: 'model.license',
      why: "the Hub card has no license; 'unknown' is what that says: name the license by its SPDX id",
    });
  }
  if (license.note) report.notes.push(`license: ${license.note}`);

  // Body: sections to fields, by heading.
  const uses: string[] = [];
  const users: string[] = [];
  const outOfScope: string[] = [];
  const limitations: string[] = [];
  const tradeoffs: string[] = [];
  const risks: { risk: string; mitigation?: string }[] = [];
  const references: string[] = [];
  const owners: (string | { name: string; contact: string })[] = [];
  let developedBy: string | undefined;
  const contacts: string[] = [];
  let description: string | undefined;
  let intro: string | undefined;
  let training: string | undefined;
  let evaluation: string | undefined;
  let version: string | undefined;
  let unplaced = 0;
  for (const section of parts) {
    const text = clean(section.text);
    if (section.level === 0 || section.level === 1) {
      if (text) intro = intro ? `${intro}\n\n${text}` : text;
      continue;
    }
    const home = HOMES[normal(section.title)];
    const heading = `section '${'#'.repeat(section.level)} ${section.title}'`;
    if (!text) continue;
    switch (home) {
      case 'description':
      case 'details': {
        // The template's "- **Developed by:** ..." lines; the other text is the description.
        const rest: string[] = [];
        for (const line of text.split('\n')) {
          const field = /^\s*[-*]\s+\*\*(.+?):?\*\*:?\s*(.*)$/.exec(line);
          const label = field ? normal(field[1]) : '';
          const value = field?.[2].trim() ?? '';
          if (!field) rest.push(line);
          else if (!value || PLACEHOLDER.test(value)) continue;
          else if (label === 'developed by') developedBy = value;
          else if (label === 'version' && SEMVER.test(value)) version = value;
          else if (['model type', 'license', 'language s nlp', 'finetuned from model'].includes(label))
            continue; // the front matter says these (pipeline_tag, license, language, base_model)
          else
            report.dropped.push({
              what: `${heading}: ${field[1]}`,
              line: section.line,
              why: 'the model card has no field for it',
            });
        }
        const left = rest.join('\n').trim();
        if (left) description = description ? `${description}\n\n${left}` : left;
        break;
      }
      case 'references':
        references.push(...items(text).map((item) => item.replace(/^\*\*.+?:?\*\*:?\s*/, '')));
        break;
      case 'uses':
        uses.push(...items(text));
        break;
      case 'users':
        users.push(...items(text));
        break;
      case 'out_of_scope':
        outOfScope.push(...items(text));
        break;
      case 'limitations':
        limitations.push(...items(text));
        break;
      case 'tradeoffs':
        tradeoffs.push(...items(text));
        break;
      case 'risks':
        for (const item of items(text)) {
          const match =
            item.length <= MAX_PARSED_ITEM
              ? /^\*\*Risk:\*\*\s*(.*?)(?:\s*\*\*Mitigation:\*\*\s*(.*))?$/.exec(item)
              : null;
          risks.push(match ? { risk: match[1], ...(match[2] ? { mitigation: match[2] } : {}) } : { risk: item });
        }
        break;
      case 'training':
        training = training ? `${training}\n\n${text}` : text;
        break;
      case 'evaluation':
        evaluation = evaluation ? `${evaluation}\n\n${text}` : text;
        break;
      case 'owners':
        contacts.push(...items(text));
        break;
      default:
        if (++unplaced <= MAX_REPORTED_SECTIONS)
          report.dropped.push({ what: heading, line: section.line, why: 'the model card has no section for it' });
    }
  }
  if (unplaced > MAX_REPORTED_SECTIONS)
    report.dropped.push({
      what: `${unplaced - MAX_REPORTED_SECTIONS} more sections`,
      why: 'the model card has no section for them',
    });
  // The text under the title comes first in the description.
  if (intro) description = description ? `${intro}\n\n${description}` : intro;

  // "Developed by" lists names split by commas; when it is the contact section's list (as export
  // writes both), the bullets say where each name ends ("Hugging Face, Inc." is one).
  if (developedBy !== undefined && developedBy !== contacts.join(', '))
    owners.push(...developedBy.split(/,\s*/).map(owner));
  owners.push(...contacts.map(owner));
  model.version = version ?? '0.0.0';
  if (!version)
    report.fill.push({ field: 'model.version', why: 'the Hub card has no version; 0.0.0 stands in until you set it' });
  if (owners.length > 0) {
    const seen = new Set<string>();
    model.owners = owners.filter((item) => {
      const key = JSON.stringify(item);
      return !seen.has(key) && (seen.add(key), true);
    });
  }
  if (description) model.description = description;
  const tags = strings(meta.tags, "front matter 'tags' (some)", report);
  if (tags) model.tags = tags;
  for (const key of ['pipeline_tag', 'library_name'])
    if (meta[key] !== undefined && meta[key] !== null && typeof meta[key] !== 'string')
      report.dropped.push({ what: `front matter '${key}'`, why: 'it is not a text' });
  if (typeof meta.pipeline_tag === 'string') model.task = meta.pipeline_tag;
  if (typeof meta.library_name === 'string') model.library = meta.library_name;
  const links = [...references, ...(license.link ? [license.link] : [])];
  if (links.length > 0) model.references = [...new Set(links)];
  const language = strings(meta.language, "front matter 'language' (some)", report);
  if (language) model.language = language;
  const datasets = strings(meta.datasets, "front matter 'datasets' (some)", report);
  if (datasets) model.datasets = datasets;
  const base = strings(meta.base_model, "front matter 'base_model' (some)", report);
  if (base) model.base_model = base.length === 1 ? base[0] : base;
  card.model = model;
  if (uses.length + users.length + outOfScope.length > 0)
    card.intended_use = {
      ...(uses.length ? { primary_uses: uses } : {}),
      ...(users.length ? { primary_users: users } : {}),
      ...(outOfScope.length ? { out_of_scope: outOfScope } : {}),
    };
  if (training) card.training_data = { description: training };
  if (evaluation || index.metrics.length > 0)
    card.evaluation = {
      ...(evaluation ? { description: evaluation } : {}),
      ...(index.metrics.length > 0 ? { metrics: index.metrics } : {}),
    };
  if (limitations.length + tradeoffs.length + risks.length > 0)
    card.considerations = {
      ...(limitations.length ? { limitations } : {}),
      ...(tradeoffs.length ? { tradeoffs } : {}),
      ...(risks.length ? { ethical_risks: risks } : {}),
    };
  if (index.metrics.length > 0)
    report.fill.push({
      field: 'evaluation.metrics[].file',
      why: `the Hub card's values are in ${IMPORTED_METRICS_FILE} as the card reports them; declare that file under a stage's metrics, or point each metric at your pipeline's own metrics file`,
    });

  const document = new Document(card);
  const mark = (path: string[], why: string) => {
    const node = document.getIn(path, true) as Scalar | undefined;
    if (node && isScalar(node)) node.comment = ` ${FILL_IN} ${why}`;
  };
  if (!version) mark(['model', 'version'], 'the Hub card has no version');
  if (!license.license) mark(['model', 'license'], 'the Hub card names no license');
  if (!name) mark(['model', 'name'], 'the Hub card names no model');
  const metricsSeq = document.getIn(['evaluation', 'metrics'], true);
  if (metricsSeq && !isScalar(metricsSeq))
    (metricsSeq as YAMLMap).commentBefore =
      ` ${FILL_IN} the values are in ${IMPORTED_METRICS_FILE} as the Hub card reports them; name the metrics file a stage of your pipeline writes`;
  // The file name goes into a comment: a line break in it must not start YAML of its own.
  const header = `# Imported from ${file.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, '?')} by mlpipe card import; check it with mlpipe check.\n`;
  return {
    card: header + document.toString({ lineWidth: 0 }),
    data: card,
    ...(index.metrics.length > 0 ? { metrics: `${JSON.stringify(index.values, null, 2)}\n` } : {}),
    report,
  };
}

export { CardFormatError };
