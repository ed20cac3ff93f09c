/**
 * A real VS Code for machines without a desktop one: VS Code's server and web workbench from the
 * npm package `code-server`, installed once into a cache folder outside the repository with the
 * offline steps this environment needs (native modules rebuilt against the local Node headers,
 * Debian's ripgrep), then started on 127.0.0.1 with a fresh profile and the extension installed.
 *
 *   node --import tsx scripts/vscode-web.ts install        # install (or check) the cache
 *   node --import tsx scripts/vscode-web.ts serve DIR      # serve DIR until Ctrl-C
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const CODE_SERVER_VERSION = '4.100.3';
const ROOT = resolve(__dirname, '..');
const READY_MARKER = '.mlpipe-ready';
/** Native modules of the VS Code server that ship no prebuilt binary for this Node. */
const NATIVE_MODULES = [
  'kerberos',
  '@parcel/watcher',
  '@vscode/deviceid',
  '@vscode/spdlog',
  'native-watchdog',
  'node-pty',
];
const DEBIAN_PACKAGES = 'libkrb5-dev ripgrep g++ make python3';

export function cacheDir(): string {
  return resolve(
    process.env.MLPIPE_CACHE_DIR ?? join(homedir(), '.cache', 'mlpipe'),
    `code-server-${CODE_SERVER_VERSION}`,
  );
}

function log(message: string): void {
  process.stderr.write(`[vscode-web] ${message}\n`);
}

function run(command: string, args: string[], cwd: string, hint: string): void {
  log(`${command} ${args.join(' ')}   (in ${cwd})`);
  const result = spawnSync(command, args, {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    env: { ...process.env, npm_config_yes: 'true' },
  });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n').slice(-25).join('\n');
    throw new Error(
      `\`${command} ${args.join(' ')}\` failed in ${cwd} (exit ${result.status ?? result.signal}).\n${output}\n${hint}`,
    );
  }
}

function nodeGyp(): string {
  return join(ROOT, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
}

/** Installs code-server into the cache folder unless it is already there; returns its entry script. */
export function ensureCodeServer(): string {
  const dir = cacheDir();
  const entry = join(dir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
  if (existsSync(join(dir, READY_MARKER)) && existsSync(entry)) return entry;
  const missing = ['/usr/bin/rg', '/usr/include/node/node.h'].filter((path) => !existsSync(path));
  if (missing.length > 0)
    throw new Error(
      `code-server needs ${missing.join(' and ')}: apt-get install -y ${DEBIAN_PACKAGES} nodejs (Node 20 with its headers).`,
    );
  log(`installing code-server ${CODE_SERVER_VERSION} into ${dir} (once; about 3 minutes)`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'mlpipe-code-server-cache', private: true }, null, 2),
  );
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const npmHint = 'Check access to the npm registry.';
  run(
    npm,
    ['install', `code-server@${CODE_SERVER_VERSION}`, '--ignore-scripts', '--no-audit', '--no-fund', '--no-save'],
    dir,
    npmHint,
  );
  const vscode = join(dir, 'node_modules', 'code-server', 'lib', 'vscode');
  run(npm, ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], vscode, npmHint);
  const gypHint = `Native modules need a compiler and headers: apt-get install -y ${DEBIAN_PACKAGES}.`;
  for (const name of NATIVE_MODULES)
    run(process.execPath, [nodeGyp(), 'rebuild', '--nodedir=/usr'], join(vscode, 'node_modules', name), gypHint);
  const ripgrep = join(vscode, 'node_modules', '@vscode', 'ripgrep', 'bin');
  mkdirSync(ripgrep, { recursive: true });
  copyFileSync('/usr/bin/rg', join(ripgrep, 'rg'));
  if (!existsSync(join(vscode, 'node_modules.asar'))) symlinkSync('node_modules', join(vscode, 'node_modules.asar'));
  run(
    npm,
    ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'],
    join(vscode, 'extensions'),
    npmHint,
  );
  const argon2 = [
    join(dir, 'node_modules', 'argon2'),
    join(dir, 'node_modules', 'code-server', 'node_modules', 'argon2'),
  ].find((path) => existsSync(path));
  if (!argon2) throw new Error(`argon2 is missing under ${dir}; remove the folder and try again.`);
  run(
    process.execPath,
    [
      nodeGyp(),
      'rebuild',
      '--nodedir=/usr',
      '--module_name=argon2',
      '--module_path=lib/binding/napi-v3',
      '--napi_build_version=3',
    ],
    argon2,
    gypHint,
  );
  mkdirSync(join(argon2, 'lib', 'binding', 'napi-v3'), { recursive: true });
  copyFileSync(
    join(argon2, 'build', 'Release', 'argon2.node'),
    join(argon2, 'lib', 'binding', 'napi-v3', 'argon2.node'),
  );
  writeFileSync(join(dir, READY_MARKER), new Date().toISOString());
  log('code-server is ready');
  return entry;
}

/** `preferred` when nothing listens there, otherwise any free port. */
export function portOrFree(preferred: number | undefined): Promise<number> {
  if (!preferred) return freePort();
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(freePort()));
    server.listen(preferred, '127.0.0.1', () => server.close(() => resolvePort(preferred)));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface RunningVsCode {
  url: string;
  /** The workbench URL with the folder open. */
  folderUrl: string;
  port: number;
  userDataDir: string;
  process: ChildProcess;
  output: string[];
  stop(): Promise<void>;
}

export interface StartOptions {
  folder: string;
  /** The packaged extension to install; leave out when loading it with extensionDevelopmentPath. */
  vsix?: string;
  port?: number;
  /** Extra environment for the server and its extension host. */
  env?: Record<string, string>;
  /** Extra user settings. */
  settings?: Record<string, unknown>;
}

/**
 * Starts code-server with a fresh user-data and extensions folder, the VSIX installed, workspace
 * trust already given (the folder is trusted), telemetry and update checks off.
 */
export async function startVsCode(options: StartOptions): Promise<RunningVsCode> {
  const entry = ensureCodeServer();
  const profile = mkdtempSync(join(tmpdir(), 'mlpipe-vscode-'));
  const userDataDir = join(profile, 'user-data');
  const extensionsDir = join(profile, 'extensions');
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  mkdirSync(extensionsDir, { recursive: true });
  writeFileSync(
    join(userDataDir, 'User', 'settings.json'),
    JSON.stringify(
      {
        'security.workspace.trust.enabled': false,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.enableExperiments': false,
        'workbench.welcomePage.walkthroughs.openOnInstall': false,
        'chat.commandCenter.enabled': false,
        'git.enabled': false,
        'editor.accessibilitySupport': 'off',
        'workbench.reduceMotion': 'on',
        ...options.settings,
      },
      null,
      2,
    ),
  );
  // Its own config file too: code-server otherwise writes ~/.config/code-server/config.yaml.
  const common = [
    '--config',
    join(profile, 'config.yaml'),
    '--user-data-dir',
    userDataDir,
    '--extensions-dir',
    extensionsDir,
  ];
  if (options.vsix)
    run(
      process.execPath,
      [entry, ...common, '--install-extension', options.vsix],
      ROOT,
      'Check that the VSIX exists (npm run package).',
    );
  const port = options.port ?? (await freePort());
  const child = spawn(
    process.execPath,
    [
      entry,
      ...common,
      '--auth',
      'none',
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--ignore-last-opened',
      options.folder,
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
      env: { ...process.env, ...options.env },
    },
  );
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((done) => child.once('exit', () => done()));
      try {
        process.kill(process.platform === 'win32' ? child.pid! : -child.pid!, 'SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(profile, { recursive: true, force: true });
  };
  // Wait until it answers, or fail with what it printed.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`code-server exited with ${child.exitCode}:\n${output.join('').slice(-3000)}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer on ${url} within 60 s:\n${output.join('').slice(-3000)}`);
    }
    await new Promise((done) => setTimeout(done, 200));
  }
  return {
    url,
    folderUrl: `${url}/?folder=${encodeURIComponent(options.folder)}`,
    port,
    userDataDir,
    process: child,
    output,
    stop,
  };
}

/**
 * The workbench URL that loads an extension from source and runs a test module in the extension
 * host, the web counterpart of `--extensionDevelopmentPath` / `--extensionTestsPath`.
 */
export function developmentUrl(vscode: RunningVsCode, extensionPath: string, testsPath?: string): string {
  const remote = (path: string) => `vscode-remote://127.0.0.1:${vscode.port}${resolve(path)}`;
  const payload: [string, string][] = [['extensionDevelopmentPath', remote(extensionPath)]];
  if (testsPath) payload.push(['extensionTestsPath', remote(testsPath)]);
  return `${vscode.folderUrl}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

/** The newest VSIX built by `npm run package`. */
export function builtVsix(): string {
  const candidates = readdirSync(ROOT)
    .filter((name) => name.endsWith('.vsix'))
    .sort();
  if (candidates.length === 0) throw new Error('No VSIX in the repository root: run `npm run package` first.');
  return join(ROOT, candidates[candidates.length - 1]);
}

async function main(): Promise<void> {
  const [command, folder] = process.argv.slice(2);
  if (command === 'install') {
    log(`code-server at ${ensureCodeServer()}`);
    return;
  }
  if (command === 'serve' && folder) {
    const vscode = await startVsCode({
      folder: resolve(folder),
      vsix: builtVsix(),
      port: await portOrFree(Number(process.env.PORT) || undefined),
    });
    console.log(
      `\nVS Code (code-server ${CODE_SERVER_VERSION}) with mlpipe is running:\n\n  ${vscode.folderUrl}\n\nOpen it in a browser. Ctrl-C stops it.\n`,
    );
    const shutdown = () => void vscode.stop().then(() => process.exit(0));
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
    vscode.process.on('exit', (code) => {
      console.error(`code-server exited (${code}).`);
      process.exit(code ?? 1);
    });
    return;
  }
  console.error('usage: node --import tsx scripts/vscode-web.ts install | serve FOLDER');
  process.exit(2);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
