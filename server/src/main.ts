import {
  CodeActionKind,
  DidChangeConfigurationNotification,
  DidChangeWatchedFilesNotification,
  ErrorCodes,
  FoldingRangeKind,
  ProposedFeatures,
  ResponseError,
  TextDocumentSyncKind,
  TextDocuments,
  createConnection,
  type CodeAction,
  type CodeLensParams,
  type CompletionParams,
  type Connection,
  type DefinitionParams,
  type DocumentSymbolParams,
  type FoldingRange,
  type FoldingRangeParams,
  type HoverParams,
  type PrepareRenameParams,
  type ReferenceParams,
  type RenameParams,
  type InitializeResult,
  type Range,
  type WorkspaceEdit,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { complete } from '../../core/src/language/completion';
import { hover } from '../../core/src/language/hover';
import { definition, prepareRename, references, rename } from '../../core/src/language/navigation';
import { lensArguments } from '../../core/src/language/commands';
import { codeLenses, folding, outline, type Lens } from '../../core/src/language/outline';
import { DEFAULT_SETTINGS, readSettings, type MlpipeSettings } from '../../core/src/settings';
import { nodeFileHost } from '../../core/src/workspace/file-host';
import { type FileKind } from '../../core/src/util/file-kinds';
import { Workspace, type Analysis } from '../../core/src/workspace/workspace';
import {
  Positions,
  pathToUri,
  toCompletionItem,
  toDocumentSymbol,
  toLspDiagnostic,
  toWorkspaceEdit,
  uriToPath,
  type FixData,
} from './convert';

declare const MLPIPE_VERSION: string | undefined;

/** Language ids the client sends for mlpipe's own languages. */
const LANGUAGE_KINDS: Record<string, FileKind> = { 'mlpipe-pipeline': 'pipeline', 'mlpipe-modelcard': 'modelcard' };

/** A lens's title, with a codicon (VS Code draws `$(name)`; other editors show the text). */
function lensTitle(lens: Lens): string {
  switch (lens.command.id) {
    case 'mlpipe.runPipeline':
      return '$(run-all) Run pipeline';
    case 'mlpipe.runStageUpstream':
      return `$(play) Run stage${lens.variants !== undefined && lens.variants > 1 ? ` (${lens.variants} variants)` : ''}`;
    case 'mlpipe.runPipelineOnHost':
      return `$(cloud-upload) Run on ${lens.command.args[0]}`;
    case 'mlpipe.showPipelineGraph':
      return '$(type-hierarchy) Show graph';
  }
}

export function startServer(connection: Connection): void {
  const documents = new TextDocuments(TextDocument);
  const workspace = new Workspace(nodeFileHost, {
    maxFileSize: DEFAULT_SETTINGS.maxFileSizeMB * 1024 * 1024,
    existenceTtlMs: 2_000,
  });
  const positions = new Positions((path) => workspace.text(path));
  const languageOf = new Map<string, string>();
  const settingsCache = new Map<string, Promise<MlpipeSettings>>();
  let canPullConfiguration = false;
  let canWatchFiles = false;
  let globalSettings = DEFAULT_SETTINGS;

  const log = (message: string) => connection.console.log(message);
  const logError = (where: string, error: unknown) =>
    connection.console.error(`${where}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);

  /** Every handler goes through here: a bug in one request answers empty, never brings the server down. */
  const guard =
    <P, R>(name: string, fallback: R, handler: (params: P) => R | Promise<R>) =>
    async (params: P): Promise<R> => {
      try {
        return await handler(params);
      } catch (error) {
        if (error instanceof ResponseError) throw error; // a refusal meant for the user, such as an invalid rename
        logError(name, error);
        return fallback;
      }
    };

  const kindFor = (uri: string): FileKind => {
    const language = languageOf.get(uri);
    const path = uriToPath(uri);
    const byName = workspace.kindOf(path);
    if (byName !== 'other') return byName;
    return (language ? LANGUAGE_KINDS[language] : undefined) ?? 'other';
  };

  const analysisFor = (uri: string): Analysis | undefined => {
    const document = documents.get(uri);
    if (!document) return undefined;
    return workspace.analyze(uriToPath(uri), kindFor(uri));
  };

  const settingsFor = (uri: string): Promise<MlpipeSettings> => {
    if (!canPullConfiguration) return Promise.resolve(globalSettings);
    let cached = settingsCache.get(uri);
    if (!cached) {
      cached = connection.workspace
        .getConfiguration({ scopeUri: uri, section: 'mlpipe' })
        .then(readSettings, () => globalSettings);
      settingsCache.set(uri, cached);
    }
    return cached;
  };

  // Validation: newest version only, no debounce beyond one turn of the event loop.
  const pending = new Set<string>();
  let scheduled = false;
  const schedule = (uri: string) => {
    pending.add(uri);
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      const uris = [...pending];
      pending.clear();
      for (const next of uris) void validate(next);
    });
  };

  const validate = async (uri: string) => {
    const document = documents.get(uri);
    if (!document) return;
    try {
      const settings = await settingsFor(uri);
      if (documents.get(uri)?.version !== document.version) return; // a newer version is queued
      const kind = kindFor(uri);
      if (!settings.validate.enable || kind === 'other') {
        void connection.sendDiagnostics({ uri, version: document.version, diagnostics: [] });
        return;
      }
      const path = uriToPath(uri);
      const analysis = workspace.analyze(path, kind);
      const range = (start: number, end: number): Range => ({
        start: document.positionAt(start),
        end: document.positionAt(end),
      });
      const diagnostics = analysis.diagnostics.map((diagnostic) => toLspDiagnostic(path, diagnostic, positions, range));
      void connection.sendDiagnostics({ uri, version: document.version, diagnostics });
    } catch (error) {
      logError(`validating ${uri}`, error);
    }
  };

  connection.onInitialize((params): InitializeResult => {
    const capabilities = params.capabilities;
    canPullConfiguration = Boolean(capabilities.workspace?.configuration);
    canWatchFiles = Boolean(capabilities.workspace?.didChangeWatchedFiles?.dynamicRegistration);
    const options = params.initializationOptions as { settings?: unknown } | undefined;
    if (options?.settings) applyGlobal(readSettings(options.settings));
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
        completionProvider: { triggerCharacters: [':', ' ', '.', '/', '{', '[', ',', '-'], resolveProvider: false },
        hoverProvider: true,
        definitionProvider: true,
        referencesProvider: true,
        renameProvider: { prepareProvider: true },
        documentSymbolProvider: { label: 'mlpipe' },
        foldingRangeProvider: true,
        codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
        codeLensProvider: { resolveProvider: false },
      },
      serverInfo: {
        name: 'mlpipe-language-server',
        version: typeof MLPIPE_VERSION === 'string' ? MLPIPE_VERSION : '0.0.0-dev',
      },
    };
  });

  const applyGlobal = (settings: MlpipeSettings) => {
    globalSettings = settings;
    workspace.configure({ ...workspace.settings, maxFileSize: settings.maxFileSizeMB * 1024 * 1024 });
  };

  connection.onInitialized(() => {
    if (canPullConfiguration) {
      void connection.client.register(DidChangeConfigurationNotification.type, { section: 'mlpipe' });
      void connection.workspace.getConfiguration({ section: 'mlpipe' }).then(
        (raw) => {
          applyGlobal(readSettings(raw));
          for (const document of documents.all()) schedule(document.uri);
        },
        () => undefined,
      );
    }
    if (canWatchFiles) {
      // File events keep the "does this dep exist" cache fresh, so it need not expire.
      workspace.configure({ ...workspace.settings, existenceTtlMs: Infinity });
      void connection.client.register(DidChangeWatchedFilesNotification.type, { watchers: [{ globPattern: '**/*' }] });
    }
    log(
      `mlpipe language server ${typeof MLPIPE_VERSION === 'string' ? MLPIPE_VERSION : 'dev'} started (node ${process.version})`,
    );
  });

  connection.onDidChangeConfiguration((change) => {
    settingsCache.clear();
    const settings = (change.settings as { mlpipe?: unknown } | undefined)?.mlpipe;
    const revalidate = () => {
      for (const document of documents.all()) schedule(document.uri);
    };
    if (settings) {
      applyGlobal(readSettings(settings));
      revalidate();
    } else if (canPullConfiguration) {
      void connection.workspace.getConfiguration({ section: 'mlpipe' }).then(
        (raw) => {
          applyGlobal(readSettings(raw));
          revalidate();
        },
        () => revalidate(),
      );
    } else {
      revalidate();
    }
  });

  connection.onDidChangeWatchedFiles((change) => {
    workspace.filesChanged(change.changes.map((event) => uriToPath(event.uri)));
    for (const document of documents.all()) schedule(document.uri);
  });

  /**
   * A changed file re-checks itself and the open files that read it. Only a change does this (not
   * a re-check), so files that read each other (a pipeline and its model card) cannot ping-pong.
   */
  const changed = (uri: string) => {
    schedule(uri);
    for (const dependent of workspace.dependents(uriToPath(uri))) {
      const dependentUri = pathToUri(dependent);
      if (documents.get(dependentUri)) schedule(dependentUri);
    }
  };

  documents.onDidOpen((event) => {
    languageOf.set(event.document.uri, event.document.languageId);
    workspace.open(uriToPath(event.document.uri), event.document.getText(), event.document.version);
    changed(event.document.uri);
  });
  documents.onDidChangeContent((event) => {
    workspace.change(uriToPath(event.document.uri), event.document.getText(), event.document.version);
    changed(event.document.uri);
  });
  documents.onDidClose((event) => {
    const path = uriToPath(event.document.uri);
    const dependents = workspace.dependents(path);
    workspace.close(path);
    languageOf.delete(event.document.uri);
    settingsCache.delete(event.document.uri);
    void connection.sendDiagnostics({ uri: event.document.uri, diagnostics: [] });
    // Buffers that read the closed file now read it from disk.
    for (const dependent of dependents) schedule(pathToUri(dependent));
  });

  const rangeIn =
    (document: TextDocument) =>
    (start: number, end: number): Range => ({ start: document.positionAt(start), end: document.positionAt(end) });

  /** A request about one open document: the handler gets it with its analysis; unknown documents answer null. */
  const onDocument = <P extends { textDocument: { uri: string } }, R>(
    name: string,
    handler: (document: TextDocument, analysis: Analysis, params: P) => R | Promise<R>,
  ) =>
    guard<P, R | null>(name, null, (params) => {
      const document = documents.get(params.textDocument.uri);
      const analysis = analysisFor(params.textDocument.uri);
      return document && analysis ? handler(document, analysis, params) : null;
    });

  connection.onCompletion(
    onDocument('completion', (document, analysis, params: CompletionParams) => {
      const entries = complete(workspace, analysis, document.offsetAt(params.position));
      const range = rangeIn(document);
      return {
        isIncomplete: false,
        items: entries.map((entry) => toCompletionItem(entry, range(entry.replaceStart, entry.replaceEnd))),
      };
    }),
  );

  connection.onHover(
    onDocument('hover', (document, analysis, params: HoverParams) => {
      const result = hover(workspace, analysis, document.offsetAt(params.position));
      return result
        ? {
            contents: { kind: 'markdown' as const, value: result.contents },
            range: rangeIn(document)(result.start, result.end),
          }
        : null;
    }),
  );

  connection.onDefinition(
    onDocument('definition', (document, analysis, params: DefinitionParams) =>
      definition(workspace, analysis, document.offsetAt(params.position)).map((span) => ({
        uri: pathToUri(span.path),
        range: positions.range(span.path, span.start, span.end),
      })),
    ),
  );

  connection.onReferences(
    onDocument('references', (document, analysis, params: ReferenceParams) =>
      references(workspace, analysis, document.offsetAt(params.position))
        .filter((ref) => params.context.includeDeclaration || !ref.isDefinition)
        .map((ref) => ({ uri: pathToUri(ref.path), range: positions.range(ref.path, ref.start, ref.end) })),
    ),
  );

  connection.onPrepareRename(
    onDocument('prepareRename', (document, analysis, params: PrepareRenameParams) => {
      const result = prepareRename(workspace, analysis, document.offsetAt(params.position));
      if (!result.ok) throw new ResponseError(ErrorCodes.InvalidRequest, result.message);
      return {
        range: positions.range(result.span.path, result.span.start, result.span.end),
        placeholder: result.placeholder,
      };
    }),
  );

  connection.onRenameRequest(
    onDocument('rename', (document, analysis, params: RenameParams): WorkspaceEdit => {
      const result = rename(workspace, analysis, document.offsetAt(params.position), params.newName);
      if (!result.ok) throw new ResponseError(ErrorCodes.InvalidRequest, result.message);
      const changes: WorkspaceEdit['changes'] = {};
      for (const edit of result.edits)
        (changes[pathToUri(edit.path)] ??= []).push({
          range: positions.range(edit.path, edit.start, edit.end),
          newText: edit.newText,
        });
      return { changes };
    }),
  );

  connection.onDocumentSymbol(
    onDocument('documentSymbol', (document, analysis, _params: DocumentSymbolParams) =>
      outline(analysis).map((symbol) => toDocumentSymbol(symbol, rangeIn(document))),
    ),
  );

  connection.onFoldingRanges(
    onDocument('foldingRange', (document, analysis, _params: FoldingRangeParams) => {
      const ranges: FoldingRange[] = [];
      for (const span of folding(analysis)) {
        const startLine = document.positionAt(span.start).line;
        const endLine = document.positionAt(span.end).line;
        if (endLine > startLine)
          ranges.push({ startLine, endLine, kind: span.kind === 'comment' ? FoldingRangeKind.Comment : undefined });
      }
      return ranges;
    }),
  );

  connection.onCodeLens(
    onDocument('codeLens', async (document, analysis, params: CodeLensParams) => {
      if (!(await settingsFor(params.textDocument.uri)).codeLens.enable) return [];
      const range = rangeIn(document);
      return codeLenses(analysis).map((lens) => ({
        range: range(lens.start, lens.end),
        command: {
          title: lensTitle(lens),
          command: lens.command.id,
          arguments: lensArguments(params.textDocument.uri, lens.command),
        },
      }));
    }),
  );

  connection.onCodeAction(
    guard('codeAction', null, (params) => {
      const actions: CodeAction[] = [];
      for (const diagnostic of params.context.diagnostics) {
        const data = diagnostic.data as FixData | undefined;
        if (diagnostic.source !== 'mlpipe' || !data?.fixes) continue;
        for (const fix of data.fixes)
          actions.push({
            title: fix.title,
            kind: CodeActionKind.QuickFix,
            diagnostics: [diagnostic],
            isPreferred: fix.preferred,
            edit: toWorkspaceEdit(fix),
          });
      }
      return actions;
    }),
  );

  documents.listen(connection);
  connection.listen();
}

const connection = createConnection(ProposedFeatures.all);
process.on('uncaughtException', (error) => connection.console.error(`uncaught: ${error.stack ?? error.message}`));
process.on('unhandledRejection', (reason) => connection.console.error(`unhandled rejection: ${String(reason)}`));
startServer(connection);
