/**
 * The pipeline as a graph for people: `mlpipe dag` prints it (text, Graphviz dot, Mermaid, JSON),
 * and the graph view draws the same nodes and edges.
 *
 * Nodes: every stage instance (a matrix variant is a node of its own, grouped by its stage), the
 * params files the stages read, the data and code files no stage writes (sources), and at the end
 * the model artifact and its model card. Edges: a dep another stage writes (labelled with the
 * file), a `needs` without such a file, params (labelled with the params read), sources, and the
 * artifact to the card. Ordering is stable (the plan's order, then paths sorted) so that a printed
 * graph diffs cleanly between commits.
 */
import { type Plan, type PlannedStage } from './plan';
import { type StageReport } from './status';

export type DagNodeKind = 'stage' | 'params' | 'source' | 'artifact' | 'card';

export interface DagNode {
  /** Unique among the nodes: `stage:NAME`, `params:FILE`, `source:PATH`, `artifact:PATH`, `card:PATH`. */
  id: string;
  kind: DagNodeKind;
  /** The stage instance's name, or the path. */
  label: string;
  /** For a matrix variant: the stage it belongs to. */
  group?: string;
  host?: string;
  /** From `mlpipe status`, when asked. */
  state?: StageReport['state'];
  reasons?: string[];
}

export type DagEdgeKind = 'dep' | 'needs' | 'params' | 'source' | 'card';

export interface DagEdge {
  from: string;
  to: string;
  kind: DagEdgeKind;
  /** The files (or params) that make the edge, sorted; empty for a bare `needs`. */
  via: string[];
}

export interface Dag {
  nodes: DagNode[];
  edges: DagEdge[];
}

export interface DagExtras {
  /** `model.artifact` and `model.card` of the pipeline, relative to its folder. */
  artifact?: string;
  card?: string;
  /** Stage reports by instance name. */
  status?: Map<string, StageReport>;
  /** Leave out source files (data and code no stage writes). */
  sources?: boolean;
}

/** Whether `path` is `output` or inside it, or `output` is inside `path` (a folder dep over several outputs). */
function overlaps(path: string, output: string): boolean {
  return path === output || path.startsWith(`${output}/`) || output.startsWith(`${path}/`);
}

function isVariant(stage: PlannedStage): boolean {
  return stage.name !== stage.stage;
}

export function buildDag(plan: Plan, extras: DagExtras = {}): Dag {
  const nodes: DagNode[] = [];
  const edges: DagEdge[] = [];
  const ids = new Set<string>();
  const add = (node: DagNode) => {
    if (ids.has(node.id)) return;
    ids.add(node.id);
    nodes.push(node);
  };
  const stageId = (name: string) => `stage:${name}`;

  // Outputs by path, for the labels of dep edges and for finding sources: exact paths in a map,
  // and sorted, so that the outputs inside a folder dep are one range (no deps x outputs scan).
  const byPath = new Map<string, PlannedStage[]>();
  for (const stage of plan.stages)
    for (const output of stage.outputs) byPath.set(output.path, [...(byPath.get(output.path) ?? []), stage]);
  const sortedPaths = [...byPath.keys()].sort();
  const outputs: { path: string; stage: PlannedStage }[] = [];
  for (const stage of plan.stages) for (const output of stage.outputs) outputs.push({ path: output.path, stage });
  /** The outputs a dep overlaps: the dep itself, a folder above it, or outputs inside it. */
  const producersOf = (dep: string): { path: string; stage: PlannedStage }[] => {
    const found: { path: string; stage: PlannedStage }[] = [];
    for (let at = dep; at !== ''; at = at.includes('/') ? at.slice(0, at.lastIndexOf('/')) : '')
      for (const stage of byPath.get(at) ?? []) found.push({ path: at, stage });
    const prefix = `${dep}/`;
    let low = 0;
    let high = sortedPaths.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (sortedPaths[mid] < prefix) low = mid + 1;
      else high = mid;
    }
    for (let i = low; i < sortedPaths.length && sortedPaths[i].startsWith(prefix); i++)
      for (const stage of byPath.get(sortedPaths[i]) ?? []) found.push({ path: sortedPaths[i], stage });
    return found;
  };

  const paramsNode = plan.paramsFiles.length > 0 ? `params:${plan.paramsFiles.join(', ')}` : 'params:params.yaml';
  const sources = new Map<string, Set<string>>();
  for (const stage of plan.stages) {
    const report = extras.status?.get(stage.name);
    add({
      id: stageId(stage.name),
      kind: 'stage',
      label: stage.name,
      ...(isVariant(stage) ? { group: stage.stage } : {}),
      host: stage.host,
      ...(report ? { state: report.state, reasons: report.reasons } : {}),
    });
    const upstream = new Map<string, Set<string>>(stage.upstream.map((name) => [name, new Set<string>()]));
    for (const dep of stage.deps) {
      let produced = false;
      for (const output of producersOf(dep)) {
        if (output.stage === stage) continue;
        produced = true;
        const files = upstream.get(output.stage.name);
        // A dep written by a stage that is not upstream (a check finding elsewhere) draws no edge.
        if (files) files.add(output.path.length >= dep.length ? output.path : dep);
      }
      if (!produced) {
        const readers = sources.get(dep) ?? new Set<string>();
        readers.add(stage.name);
        sources.set(dep, readers);
      }
    }
    for (const [name, files] of upstream)
      edges.push({
        from: stageId(name),
        to: stageId(stage.name),
        kind: files.size > 0 ? 'dep' : 'needs',
        via: [...files].sort(),
      });
    const params = Object.keys(stage.params).sort();
    if (params.length > 0) edges.push({ from: paramsNode, to: stageId(stage.name), kind: 'params', via: params });
  }
  if (edges.some((edge) => edge.kind === 'params'))
    add({ id: paramsNode, kind: 'params', label: paramsNode.slice('params:'.length) });
  if (extras.sources !== false)
    for (const path of [...sources.keys()].sort()) {
      add({ id: `source:${path}`, kind: 'source', label: path });
      for (const reader of sources.get(path) ?? [])
        edges.push({ from: `source:${path}`, to: stageId(reader), kind: 'source', via: [path] });
    }
  if (extras.artifact) {
    const artifact = extras.artifact;
    add({ id: `artifact:${artifact}`, kind: 'artifact', label: artifact });
    for (const output of outputs)
      if (overlaps(artifact, output.path))
        edges.push({ from: stageId(output.stage.name), to: `artifact:${artifact}`, kind: 'dep', via: [output.path] });
    if (extras.card) {
      add({ id: `card:${extras.card}`, kind: 'card', label: extras.card });
      edges.push({ from: `artifact:${artifact}`, to: `card:${extras.card}`, kind: 'card', via: [] });
    }
  } else if (extras.card) add({ id: `card:${extras.card}`, kind: 'card', label: extras.card });
  // Stable order: nodes as added (the plan's order), edges by target in node order, then source.
  const order = new Map(nodes.map((node, index) => [node.id, index]));
  edges.sort(
    (a, b) =>
      (order.get(a.to) ?? 0) - (order.get(b.to) ?? 0) ||
      (order.get(a.from) ?? 0) - (order.get(b.from) ?? 0) ||
      a.kind.localeCompare(b.kind),
  );
  return { nodes, edges };
}

/** Stages downstream of `name` (not including it): what would rerun if it changed. */
export function downstreamOf(dag: Dag, id: string): string[] {
  const next = new Map<string, string[]>();
  for (const edge of dag.edges) next.set(edge.from, [...(next.get(edge.from) ?? []), edge.to]);
  const seen = new Set<string>();
  const queue = [id];
  while (queue.length > 0) {
    for (const to of next.get(queue.shift() as string) ?? [])
      if (!seen.has(to)) {
        seen.add(to);
        queue.push(to);
      }
  }
  return dag.nodes.filter((node) => seen.has(node.id)).map((node) => node.id);
}

const STATE_TEXT: Record<StageReport['state'], string> = {
  'up-to-date': 'up to date',
  cached: 'cached',
  stale: 'stale',
  'never-run': 'never run',
};

function stateText(node: DagNode): string {
  if (!node.state) return '';
  const reasons = node.reasons && node.reasons.length > 0 ? `: ${node.reasons.join('; ')}` : '';
  return `${STATE_TEXT[node.state]}${reasons}`;
}

function shortList(items: string[], max = 3): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')} +${items.length - max} more`;
}

/** For the terminal: each stage in run order, its state, and where its inputs come from. */
export function formatDagText(dag: Dag): string {
  const incoming = new Map<string, DagEdge[]>();
  for (const edge of dag.edges) incoming.set(edge.to, [...(incoming.get(edge.to) ?? []), edge]);
  const byId = new Map(dag.nodes.map((node) => [node.id, node]));
  const lines: string[] = [];
  const stages = dag.nodes.filter((node) => node.kind === 'stage');
  const width = Math.max(0, ...stages.map((node) => node.label.length));
  for (const node of dag.nodes) {
    if (node.kind !== 'stage' && node.kind !== 'artifact' && node.kind !== 'card') continue;
    const state = stateText(node);
    const title = node.kind === 'stage' ? node.label : `${node.kind === 'artifact' ? 'model' : 'card'} ${node.label}`;
    lines.push(state ? `${title.padEnd(width)}  ${state}` : title);
    for (const edge of incoming.get(node.id) ?? []) {
      const from = byId.get(edge.from);
      if (!from) continue;
      if (edge.kind === 'source') lines.push(`  <- ${from.label}`);
      else if (edge.kind === 'params') lines.push(`  <- ${from.label} (${shortList(edge.via)})`);
      else if (edge.kind === 'needs') lines.push(`  <- ${from.label} (needs)`);
      else if (edge.kind === 'card') lines.push(`  <- ${from.label}`);
      else lines.push(`  <- ${from.label} (${shortList(edge.via)})`);
    }
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : 'no stages\n';
}

/**
 * Mermaid's label text: quotes and the characters Mermaid reads as markup as entity codes. `%`
 * too: Mermaid finds `%%{init: ...}%%` anywhere in the text (a directive that sets its config) and
 * drops what follows `%%` on a line (a comment), quoted or not; and `$` and `:`, which start math
 * (`$$...$$`, KaTeX) and icons (`fa:fa-car`) in a label. Mermaid turns the codes back into the
 * characters only in the finished drawing.
 */
function mermaidText(text: string): string {
  return printable(text.replace(/[\r\n]+/g, ' ')).replace(/[#"<>&`%$:]/g, (c) => `#${c.charCodeAt(0)};`);
}

/**
 * Control and bidi characters as U+FFFD: Graphviz ends a string at NUL and writes the others into
 * SVG, where XML forbids them; a terminal acts on them; bidi controls reorder what follows.
 */
function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '\ufffd');
}

const MERMAID_SHAPE: Record<DagNodeKind, [string, string]> = {
  stage: ['[', ']'],
  params: ['[/', '/]'],
  source: ['[(', ')]'],
  artifact: ['[[', ']]'],
  card: ['{{', '}}'],
};

const MERMAID_CLASS: Record<StageReport['state'], string> = {
  'up-to-date': 'upToDate',
  cached: 'cached',
  stale: 'stale',
  'never-run': 'neverRun',
};

/** A Mermaid flowchart (GitHub renders it in markdown). Node ids are n0, n1, ...: names never become syntax. */
export function formatDagMermaid(dag: Dag): string {
  const short = new Map(dag.nodes.map((node, index) => [node.id, `n${index}`]));
  const lines = ['flowchart LR'];
  for (const node of dag.nodes) {
    const [open, close] = MERMAID_SHAPE[node.kind];
    const state = node.state ? ` · ${STATE_TEXT[node.state]}` : '';
    lines.push(`  ${short.get(node.id)}${open}"${mermaidText(node.label + state)}"${close}`);
  }
  for (const edge of dag.edges) {
    const label = edge.kind === 'dep' && edge.via.length > 0 ? `|"${mermaidText(shortList(edge.via, 2))}"|` : '';
    const arrow = edge.kind === 'needs' ? '-.->' : '-->';
    lines.push(`  ${short.get(edge.from)} ${arrow}${label} ${short.get(edge.to)}`);
  }
  const used = new Set(dag.nodes.flatMap((node) => (node.state ? [node.state] : [])));
  if (used.size > 0) {
    lines.push('  classDef upToDate fill:#d4edda,stroke:#2e7d32', '  classDef cached fill:#d6eaf8,stroke:#1f618d');
    lines.push('  classDef stale fill:#fff3cd,stroke:#b7950b', '  classDef neverRun fill:#eeeeee,stroke:#757575');
    for (const state of [...used].sort()) {
      const members = dag.nodes.filter((node) => node.state === state).map((node) => short.get(node.id));
      lines.push(`  class ${members.join(',')} ${MERMAID_CLASS[state]}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** A Graphviz string: every character that could end or escape it is escaped. */
function dotString(text: string): string {
  return `"${printable(text.replace(/[\r\n]+/g, ' '))
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')}"`;
}

const DOT_SHAPE: Record<DagNodeKind, string> = {
  stage: 'box',
  params: 'note',
  source: 'cylinder',
  artifact: 'box3d',
  card: 'component',
};

const DOT_COLOUR: Record<StageReport['state'], string> = {
  'up-to-date': '#d4edda',
  cached: '#d6eaf8',
  stale: '#fff3cd',
  'never-run': '#eeeeee',
};

/** Graphviz dot (`mlpipe dag --format dot | dot -Tsvg`); matrix variants sit in a cluster per stage. */
export function formatDagDot(dag: Dag): string {
  const lines = [
    'digraph mlpipe {',
    '  rankdir=LR;',
    '  node [fontname="Helvetica", fontsize=11];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];
  // Ids as dot strings, made printable and still one per node (two paths may differ in a control character).
  const dotIds = new Map<string, string>();
  const used = new Set<string>();
  for (const node of dag.nodes) {
    const base = printable(node.id);
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base} (${n})`;
    used.add(id);
    dotIds.set(node.id, dotString(id));
  }
  const dotId = (id: string) => dotIds.get(id) ?? dotString(id);
  const nodeLine = (node: DagNode, indent: string) => {
    // Two lines for a stage with a state: dot's own `\n` escape between two escaped strings.
    const label = dotString(node.label);
    const attributes = [
      `label=${node.state ? `${label.slice(0, -1)}\\n${dotString(STATE_TEXT[node.state]).slice(1)}` : label}`,
    ];
    attributes.push(`shape=${DOT_SHAPE[node.kind]}`);
    if (node.state) attributes.push('style=filled', `fillcolor=${dotString(DOT_COLOUR[node.state])}`);
    return `${indent}${dotId(node.id)} [${attributes.join(', ')}];`;
  };
  const groups = new Map<string, DagNode[]>();
  for (const node of dag.nodes)
    if (node.group) groups.set(node.group, [...(groups.get(node.group) ?? []), node]);
    else lines.push(nodeLine(node, '  '));
  let index = 0;
  for (const [group, members] of groups) {
    lines.push(`  subgraph ${dotString(`cluster_${index++}`)} {`, `    label=${dotString(group)};`);
    for (const node of members) lines.push(nodeLine(node, '    '));
    lines.push('  }');
  }
  for (const edge of dag.edges) {
    const attributes: string[] = [];
    if (edge.kind === 'dep' && edge.via.length > 0) attributes.push(`label=${dotString(shortList(edge.via, 2))}`);
    if (edge.kind === 'needs') attributes.push('style=dashed');
    lines.push(
      `  ${dotId(edge.from)} -> ${dotId(edge.to)}${attributes.length > 0 ? ` [${attributes.join(', ')}]` : ''};`,
    );
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
