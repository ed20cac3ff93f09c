import modelcardSchema from '../../../schemas/modelcard.schema.json';
import paramsSchema from '../../../schemas/params.schema.json';
import pipelineSchema from '../../../schemas/pipeline.schema.json';

/** The subset of JSON Schema (draft-07) the schemas in `schemas/` use, with VS Code's extensions. */
export interface JsonSchema {
  $ref?: string;
  title?: string;
  description?: string;
  markdownDescription?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  required?: string[];
  items?: JsonSchema;
  allOf?: JsonSchema[];
  pattern?: string;
  patternErrorMessage?: string;
  markdownEnumDescriptions?: string[];
  defaultSnippets?: { label?: string; description?: string; markdownDescription?: string; body: unknown }[];
  definitions?: Record<string, JsonSchema>;
  [keyword: string]: unknown;
}

export type SchemaKind = 'pipeline' | 'modelcard' | 'params';

export const SCHEMAS: Record<SchemaKind, JsonSchema> = {
  pipeline: pipelineSchema as JsonSchema,
  modelcard: modelcardSchema as JsonSchema,
  params: paramsSchema as JsonSchema,
};

/** Keywords VS Code's JSON and YAML tooling understands; ajv must accept and ignore them. */
export const EDITOR_KEYWORDS = [
  'markdownDescription',
  'patternErrorMessage',
  'errorMessage',
  'defaultSnippets',
  'markdownEnumDescriptions',
  'enumDescriptions',
  'deprecationMessage',
  'doNotSuggest',
];

function resolveRef(root: JsonSchema, ref: string): JsonSchema | undefined {
  if (!ref.startsWith('#/')) return undefined;
  let current: unknown = root;
  for (const part of ref.slice(2).split('/')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return current as JsonSchema | undefined;
}

/**
 * A schema with `$ref` and `allOf` folded in: descriptions from the outer schema win, validation
 * keywords combine. Enough for completion and hover, which read descriptions, properties and types.
 */
export function flatten(root: JsonSchema, schema: JsonSchema | undefined, depth = 0): JsonSchema | undefined {
  if (!schema || depth > 16) return schema;
  let result: JsonSchema = { ...schema };
  if (schema.$ref) {
    const target = flatten(root, resolveRef(root, schema.$ref), depth + 1);
    const { $ref: _ignored, ...rest } = result;
    result = { ...target, ...rest };
  }
  if (schema.allOf) {
    const { allOf: parts, ...rest } = result;
    let merged: JsonSchema = {};
    for (const part of parts ?? []) merged = { ...merged, ...flatten(root, part, depth + 1) };
    result = { ...merged, ...rest };
  }
  return result;
}

/** The schema for the value at `path` (keys and indexes), or undefined where the schema says nothing. */
export function schemaAt(kind: SchemaKind, path: readonly (string | number)[]): JsonSchema | undefined {
  const root = SCHEMAS[kind];
  let current = flatten(root, root);
  for (const segment of path) {
    if (!current) return undefined;
    if (typeof segment === 'number') {
      current = flatten(root, current.items);
      continue;
    }
    current = propertySchema(root, current, segment);
  }
  return current;
}

export function propertySchema(root: JsonSchema, schema: JsonSchema, key: string): JsonSchema | undefined {
  const direct = schema.properties?.[key];
  if (direct) return flatten(root, direct);
  for (const [pattern, sub] of Object.entries(schema.patternProperties ?? {})) {
    if (new RegExp(pattern, 'u').test(key)) return flatten(root, sub);
  }
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object')
    return flatten(root, schema.additionalProperties);
  return undefined;
}

export function description(schema: JsonSchema | undefined): string | undefined {
  return schema?.markdownDescription ?? schema?.description;
}

export function typesOf(schema: JsonSchema | undefined): string[] {
  if (!schema) return [];
  if (schema.type) return Array.isArray(schema.type) ? schema.type : [schema.type];
  if (schema.enum)
    return [
      ...new Set(
        schema.enum.map((value) => (value === null ? 'null' : Number.isInteger(value) ? 'integer' : typeof value)),
      ),
    ];
  if (schema.properties || schema.additionalProperties) return ['object'];
  return [];
}
