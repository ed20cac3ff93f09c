/**
 * What the bundles load at start-up (issue 13): `mlpipe check` and the extension's module load
 * must not evaluate dockerode (with ssh2 and grpc-js behind it), the drift engine's threads or
 * the registry's TLS; they are evaluated on first use. Node's list of the built-in modules a
 * process loaded says what ran: grpc-js needs http2, ssh2 and the registry tls, drift
 * worker_threads. No time is asserted here: `npm run bench:startup` measures it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../support/files';

/** A preload that prints, at exit, the public built-in modules the process loaded. */
function withModuleList(): { preload: string; done: () => void } {
  const folder = mkdtempSync(join(tmpdir(), 'mlpipe-startup-'));
  const preload = join(folder, 'modules.cjs');
  writeFileSync(
    preload,
    [
      // The scripts Node compiled as modules: dist/cli.js, and dist/cli-commands.js when a command needs it.
      "const Module = require('module');",
      'const compiled = [];',
      'const compile = Module.prototype._compile;',
      'Module.prototype._compile = function (content, filename) { compiled.push(filename); return compile.call(this, content, filename); };',
      "process.on('exit', () => require('fs').writeSync(2, '\\nMODULES ' + process.moduleLoadList.filter((m) => m.startsWith('NativeModule ') && !m.includes('internal/')).map((m) => m.slice(13)).join(' ') + '\\nCOMPILED ' + compiled.join(' ') + '\\n'));",
    ].join('\n'),
  );
  return { preload, done: () => rmSync(folder, { recursive: true, force: true }) };
}

function loadedModules(stderr: string, list = 'MODULES'): Set<string> {
  const line = stderr.split('\n').find((text) => text.startsWith(`${list} `));
  assert.ok(line, `no ${list} list in:\n${stderr}`);
  return new Set(line.slice(list.length + 1).split(' '));
}

function cli(args: string[], preload: string, cwd = ROOT) {
  return spawnSync(process.execPath, ['-r', preload, join(ROOT, 'dist/cli.js'), ...args], { cwd, encoding: 'utf8' });
}

/** A stand-in for the vscode module, enough for the client bundle to load (not to activate). */
const VSCODE_STUB = `
const Module = require('module');
const load = Module._load;
const vscode = new Proxy({}, { get: (target, key) => (key in target ? target[key] : (target[key] = class {})) });
Module._load = function (request, ...rest) { return request === 'vscode' ? vscode : load.call(this, request, ...rest); };
require(process.argv[1]);
`;

describe('start-up: what the bundles evaluate before they need it', () => {
  it('mlpipe check evaluates neither dockerode, ssh2 and grpc-js, nor the drift threads, nor TLS', () => {
    const { preload, done } = withModuleList();
    try {
      const result = spawnSync(
        process.execPath,
        ['-r', preload, join(ROOT, 'dist/cli.js'), 'check', 'sample-workspace'],
        {
          cwd: ROOT,
          encoding: 'utf8',
        },
      );
      assert.equal(result.status, 0, result.stderr);
      const modules = loadedModules(result.stderr);
      for (const heavy of ['http2', 'tls', 'worker_threads', 'child_process'])
        assert.ok(!modules.has(heavy), `mlpipe check loaded node:${heavy}: ${[...modules].join(' ')}`);
    } finally {
      done();
    }
  });

  it('the other commands compile dist/cli-commands.js, and dockerode only when they ask the engine, and work', () => {
    const { preload, done } = withModuleList();
    const workspace = mkdtempSync(join(tmpdir(), 'mlpipe-startup-sample-'));
    cpSync(join(ROOT, 'sample-workspace'), workspace, { recursive: true });
    // Each its own file in dist/ (scripts/build.mjs), required on first use.
    const expected: [string[], number, string[]][] = [
      [['runs', 'list'], 0, ['dist/cli.js', 'dist/cli-commands.js']],
      [['bogus'], 2, ['dist/cli.js', 'dist/cli-commands.js']],
      // status looks the stages' images up in the engine
      [['status', '--format', 'json'], 0, ['dist/cli.js', 'dist/cli-commands.js', 'dist/dockerode.js']],
    ];
    try {
      for (const [args, status, scripts] of expected) {
        const result = cli(args, preload, workspace);
        assert.equal(result.status, status, result.stderr);
        const compiled = [...loadedModules(result.stderr, 'COMPILED')].map((path) => relative(ROOT, path));
        assert.deepEqual(compiled, scripts, args.join(' '));
      }
    } finally {
      done();
      rmSync(workspace, { recursive: true, force: true });
    }
  });

  it('a copy of dist/cli.js without the scripts beside it still checks, and says what is missing for the rest', () => {
    const bin = mkdtempSync(join(tmpdir(), 'mlpipe-startup-bin-'));
    try {
      cpSync(join(ROOT, 'dist/cli.js'), join(bin, 'cli.js'));
      const check = spawnSync(process.execPath, [join(bin, 'cli.js'), 'check', 'sample-workspace'], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      assert.equal(check.status, 0, check.stderr);
      const list = spawnSync(process.execPath, [join(bin, 'cli.js'), 'runs', 'list'], {
        cwd: join(ROOT, 'sample-workspace'),
        encoding: 'utf8',
      });
      assert.equal(list.status, 2, list.stderr);
      assert.match(list.stderr, /cli-commands\.js is missing: mlpipe's dist\/ folder is incomplete/);
      assert.doesNotMatch(list.stderr, /internal error|\n\s+at /, 'no stack trace for an incomplete install');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('the extension bundle loads without compiling dockerode (grpc-js needs http2)', () => {
    const { preload, done } = withModuleList();
    try {
      const result = spawnSync(process.execPath, ['-r', preload, '-e', VSCODE_STUB, join(ROOT, 'dist/client.js')], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      assert.equal(result.status, 0, result.stderr);
      const modules = loadedModules(result.stderr);
      assert.ok(!modules.has('http2'), `the client bundle evaluated grpc-js: ${[...modules].join(' ')}`);
      const compiled = [...loadedModules(result.stderr, 'COMPILED')]
        .filter((path) => path !== '[eval]-wrapper')
        .map((path) => relative(ROOT, path));
      assert.deepEqual(compiled, ['dist/client.js'], 'loading the client compiled only its own bundle');
    } finally {
      done();
    }
  });
});
