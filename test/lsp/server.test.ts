import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type CodeAction,
  type CodeLens,
  type DocumentSymbol,
  type FoldingRange,
  type Hover,
  type Location,
  type WorkspaceEdit,
} from 'vscode-languageserver-protocol';
import { ROOT, tempWorkspace } from '../support/files';
import { LspClient, applyEdit, bundledServer, codesOf, messageOf } from '../support/lsp-client';

describe('language server over stdio', () => {
  let client: LspClient;
  let dir: string;
  let cleanup: () => void;
  let pipeline: string;
  let params: string;
  let card: string;

  before(async () => {
    ({ dir, cleanup } = tempWorkspace({}));
    cpSync(join(ROOT, 'sample-workspace'), dir, { recursive: true });
    // The sample's stages are ordered by deps; add an explicit `needs` to exercise stage references.
    const text = readFileSync(join(dir, 'mlpipe.yaml'), 'utf8').replace(
      '    description: Score the model on each held-out split.\n',
      '    description: Score the model on each held-out split.\n    needs: [train]\n',
    );
    writeFileSync(join(dir, 'mlpipe.yaml'), text);
    client = new LspClient(bundledServer(ROOT));
    client.configuration = { validate: { enable: true }, codeLens: { enable: true }, maxFileSizeMB: 4 };
    await client.initialize(dir);
    pipeline = client.uri(join(dir, 'mlpipe.yaml'));
    params = client.uri(join(dir, 'params.yaml'));
    card = client.uri(join(dir, 'modelcard.yaml'));
    const opened = await client.open(join(dir, 'mlpipe.yaml'), 'mlpipe-pipeline');
    assert.deepEqual(opened.diagnostics, [], 'the sample pipeline is clean');
    assert.equal(opened.version, 1);
  });

  after(async () => {
    await client.shutdown();
    cleanup();
  });

  it('reports a misspelt stage in needs at its exact range, with a quick fix that repairs it', async () => {
    const at = client.positionOf(pipeline, 'needs: [train]', 0, 'needs: ['.length);
    const published = await client.edit(
      pipeline,
      at,
      { line: at.line, character: at.character + 'train'.length },
      'trian',
    );
    assert.deepEqual(codesOf(published.diagnostics), ['unknown-stage']);
    const diagnostic = published.diagnostics[0];
    assert.deepEqual(diagnostic.range, { start: at, end: { line: at.line, character: at.character + 5 } });
    assert.match(messageOf(diagnostic), /did you mean 'train'\?/);
    const actions = await client.request<CodeAction[]>('textDocument/codeAction', {
      textDocument: { uri: pipeline },
      range: diagnostic.range,
      context: { diagnostics: [diagnostic] },
    });
    assert.equal(actions.length, 1);
    assert.equal(actions[0].isPreferred, true);
    const edit = actions[0].edit!.changes![pipeline][0];
    const fixed = await client.edit(pipeline, edit.range.start, edit.range.end, edit.newText);
    assert.deepEqual(fixed.diagnostics, []);
    assert.ok(client.text(pipeline).includes('needs: [train]'));
  });

  it('completes stage names inside needs, keys with documentation, and params inside ${...}', async () => {
    const inNeeds = client.positionOf(pipeline, 'needs: [train]', 0, 'needs: ['.length);
    const stages = (await client.complete(pipeline, inNeeds)).map((item) => item.label);
    assert.ok(stages.includes('prepare') && stages.includes('train'), `stages offered: ${stages.join(', ')}`);
    assert.ok(!stages.includes('evaluate'), 'a stage is not offered in its own needs');

    const keyLine = client.positionOf(pipeline, '    timeout: 30m');
    const keys = await client.complete(pipeline, { line: keyLine.line, character: 4 });
    const resources = keys.find((item) => item.label === 'resources');
    assert.ok(resources, 'resources is offered in a stage');
    assert.match(JSON.stringify(resources.documentation ?? ''), /container/);
    assert.ok(!keys.some((item) => item.label === 'cmd'), 'keys already present are not offered again');

    const inParams = client.positionOf(pipeline, '${params.train.lr}', 0, '${params.'.length);
    const top = (await client.complete(pipeline, inParams)).map((item) => item.label);
    assert.deepEqual(top.sort(), ['evaluate', 'prepare', 'seed', 'train']);
    const nested = await client.complete(
      pipeline,
      client.positionOf(pipeline, '${params.train.lr}', 0, '${params.train.'.length),
    );
    assert.deepEqual(nested.map((item) => item.label).sort(), ['epochs', 'l2', 'lr']);
    assert.equal(nested.find((item) => item.label === 'lr')?.detail, '0.1');
  });

  it('shows the resolved value of a param and the schema documentation of a key on hover', async () => {
    const value = await client.request<Hover>('textDocument/hover', {
      textDocument: { uri: pipeline },
      position: client.positionOf(pipeline, '${params.train.lr}', 0, 16),
    });
    assert.match(JSON.stringify(value.contents), /params\.train\.lr\*\* = `0\.1`/);
    assert.match(JSON.stringify(value.contents), /params\.yaml, line 8/);
    const key = await client.request<Hover>('textDocument/hover', {
      textDocument: { uri: pipeline },
      position: client.positionOf(pipeline, 'timeout: 30m', 0, 2),
    });
    assert.match(JSON.stringify(key.contents), /duration/);
  });

  it('goes to the definition of a needed stage and of a param in params.yaml', async () => {
    const stage = await client.request<Location[]>('textDocument/definition', {
      textDocument: { uri: pipeline },
      position: client.positionOf(pipeline, 'needs: [train]', 0, 10),
    });
    assert.equal(stage[0].uri, pipeline);
    assert.deepEqual(stage[0].range.start, client.positionOf(pipeline, '  train:', 0, 2));
    const param = await client.request<Location[]>('textDocument/definition', {
      textDocument: { uri: pipeline },
      position: client.positionOf(pipeline, '${params.seed}', 0, 10),
    });
    assert.equal(param[0].uri, params);
    assert.deepEqual(param[0].range, { start: { line: 0, character: 0 }, end: { line: 0, character: 4 } });
  });

  it('finds and renames a stage across the pipeline and the model card', async () => {
    const position = client.positionOf(pipeline, '  prepare:', 0, 3);
    const references = await client.request<Location[]>('textDocument/references', {
      textDocument: { uri: pipeline },
      position,
      context: { includeDeclaration: true },
    });
    assert.deepEqual(references.map((ref) => ref.uri).sort(), [card, pipeline].sort());
    const prepared = await client.request<{ placeholder: string }>('textDocument/prepareRename', {
      textDocument: { uri: pipeline },
      position,
    });
    assert.equal(prepared.placeholder, 'prepare');
    const edit = await client.request<WorkspaceEdit>('textDocument/rename', {
      textDocument: { uri: pipeline },
      position,
      newName: 'clean',
    });
    assert.equal(edit.changes![card].length, 1);
    const cardText = applyEdit(
      readFileSync(join(dir, 'modelcard.yaml'), 'utf8'),
      edit.changes![card][0].range.start,
      edit.changes![card][0].range.end,
      edit.changes![card][0].newText,
    );
    assert.match(cardText, /stage: clean/);
    await assert.rejects(
      client.request('textDocument/rename', { textDocument: { uri: pipeline }, position, newName: 'train' }),
      /already exists/,
    );
  });

  it('renames a param in params.yaml and in every ${params...} that uses it', async () => {
    const position = client.positionOf(pipeline, '${params.train.lr}', 0, '${params.train.'.length);
    const edit = await client.request<WorkspaceEdit>('textDocument/rename', {
      textDocument: { uri: pipeline },
      position,
      newName: 'learning_rate',
    });
    const paramsEdits = edit.changes![params];
    assert.equal(paramsEdits.length, 1);
    assert.deepEqual(paramsEdits[0].range, { start: { line: 7, character: 2 }, end: { line: 7, character: 4 } });
    const pipelineText = edit.changes![pipeline].reduceRight(
      (text, change) => applyEdit(text, change.range.start, change.range.end, change.newText),
      client.text(pipeline),
    );
    assert.match(pipelineText, /--lr \$\{params\.train\.learning_rate\}/);
    await assert.rejects(
      client.request('textDocument/prepareRename', {
        textDocument: { uri: pipeline },
        position: client.positionOf(pipeline, 'version: 1'),
      }),
      /renames stages and params/,
    );
  });

  it('outlines the stages, folds blocks and puts Run lenses above stages', async () => {
    const symbols = await client.request<DocumentSymbol[]>('textDocument/documentSymbol', {
      textDocument: { uri: pipeline },
    });
    const stages = symbols.find((symbol) => symbol.name === 'stages');
    assert.deepEqual(
      stages?.children?.map((child) => child.name),
      ['prepare', 'train', 'evaluate'],
    );
    assert.match(stages?.children?.[1].detail ?? '', /^python3 src\/train\.py/);
    const folds = await client.request<FoldingRange[]>('textDocument/foldingRange', {
      textDocument: { uri: pipeline },
    });
    assert.ok(folds.some((fold) => fold.startLine === client.positionOf(pipeline, '  train:').line));
    const lenses = await client.request<CodeLens[]>('textDocument/codeLens', { textDocument: { uri: pipeline } });
    assert.deepEqual(
      lenses.map((lens) => lens.command?.command),
      [
        'mlpipe.runPipeline',
        'mlpipe.runPipelineOnHost',
        'mlpipe.showPipelineGraph',
        'mlpipe.runStageUpstream',
        'mlpipe.runStageUpstream',
        'mlpipe.runStageUpstream',
      ],
    );
    // The sample declares a cluster: "Run on cluster" beside "Run pipeline".
    assert.equal(lenses[1].command?.title, '$(cloud-upload) Run on cluster');
    assert.deepEqual(lenses[1].command?.arguments, [pipeline, 'cluster']);
    assert.equal(lenses[2].command?.title, '$(type-hierarchy) Show graph');
    assert.deepEqual(lenses[2].command?.arguments, [pipeline]);
    assert.deepEqual(lenses[4].command?.arguments, [pipeline, 'train']);
  });

  it('re-checks an open pipeline when params.yaml changes, without touching the pipeline', async () => {
    await client.open(join(dir, 'params.yaml'), 'yaml');
    const pipelineVersion = client.version(pipeline);
    await client.replace(params, client.text(params).replace('  lr: 0.1\n', ''));
    const broken = await client.diagnosticsWhere(pipeline, (p) => p.diagnostics.length > 0);
    assert.equal(broken.version, pipelineVersion, 'the pipeline itself did not change');
    assert.deepEqual(codesOf(broken.diagnostics), ['unknown-param']);
    assert.match(messageOf(broken.diagnostics[0]), /Unknown param 'train\.lr'/);
    await client.replace(params, readFileSync(join(dir, 'params.yaml'), 'utf8'));
    await client.diagnosticsWhere(pipeline, (p) => p.diagnostics.length === 0);
  });

  it('offers to add a missing param to params.yaml', async () => {
    const at = client.positionOf(pipeline, '${params.seed}', 0, '${params.'.length);
    const published = await client.edit(pipeline, at, { line: at.line, character: at.character + 4 }, 'random_state');
    const diagnostic = published.diagnostics.find((d) => d.code === 'unknown-param')!;
    const actions = await client.request<CodeAction[]>('textDocument/codeAction', {
      textDocument: { uri: pipeline },
      range: diagnostic.range,
      context: { diagnostics: [diagnostic] },
    });
    const add = actions.find((action) => action.title.startsWith("Add 'random_state' to params.yaml"));
    assert.ok(add, `actions: ${actions.map((a) => a.title).join(', ')}`);
    const change = add.edit!.changes![params][0];
    assert.match(
      applyEdit(client.text(params), change.range.start, change.range.end, change.newText),
      /\nrandom_state: null # TODO: set a value\n$/,
    );
    await client.edit(pipeline, at, { line: at.line, character: at.character + 'random_state'.length }, 'seed');
  });

  it('re-checks a pipeline and its model card once per change, without ping-pong between them', async () => {
    await client.open(join(dir, 'modelcard.yaml'), 'mlpipe-modelcard');
    await client.diagnosticsWhere(card, () => true);
    const before = { pipeline: client.publishCount.get(pipeline) ?? 0, card: client.publishCount.get(card) ?? 0 };
    const at = client.positionOf(pipeline, 'timeout: 30m', 0, 'timeout: '.length);
    await client.edit(pipeline, at, { line: at.line, character: at.character + 3 }, '45m');
    await client.diagnosticsWhere(card, () => (client.publishCount.get(card) ?? 0) > before.card);
    // Round trips after the change: a loop would keep publishing between them.
    for (let i = 0; i < 5; i++)
      await client.request('textDocument/hover', { textDocument: { uri: pipeline }, position: at });
    assert.equal(client.publishCount.get(pipeline), before.pipeline + 1);
    assert.equal(client.publishCount.get(card), before.card + 1);
  });

  it('turns validation off per resource when the setting says so', async () => {
    const other = tempWorkspace({ 'mlpipe.yaml': 'version: 1\nstages:\n  a:\n    needs: [nope]\n' });
    const quiet = new LspClient(bundledServer(ROOT));
    try {
      quiet.configuration = { validate: { enable: false } };
      await quiet.initialize(other.dir);
      const published = await quiet.open(join(other.dir, 'mlpipe.yaml'), 'mlpipe-pipeline');
      assert.deepEqual(published.diagnostics, []);
    } finally {
      await quiet.shutdown();
      other.cleanup();
    }
  });

  it('logged no errors while answering', () => {
    assert.deepEqual(
      client.logs.filter((log) => log.type === 1),
      [],
    );
  });
});
