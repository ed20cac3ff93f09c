import { type ErrorObject, type ValidateFunction } from 'ajv';
import { type Diagnostic } from '../diagnostics/diagnostic';
import { isMergeKey, locate } from '../yaml/values';
import { deref, type YNode, type YPair } from '../yaml/nodes';
import { didYouMean, quoteList } from '../util/did-you-mean';
import { synonymFor } from './synonyms';
import { SCHEMAS, flatten, type JsonSchema, type SchemaKind } from './schemas';
import * as compiled from './validators.generated';

/** Validators compiled ahead of time from schemas/ (scripts/generate-validators.ts), with ajv's errors. */
const VALIDATORS = compiled as unknown as Record<SchemaKind, ValidateFunction>;

const TYPE_NAMES: Record<string, string> = {
  integer: 'a whole number',
  number: 'a number',
  string: 'text',
  array: 'a list',
  object: 'a mapping',
  boolean: 'true or false',
  null: 'null',
};

function typeOfValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number') return Number.isInteger(value) ? 'a whole number' : 'a number';
  if (typeof value === 'boolean') return 'true or false';
  return 'text';
}

function decodePointer(pointer: string): string[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const ROOT_NAMES: Record<SchemaKind, string> = {
  pipeline: 'the pipeline',
  modelcard: 'the model card',
  params: 'the params file',
};

/** A path as people read it: `evaluation.metrics[1].threshold`. */
function dotted(path: readonly string[]): string {
  return path.map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`)).join('');
}

/** Names the place a path points at, as a person would: "stage 'train'", "'resources.memory' of stage 'train'". */
export function describePath(kind: SchemaKind, path: readonly string[]): string {
  if (path.length === 0) return ROOT_NAMES[kind];
  if (kind === 'pipeline' && path[0] === 'stages' && path.length >= 2) {
    const stage = `stage '${path[1]}'`;
    return path.length === 2 ? stage : `'${dotted(path.slice(2))}' of ${stage}`;
  }
  if (kind === 'pipeline' && path[0] === 'hosts' && path.length >= 2) {
    const host = `host '${path[1]}'`;
    return path.length === 2 ? host : `'${dotted(path.slice(2))}' of ${host}`;
  }
  if (kind === 'params') return `param '${path.join('.')}'`;
  return `'${dotted(path)}'`;
}

interface Located {
  start: number;
  end: number;
}

function spanOf(root: YNode | null, path: readonly string[], wantKey: boolean): Located & { via: string | null } {
  const found = locate(root, path);
  const lexical = found.lexical;
  if (found.via && lexical) {
    const span = 'kind' in lexical ? lexical : lexical.key;
    return { start: span.start, end: Math.max(span.end, span.start + 1), via: found.via };
  }
  if (wantKey && found.pair)
    return { start: found.pair.key.start, end: Math.max(found.pair.key.end, found.pair.key.start + 1), via: null };
  if (found.node) return { start: found.node.start, end: Math.max(found.node.end, found.node.start + 1), via: null };
  if (found.pair) return { start: found.pair.key.start, end: found.pair.key.end, via: null };
  const start = root?.start ?? 0;
  return { start, end: start + 1, via: null };
}

/**
 * Validates a JS value against one of mlpipe's schemas and turns ajv's errors into one diagnostic
 * per problem, placed on the offending key or value. The tree supplies the positions.
 */
export function schemaDiagnostics(kind: SchemaKind, value: unknown, root: YNode | null): Diagnostic[] {
  const validate = VALIDATORS[kind];
  if (validate(value)) return [];
  return diagnosticsOf(kind, validate.errors ?? [], root);
}

function diagnosticsOf(kind: SchemaKind, all: readonly ErrorObject[], root: YNode | null): Diagnostic[] {
  // Errors inside `propertyNames` carry `propertyName`; the outer propertyNames error says it better.
  const errors = groupRequired(all.filter((error) => error.keyword !== 'if' && error.propertyName === undefined));
  const rootSchema = SCHEMAS[kind];
  const typeErrorPaths = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  // A misspelt required key shows up twice (unknown + missing); answer it once, as the misspelling.
  const suggestedFor = new Set<string>();
  const misspellings = new Map<string, { key: string; suggestion: string }>();
  for (const error of errors) {
    if (error.keyword !== 'additionalProperties') continue;
    const key = String((error.params as { additionalProperty: string }).additionalProperty);
    const parent = flatten(rootSchema, error.parentSchema as JsonSchema);
    const allowed = Object.keys(parent?.properties ?? {});
    const suggestion = didYouMean(key, allowed) ?? synonymFor(key, allowed);
    if (suggestion) {
      misspellings.set(`${error.instancePath}/${key}`, { key, suggestion });
      suggestedFor.add(`${error.instancePath}|${suggestion}`);
    }
  }

  for (const error of errors) {
    const path = decodePointer(error.instancePath);
    if (error.keyword !== 'type' && typeErrorPaths.has(error.instancePath)) continue;
    const diagnostic = describeError(kind, error, path, root, rootSchema, misspellings, suggestedFor);
    if (!diagnostic) continue;
    const id = `${diagnostic.start}:${diagnostic.end}:${diagnostic.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(diagnostic);
  }
  return out;
}

function describeError(
  kind: SchemaKind,
  error: ErrorObject,
  path: string[],
  root: YNode | null,
  rootSchema: JsonSchema,
  misspellings: Map<string, { key: string; suggestion: string }>,
  suggestedFor: Set<string>,
): Diagnostic | undefined {
  const parentSchema = flatten(rootSchema, error.parentSchema as JsonSchema) ?? {};
  const where = describePath(kind, path);
  const value = error.data;
  const base = (span: Located, message: string, code = 'schema'): Diagnostic => ({
    start: span.start,
    end: span.end,
    severity: 'error',
    code,
    message,
  });
  const via = (span: { via: string | null }) => (span.via ? ` (through ${span.via})` : '');

  switch (error.keyword) {
    case 'required': {
      const missing = (
        (error.params as { missing?: string[] }).missing ?? [
          (error.params as { missingProperty: string }).missingProperty,
        ]
      ).filter((name) => !suggestedFor.has(`${error.instancePath}|${name}`));
      if (missing.length === 0) return undefined;
      const span = spanOf(root, path, true);
      if (kind === 'modelcard' && path[0] === 'approval' && error.schemaPath.includes('/then/')) {
        return base(
          span,
          `An approved model card needs ${listWords(missing.map((name) => `approval.${name}`))}: an approval records who approved which run's artifact, and when.`,
          'approval-incomplete',
        );
      }
      if (missing.length > 1)
        return base(
          span,
          `${capitalise(where)} is missing required keys ${listWords(missing.map((name) => `'${name}'`))}.`,
          'missing-key',
        );
      const property = flatten(rootSchema, parentSchema.properties?.[missing[0]]);
      const about = property?.description ?? property?.markdownDescription?.replace(/`/g, '');
      const hint = about ? `: ${about}` : '.';
      return base(span, `${capitalise(where)} is missing required key '${missing[0]}'${hint}`, 'missing-key');
    }
    case 'additionalProperties': {
      const extra = (error.params as { additionalProperty: string }).additionalProperty;
      const span = spanOf(root, [...path, extra], true);
      const known = Object.keys(parentSchema.properties ?? {});
      const misspelt = misspellings.get(`${error.instancePath}/${extra}`);
      if (misspelt) {
        const diagnostic = base(
          span,
          `Unknown key '${extra}' in ${where}${via(span)}; did you mean '${misspelt.suggestion}'?`,
          'unknown-key',
        );
        if (!span.via)
          diagnostic.fixes = [
            {
              title: `Change '${extra}' to '${misspelt.suggestion}'`,
              edits: [{ path: '', start: span.start, end: span.end, newText: misspelt.suggestion }],
              preferred: true,
            },
          ];
        return diagnostic;
      }
      const extension = kind === 'pipeline' && path.length === 0 ? " (prefix extension fields with 'x-')" : '';
      return base(
        span,
        `Unknown key '${extra}' in ${where}${via(span)}; expected one of ${quoteList(known, 12)}${extension}.`,
        'unknown-key',
      );
    }
    case 'type': {
      const span = spanOf(root, path, false);
      const types = ([] as string[]).concat((error.params as { type: string | string[] }).type as string | string[]);
      if (parentSchema.patternErrorMessage && types.includes('string') && types.length > 1) {
        return base(
          span,
          `${capitalise(where)} is ${typeOfValue(value)}${via(span)}. ${parentSchema.patternErrorMessage}`,
        );
      }
      const expected = types.map((type) => TYPE_NAMES[type] ?? type).join(' or ');
      const advice = parentSchema.patternErrorMessage ? ` ${parentSchema.patternErrorMessage}` : '';
      return base(span, `${capitalise(where)} must be ${expected}, not ${typeOfValue(value)}${via(span)}.${advice}`);
    }
    case 'enum':
    case 'const': {
      const span = spanOf(root, path, false);
      const values =
        error.keyword === 'enum'
          ? (error.params as { allowedValues: unknown[] }).allowedValues
          : [(error.params as { allowedValue: unknown }).allowedValue];
      const allowed = values.map(String);
      const suggestion = typeof value === 'string' ? didYouMean(value, allowed) : undefined;
      // `version: "1"` against enum [1]: say which is text and which a number.
      const sameText = allowed.includes(String(value));
      const show = (item: unknown) =>
        sameText
          ? typeof item === 'string'
            ? `"${item}" (text)`
            : `${String(item)} (${typeOfValue(item)})`
          : `'${String(item)}'`;
      const diagnostic = base(
        span,
        `${capitalise(where)} must be ${values.length === 1 ? show(values[0]) : `one of ${quoteList(allowed)}`}, not ${show(value)}${via(span)}${suggestion ? `; did you mean '${suggestion}'?` : '.'}`,
      );
      if (suggestion && !span.via)
        diagnostic.fixes = [
          {
            title: `Change to '${suggestion}'`,
            edits: [{ path: '', start: span.start, end: span.end, newText: suggestion }],
            preferred: true,
          },
        ];
      return diagnostic;
    }
    case 'pattern': {
      const span = spanOf(root, path, false);
      const advice =
        parentSchema.patternErrorMessage ?? `It must match ${String((error.params as { pattern: string }).pattern)}.`;
      const code =
        kind === 'pipeline' && /size/i.test(advice)
          ? 'bad-size'
          : kind === 'pipeline' && /duration/i.test(advice)
            ? 'bad-duration'
            : 'schema';
      return base(span, `Invalid ${where}: '${String(value)}'${via(span)}. ${advice}`, code);
    }
    case 'propertyNames': {
      const name = (error.params as { propertyName: string }).propertyName;
      const span = spanOf(root, [...path, name], true);
      const names = flatten(rootSchema, parentSchema.propertyNames);
      return base(span, `Invalid name '${name}' in ${where}. ${names?.patternErrorMessage ?? ''}`.trim());
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const span = spanOf(root, path, false);
      const limit = (error.params as { limit: number }).limit;
      const words: Record<string, string> = {
        minimum: 'at least',
        maximum: 'at most',
        exclusiveMinimum: 'more than',
        exclusiveMaximum: 'less than',
      };
      return base(
        span,
        `${capitalise(where)} must be ${words[error.keyword]} ${limit}, not ${String(value)}${via(span)}.`,
      );
    }
    case 'minItems':
    case 'minLength':
    case 'minProperties': {
      const span = spanOf(root, path, false);
      const limit = (error.params as { limit: number }).limit;
      return base(
        span,
        limit <= 1
          ? `${capitalise(where)} must not be empty.`
          : `${capitalise(where)} needs at least ${limit} entries.`,
      );
    }
    case 'uniqueItems': {
      const { i, j } = error.params as { i: number; j: number };
      const span = spanOf(root, [...path, String(Math.max(i, j))], false);
      const list = Array.isArray(value) ? value : [];
      return {
        ...base(
          span,
          `Duplicate entry ${JSON.stringify(list[Math.max(i, j)])} in ${where}; it is already item ${Math.min(i, j) + 1}.`,
          'duplicate-entry',
        ),
        tags: ['unnecessary'],
      };
    }
    default: {
      const span = spanOf(root, path, false);
      return base(span, `${capitalise(where)} ${error.message ?? 'is invalid'}.`);
    }
  }
}

/** One `required` error per object, listing every missing key. */
function groupRequired(errors: ErrorObject[]): ErrorObject[] {
  const grouped = new Map<string, ErrorObject & { params: { missing: string[] } }>();
  const result: ErrorObject[] = [];
  for (const error of errors) {
    if (error.keyword !== 'required') {
      result.push(error);
      continue;
    }
    const key = `${error.instancePath}|${error.schemaPath}`;
    const missing = (error.params as { missingProperty: string }).missingProperty;
    const existing = grouped.get(key);
    if (existing) {
      existing.params.missing.push(missing);
      continue;
    }
    const copy = { ...error, params: { ...error.params, missing: [missing] } };
    grouped.set(key, copy);
    result.push(copy);
  }
  return result;
}

function listWords(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A stage's errors as ajv reports them inside a whole pipeline, by the stage's value (kept while its block is). */
const stageErrors = new WeakMap<object, { name: string; names: ErrorObject[]; inside: ErrorObject[] }>();

/** Stage names JavaScript orders before the others in an object: ajv would meet them first. */
const ARRAY_INDEX = /^(0|[1-9]\d{0,8})$/;

/**
 * The pipeline schema's findings, the same as `schemaDiagnostics('pipeline', toJS(root), root)`
 * gives, with each stage validated on its own and its errors kept while its value is the same
 * object (the parser keeps a block's value while its text holds): an edit validates the stages it
 * touched and the top level, not the whole pipeline. `valueOf` converts a node as `toJS` does.
 * Files this does not split cleanly (merge keys or duplicates at the top or among the stages,
 * stage names that are numbers, `stages` not a mapping) are validated whole.
 */
export function pipelineSchemaDiagnostics(
  root: YNode | null,
  valueOf: (node: YNode | null) => unknown,
  /** Whether the parser found duplicate keys anywhere; when it says none, stage names are not compared here. */
  duplicateKeys?: boolean,
): Diagnostic[] {
  const rootMap = deref(root);
  const whole = () => schemaDiagnostics('pipeline', valueOf(root), root);
  if (!rootMap || rootMap.kind !== 'map' || root?.kind !== 'map') return whole();
  const keys = new Set<string>();
  let stagesPair: YPair | undefined;
  for (const pair of rootMap.pairs) {
    if (isMergeKey(pair) || keys.has(pair.keyText)) return whole();
    keys.add(pair.keyText);
    if (pair.keyText === 'stages') stagesPair = pair;
  }
  const stagesMap = stagesPair?.value;
  if (!stagesPair || stagesMap?.kind !== 'map' || stagesMap.pairs.length === 0) return whole();
  if (duplicateKeys) return whole();
  const names = duplicateKeys === false ? undefined : new Set<string>();
  for (const pair of stagesMap.pairs) {
    if (isMergeKey(pair) || names?.has(pair.keyText) || ARRAY_INDEX.test(pair.keyText)) return whole();
    names?.add(pair.keyText);
  }

  // The top level, with an empty placeholder for the stages: its one complaint (an empty mapping)
  // marks where ajv reports what it finds in the stages.
  const top: Record<string, unknown> = {};
  const placeholder = {};
  for (const pair of rootMap.pairs) define(top, pair.keyText, pair === stagesPair ? placeholder : valueOf(pair.value));
  const validate = VALIDATORS.pipeline;
  const topErrors = validate(top) ? [] : [...(validate.errors ?? [])];
  const marker = topErrors.findIndex((error) => error.instancePath === '/stages' && error.keyword === 'minProperties');
  if (marker === -1) return whole();

  const nameErrors: ErrorObject[] = [];
  const insideErrors: ErrorObject[] = [];
  for (const pair of stagesMap.pairs) {
    const value = valueOf(pair.value);
    const cacheable = typeof value === 'object' && value !== null;
    let found = cacheable ? stageErrors.get(value) : undefined;
    if (!found || found.name !== pair.keyText) {
      const one: Record<string, unknown> = {};
      define(one, pair.keyText, value);
      const errors = validate({ version: 1, stages: one }) ? [] : [...(validate.errors ?? [])];
      found = {
        name: pair.keyText,
        names: errors.filter((error) => error.instancePath === '/stages'),
        inside: errors.filter((error) => error.instancePath.startsWith('/stages/')),
      };
      if (cacheable) stageErrors.set(value, found);
    }
    if (found.names.length > 0) nameErrors.push(...found.names);
    if (found.inside.length > 0) insideErrors.push(...found.inside);
  }
  const errors = [...topErrors.slice(0, marker), ...nameErrors, ...insideErrors, ...topErrors.slice(marker + 1)];
  return errors.length === 0 ? [] : diagnosticsOf('pipeline', errors, root);
}

function define(target: Record<string, unknown>, key: string, value: unknown): void {
  // As toJS does: a key named `__proto__` stays data.
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}
