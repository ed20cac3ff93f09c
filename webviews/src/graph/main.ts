// The pipeline graph: stages, params, sources, the model and its card, laid out left to right
// (./layout.ts), each stage with its state, live during a run. Pan by dragging, zoom with the
// wheel or the buttons, Fit, search, fold matrix variants, select a node to see its state and
// reasons, run it, show it in the editor, or light up what reruns when it changes.
import { el, setText } from '../shared/dom';
import { channel } from '../shared/vscode';
import {
  assertNever,
  graphStateOf,
  type GraphEdge,
  type GraphNode,
  type GraphState,
  type GraphToHost,
  type HostToGraph,
  type StateUpdate,
} from './contract';
import { layoutGraph, type Layout } from './layout';
import {
  downstream,
  elapsed,
  FILES_SHOWN_UP_TO,
  search,
  shortLabel,
  STATE_WORDS,
  viewGraph,
  type ViewGraph,
  type ViewNode,
} from './model';

const host = channel<GraphToHost, GraphState>();
const saved = graphStateOf(host.state());
const state: GraphState = saved ?? { pipeline: '', collapsed: false };
const save = () => host.saveState(state);

let nodes: GraphNode[] = [];
let edges: GraphEdge[] = [];
let canRun = false;
let view: ViewGraph = { nodes: [], edges: [], shownAs: new Map() };
let layout: Layout | undefined;
let showDownstream = false;
let matches: string[] = [];
let matchIndex = -1;
/** Whether the view is as Fit left it: then a resize (a panel opening below) fits again. */
let fitted = false;

const SVG = 'http://www.w3.org/2000/svg';
const svgEl = <K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number> = {}) => {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
};

// ---- the page ----------------------------------------------------------------------------------

const searchBox = el('input', {
  type: 'search',
  id: 'search',
  placeholder: 'Find a stage or file (/)',
  'aria-label': 'Find a stage or file',
});
const button = (label: string, titleText: string, id: string) =>
  el('button', { class: 'button secondary', type: 'button', id, title: titleText }, label);
const fitButton = button('Fit', 'Fit the whole graph in the view', 'fit');
const zoomOut = button('−', 'Zoom out', 'zoom-out');
const zoomIn = button('+', 'Zoom in', 'zoom-in');
const foldBox = el('input', { type: 'checkbox', id: 'fold' });
const foldLabel = el('label', { for: 'fold', title: 'Show each matrix stage as one node' }, foldBox, ' Fold variants');
const filesBox = el('input', { type: 'checkbox', id: 'files' });
const filesLabel = el(
  'label',
  { for: 'files', title: 'Show the data and code files no stage writes' },
  filesBox,
  ' Files',
);
const legend = el('div', { class: 'legend', 'aria-hidden': 'true' });
for (const [stateName, word] of [
  ['up-to-date', 'up to date'],
  ['cached', 'cached'],
  ['stale', 'stale'],
  ['never-run', 'never run'],
  ['running', 'running'],
  ['failed', 'failed'],
] as const)
  legend.append(el('span', { class: `swatch state-${stateName}` }), el('span', {}, word));
const toolbar = el('div', { class: 'toolbar' }, searchBox, zoomOut, zoomIn, fitButton, foldLabel, filesLabel, legend);
const note = el('div', { class: 'note', role: 'status', hidden: true });

const canvas = svgEl('svg', { class: 'canvas', role: 'img', 'aria-label': 'Pipeline graph' });
const world = svgEl('g', { class: 'world' });
const edgeLayer = svgEl('g', { class: 'edges' });
const nodeLayer = svgEl('g', { class: 'nodes' });
world.append(edgeLayer, nodeLayer);
canvas.append(world);

const detailTitle = el('h2', { id: 'detail-title' });
const detailState = el('div', { class: 'detail-state' });
const detailReasons = el('ul', { class: 'detail-reasons' });
const runButton = button('Run', 'Run this stage', 'run-stage');
const runUpstreamButton = button('Run with upstream', 'Run this stage and what it depends on', 'run-upstream');
const revealButton = button('Show in editor', 'Show this stage in mlpipe.yaml', 'reveal');
const downstreamButton = button('What reruns if this changes?', 'Light up everything downstream', 'downstream');
const logButton = button('Open log', "This stage's log in the newest run that ran it", 'open-log');
const outputsButton = button('Open outputs', "This stage's outputs in the workspace", 'open-outputs');
const details = el(
  'div',
  { class: 'details', hidden: true },
  detailTitle,
  detailState,
  detailReasons,
  el(
    'div',
    { class: 'actions' },
    runButton,
    runUpstreamButton,
    revealButton,
    logButton,
    outputsButton,
    downstreamButton,
  ),
);
document.getElementById('app')?.append(toolbar, note, el('div', { class: 'viewport' }, canvas), details);

// ---- drawing -----------------------------------------------------------------------------------

interface Drawn {
  group: SVGGElement;
  stateText: SVGTextElement | undefined;
  /** Made when the pointer or the focus first reaches the node (see below). */
  title?: SVGTitleElement;
}
const drawn = new Map<string, Drawn>();
const drawnEdges = new Map<GraphEdge, SVGPathElement>();
const edgeOf = new WeakMap<SVGPathElement, GraphEdge>();

/** Whether the data and code files are drawn: as the user chose, else when there are few. */
function showFiles(): boolean {
  return state.files ?? nodes.filter((node) => node.kind === 'source').length <= FILES_SHOWN_UP_TO;
}

// An edge's tooltip (the files it stands for) is made when the pointer first reaches it: thousands
// of title elements nobody hovers would cost the first paint.
edgeLayer.addEventListener('pointerover', (event) => {
  const path = event.target as SVGPathElement;
  const edge = edgeOf.get(path);
  if (!edge || edge.via.length === 0 || path.firstChild) return;
  const title = svgEl('title');
  title.textContent = edge.via.join(', ');
  path.append(title);
});

function tooltip(node: ViewNode): string {
  const lines = [node.label];
  if (node.state) lines.push(STATE_WORDS[node.state]);
  for (const reason of node.reasons ?? []) lines.push(reason);
  return lines.join('\n');
}

function stateLine(node: ViewNode): string {
  if (!node.state) return '';
  if (node.state === 'running' && node.startedAt !== undefined)
    return `running ${elapsed(Date.now() - node.startedAt)}`;
  return STATE_WORDS[node.state];
}

function draw(keepView: boolean): void {
  // Marks for bench:graph (performance.measure reads them); they cost nothing worth counting.
  performance.mark('graph-draw');
  // Measured now, while the canvas is cheap to lay out: after the nodes are in, it would force a
  // layout of every element before the first frame.
  const box = canvas.getBoundingClientRect();
  view = viewGraph(nodes, edges, state.collapsed, showFiles());
  filesBox.checked = showFiles();
  layout = layoutGraph(view.nodes, view.edges);
  performance.mark('graph-laid-out');
  edgeLayer.replaceChildren();
  nodeLayer.replaceChildren();
  lighting = false;
  drawn.clear();
  drawnEdges.clear();
  const routes = new Map(layout.edges.map((route) => [`${route.from}\0${route.to}`, route.path]));
  for (const edge of view.edges) {
    const path = svgEl('path', {
      d: routes.get(`${edge.from}\0${edge.to}`) ?? '',
      class: `edge edge-${edge.kind}`,
      'marker-end': 'url(#arrow)',
    });
    drawnEdges.set(edge, path);
    edgeOf.set(path, edge);
    edgeLayer.append(path);
  }
  for (const node of view.nodes) {
    const place = layout.nodes.get(node.id);
    if (!place) continue;
    const group = svgEl('g', {
      class: `node node-${node.kind}`,
      transform: `translate(${place.x} ${place.y})`,
      tabindex: 0,
      role: 'button',
      'data-id': node.id,
      'aria-label': node.label,
    });
    group.append(svgEl('rect', { width: place.width, height: place.height, rx: node.kind === 'stage' ? 4 : 10 }));
    const label = svgEl('text', { x: 10, y: node.kind === 'stage' ? 16 : 17, class: 'label' });
    label.textContent = shortLabel(node.label);
    group.append(label);
    let stateText: SVGTextElement | undefined;
    if (node.kind === 'stage') {
      stateText = svgEl('text', { x: 10, y: 31, class: 'state' });
      group.append(stateText);
    }
    drawn.set(node.id, { group, stateText });
    nodeLayer.append(group);
    paintState(node);
  }
  const defs = svgEl('defs');
  const marker = svgEl('marker', {
    id: 'arrow',
    viewBox: '0 0 10 10',
    refX: 10,
    refY: 5,
    markerWidth: 7,
    markerHeight: 7,
    orient: 'auto-start-reverse',
  });
  marker.append(svgEl('path', { d: 'M0 0 L10 5 L0 10 z', class: 'arrow' }));
  defs.append(marker);
  edgeLayer.prepend(defs);
  performance.mark('graph-built');
  if (!keepView || state.zoom === undefined) fit(box);
  else applyTransform();
  highlight();
}

function paintState(node: ViewNode): void {
  const shown = drawn.get(node.id);
  if (!shown) return;
  const classes = ['node', `node-${node.kind}`];
  if (node.state) classes.push(`state-${node.state}`);
  if (state.selected === node.id) classes.push('selected');
  shown.group.setAttribute('class', classes.join(' '));
  if (shown.stateText) setSvgText(shown.stateText, stateLine(node));
  if (shown.title) shown.title.textContent = tooltip(node);
}

/** A node's tooltip (its name, state and reasons), made on first hover or focus and kept up to date after. */
function ensureTitle(target: EventTarget | null): void {
  const id = (target as Element | null)?.closest?.('.node')?.getAttribute('data-id');
  const shown = id ? drawn.get(id) : undefined;
  const node = id ? view.nodes.find((one) => one.id === id) : undefined;
  if (!shown || !node || shown.title) return;
  shown.title = svgEl('title');
  shown.title.textContent = tooltip(node);
  shown.group.prepend(shown.title);
}
nodeLayer.addEventListener('pointerover', (event) => ensureTitle(event.target));
nodeLayer.addEventListener('focusin', (event) => ensureTitle(event.target));

function setSvgText(element: SVGTextElement, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

/** Selection, search matches and the downstream light, as classes. */
/** Whether anything is lit or dimmed now (then every element's classes are as paintState left them). */
let lighting = false;

function highlight(): void {
  const lit = showDownstream && state.selected ? downstream(view, state.selected) : undefined;
  const matched = new Set(matches);
  const dim = lit !== undefined || matched.size > 0;
  const needed = dim || state.selected !== undefined;
  // Nothing to light and nothing lit before: skip touching thousands of elements.
  if (!needed && !lighting) {
    showDetails();
    return;
  }
  lighting = needed;
  for (const node of view.nodes) {
    const shown = drawn.get(node.id);
    if (!shown) continue;
    const on = (lit?.nodes.has(node.id) ?? false) || matched.has(node.id) || node.id === state.selected;
    shown.group.classList.toggle('selected', node.id === state.selected);
    shown.group.classList.toggle('downstream', lit?.nodes.has(node.id) ?? false);
    shown.group.classList.toggle('match', matched.has(node.id));
    shown.group.classList.toggle('dim', dim && !on);
  }
  for (const [edge, path] of drawnEdges) {
    path.classList.toggle('downstream', lit?.edges.has(edge) ?? false);
    path.classList.toggle('dim', dim && !(lit?.edges.has(edge) ?? false));
  }
  showDetails();
}

function showDetails(): void {
  const node = view.nodes.find((one) => one.id === state.selected);
  details.hidden = !node;
  if (!node) return;
  setText(detailTitle, node.label);
  setText(detailState, node.state ? stateLine(node) : node.kind === 'stage' ? 'state unknown' : node.kind);
  detailReasons.replaceChildren(...(node.reasons ?? []).map((reason) => el('li', {}, reason)));
  const stage = node.kind === 'stage';
  runButton.hidden = !stage || !canRun;
  runUpstreamButton.hidden = !stage || !canRun;
  logButton.hidden = !stage;
  outputsButton.hidden = !stage;
  downstreamButton.textContent = showDownstream ? 'Hide what reruns' : 'What reruns if this changes?';
}

// ---- pan and zoom ------------------------------------------------------------------------------

/** Below this zoom, names are too small to read: they are not drawn (nor the arrowheads) until one zooms in. */
const FAR_ZOOM = 0.35;

function applyTransform(): void {
  world.setAttribute('transform', `translate(${state.panX ?? 0} ${state.panY ?? 0}) scale(${state.zoom ?? 1})`);
  canvas.classList.toggle('far', (state.zoom ?? 1) < FAR_ZOOM);
}

/** Fits the graph in the canvas; `box`: the canvas's size measured before the graph's DOM changed (no forced layout). */
function fit(box: { width: number; height: number } = canvas.getBoundingClientRect()): void {
  if (!layout) return;
  const width = Math.max(1, box.width);
  const height = Math.max(1, box.height);
  const zoom = Math.min(1.5, (width - 40) / Math.max(1, layout.width), (height - 40) / Math.max(1, layout.height));
  state.zoom = Math.max(0.05, zoom);
  state.panX = (width - layout.width * state.zoom) / 2;
  state.panY = (height - layout.height * state.zoom) / 2;
  fitted = true;
  applyTransform();
  save();
}

function zoomAt(factor: number, cx: number, cy: number): void {
  fitted = false;
  const zoom = Math.min(4, Math.max(0.05, (state.zoom ?? 1) * factor));
  const real = zoom / (state.zoom ?? 1);
  state.panX = cx - (cx - (state.panX ?? 0)) * real;
  state.panY = cy - (cy - (state.panY ?? 0)) * real;
  state.zoom = zoom;
  applyTransform();
  save();
}

/** Scrolls so that a node is in view (centred when it was not). */
function centre(id: string): void {
  const place = layout?.nodes.get(id);
  if (!place) return;
  const box = canvas.getBoundingClientRect();
  const zoom = state.zoom ?? 1;
  const x = place.x * zoom + (state.panX ?? 0);
  const y = place.y * zoom + (state.panY ?? 0);
  if (x >= 0 && y >= 0 && x + place.width * zoom <= box.width && y + place.height * zoom <= box.height) return;
  fitted = false;
  state.panX = box.width / 2 - (place.x + place.width / 2) * zoom;
  state.panY = box.height / 2 - (place.y + place.height / 2) * zoom;
  applyTransform();
  save();
}

let drag: { x: number; y: number; panX: number; panY: number; moved: boolean } | undefined;
canvas.addEventListener('pointerdown', (event) => {
  if ((event.target as Element).closest('.node')) return;
  drag = { x: event.clientX, y: event.clientY, panX: state.panX ?? 0, panY: state.panY ?? 0, moved: false };
  canvas.setPointerCapture(event.pointerId);
});
canvas.addEventListener('pointermove', (event) => {
  if (!drag) return;
  drag.moved = true;
  fitted = false;
  state.panX = drag.panX + event.clientX - drag.x;
  state.panY = drag.panY + event.clientY - drag.y;
  applyTransform();
});
canvas.addEventListener('pointerup', () => {
  if (drag && !drag.moved) select(undefined, false);
  drag = undefined;
  save();
});
canvas.addEventListener(
  'wheel',
  (event) => {
    event.preventDefault();
    const box = canvas.getBoundingClientRect();
    zoomAt(Math.exp(-event.deltaY / 500), event.clientX - box.left, event.clientY - box.top);
  },
  { passive: false },
);
const zoomCentre = (factor: number) => {
  const box = canvas.getBoundingClientRect();
  zoomAt(factor, box.width / 2, box.height / 2);
};
zoomIn.addEventListener('click', () => zoomCentre(1.25));
zoomOut.addEventListener('click', () => zoomCentre(0.8));
fitButton.addEventListener('click', fit);
new ResizeObserver(() => {
  if (fitted) fit();
}).observe(canvas);

// ---- selection, search, actions ----------------------------------------------------------------

function select(id: string | undefined, fromUser: boolean): void {
  state.selected = id;
  if (!id) showDownstream = false;
  save();
  highlight();
  if (id && fromUser) {
    const node = view.nodes.find((one) => one.id === id);
    // A folded stage shows its first variant in the editor.
    if (node) host.post({ type: 'reveal', id: node.members[0] });
  }
}

nodeLayer.addEventListener('click', (event) => {
  const target = (event.target as Element).closest('.node');
  const id = target?.getAttribute('data-id');
  if (id) select(id, true);
});
nodeLayer.addEventListener('keydown', (event) => {
  if (event.key !== 'Enter' && event.key !== ' ') return;
  const id = (event.target as Element).closest('.node')?.getAttribute('data-id');
  if (id) {
    event.preventDefault();
    select(id, true);
  }
});

const selectedNode = () => view.nodes.find((one) => one.id === state.selected);
// A folded stage runs every variant, as one request.
runButton.addEventListener('click', () => {
  const ids = selectedNode()?.members ?? [];
  if (ids.length > 0) host.post({ type: 'run', ids, upstream: false });
});
runUpstreamButton.addEventListener('click', () => {
  const ids = selectedNode()?.members ?? [];
  if (ids.length > 0) host.post({ type: 'run', ids, upstream: true });
});
logButton.addEventListener('click', () => {
  const node = selectedNode();
  if (node) host.post({ type: 'openLog', id: node.members[0] });
});
outputsButton.addEventListener('click', () => {
  const node = selectedNode();
  if (node) host.post({ type: 'openOutputs', id: node.members[0] });
});
revealButton.addEventListener('click', () => {
  const node = selectedNode();
  if (node) host.post({ type: 'reveal', id: node.members[0] });
});
downstreamButton.addEventListener('click', () => {
  showDownstream = !showDownstream;
  highlight();
});

searchBox.addEventListener('input', () => {
  matches = search(view.nodes, searchBox.value);
  matchIndex = -1;
  highlight();
});
searchBox.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && matches.length > 0) {
    matchIndex = (matchIndex + 1) % matches.length;
    select(matches[matchIndex], false);
    centre(matches[matchIndex]);
  } else if (event.key === 'Escape') {
    searchBox.value = '';
    matches = [];
    highlight();
  }
});
window.addEventListener('keydown', (event) => {
  if (event.key === '/' && document.activeElement !== searchBox) {
    event.preventDefault();
    searchBox.focus();
  }
});
filesBox.addEventListener('change', () => {
  state.files = filesBox.checked;
  if (state.selected && !state.selected.startsWith('stage:') && !state.files) state.selected = undefined;
  draw(true);
  showNote(hostNote);
  save();
});
foldBox.addEventListener('change', () => {
  state.collapsed = foldBox.checked;
  if (state.selected && !view.nodes.some((node) => node.id === state.selected)) state.selected = undefined;
  draw(true);
  // What was selected before folding shows as its stage, and the other way round.
  save();
});

// ---- live state --------------------------------------------------------------------------------

let ticking: ReturnType<typeof setInterval> | undefined;
function tick(): void {
  const running = view.nodes.filter((node) => node.state === 'running');
  for (const node of running) paintState(node);
  if (running.length === 0 && ticking !== undefined) {
    clearInterval(ticking);
    ticking = undefined;
  } else if (running.length > 0 && ticking === undefined) ticking = setInterval(tick, 1000);
}

function applyStates(updates: StateUpdate[]): void {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  for (const update of updates) {
    const node = byId.get(update.id);
    if (!node) continue;
    node.state = update.state;
    node.reasons = update.reasons;
    node.startedAt = update.startedAt;
  }
  // Recompute the view's folded states without a new layout: positions do not depend on state.
  const fresh = viewGraph(nodes, edges, state.collapsed, showFiles());
  const freshById = new Map(fresh.nodes.map((node) => [node.id, node]));
  view.nodes = view.nodes.map((node) => freshById.get(node.id) ?? node);
  for (const node of view.nodes) paintState(node);
  highlight();
  tick();
}

let hostNote: string | undefined;
function showNote(text: string | undefined): void {
  hostNote = text;
  const hidden = showFiles() ? 0 : nodes.filter((node) => node.kind === 'source').length;
  const files =
    hidden > 0 ? `${hidden.toLocaleString('en-US')} data and code files are hidden: tick Files to show them.` : '';
  const all = [text, files].filter(Boolean).join(' ');
  note.hidden = !all;
  setText(note, all);
}

host.onMessage((raw) => {
  const message = raw as HostToGraph;
  switch (message.type) {
    case 'init':
      document.title = message.title;
      state.pipeline = message.pipeline;
      nodes = message.nodes;
      edges = message.edges;
      canRun = message.canRun;
      foldBox.checked = state.collapsed;
      showNote(message.note);
      draw(saved !== undefined && saved.zoom !== undefined);
      tick();
      document.body.dataset.ready = 'true';
      break;
    case 'graph':
      nodes = message.nodes;
      edges = message.edges;
      showNote(message.note);
      if (
        state.selected &&
        !viewGraph(nodes, edges, state.collapsed, showFiles()).nodes.some((n) => n.id === state.selected)
      )
        state.selected = undefined;
      draw(true);
      tick();
      break;
    case 'states':
      applyStates(message.states);
      break;
    case 'select': {
      const id = view.shownAs.get(message.id) ?? message.id;
      if (!view.nodes.some((node) => node.id === id)) break;
      select(id, false);
      centre(id);
      break;
    }
    default:
      assertNever(message);
  }
});

host.post({ type: 'ready' });
