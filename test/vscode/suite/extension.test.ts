import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

/** Waits for a condition on the vscode API, polling; fails after `timeoutMs` with `what`. */
async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function workspaceFile(name: string): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the tests run with the sample workspace open');
  return vscode.Uri.joinPath(folder.uri, name);
}

suite('mlpipe in VS Code', () => {
  test('activates on a workspace with a pipeline', async () => {
    const extension = vscode.extensions.getExtension('mlpipe.mlpipe');
    assert.ok(extension, 'the extension is installed');
    await vscode.workspace.openTextDocument(workspaceFile('mlpipe.yaml'));
    await until('activation', () => (extension.isActive ? true : undefined));
  });

  test('gives pipelines and model cards their languages', async () => {
    const pipeline = await vscode.workspace.openTextDocument(workspaceFile('mlpipe.yaml'));
    const card = await vscode.workspace.openTextDocument(workspaceFile('modelcard.yaml'));
    assert.equal(pipeline.languageId, 'mlpipe-pipeline');
    assert.equal(card.languageId, 'mlpipe-modelcard');
  });

  test('reports no problem in the sample pipeline and the exact ones in a broken fixture', async () => {
    const sample = await vscode.workspace.openTextDocument(workspaceFile('mlpipe.yaml'));
    await vscode.window.showTextDocument(sample);
    const broken = await vscode.workspace.openTextDocument(workspaceFile('broken.pipeline.yaml'));
    await vscode.window.showTextDocument(broken);
    const diagnostics = await until('diagnostics of broken.pipeline.yaml', () => {
      const found = vscode.languages.getDiagnostics(broken.uri);
      return found.length >= 6 ? found : undefined;
    });
    const summary = diagnostics
      .map((d) => `${d.range.start.line + 1} ${String(typeof d.code === 'object' ? d.code.value : d.code)}`)
      .sort();
    assert.deepEqual(summary, [
      '14 cycle',
      '18 cycle',
      '22 cycle',
      '25 self-need',
      '25 unknown-stage',
      '9 unknown-stage',
    ]);
    const unknown = diagnostics.find((d) => d.range.start.line === 8)!;
    assert.equal(unknown.source, 'mlpipe');
    assert.equal(unknown.severity, vscode.DiagnosticSeverity.Error);
    assert.match(unknown.message, /did you mean 'prepare'\?/);
    assert.deepEqual(vscode.languages.getDiagnostics(sample.uri), []);
  });

  test('registers every MLPipe command', async () => {
    const commands = await vscode.commands.getCommands(true);
    for (const id of [
      'mlpipe.runPipeline',
      'mlpipe.runStage',
      'mlpipe.runStageUpstream',
      'mlpipe.cancelRun',
      'mlpipe.showStatus',
      'mlpipe.restartServer',
      'mlpipe.showOutput',
      'mlpipe.pushRuns',
      'mlpipe.pullFromRemote',
      'mlpipe.refreshRemoteState',
      'mlpipe.setRemoteCredentials',
    ])
      assert.ok(commands.includes(id), id);
  });

  test('answers completion and hover through the language server', async () => {
    const sample = await vscode.workspace.openTextDocument(workspaceFile('mlpipe.yaml'));
    const text = sample.getText();
    const at = sample.positionAt(text.indexOf('${params.train.lr}') + '${params.train.'.length);
    const list = await until('params completion', async () => {
      const result = await vscode.commands.executeCommand<vscode.CompletionList>(
        'vscode.executeCompletionItemProvider',
        sample.uri,
        at,
      );
      return result.items.some((item) => item.label === 'lr') ? result : undefined;
    });
    assert.ok(list.items.some((item) => item.label === 'epochs'));
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>(
      'vscode.executeHoverProvider',
      sample.uri,
      at.translate(0, 1),
    );
    const text0 = hovers
      .flatMap((hover) =>
        hover.contents.map((content) =>
          typeof content === 'string' ? content : 'value' in content ? content.value : '',
        ),
      )
      .join('\n');
    assert.match(text0, /params\.train\.lr\*\* = `0\.1`/);
  });

  test('restarts the language server on command, and it answers again', async () => {
    await vscode.commands.executeCommand('mlpipe.restartServer');
    const sample = await vscode.workspace.openTextDocument(workspaceFile('mlpipe.yaml'));
    const symbols = await until('symbols after restart', async () => {
      const result = await vscode.commands.executeCommand<vscode.DocumentSymbol[]>(
        'vscode.executeDocumentSymbolProvider',
        sample.uri,
      );
      return result && result.length > 0 ? result : undefined;
    });
    const stages = symbols.find((symbol) => symbol.name === 'stages');
    assert.deepEqual(
      stages?.children.map((child) => child.name),
      ['prepare', 'train', 'evaluate'],
    );
  });
});
