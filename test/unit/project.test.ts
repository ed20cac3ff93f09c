import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import Ajv from 'ajv';
import { SERVER_NODE_FLAGS } from '../../core/src/server-runtime';
import { DEFAULT_SETTINGS, flattenSettings, readSettings } from '../../core/src/settings';
import { EDITOR_KEYWORDS, SCHEMAS } from '../../core/src/schema/schemas';
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

describe('the project itself', () => {
  it('declares in package.json exactly the settings the code reads, with the same defaults', () => {
    const declared = manifest.contributes.configuration.properties as Record<string, { default: unknown; type: string }>;
    const expected = flattenSettings(DEFAULT_SETTINGS);
    assert.deepEqual(Object.keys(declared).sort(), [...expected.keys()].sort());
    for (const [key, value] of expected) {
      assert.deepEqual(declared[key].default, value, key);
      assert.equal(declared[key].type, typeof value === 'number' ? 'number' : typeof value, key);
    }
    assert.deepEqual(readSettings({ validate: { enable: 'yes' }, maxFileSizeMB: -2, trace: { server: 'loud' } }), DEFAULT_SETTINGS, 'wrong types fall back to defaults');
  });

  it('keeps core free of editor and protocol libraries, and the server free of the client', () => {
    for (const file of sources('core/src')) {
      for (const spec of imports(file)) assert.ok(!/^(vscode|vscode-languageserver|vscode-languageclient|vscode-jsonrpc)/.test(spec), `${relative(ROOT, file)} imports ${spec}`);
    }
    for (const file of sources('server/src')) for (const spec of imports(file)) assert.ok(!spec.includes('/client/') && spec !== 'vscode', `${relative(ROOT, file)} imports ${spec}`);
    for (const file of sources('client/src')) for (const spec of imports(file)) assert.ok(!spec.includes('/server/') && !spec.startsWith('vscode-languageserver'), `${relative(ROOT, file)} imports ${spec}`);
  });

  it('registers a handler for every contributed command and contributes every registered one', () => {
    const contributed = (manifest.contributes.commands as { command: string }[]).map((command) => command.command).sort();
    // The command tables: the extension's, and the experiment browser's.
    const tables = ['client/src/extension.ts', 'client/src/experiments/commands.ts'].map((file) => readFileSync(join(ROOT, file), 'utf8')).join('\n');
    const registered = [...tables.matchAll(/^ {4}'(mlpipe\.[A-Za-z]+)':/gm)].map((match) => match[1]).sort();
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
      for (const [name, sub] of Object.entries((schema.definitions ?? {}) as Record<string, Record<string, unknown>>)) visit(sub, `#${name}`);
    };
    visit(SCHEMAS.pipeline as Record<string, unknown>, '');
    assert.deepEqual(missing.filter((path) => !/\.(tls|plots|outs)\b|#(outList|plotList)/.test(path)), []);
  });
});
