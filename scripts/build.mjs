#!/usr/bin/env node
// Bundles the extension's entry points into dist/ with esbuild: the client (vscode external),
// the language server and the CLI (both self-contained, runnable with plain `node`), and the
// webviews (browser scripts and their CSS, uPlot's included) into dist/webviews/.
import { build as esbuild } from 'esbuild';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const production = process.argv.includes('--production');
// esbuild's metafile of each node bundle (what is in it, by input), for npm run bench:startup.
const metafiles = process.env.MLPIPE_BUILD_METAFILES;

// Identifies the code that writes caches such as .mlpipe/plans/: a hash of core/'s sources, so a
// build with other code never trusts them (core/src/runner/plan-cache.ts).
const sources = readdirSync(join(root, 'core', 'src'), { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.ts'))
  .sort();
const fingerprint = createHash('sha256').update(version);
for (const file of sources) fingerprint.update(file).update(readFileSync(join(root, 'core', 'src', file)));
const buildId = fingerprint.digest('hex').slice(0, 16);

/**
 * Source of an expression that requires dist/<name>.js, next to the bundle, when it runs (not when
 * bundled); a copy of dist/ without it says so instead of a bare "Cannot find module".
 */
function requireBeside(name) {
  return [
    '(() => {',
    `  const file = require('node:path').join(__dirname, ${JSON.stringify(`${name}.js`)});`,
    '  try {',
    '    return require(file);',
    '  } catch (error) {',
    "    if (error && error.code === 'MODULE_NOT_FOUND' && String(error.message).includes(file))",
    "      throw Object.assign(new Error(`${file} is missing: mlpipe's dist/ folder is incomplete (copy or reinstall it whole)`), { code: 'MLPIPE_INCOMPLETE_DIST' });",
    '    throw error;',
    '  }',
    '})()',
  ].join('\n');
}

// dockerode, with docker-modem, ssh2, grpc-js and protobufjs behind it, is a third of the CLI's
// and the client's code and took 120-160 ms to evaluate when a bundle loaded: `mlpipe check` and
// the extension's activation paid for it without starting a container. It is bundled on its own
// as dist/dockerode.js and required on the first `new Docker(...)` (core/src/runner/engine.ts is
// its one constructor call; test/cli/startup.test.ts checks what start-up loads).
const lazyDockerode = {
  name: 'lazy-dockerode',
  setup(build) {
    build.onResolve({ filter: /^dockerode$/ }, () => ({ path: 'dockerode', namespace: 'lazy-dockerode' }));
    build.onLoad({ filter: /.*/, namespace: 'lazy-dockerode' }, () => ({
      contents: [
        'let Docker;',
        'module.exports = function LazyDocker(options) {',
        `  Docker ??= ${requireBeside('dockerode')};`,
        '  return new Docker(options);',
        '};',
      ].join('\n'),
      resolveDir: root,
      loader: 'js',
    }));
  },
};

// mlpipe's commands other than check (core/src/cli/main.ts and what it reaches: the runner, the
// store, the registry and MLflow clients, the drift engine) are two thirds of the CLI's code. They
// are bundled as dist/cli-commands.js, required the first time core/src/cli/start.ts asks for
// ./main, so `mlpipe check` compiles the 0.4 MB it runs instead of 1.6 MB (V8 pre-parses every
// function of a script it loads).
const lazyCliCommands = {
  name: 'lazy-cli-commands',
  setup(build) {
    build.onResolve({ filter: /^\.\/main$/ }, (args) =>
      args.importer.endsWith(join('core', 'src', 'cli', 'start.ts'))
        ? { path: 'cli-commands', namespace: 'lazy-cli-commands' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-cli-commands' }, () => ({
      contents: `module.exports = ${requireBeside('cli-commands')};`,
      resolveDir: root,
      loader: 'js',
    }));
  },
};

// The AWS SDK for S3 (a megabyte with its Smithy runtime) is used only when a pipeline has an s3://
// remote: core/src/remote/s3.ts is bundled on its own as dist/remote-s3.js, and open.ts's import
// of it becomes a getter that requires that file on the first S3 remote.
const lazyRemoteS3 = {
  name: 'lazy-remote-s3',
  setup(build) {
    build.onResolve({ filter: /^\.\/s3$/ }, (args) =>
      args.importer.endsWith(join('core', 'src', 'remote', 'open.ts'))
        ? { path: 'remote-s3', namespace: 'lazy-remote-s3' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-remote-s3' }, () => ({
      contents: [
        'let loaded;',
        `module.exports = { get S3Backend() { loaded ??= ${requireBeside('remote-s3')}; return loaded.S3Backend; } };`,
      ].join('\n'),
      resolveDir: root,
      loader: 'js',
    }));
  },
};

// @kubernetes/client-node (about 2 MB, an ES module) is used only by a cluster host:
// core/src/runner/kubernetes/client-node.ts requires it inside a function, and that require becomes
// one of dist/kubernetes-client.js, bundled apart.
const lazyKubernetes = {
  name: 'lazy-kubernetes',
  setup(build) {
    build.onResolve({ filter: /^@kubernetes\/client-node$/ }, (args) =>
      args.importer.endsWith(join('core', 'src', 'runner', 'kubernetes', 'client-node.ts'))
        ? { path: 'kubernetes-client', namespace: 'lazy-kubernetes' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-kubernetes' }, () => ({
      contents: `module.exports = ${requireBeside('kubernetes-client')};`,
      resolveDir: root,
      loader: 'js',
    }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: production ? false : 'linked',
  minify: production,
  legalComments: production ? 'none' : 'inline',
  logLevel: 'warning',
  define: { MLPIPE_VERSION: JSON.stringify(version), MLPIPE_BUILD: JSON.stringify(buildId) },
  // ssh2's optional native speed-ups: required inside try/catch, so leaving them out falls back to JavaScript.
  external: ['*.node'],
  absWorkingDir: root,
  plugins: [lazyDockerode, lazyRemoteS3, lazyKubernetes],
  metafile: Boolean(metafiles),
};

// The webviews run in the browser: one IIFE script and one stylesheet per panel, nothing else, so
// the panels' localResourceRoots can be dist/webviews alone.
const webviews = {
  bundle: true,
  platform: 'browser',
  target: 'es2022',
  format: 'iife',
  sourcemap: production ? false : 'linked',
  minify: production,
  legalComments: production ? 'none' : 'inline',
  logLevel: 'warning',
  absWorkingDir: root,
  outdir: 'dist/webviews',
  entryPoints: [
    { in: 'webviews/src/experiments/main.ts', out: 'experiments' },
    { in: 'webviews/src/experiments/experiments.css', out: 'experiments' },
    { in: 'webviews/src/compare/main.ts', out: 'compare' },
    { in: 'webviews/src/compare/compare.css', out: 'compare' },
    // Also inlined, with the report, into the self-contained HTML export (core/src/drift/html.ts).
    { in: 'webviews/src/drift/main.ts', out: 'drift' },
    { in: 'webviews/src/drift/drift.css', out: 'drift' },
    { in: 'webviews/src/graph/main.ts', out: 'graph' },
    { in: 'webviews/src/graph/graph.css', out: 'graph' },
  ],
};

const started = Date.now();
const results = await Promise.all([
  esbuild({
    ...common,
    entryPoints: ['client/src/extension.ts'],
    outfile: 'dist/client.js',
    external: ['vscode', '*.node'],
  }),
  // The shebang carries core/src/server-runtime.ts's SERVER_NODE_FLAGS (a test keeps them equal).
  esbuild({
    ...common,
    entryPoints: ['server/src/main.ts'],
    outfile: 'dist/server.js',
    banner: { js: '#!/usr/bin/env -S node --max-semi-space-size=1' },
  }),
  esbuild({
    ...common,
    entryPoints: ['core/src/cli/bin.ts'],
    outfile: 'dist/cli.js',
    banner: { js: '#!/usr/bin/env node' },
    plugins: [...common.plugins, lazyCliCommands],
  }),
  esbuild({ ...common, entryPoints: ['core/src/cli/main.ts'], outfile: 'dist/cli-commands.js' }),
  esbuild({ ...common, plugins: [], entryPoints: ['dockerode'], outfile: 'dist/dockerode.js' }),
  esbuild({ ...common, plugins: [], entryPoints: ['core/src/remote/s3.ts'], outfile: 'dist/remote-s3.js' }),
  esbuild({ ...common, plugins: [], entryPoints: ['@kubernetes/client-node'], outfile: 'dist/kubernetes-client.js' }),
  // The drift engine's reader thread (core/src/drift/read-threads.ts starts it from next to the bundle).
  esbuild({ ...common, entryPoints: ['core/src/drift/worker.ts'], outfile: 'dist/drift-worker.js' }),
  esbuild(webviews),
]);
if (metafiles) {
  mkdirSync(metafiles, { recursive: true });
  for (const result of results)
    for (const [output, meta] of Object.entries(result.metafile?.outputs ?? {}))
      if (output.endsWith('.js') && !output.includes('webviews/'))
        writeFileSync(join(metafiles, `${output.slice('dist/'.length, -'.js'.length)}.json`), JSON.stringify(meta));
}
for (const bin of ['dist/server.js', 'dist/cli.js']) chmodSync(join(root, bin), 0o755);
console.log(
  `built dist/ (client, server, cli, webviews) in ${Date.now() - started} ms${production ? ' (production)' : ''}`,
);
