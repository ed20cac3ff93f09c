import * as vscode from 'vscode';
import {
  LanguageClient,
  State,
  TransportKind,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';
import { SERVER_NODE_FLAGS } from '../../core/src/server-runtime';
import { readSettings, type MlpipeSettings } from '../../core/src/settings';
import { Cmd, type CommandName } from './commands/ids';
import { logTextOf, messageOf } from './errors';
import { BoundedRestarts } from './restart-policy';
import { TrustGate } from './trust';

/** The client id equals the settings prefix, so `mlpipe.trace.server` traces the protocol. */
const CLIENT_ID = 'mlpipe';

/** A command of the table (commands/table.ts). */
export interface Command {
  run(...args: unknown[]): unknown;
}

/**
 * What the extension holds while it is active: the MLPipe output, the typed settings, the trust
 * gate, the language client, and two scopes of things to dispose: the extension's (until it is
 * deactivated) and the language client's (until the server restarts). Everything registered goes
 * into one of them.
 */
export class Ctx {
  readonly log: vscode.LogOutputChannel;
  readonly trust = new TrustGate();
  private client: LanguageClient | undefined;
  private clientScope: vscode.Disposable[] = [];

  constructor(readonly extension: vscode.ExtensionContext) {
    this.log = vscode.window.createOutputChannel('MLPipe', { log: true });
    this.pushExtCleanup(this.log);
  }

  /** Disposed when the extension is deactivated. */
  pushExtCleanup(...disposables: vscode.Disposable[]): void {
    this.extension.subscriptions.push(...disposables);
  }

  /** Disposed when the language server stops or restarts. */
  pushClientCleanup(...disposables: vscode.Disposable[]): void {
    this.clientScope.push(...disposables);
  }

  /** The `mlpipe.*` settings for a resource (or the window), as core's typed object. */
  settings(scope?: vscode.Uri): MlpipeSettings {
    return readSettings(vscode.workspace.getConfiguration('mlpipe', scope));
  }

  async startServer(): Promise<void> {
    if (this.client) return;
    const serverModule = this.extension.asAbsolutePath('dist/server.js');
    const serverOptions: ServerOptions = {
      run: { module: serverModule, transport: TransportKind.ipc, options: { execArgv: [...SERVER_NODE_FLAGS] } },
      debug: {
        module: serverModule,
        transport: TransportKind.ipc,
        options: { execArgv: [...SERVER_NODE_FLAGS, '--nolazy', '--inspect=6010'] },
      },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { language: 'mlpipe-pipeline' },
        { language: 'mlpipe-modelcard' },
        // Params files are plain YAML; the server answers for the ones a pipeline lists and ignores the rest.
        { language: 'yaml', scheme: 'file' },
      ],
      outputChannel: this.log,
      initializationOptions: { settings: this.settings() },
      errorHandler: new BoundedRestarts((message) => this.showError(message)),
    };
    const client = new LanguageClient(CLIENT_ID, 'MLPipe Language Server', serverOptions, clientOptions);
    this.client = client;
    this.pushClientCleanup(
      client.onDidChangeState(({ newState }) => this.log.info(`language server ${State[newState].toLowerCase()}`)),
    );
    await client.start();
  }

  /** Stops the server and disposes everything of the client's lifetime. */
  async stopServer(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    for (const disposable of this.clientScope.splice(0).reverse()) disposable.dispose();
    if (!client?.isRunning()) return;
    try {
      await client.stop();
    } catch (error) {
      this.log.warn(`the language server did not stop cleanly: ${messageOf(error)}`);
    }
  }

  async restartServer(): Promise<void> {
    await this.stopServer();
    await this.startServer();
  }

  /** Registers the command table: every command's errors are logged and shown, never lost. */
  registerCommands(table: { [K in CommandName]: Command }): void {
    for (const name of Object.keys(table) as CommandName[]) {
      const command = table[name];
      this.pushExtCleanup(
        vscode.commands.registerCommand(Cmd[name], (...args: unknown[]) => this.runCommand(name, command, args)),
      );
    }
  }

  private async runCommand(name: CommandName, command: Command, args: unknown[]): Promise<unknown> {
    try {
      return await command.run(...args);
    } catch (error) {
      this.log.error(`${Cmd[name]}: ${logTextOf(error)}`);
      this.showError(`MLPipe: ${messageOf(error)}`);
      return undefined;
    }
  }

  /** An error the user should see, with the way to the output that says more. */
  showError(message: string): void {
    void vscode.window.showErrorMessage(message, 'Show Output').then((choice) => choice && this.log.show());
  }
}
