import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import Ajv from 'ajv';
import {
  RUN_PIPELINE,
  RUN_PIPELINE_ON_HOST,
  RUN_STAGE_UPSTREAM,
  SHOW_PIPELINE_GRAPH,
} from '../../core/src/language/commands';
import { SERVER_NODE_FLAGS } from '../../core/src/server-runtime';
import { DEFAULT_SETTINGS, flattenSettings, readSettings } from '../../core/src/settings';
import { EDITOR_KEYWORDS, SCHEMAS } from '../../core/src/schema/schemas';
import {
  isModelCardFile,
  isPipelineFile,
  kindByName,
  MODELCARD_GLOB,
  PIPELINE_GLOB,
} from '../../core/src/util/file-kinds';
import { ROOT } from '../support/files';

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

function sources(folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) out.push(path);
    }
  };
  walk(join(ROOT, folder));
  return out;
}

function imports(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)].map((match) => match[1]);
}

/**
 * What each part of core may import besides itself (docs/architecture/0012-layers.md): the
 * foundation at the bottom, arrows only downward. A new import that breaks this is a design
 * change: change the table and the ADR with it, or put the code where it belongs.
 */
const CORE_LAYERS: Record<string, string[]> = {
  errors: [],
  text: [],
  util: ['errors'],
  settings: [],
  'server-runtime': [],
  yaml: ['util', 'text'],
  diagnostics: ['yaml'],
  schema: ['diagnostics', 'util', 'yaml'],
  params: ['yaml', 'util'],
  pipeline: ['diagnostics', 'params', 'util', 'yaml'],
  modelcard: ['diagnostics', 'pipeline', 'util', 'yaml'],
  workspace: ['diagnostics', 'modelcard', 'params', 'pipeline', 'schema', 'yaml', 'util'],
  language: ['diagnostics', 'modelcard', 'params', 'pipeline', 'schema', 'workspace', 'yaml', 'util', 'text'],
  // The foundation of everything that runs: records, the .mlpipe layout, hashes, the content cache, locks.
  runs: ['util', 'errors'],
  store: ['runs', 'util', 'errors'],
  // The team cache: remotes (S3, OCI through the registry client, folders) under the runner.
  remote: ['runs', 'registry', 'tracking', 'util', 'errors'],
  runner: ['runs', 'store', 'remote', 'pipeline', 'params', 'workspace', 'yaml', 'util', 'errors'],
  tracking: ['runs', 'store', 'util', 'errors'],
  registry: ['runs', 'tracking', 'util', 'errors'],
  drift: ['runs', 'util', 'errors'],
  approval: ['runs', 'store', 'registry', 'tracking', 'drift', 'workspace', 'pipeline', 'util', 'errors'],
  // Other tools' projects in (mlpipe import dvc): translation, then the planner and seeds (ADR 0016).
  interop: ['runner', 'runs', 'workspace', 'diagnostics', 'util', 'errors'],
  // The pull-request report (mlpipe review): the runner's diff and graph, the store's runs, the card's approval.
  review: ['runner', 'approval', 'store', 'runs', 'workspace', 'util', 'errors'],
  cli: ['*'],
};

/** A file's relative imports (type-only ones too), resolved to .ts files. */
function resolvedImports(file: string): string[] {
  const out: string[] = [];
  for (const spec of [
    ...readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^'";]*?from ['"](\.[^'"]+)['"]/gm),
  ].map((match) => match[1])) {
    const base = join(file, '..', spec);
    for (const candidate of [`${base}.ts`, join(base, 'index.ts'), base]) {
      if (candidate.endsWith('.ts') && existsSync(candidate)) {
        out.push(candidate);
        break;
      }
    }
  }
  return out;
}

/** The part of core a file belongs to: its folder under core/src, or its own name for a file at the top. */
function corePart(file: string): string | undefined {
  const rel = relative(join(ROOT, 'core/src'), file);
  if (rel.startsWith('..')) return undefined;
  const [first, ...rest] = rel.split(/[\\/]/);
  return rest.length === 0 ? first.replace(/\.ts$/, '') : first;
}

describe('the project itself', () => {
  it('keeps core in layers: each part imports only the parts below it (ADR 0012)', () => {
    const wrong: string[] = [];
    for (const file of sources('core/src')) {
      const part = corePart(file)!;
      const allowed = CORE_LAYERS[part];
      if (!allowed) {
        wrong.push(`${relative(ROOT, file)}: core/src/${part} is not in the layer table`);
        continue;
      }
      for (const target of resolvedImports(file)) {
        const to = corePart(target);
        if (to === undefined) wrong.push(`${relative(ROOT, file)} imports ${relative(ROOT, target)}, outside core`);
        else if (to !== part && !allowed.includes('*') && !allowed.includes(to))
          wrong.push(`${relative(ROOT, file)} (${part}) imports ${relative(ROOT, target)} (${to})`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('has no import cycles in core, the server, the client or the webviews', () => {
    const files = ['core/src', 'server/src', 'client/src', 'webviews/src'].flatMap(sources);
    const graph = new Map(files.map((file) => [file, resolvedImports(file)]));
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].map((one) => relative(ROOT, one)).join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    assert.deepEqual(cycles, []);
  });

  it('declares in package.json exactly the settings the code reads, with the same defaults', () => {
    const declared = manifest.contributes.configuration.properties as Record<
      string,
      { default: unknown; type: string }
    >;
    const expected = flattenSettings(DEFAULT_SETTINGS);
    assert.deepEqual(Object.keys(declared).sort(), [...expected.keys()].sort());
    for (const [key, value] of expected) {
      assert.deepEqual(declared[key].default, value, key);
      assert.equal(declared[key].type, typeof value === 'number' ? 'number' : typeof value, key);
    }
    assert.deepEqual(
      readSettings({ validate: { enable: 'yes' }, maxFileSizeMB: -2, trace: { server: 'loud' } }),
      DEFAULT_SETTINGS,
      'wrong types fall back to defaults',
    );
  });

  it('keeps core free of editor and protocol libraries, and the server free of the client', () => {
    for (const file of sources('core/src')) {
      for (const spec of imports(file))
        assert.ok(
          !/^(vscode|vscode-languageserver|vscode-languageclient|vscode-jsonrpc)/.test(spec),
          `${relative(ROOT, file)} imports ${spec}`,
        );
    }
    for (const file of sources('server/src'))
      for (const spec of imports(file))
        assert.ok(!spec.includes('/client/') && spec !== 'vscode', `${relative(ROOT, file)} imports ${spec}`);
    for (const file of sources('client/src'))
      for (const spec of imports(file))
        assert.ok(
          !spec.includes('/server/') && !spec.startsWith('vscode-languageserver'),
          `${relative(ROOT, file)} imports ${spec}`,
        );
  });

  it('names pipeline and model card files in package.json as core does', () => {
    const languages = manifest.contributes.languages as {
      id: string;
      filenames: string[];
      filenamePatterns: string[];
    }[];
    const example = (pattern: string) => pattern.replace('*', 'train');
    for (const [id, kind] of [
      ['mlpipe-pipeline', 'pipeline'],
      ['mlpipe-modelcard', 'modelcard'],
    ] as const) {
      const language = languages.find((one) => one.id === id)!;
      for (const name of [...language.filenames, ...language.filenamePatterns.map(example)])
        assert.equal(kindByName(name), kind, `${id}: ${name}`);
    }
    const globNames = (glob: string) => /\{(.*)\}/.exec(glob)![1].split(',').map(example);
    for (const name of globNames(PIPELINE_GLOB)) assert.ok(isPipelineFile(name), name);
    for (const name of globNames(MODELCARD_GLOB)) assert.ok(isModelCardFile(name), name);
    for (const event of manifest.activationEvents as string[]) {
      const match = /^workspaceContains:\*\*\/(.+)$/.exec(event);
      if (match) assert.notEqual(kindByName(example(match[1])), 'other', event);
    }
  });

  it('registers a handler for every contributed command and contributes every registered one', () => {
    const contributed = (manifest.contributes.commands as { command: string }[])
      .map((command) => command.command)
      .sort();
    // The ids (client/src/commands/ids.ts: `name: 'mlpipe.x'`, or a code-lens id shared with the server).
    const lensIds = { RUN_PIPELINE, RUN_PIPELINE_ON_HOST, RUN_STAGE_UPSTREAM, SHOW_PIPELINE_GRAPH } as Record<
      string,
      string
    >;
    const ids = new Map(
      [
        ...readFileSync(join(ROOT, 'client/src/commands/ids.ts'), 'utf8').matchAll(
          /^ {2}(\w+): (?:'(mlpipe\.[A-Za-z]+)'|([A-Z_]+)),$/gm,
        ),
      ].map((match) => [match[1], match[2] ?? lensIds[match[3]]]),
    );
    // The one table (client/src/commands/table.ts): `name: { run: ... }` for every command it registers.
    const table = [
      ...readFileSync(join(ROOT, 'client/src/commands/table.ts'), 'utf8').matchAll(/^ {4}(\w+): \{ run: /gm),
    ].map((match) => match[1]);
    assert.deepEqual([...table].sort(), [...ids.keys()].sort(), 'the table has one entry per id');
    const registered = table.map((name) => ids.get(name)).sort();
    assert.ok(
      registered.every((id) => typeof id === 'string'),
      `ids: ${registered.join(', ')}`,
    );
    assert.deepEqual(registered, contributed);
  });

  it('starts the server bin with the same V8 flags as the extension', () => {
    const shebang = readFileSync(join(ROOT, 'dist/server.js'), 'utf8').split('\n')[0];
    assert.equal(shebang, `#!/usr/bin/env -S node ${SERVER_NODE_FLAGS.join(' ')}`);
  });

  it('ships schemas that compile under strict draft-07 rules, as other YAML tools load them', () => {
    const ajv = new Ajv({ strict: true, strictRequired: false, allowUnionTypes: true, keywords: EDITOR_KEYWORDS });
    for (const [kind, schema] of Object.entries(SCHEMAS)) assert.doesNotThrow(() => ajv.compile(schema), kind);
    for (const entry of manifest.contributes.yamlValidation as { url: string }[]) {
      assert.ok(statSync(join(ROOT, entry.url)).isFile(), entry.url);
    }
  });

  it('gives every key of the pipeline schema a description, for hover and completion', () => {
    const missing: string[] = [];
    const visit = (schema: Record<string, unknown>, path: string) => {
      for (const [key, sub] of Object.entries((schema.properties ?? {}) as Record<string, Record<string, unknown>>)) {
        if (!sub.description && !sub.markdownDescription && !sub.$ref) missing.push(`${path}.${key}`);
        visit(sub, `${path}.${key}`);
      }
      for (const [name, sub] of Object.entries((schema.definitions ?? {}) as Record<string, Record<string, unknown>>))
        visit(sub, `#${name}`);
    };
    visit(SCHEMAS.pipeline as Record<string, unknown>, '');
    assert.deepEqual(
      missing.filter((path) => !/\.(tls|plots|outs)\b|#(outList|plotList)/.test(path)),
      [],
    );
  });
});
