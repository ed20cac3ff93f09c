import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, tempWorkspace } from '../support/files';
import { LspClient, bundledServer, offsetToPosition } from '../support/lsp-client';
import { pick, seeded } from '../support/random';

const SEED = Number(process.env.MLPIPE_FUZZ_SEED ?? 20261123);
const DOCUMENTS = Number(process.env.MLPIPE_FUZZ_DOCUMENTS ?? 10_000);

const TOKENS = [
  ':',
  ': ',
  '- ',
  '-',
  '\n',
  '\n  ',
  '\n    ',
  '  ',
  '\t',
  '#',
  '"',
  "'",
  '[',
  ']',
  '{',
  '}',
  ',',
  '&a ',
  '*a',
  '<<: ',
  '|',
  '>',
  '!',
  '!!str ',
  '?',
  '%',
  '@',
  '`',
  '${',
  '}',
  '${params.',
  '${matrix.',
  '$${',
  'stages:',
  'needs: [',
  'deps:',
  'outs:',
  'cmd: ',
  'matrix: {k: [1, 2]}',
  'resources: {gpus: ',
  'host: ',
  'image: ',
  'version: 1',
  '---\n',
  '...\n',
  'null',
  '~',
  '0x',
  '1e999',
  '-.inf',
  '\u0000',
  '\uFFFD',
  'é',
  '𝛂',
  '\r\n',
  '\\',
  '\u2028',
];

/** One random edit of a valid document: insert a YAML-ish token, delete, duplicate or move lines, re-indent, truncate. */
function mutate(text: string, random: () => number): string {
  const at = Math.floor(random() * (text.length + 1));
  const lines = text.split('\n');
  const line = Math.floor(random() * lines.length);
  switch (Math.floor(random() * 7)) {
    case 0:
      return text.slice(0, at) + pick(random, TOKENS) + text.slice(at);
    case 1:
      return text.slice(0, at) + text.slice(Math.min(text.length, at + 1 + Math.floor(random() * 40)));
    case 2:
      lines.splice(line, 0, lines[line]);
      return lines.join('\n');
    case 3:
      lines.splice(Math.floor(random() * lines.length), 0, ...lines.splice(line, 1));
      return lines.join('\n');
    case 4:
      lines[line] = random() < 0.5 ? ` ${lines[line]}` : lines[line].replace(/^ {1,2}/, '');
      return lines.join('\n');
    case 5:
      return text.slice(0, at);
    default:
      return text.slice(0, at) + pick(random, TOKENS) + pick(random, TOKENS) + text.slice(at);
  }
}

describe('fuzzing the language server', () => {
  let client: LspClient;
  let workspace: { dir: string; cleanup: () => void };

  before(async () => {
    workspace = tempWorkspace({
      'params.yaml': readFileSync(join(ROOT, 'sample-workspace/params.yaml'), 'utf8'),
      'mlpipe.yaml': readFileSync(join(ROOT, 'sample-workspace/mlpipe.yaml'), 'utf8'),
    });
    client = new LspClient(bundledServer(ROOT));
    await client.initialize(workspace.dir);
  });

  after(async () => {
    await client.shutdown();
    workspace.cleanup();
  });

  it(`answers every request on ${DOCUMENTS} mutated documents (seed ${SEED})`, async () => {
    const random = seeded(SEED);
    const bases: [string, string, string][] = [
      ['mlpipe.yaml', 'mlpipe-pipeline', readFileSync(join(ROOT, 'sample-workspace/mlpipe.yaml'), 'utf8')],
      ['modelcard.yaml', 'mlpipe-modelcard', readFileSync(join(ROOT, 'sample-workspace/modelcard.yaml'), 'utf8')],
      ['params.yaml', 'yaml', readFileSync(join(ROOT, 'sample-workspace/params.yaml'), 'utf8')],
      [
        'broken.pipeline.yaml',
        'mlpipe-pipeline',
        readFileSync(join(ROOT, 'test/fixtures/broken/params/mlpipe.yaml'), 'utf8'),
      ],
    ];
    const uris: string[] = [];
    for (const [name, language, text] of bases)
      uris.push((await client.open(join(workspace.dir, name), language, text)).uri);
    const requests = [
      'completion',
      'hover',
      'definition',
      'references',
      'documentSymbol',
      'foldingRange',
      'codeLens',
      'codeAction',
      'prepareRename',
    ];
    const answered = new Map<string, number>(requests.map((request) => [request, 0]));
    let diagnostics = 0;
    for (let i = 0; i < DOCUMENTS; i++) {
      const which = i % bases.length;
      const uri = uris[which];
      // Mutate the current text, and every so often restart from the valid base so edits stay near real files.
      const source = random() < 0.1 ? bases[which][2] : client.text(uri);
      let text = mutate(source, random);
      if (random() < 0.3) text = mutate(text, random);
      const published = await client.replace(uri, text);
      assert.equal(published.version, client.version(uri));
      diagnostics += published.diagnostics.length;
      const position = offsetToPosition(text, Math.floor(random() * (text.length + 1)));
      const request = requests[i % requests.length];
      const doc = { textDocument: { uri } };
      const context = `document ${i} (${request} at ${position.line}:${position.character}), seed ${SEED}`;
      try {
        switch (request) {
          case 'completion':
            await client.complete(uri, position);
            break;
          case 'references':
            await client.request('textDocument/references', {
              ...doc,
              position,
              context: { includeDeclaration: true },
            });
            break;
          case 'documentSymbol':
          case 'foldingRange':
          case 'codeLens':
            assert.ok(Array.isArray(await client.request(`textDocument/${request}`, doc)), context);
            break;
          case 'codeAction':
            await client.request('textDocument/codeAction', {
              ...doc,
              range: { start: position, end: position },
              context: { diagnostics: published.diagnostics },
            });
            break;
          default:
            await client.request(`textDocument/${request}`, { ...doc, position });
        }
      } catch (error) {
        // prepareRename refuses with a message where nothing can be renamed; that is an answer.
        if (!(
          request === 'prepareRename' && /renames stages and params|cannot be renamed|no stage/.test(String(error))
        ))
          throw new Error(`${context}: ${String(error)}\n--- text ---\n${text}`);
      }
      answered.set(request, answered.get(request)! + 1);
    }
    assert.ok(client.alive, 'the server is still running');
    assert.deepEqual(
      client.logs.filter((log) => log.type === 1).map((log) => log.message.slice(0, 500)),
      [],
      'no handler threw',
    );
    for (const [request, count] of answered)
      assert.ok(count >= Math.floor(DOCUMENTS / requests.length), `${request} answered ${count} times`);
    assert.ok(diagnostics > DOCUMENTS / 10, 'mutations produced findings');
  });
});
