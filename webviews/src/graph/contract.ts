/**
 * The pipeline graph panel's messages (host: client/src/webviews/graph-panel.ts; webview:
 * ./main.ts). Pure: no DOM and no vscode. The host checks everything the webview posts with
 * parseGraphMessage: a node id must be one the panel was given.
 */
import type { DagEdgeKind, DagNodeKind } from '../../../core/src/runner/dag';
import { assertNever, isRecord, isString } from '../shared/protocol';

export { assertNever };

export const GRAPH_VIEW_TYPE = 'mlpipe.graph';

/** `mlpipe status`'s states, and what a run in this window says live. */
export type NodeState =
  'up-to-date' | 'cached' | 'stale' | 'never-run' | 'running' | 'failed' | 'cancelled' | 'succeeded';

export interface GraphNode {
  id: string;
  kind: DagNodeKind;
  label: string;
  /** A matrix variant's stage. */
  group?: string;
  state?: NodeState;
  reasons?: string[];
  /** While running: when the stage started (ms since the epoch), for the elapsed time. */
  startedAt?: number;
}

export interface GraphEdge {
  from: string;
  to: string;
  kind: DagEdgeKind;
  via: string[];
}

export interface StateUpdate {
  id: string;
  state: NodeState;
  reasons?: string[];
  startedAt?: number;
}

export type HostToGraph =
  /** The whole graph; `note` says why states are missing or the graph is old (a pipeline with errors). */
  | {
      type: 'init';
      title: string;
      /** The pipeline file's URI, saved with the view so that a reload brings the panel back. */
      pipeline: string;
      nodes: GraphNode[];
      edges: GraphEdge[];
      canRun: boolean;
      note?: string;
    }
  /** The pipeline changed (an edit, a save): a new graph, the view keeps its zoom and selection. */
  | { type: 'graph'; nodes: GraphNode[]; edges: GraphEdge[]; note?: string }
  /** Some nodes' states changed (a run's events, a fresh status). */
  | { type: 'states'; states: StateUpdate[] }
  /** The editor's cursor is in this stage. */
  | { type: 'select'; id: string };

export type GraphToHost =
  | { type: 'ready' }
  /** Show the stage (or the file) in the editor. */
  | { type: 'reveal'; id: string }
  /** Run stage instances (a folded stage's variants together), with `upstream` what they need first. */
  | { type: 'run'; ids: string[]; upstream: boolean }
  /** The stage's log in the newest run that ran it. */
  | { type: 'openLog'; id: string }
  /** The stage's outputs in the workspace. */
  | { type: 'openOutputs'; id: string };

/** What the webview saves (setState) to come back as it was. */
export interface GraphState {
  pipeline: string;
  collapsed: boolean;
  /** Show data and code files; undefined: shown when there are at most a few hundred. */
  files?: boolean;
  selected?: string;
  zoom?: number;
  panX?: number;
  panY?: number;
}

const MESSAGE_TYPES: readonly GraphToHost['type'][] = ['ready', 'reveal', 'run', 'openLog', 'openOutputs'];

/** A message from the webview, or undefined when it is not one the host accepts. */
export function parseGraphMessage(raw: unknown, known: (id: string) => boolean): GraphToHost | undefined {
  if (!isRecord(raw) || !isString(raw.type) || !MESSAGE_TYPES.includes(raw.type as GraphToHost['type']))
    return undefined;
  const type = raw.type as GraphToHost['type'];
  switch (type) {
    case 'ready':
      return { type };
    case 'reveal':
    case 'openLog':
    case 'openOutputs':
      return isString(raw.id) && known(raw.id) ? { type, id: raw.id } : undefined;
    case 'run':
      return Array.isArray(raw.ids) &&
        raw.ids.length > 0 &&
        raw.ids.length <= 10_000 &&
        raw.ids.every((id) => isString(id) && known(id)) &&
        typeof raw.upstream === 'boolean'
        ? { type, ids: raw.ids as string[], upstream: raw.upstream }
        : undefined;
    default:
      return assertNever(type);
  }
}

/** A saved state, checked field by field (what a restored panel hands back is the webview's word). */
export function graphStateOf(raw: unknown): GraphState | undefined {
  if (!isRecord(raw) || !isString(raw.pipeline) || raw.pipeline.length > 4096) return undefined;
  const number = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
  return {
    pipeline: raw.pipeline,
    collapsed: raw.collapsed === true,
    ...(typeof raw.files === 'boolean' ? { files: raw.files } : {}),
    ...(isString(raw.selected) ? { selected: raw.selected } : {}),
    ...(number(raw.zoom) !== undefined ? { zoom: number(raw.zoom) } : {}),
    ...(number(raw.panX) !== undefined ? { panX: number(raw.panX) } : {}),
    ...(number(raw.panY) !== undefined ? { panY: number(raw.panY) } : {}),
  };
}
