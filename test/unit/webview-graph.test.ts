import assert from 'node:assert/strict';
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
