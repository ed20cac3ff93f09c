import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import {
  CompletionRequest,
  DidChangeTextDocumentNotification,
  DidCloseTextDocumentNotification,
  DidOpenTextDocumentNotification,
  ExitNotification,
  InitializeRequest,
  InitializedNotification,
  PublishDiagnosticsNotification,
  ShutdownRequest,
  type ClientCapabilities,
  type CompletionItem,
  type CompletionList,
  type Diagnostic,
  type InitializeParams,
  type Position,
  type PublishDiagnosticsParams,
  type TextDocumentContentChangeEvent,
} from 'vscode-languageserver-protocol';
import { SERVER_NODE_FLAGS } from '../../core/src/server-runtime';
import {
  StreamMessageReader,
  StreamMessageWriter,
  createProtocolConnection,
  type ProtocolConnection,
} from 'vscode-languageserver-protocol/node';

export interface ServerCommand {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * What the client declares: what VS Code declares for the features the tests use. `workspaceFolders`
 * matters to yaml-language-server, which subscribes to folder changes when the client can watch
 * files and otherwise throws inside its `initialized` handler, never pulling its settings.
 */
export const CLIENT_CAPABILITIES: ClientCapabilities = {
  textDocument: {
    synchronization: { didSave: false, dynamicRegistration: false },
    publishDiagnostics: { versionSupport: true, relatedInformation: true },
    completion: { completionItem: { snippetSupport: true, documentationFormat: ['markdown', 'plaintext'] } },
    hover: { contentFormat: ['markdown', 'plaintext'] },
    rename: { prepareSupport: true },
    documentSymbol: { hierarchicalDocumentSymbolSupport: true },
    codeAction: { codeActionLiteralSupport: { codeActionKind: { valueSet: ['quickfix'] } } },
  },
  workspace: {
    configuration: true,
    workspaceFolders: true,
    didChangeConfiguration: { dynamicRegistration: true },
    didChangeWatchedFiles: { dynamicRegistration: true },
  },
};

interface Waiter {
  uri: string;
  version: number | undefined;
  resolve: (params: PublishDiagnosticsParams) => void;
}

/**
 * A real LSP client over stdio, the same JSON-RPC library VS Code's client uses. Tests and the
 * benchmark drive the bundled server (and yaml-language-server) through it as an editor would.
 */
export class LspClient {
  readonly connection: ProtocolConnection;
  readonly process: ChildProcess;
  readonly diagnostics = new Map<string, PublishDiagnosticsParams>();
  readonly publishCount = new Map<string, number>();
  readonly stderr: string[] = [];
  /** `window/logMessage` notifications; type 1 is an error. */
  readonly logs: { type: number; message: string }[] = [];
  private readonly versions = new Map<string, number>();
  private readonly texts = new Map<string, string>();
  private waiters: Waiter[] = [];
  private exited = false;

  constructor(server: ServerCommand) {
    this.process = spawn(server.command, server.args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...server.env },
    });
    this.process.stderr!.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString()));
    this.process.on('exit', () => {
      this.exited = true;
    });
    this.connection = createProtocolConnection(
      new StreamMessageReader(this.process.stdout!),
      new StreamMessageWriter(this.process.stdin!),
    );
    this.connection.onNotification(PublishDiagnosticsNotification.type, (params) => {
      this.diagnostics.set(params.uri, params);
      this.publishCount.set(params.uri, (this.publishCount.get(params.uri) ?? 0) + 1);
      const ready = this.waiters.filter(
        (waiter) =>
          waiter.uri === params.uri &&
          (waiter.version === undefined || params.version === undefined || params.version >= waiter.version),
      );
      this.waiters = this.waiters.filter((waiter) => !ready.includes(waiter));
      for (const waiter of ready) waiter.resolve(params);
    });
    // Servers ask for settings and register capabilities; answer like a minimal editor.
    this.connection.onRequest('workspace/configuration', (params: { items: { section?: string }[] }) =>
      params.items.map(() => this.configuration),
    );
    this.connection.onRequest('client/registerCapability', () => null);
    this.connection.onRequest('window/workDoneProgress/create', () => null);
    this.connection.onNotification('window/logMessage', (params: { type: number; message: string }) => {
      this.logs.push(params);
    });
    this.connection.listen();
  }

  /** What `workspace/configuration` answers, per section asked. */
  configuration: unknown = null;

  get alive(): boolean {
    return !this.exited;
  }

  async initialize(rootPath: string, extra: Partial<InitializeParams> = {}): Promise<void> {
    await this.connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: pathToFileURL(rootPath).toString(),
      workspaceFolders: [{ uri: pathToFileURL(rootPath).toString(), name: 'workspace' }],
      capabilities: CLIENT_CAPABILITIES,
      ...extra,
    } as InitializeParams);
    await this.connection.sendNotification(InitializedNotification.type, {});
  }

  uri(path: string): string {
    return pathToFileURL(path).toString();
  }

  text(uri: string): string {
    return this.texts.get(uri) ?? '';
  }

  version(uri: string): number {
    return this.versions.get(uri) ?? 0;
  }

  /** Opens a document and resolves with its first diagnostics. */
  async open(path: string, languageId: string, text = readFileSync(path, 'utf8')): Promise<PublishDiagnosticsParams> {
    const uri = this.uri(path);
    this.versions.set(uri, 1);
    this.texts.set(uri, text);
    const diagnostics = this.waitForDiagnostics(uri, 1);
    await this.connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri, languageId, version: 1, text },
    });
    return diagnostics;
  }

  /** Replaces a range (incremental sync) and resolves with the diagnostics for the new version. */
  async edit(uri: string, start: Position, end: Position, newText: string): Promise<PublishDiagnosticsParams> {
    const version = this.version(uri) + 1;
    this.versions.set(uri, version);
    this.texts.set(uri, applyEdit(this.text(uri), start, end, newText));
    const diagnostics = this.waitForDiagnostics(uri, version);
    await this.sendChange(uri, version, [{ range: { start, end }, text: newText }]);
    return diagnostics;
  }

  /** Replaces the whole text and resolves with the diagnostics for the new version. */
  async replace(uri: string, text: string): Promise<PublishDiagnosticsParams> {
    const version = this.version(uri) + 1;
    this.versions.set(uri, version);
    this.texts.set(uri, text);
    const diagnostics = this.waitForDiagnostics(uri, version);
    await this.sendChange(uri, version, [{ text }]);
    return diagnostics;
  }

  sendChange(uri: string, version: number, contentChanges: TextDocumentContentChangeEvent[]): Promise<void> {
    return this.connection.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri, version },
      contentChanges,
    });
  }

  close(uri: string): Promise<void> {
    this.versions.delete(uri);
    this.texts.delete(uri);
    return this.connection.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri } });
  }

  waitForDiagnostics(uri: string, version?: number, timeoutMs = 30_000): Promise<PublishDiagnosticsParams> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `no diagnostics for ${uri} version ${version} within ${timeoutMs} ms; server stderr: ${this.stderr.join('').slice(-2000)}`,
            ),
          ),
        timeoutMs,
      );
      this.waiters.push({
        uri,
        version,
        resolve: (params) => {
          clearTimeout(timer);
          resolve(params);
        },
      });
    });
  }

  /** Resolves with the first diagnostics for `uri` (already published or coming) that satisfy `predicate`. */
  async diagnosticsWhere(
    uri: string,
    predicate: (params: PublishDiagnosticsParams) => boolean,
    timeoutMs = 30_000,
  ): Promise<PublishDiagnosticsParams> {
    const deadline = Date.now() + timeoutMs;
    const current = this.diagnostics.get(uri);
    if (current && predicate(current)) return current;
    for (;;) {
      const next = await this.waitForDiagnostics(uri, undefined, Math.max(1, deadline - Date.now()));
      if (predicate(next)) return next;
    }
  }

  async complete(uri: string, position: Position): Promise<CompletionItem[]> {
    const result = await this.connection.sendRequest(CompletionRequest.type, { textDocument: { uri }, position });
    if (!result) return [];
    return Array.isArray(result) ? result : (result as CompletionList).items;
  }

  request<R>(method: string, params: unknown): Promise<R> {
    return this.connection.sendRequest(method, params) as Promise<R>;
  }

  positionOf(uri: string, needle: string, occurrence = 0, delta = 0): Position {
    const text = this.text(uri);
    let index = -1;
    for (let i = 0; i <= occurrence; i++) {
      index = text.indexOf(needle, index + 1);
      if (index === -1) throw new Error(`'${needle}' not found in ${uri}`);
    }
    return offsetToPosition(text, index + delta);
  }

  async shutdown(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    try {
      await Promise.race([
        this.connection.sendRequest(ShutdownRequest.type),
        new Promise((resolve) => setTimeout(resolve, 5000)),
      ]);
      await this.connection.sendNotification(ExitNotification.type);
    } catch {
      // the server may already be gone
    }
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    this.connection.dispose();
  }
}

export function offsetToPosition(text: string, offset: number): Position {
  let line = 0;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, character: offset - lineStart };
}

export function positionToOffset(text: string, position: Position): number {
  let offset = 0;
  for (let line = 0; line < position.line; line++) {
    const next = text.indexOf('\n', offset);
    if (next === -1) return text.length;
    offset = next + 1;
  }
  return offset + position.character;
}

export function applyEdit(text: string, start: Position, end: Position, newText: string): string {
  return text.slice(0, positionToOffset(text, start)) + newText + text.slice(positionToOffset(text, end));
}

export function messageOf(diagnostic: Diagnostic): string {
  const message: unknown = diagnostic.message;
  return typeof message === 'string' ? message : (message as { value: string }).value;
}

export function codesOf(diagnostics: Diagnostic[]): string[] {
  return diagnostics.map((diagnostic) => String(diagnostic.code)).sort();
}

/** The bundled language server, as the extension and the `mlpipe-language-server` bin run it. */
export function bundledServer(root: string): ServerCommand {
  // MLPIPE_SERVER_NODE_ARGS adds node flags for profiling the server (`--cpu-prof --cpu-prof-dir=DIR`);
  // MLPIPE_SERVER_JS runs another bundle (a copy of the previous commit's, to compare in one run).
  const extra = (process.env.MLPIPE_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const bundle = process.env.MLPIPE_SERVER_JS ?? `${root}/dist/server.js`;
  return { command: process.execPath, args: [...SERVER_NODE_FLAGS, ...extra, bundle, '--stdio'] };
}
