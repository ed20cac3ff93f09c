import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { graphStateOf, parseGraphMessage, type GraphEdge, type GraphNode } from '../../webviews/src/graph/contract';
import { layoutGraph } from '../../webviews/src/graph/layout';
import { downstream, elapsed, foldState, search, viewGraph } from '../../webviews/src/graph/model';

const stage = (id: string, extra: Partial<GraphNode> = {}): GraphNode => ({
  id: `stage:${id}`,
  kind: 'stage',
  label: id,
  ...extra,
});
const dep = (from: string, to: string, via: string[] = ['x']): GraphEdge => ({
  from: `stage:${from}`,
  to: `stage:${to}`,
  kind: 'dep',
  via,
});

describe('the graph view (webviews/src/graph)', () => {
  // prepare -> train -> evaluate@val, evaluate@test; params feed train.
  const nodes: GraphNode[] = [
    stage('prepare', { state: 'up-to-date' }),
    stage('train', { state: 'stale', reasons: ['param train.lr changed'] }),
    stage('evaluate@val', { group: 'evaluate', state: 'up-to-date' }),
    stage('evaluate@test', { group: 'evaluate', state: 'failed', reasons: ['exit 1'] }),
    { id: 'params:params.yaml', kind: 'params', label: 'params.yaml' },
  ];
  const edges: GraphEdge[] = [
    dep('prepare', 'train'),
    dep('train', 'evaluate@val'),
    dep('train', 'evaluate@test'),
    dep('prepare', 'evaluate@test'),
    { from: 'params:params.yaml', to: 'stage:train', kind: 'params', via: ['train.lr'] },
  ];

  it('lays the graph out left to right: every edge goes to a later column, no two nodes overlap', () => {
    const layout = layoutGraph(viewGraph(nodes, edges, false).nodes, edges);
    for (const edge of edges) {
      const from = layout.nodes.get(edge.from)!;
      const to = layout.nodes.get(edge.to)!;
      assert.ok(from.x + from.width < to.x, `${edge.from} -> ${edge.to}`);
      assert.match(layout.edges.find((e) => e.from === edge.from && e.to === edge.to)!.path, /^M[\d.]+ [\d.]+ C/);
    }
    // The params file sits in the column just before the stage that reads it, not at the far left.
    assert.equal(layout.nodes.get('params:params.yaml')!.rank, layout.nodes.get('stage:train')!.rank - 1);
    const placed = [...layout.nodes.values()];
    for (const a of placed)
      for (const b of placed)
        if (a !== b && a.rank === b.rank)
          assert.ok(a.y + a.height <= b.y || b.y + b.height <= a.y, `${a.id} / ${b.id}`);
  });

  it('survives a cycle and edges to nothing (which the planner never sends) without losing a node', () => {
    const layout = layoutGraph(
      [
        { id: 'a', width: 10, height: 10 },
        { id: 'b', width: 10, height: 10 },
      ],
      [
        { from: 'a', to: 'b' },
        { from: 'b', to: 'a' },
        { from: 'a', to: 'nowhere' },
      ],
    );
    assert.equal(layout.nodes.size, 2);
    assert.equal(layout.edges.length, 2);
  });

  it('folds matrix variants into their stage with the most urgent state and the reasons named', () => {
    const folded = viewGraph(nodes, edges, true);
    const evaluate = folded.nodes.find((node) => node.id === 'group:evaluate')!;
    assert.equal(evaluate.label, 'evaluate ×2');
    assert.equal(evaluate.state, 'failed');
    assert.deepEqual(evaluate.reasons, ['1 of 2 variants failed', 'evaluate@test: exit 1']);
    assert.deepEqual(evaluate.members, ['stage:evaluate@val', 'stage:evaluate@test']);
    assert.equal(folded.shownAs.get('stage:evaluate@test'), 'group:evaluate');
    // The two edges from train to the variants are one edge to the folded stage.
    assert.equal(folded.edges.filter((edge) => edge.to === 'group:evaluate' && edge.from === 'stage:train').length, 1);
    assert.deepEqual(foldState([stage('a'), stage('b')]), {});
  });

  it('finds what is downstream, searches labels, and words elapsed time', () => {
    const lit = downstream({ edges }, 'stage:prepare');
    assert.deepEqual([...lit.nodes].sort(), ['stage:evaluate@test', 'stage:evaluate@val', 'stage:train']);
    assert.equal(lit.edges.size, 4);
    assert.deepEqual([...downstream({ edges }, 'stage:evaluate@val').nodes], []);
    const view = viewGraph(nodes, edges, false).nodes;
    assert.deepEqual(search(view, 'EVAL'), ['stage:evaluate@val', 'stage:evaluate@test']);
    assert.deepEqual(search(view, '  '), []);
    assert.equal(elapsed(65_400), '1:05');
    assert.equal(elapsed(3_723_000), '1:02:03');
  });

  it('takes from the webview only messages about nodes it knows, and only a well-formed saved state', () => {
    const known = (id: string) => id === 'stage:train';
    assert.deepEqual(parseGraphMessage({ type: 'ready' }, known), { type: 'ready' });
    assert.deepEqual(parseGraphMessage({ type: 'reveal', id: 'stage:train' }, known), {
      type: 'reveal',
      id: 'stage:train',
    });
    assert.deepEqual(parseGraphMessage({ type: 'run', ids: ['stage:train'], upstream: true }, known), {
      type: 'run',
      ids: ['stage:train'],
      upstream: true,
    });
    for (const bad of [
      { type: 'reveal', id: 'stage:nope' },
      { type: 'run', ids: ['stage:train', 'stage:x'], upstream: false },
      { type: 'run', ids: [], upstream: false },
      { type: 'run', ids: 'stage:train', upstream: false },
      { type: 'openTerminal', command: 'rm -rf /' },
      null,
      'ready',
    ])
      assert.equal(parseGraphMessage(bad, known), undefined, JSON.stringify(bad));
    assert.deepEqual(graphStateOf({ pipeline: 'file:///w/mlpipe.yaml', collapsed: true, zoom: 2, panX: 'x' }), {
      pipeline: 'file:///w/mlpipe.yaml',
      collapsed: true,
      zoom: 2,
    });
    assert.equal(graphStateOf({ collapsed: true }), undefined);
  });
});

describe('the graph panel host (client/src/webviews/graph-panel.ts)', () => {
  // Loaded in plain Node with a stand-in for `vscode` (as in client-pure.test.ts): every member an
  // empty class; the function under test uses none of them.
  const loader = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const resolveFilename = loader._resolveFilename;
  const member: ProxyHandler<object> = {
    get: (target: Record<string | symbol, unknown>, key) =>
      key === '__esModule' ? true : (target[key] ??= new Proxy(class {}, member)),
  };
  require.cache.vscode ??= {
    id: 'vscode',
    filename: 'vscode',
    loaded: true,
    exports: new Proxy({}, member),
  } as NodeJS.Module;
  loader._resolveFilename = function (request, ...rest) {
    return request === 'vscode' ? 'vscode' : resolveFilename.call(this, request, ...rest);
  };
  const { revealTarget } = require('../../client/src/webviews/graph-panel') as {
    revealTarget: (dir: string, path: string) => string | undefined;
  };
  loader._resolveFilename = resolveFilename;

  it("opens a node's file only inside the pipeline's folder, never through a link that leads out of it", (t) => {
    const root = mkdtempSync(join(tmpdir(), 'mlpipe-graph-reveal-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const dir = join(root, 'pipeline');
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'data', 'raw.csv'), 'a\n');
    writeFileSync(join(dir, '..notes.csv'), 'a\n');
    writeFileSync(join(root, 'secret'), 'key\n');
    symlinkSync(join(root, 'secret'), join(dir, 'data', 'link.csv'));
    symlinkSync(root, join(dir, 'up'));
    assert.equal(revealTarget(dir, 'data/raw.csv'), join(dir, 'data', 'raw.csv'));
    assert.equal(revealTarget(dir, '..notes.csv'), join(dir, '..notes.csv'));
    assert.equal(
      revealTarget(dir, 'models/not-yet.npz'),
      join(dir, 'models', 'not-yet.npz'),
      'opened to say it does not exist',
    );
    for (const outside of ['data/link.csv', 'up/secret', '../secret', join(root, 'secret'), '', '.'])
      assert.equal(revealTarget(dir, outside), undefined, outside);
  });
});
