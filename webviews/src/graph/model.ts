/**
 * What the graph view draws from the host's nodes and edges: matrix variants folded into their
 * stage when asked, node sizes, state words, search and "what is downstream". Pure: no DOM.
 */
import type { GraphEdge, GraphNode, NodeState } from './contract';

/** Worst first: a folded stage shows the most urgent state of its variants. */
const URGENCY: NodeState[] = [
  'failed',
  'running',
  'cancelled',
  'stale',
  'never-run',
  'cached',
  'succeeded',
  'up-to-date',
];

export const STATE_WORDS: Record<NodeState, string> = {
  'up-to-date': 'up to date',
  cached: 'cached',
  stale: 'stale',
  'never-run': 'never run',
  running: 'running',
  failed: 'failed',
  cancelled: 'cancelled',
  succeeded: 'done',
};

export interface ViewNode extends GraphNode {
  /** The nodes it stands for: itself, or a folded stage's variants. */
  members: string[];
  width: number;
  height: number;
}

export interface ViewGraph {
  nodes: ViewNode[];
  edges: GraphEdge[];
  /** Which view node shows a host node (a variant shows as its folded stage). */
  shownAs: Map<string, string>;
}

const CHAR_WIDTH = 7;

export function nodeSize(node: GraphNode): { width: number; height: number } {
  const text = Math.min(node.label.length, 34) * CHAR_WIDTH + 28;
  return node.kind === 'stage' ? { width: Math.max(96, text), height: 40 } : { width: Math.max(72, text), height: 26 };
}

/** Above this many data and code files the view starts with them hidden (the Files box shows them). */
export const FILES_SHOWN_UP_TO = 200;

/**
 * The graph to draw: as given, or with each matrix stage's variants folded into one node, and
 * with or without the source files (data and code no stage writes).
 */
export function viewGraph(nodes: GraphNode[], edges: GraphEdge[], folded: boolean, files = true): ViewGraph {
  const shownAs = new Map<string, string>();
  const out: ViewNode[] = [];
  const groups = new Map<string, ViewNode>();
  for (const node of nodes) {
    if (!files && node.kind === 'source') continue;
    if (folded && node.group) {
      const id = `group:${node.group}`;
      shownAs.set(node.id, id);
      let group = groups.get(id);
      if (!group) {
        group = { id, kind: 'stage', label: node.group, members: [], width: 0, height: 0 };
        groups.set(id, group);
        out.push(group);
      }
      group.members.push(node.id);
      continue;
    }
    shownAs.set(node.id, node.id);
    out.push({ ...node, members: [node.id], ...nodeSize(node) });
  }
  const byId = new Map(nodes.map((node) => [node.id, node]));
  for (const group of groups.values()) {
    const members = group.members.map((id) => byId.get(id) as GraphNode);
    group.label = `${group.label} ×${members.length}`;
    Object.assign(group, nodeSize(group), foldState(members));
  }
  const seen = new Set<string>();
  const viewEdges: GraphEdge[] = [];
  for (const edge of edges) {
    const from = shownAs.get(edge.from);
    const to = shownAs.get(edge.to);
    if (!from || !to || from === to) continue;
    const key = `${from}\0${to}`;
    if (seen.has(key)) continue;
    seen.add(key);
    viewEdges.push({ ...edge, from, to });
  }
  return { nodes: out, edges: viewEdges, shownAs };
}

/** A folded stage's state: its most urgent variant's, with that variant's reasons named. */
export function foldState(members: GraphNode[]): Pick<GraphNode, 'state' | 'reasons' | 'startedAt'> {
  let worst: GraphNode | undefined;
  for (const member of members) {
    if (!member.state) continue;
    if (!worst || URGENCY.indexOf(member.state) < URGENCY.indexOf(worst.state as NodeState)) worst = member;
  }
  if (!worst?.state) return {};
  const same = members.filter((member) => member.state === worst.state).length;
  return {
    state: worst.state,
    reasons: [
      `${same} of ${members.length} variants ${STATE_WORDS[worst.state]}`,
      ...(worst.reasons ?? []).map((reason) => `${worst.label}: ${reason}`),
    ],
    ...(worst.startedAt !== undefined ? { startedAt: worst.startedAt } : {}),
  };
}

/** Nodes downstream of `id` and the edges that lead there: what reruns when it changes. */
export function downstream(graph: { edges: GraphEdge[] }, id: string): { nodes: Set<string>; edges: Set<GraphEdge> } {
  const out = new Map<string, GraphEdge[]>();
  for (const edge of graph.edges) out.set(edge.from, [...(out.get(edge.from) ?? []), edge]);
  const nodes = new Set<string>();
  const edges = new Set<GraphEdge>();
  const queue = [id];
  while (queue.length > 0) {
    for (const edge of out.get(queue.pop() as string) ?? []) {
      edges.add(edge);
      if (!nodes.has(edge.to)) {
        nodes.add(edge.to);
        queue.push(edge.to);
      }
    }
  }
  return { nodes, edges };
}

/** Nodes whose label contains the query, case-insensitively, in the graph's order. */
export function search(nodes: ViewNode[], query: string): string[] {
  const wanted = query.trim().toLowerCase();
  if (!wanted) return [];
  return nodes.filter((node) => node.label.toLowerCase().includes(wanted)).map((node) => node.id);
}

/** `1:05`, `12:00`, `1:02:03`. */
export function elapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

/** A label cut to what a node shows (the whole of it is in the node's tooltip). */
export function shortLabel(label: string, max = 34): string {
  return label.length <= max ? label : `${label.slice(0, max - 1)}…`;
}
