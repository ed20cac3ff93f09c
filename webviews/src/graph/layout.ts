/**
 * A layered (Sugiyama-style) layout for the pipeline graph, left to right, fast enough for
 * 1,000 stages in a frame budget (ADR 0019: dagre and elkjs took seconds on such graphs).
 *
 * 1. Ranks: the longest path from the roots (Kahn's order); a root that feeds others (a params
 *    file, a data file) moves next to the first stage that reads it instead of the first column.
 * 2. Order within a rank: first seen order, then alternate sweeps that sort each rank by the
 *    mean position of its neighbours in the rank before (down) or after (up): fewer crossings.
 * 3. Coordinates: x by rank (each rank as wide as its widest node); y first by order, then pulled
 *    towards the mean y of the node's predecessors, overlaps pushed apart in order.
 * Edges are cubic curves from a node's right side to the next one's left side. Pure: no DOM.
 * A cycle (which the planner never produces) is broken by ranking what remains in input order.
 */

export interface LayoutNode {
  id: string;
  width: number;
  height: number;
}

export interface LayoutEdge {
  from: string;
  to: string;
}

export interface Placed {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
  rank: number;
}

export interface Routed {
  from: string;
  to: string;
  /** An SVG path (`M x y C ...`). */
  path: string;
}

export interface Layout {
  nodes: Map<string, Placed>;
  edges: Routed[];
  width: number;
  height: number;
}

export interface LayoutOptions {
  rankGap?: number;
  nodeGap?: number;
  sweeps?: number;
}

export function layoutGraph(nodes: LayoutNode[], edges: LayoutEdge[], options: LayoutOptions = {}): Layout {
  const rankGap = options.rankGap ?? 56;
  const nodeGap = options.nodeGap ?? 14;
  const sweeps = options.sweeps ?? 4;
  const index = new Map(nodes.map((node, i) => [node.id, i]));
  const count = nodes.length;
  const preds: number[][] = Array.from({ length: count }, () => []);
  const succs: number[][] = Array.from({ length: count }, () => []);
  const kept: [number, number][] = [];
  for (const edge of edges) {
    const a = index.get(edge.from);
    const b = index.get(edge.to);
    if (a === undefined || b === undefined || a === b) continue;
    preds[b].push(a);
    succs[a].push(b);
    kept.push([a, b]);
  }

  // 1. Ranks by the longest path, in Kahn's order; what a cycle leaves is taken in input order.
  const rank = new Int32Array(count);
  const indegree = new Int32Array(count);
  for (let b = 0; b < count; b++) indegree[b] = preds[b].length;
  const queue: number[] = [];
  for (let i = 0; i < count; i++) if (indegree[i] === 0) queue.push(i);
  const done = new Uint8Array(count);
  let head = 0;
  let next = 0;
  while (head < queue.length || next < count) {
    if (head === queue.length) {
      while (next < count && done[next]) next++;
      if (next === count) break;
      queue.push(next);
    }
    const a = queue[head++];
    if (done[a]) continue;
    done[a] = 1;
    for (const b of succs[a]) {
      if (rank[b] < rank[a] + 1) rank[b] = rank[a] + 1;
      if (--indegree[b] === 0) queue.push(b);
    }
  }
  for (let a = 0; a < count; a++) {
    if (preds[a].length > 0 || succs[a].length === 0) continue;
    let nearest = Infinity;
    for (const b of succs[a]) nearest = Math.min(nearest, rank[b]);
    rank[a] = Math.max(0, nearest - 1);
  }

  // 2. Order within each rank.
  let ranks = 0;
  for (let i = 0; i < count; i++) ranks = Math.max(ranks, rank[i] + 1);
  const layers: number[][] = Array.from({ length: ranks }, () => []);
  for (let i = 0; i < count; i++) layers[rank[i]].push(i);
  const position = new Float64Array(count);
  const number = () => {
    for (const layer of layers)
      for (let k = 0; k < layer.length; k++) position[layer[k]] = k / Math.max(1, layer.length);
  };
  number();
  const key = new Float64Array(count);
  for (let sweep = 0; sweep < sweeps; sweep++) {
    const down = sweep % 2 === 0;
    for (let step = 0; step < ranks; step++) {
      const layer = layers[down ? step : ranks - 1 - step];
      for (const v of layer) {
        const neighbours = down ? preds[v] : succs[v];
        let sum = 0;
        for (const u of neighbours) sum += position[u];
        key[v] = neighbours.length > 0 ? sum / neighbours.length : position[v];
      }
      layer.sort((a, b) => key[a] - key[b] || position[a] - position[b]);
      for (let k = 0; k < layer.length; k++) position[layer[k]] = k / Math.max(1, layer.length);
    }
  }

  // 3. Coordinates.
  const width = nodes.map((node) => node.width);
  const height = nodes.map((node) => node.height);
  const rankX: number[] = [];
  let x = 0;
  for (const layer of layers) {
    rankX.push(x);
    let widest = 0;
    for (const v of layer) widest = Math.max(widest, width[v]);
    x += widest + rankGap;
  }
  const y = new Float64Array(count);
  for (const layer of layers) {
    let top = 0;
    for (const v of layer) {
      y[v] = top;
      top += height[v] + nodeGap;
    }
  }
  for (let r = 1; r < ranks; r++) {
    const layer = layers[r];
    const wanted = layer.map((v) => {
      if (preds[v].length === 0) return y[v];
      let sum = 0;
      for (const u of preds[v]) sum += y[u] + height[u] / 2;
      return sum / preds[v].length - height[v] / 2;
    });
    // In order, each at its wanted place or just below the one above.
    let floor = -Infinity;
    for (let k = 0; k < layer.length; k++) {
      const v = layer[k];
      y[v] = Math.max(wanted[k], floor);
      floor = y[v] + height[v] + nodeGap;
    }
  }
  let minY = Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < count; i++) {
    minY = Math.min(minY, y[i]);
    maxY = Math.max(maxY, y[i] + height[i]);
  }
  if (count === 0) minY = maxY = 0;

  const placed = new Map<string, Placed>();
  for (let i = 0; i < count; i++)
    placed.set(nodes[i].id, {
      id: nodes[i].id,
      x: rankX[rank[i]],
      y: y[i] - minY,
      width: width[i],
      height: height[i],
      rank: rank[i],
    });
  const routed: Routed[] = kept.map(([a, b]) => {
    const from = placed.get(nodes[a].id) as Placed;
    const to = placed.get(nodes[b].id) as Placed;
    const x1 = from.x + from.width;
    const y1 = from.y + from.height / 2;
    const x2 = to.x;
    const y2 = to.y + to.height / 2;
    const bend = Math.max(24, (x2 - x1) / 2);
    const r = (value: number) => Math.round(value * 10) / 10;
    return {
      from: nodes[a].id,
      to: nodes[b].id,
      path: `M${r(x1)} ${r(y1)} C${r(x1 + bend)} ${r(y1)} ${r(x2 - bend)} ${r(y2)} ${r(x2)} ${r(y2)}`,
    };
  });
  return { nodes: placed, edges: routed, width: Math.max(0, x - rankGap), height: maxY - minY };
}
