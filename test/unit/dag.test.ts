import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { downstreamOf, formatDagMermaid, formatDagText, type Dag } from '../../core/src/runner/dag';

describe('the pipeline graph (runner/dag.ts)', () => {
  // a -> b -> d, a -> c, e alone; params feed b.
  const dag: Dag = {
    nodes: ['a', 'b', 'c', 'd', 'e'].map((name) => ({ id: `stage:${name}`, kind: 'stage' as const, label: name })),
    edges: [
      { from: 'stage:a', to: 'stage:b', kind: 'dep', via: ['x.csv'] },
      { from: 'stage:a', to: 'stage:c', kind: 'needs', via: [] },
      { from: 'stage:b', to: 'stage:d', kind: 'dep', via: ['m1', 'm2', 'm3', 'm4'] },
    ],
  };

  it('says what is downstream of a node, in node order, without the node itself', () => {
    assert.deepEqual(downstreamOf(dag, 'stage:a'), ['stage:b', 'stage:c', 'stage:d']);
    assert.deepEqual(downstreamOf(dag, 'stage:b'), ['stage:d']);
    assert.deepEqual(downstreamOf(dag, 'stage:e'), []);
  });

  it('prints each stage with where its inputs come from, shortening long lists', () => {
    assert.equal(formatDagText(dag), 'a\nb\n  <- a (x.csv)\nc\n  <- a (needs)\nd\n  <- b (m1, m2, m3 +1 more)\ne\n');
    assert.equal(formatDagText({ nodes: [], edges: [] }), 'no stages\n');
  });

  it('writes %, $ and : in Mermaid labels as entities: directives and comments anywhere, math, icons', () => {
    const path = "data/%%{init: {'theme':'forest'}}%% $$x$$ fa:fa-car.csv";
    const mermaid = formatDagMermaid({
      nodes: [
        { id: 'stage:a', kind: 'stage', label: 'a' },
        { id: `source:${path}`, kind: 'source', label: path },
      ],
      edges: [{ from: 'stage:a', to: `source:${path}`, kind: 'dep', via: [path] }],
    });
    assert.doesNotMatch(mermaid.replace(/^flowchart LR$/m, ''), /[%$:]/);
    assert.match(
      mermaid,
      /n1\[\("data\/#37;#37;\{init#58; \{'theme'#58;'forest'\}\}#37;#37; #36;#36;x#36;#36; fa#58;fa-car\.csv"\)\]/,
    );
  });
});
