import { type PathEntry, type PipelineModel, type Stage } from './model';
import { type YScalar } from '../yaml/nodes';

export interface Producer {
  stage: Stage;
  entry: PathEntry;
  path: string;
}

/** Why one stage comes after another: a `needs` entry or a dep that the other stage writes. */
export interface Edge {
  from: Stage;
  to: Stage;
  node: YScalar;
  kind: 'needs' | 'dep';
}

/** Where a producer sits in file order: its stage's offset, then its entry and path within the stage. */
interface Placed extends Producer {
  entryIndex: number;
  pathIndex: number;
}

function before(a: Placed, b: Placed): boolean {
  if (a.stage !== b.stage) return a.stage.pair.start < b.stage.pair.start;
  return a.entryIndex !== b.entryIndex ? a.entryIndex < b.entryIndex : a.pathIndex < b.pathIndex;
}

function outputEntries(stage: Stage): PathEntry[] {
  return [...stage.outs, ...stage.metrics, ...stage.plots];
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}

/** Names a stage answers to in `needs`: its own and its variants'. */
function namesOf(stage: Stage): string[] {
  return stage.variants.length === 1 && stage.variants[0].name === stage.name
    ? [stage.name]
    : [stage.name, ...stage.variants.map((variant) => variant.name)];
}

/**
 * Who writes what, and the stage graph that follows from it. Kept up to date across edits by
 * `update`: only the stages an edit rebuilt, the stages whose deps or needs resolve differently
 * because of them, and the stages pointing at them have their edges recomputed, so an edit costs
 * what it changed (plus one identity pass over the stage list), not the whole pipeline.
 */
export class PipelineGraph {
  readonly outputs = new Map<string, Producer[]>();
  private readonly sortedOutputs: string[] = [];
  readonly edges = new Map<Stage, Edge[]>();
  /** Changes whenever the set of (output path, producing stage's name) changes. */
  outputsVersion = 0;
  private stamp = 0;
  private readonly depStamps = new WeakMap<Stage, number>();
  /** Dep paths by themselves and by each folder above them; exact dep paths; needs by name. */
  private readonly depsUnder = new Map<string, Set<Stage>>();
  private readonly depsExact = new Map<string, Set<Stage>>();
  private readonly needsOf = new Map<string, Set<Stage>>();
  /** Stages with an edge to a stage. */
  private readonly incoming = new Map<Stage, Set<Stage>>();
  /** Outputs with more than one producing stage; outputs inside another output. */
  private readonly shared = new Set<string>();
  private readonly nested = new Set<string>();
  private cycleCache: Edge[][] | undefined;
  private current: readonly Stage[] = [];
  private unique = true;

  constructor(public model: PipelineModel) {
    this.update(model);
  }

  /** A stamp that changes when what `stage`'s deps resolve to may have changed (its producers). */
  depsVersion(stage: Stage): number {
    return this.depStamps.get(stage) ?? 0;
  }

  /** Brings the graph to `model`, reusing what holds for the stages that did not change. */
  update(model: PipelineModel): void {
    this.model = model;
    // The stages differ from the previous list in one window (an edit rebuilds a few): compare
    // from both ends by identity, and only the window with sets.
    const prior = this.current;
    const now = model.stages;
    let head = 0;
    while (head < prior.length && head < now.length && prior[head] === now[head]) head++;
    let tail = 0;
    while (
      tail < prior.length - head &&
      tail < now.length - head &&
      prior[prior.length - 1 - tail] === now[now.length - 1 - tail]
    )
      tail++;
    const oldWindow = new Set(prior.slice(head, prior.length - tail));
    const newWindow = new Set(now.slice(head, now.length - tail));
    const removed = [...oldWindow].filter((stage) => !newWindow.has(stage));
    const added = [...newWindow].filter((stage) => !oldWindow.has(stage));
    this.current = now;
    const removedSet = new Set(removed);
    const next = { has: (stage: Stage) => !removedSet.has(stage) };
    if (removed.length === 0 && added.length === 0) return;

    // Outputs: who wrote each touched path before, by name, against after.
    const bulk = removed.length > 64;
    const touched = new Map<string, string>();
    const signature = (path: string) =>
      (this.outputs.get(path) ?? []).map((producer) => producer.stage.name).join('\0');
    for (const stage of removed)
      for (const entry of outputEntries(stage))
        for (const path of entry.paths) {
          if (!touched.has(path)) touched.set(path, signature(path));
          const list = this.outputs.get(path);
          if (!list) continue;
          const kept = list.filter((producer) => producer.stage !== stage);
          if (kept.length > 0) this.outputs.set(path, kept);
          else {
            this.outputs.delete(path);
            if (!bulk) this.removeSorted(path);
          }
        }
    if (bulk) {
      const kept = this.sortedOutputs.filter((path) => this.outputs.has(path));
      this.sortedOutputs.length = 0;
      this.sortedOutputs.push(...kept);
    }
    const newPaths: string[] = [];
    for (const stage of added)
      outputEntries(stage).forEach((entry, entryIndex) =>
        entry.paths.forEach((path, pathIndex) => {
          if (!touched.has(path)) touched.set(path, signature(path));
          const placed: Placed = { stage, entry, path, entryIndex, pathIndex };
          const list = this.outputs.get(path) as Placed[] | undefined;
          if (!list) {
            this.outputs.set(path, [placed]);
            newPaths.push(path);
            return;
          }
          let at = list.length;
          while (at > 0 && before(placed, list[at - 1])) at--;
          list.splice(at, 0, placed);
        }),
      );
    // One by one into the sorted list for an edit; all at once (a sort) when building.
    if (newPaths.length > 64) {
      this.sortedOutputs.push(...newPaths);
      this.sortedOutputs.sort(byPathSegments);
    } else for (const path of newPaths) this.insertSorted(path);
    const changedOutputs: string[] = [];
    for (const [path, old] of touched) {
      if (signature(path) !== old) changedOutputs.push(path);
      const list = this.outputs.get(path);
      if (list && new Set(list.map((producer) => producer.stage)).size > 1) this.shared.add(path);
      else this.shared.delete(path);
    }
    if (changedOutputs.length > 0) {
      this.outputsVersion++;
      for (const path of changedOutputs) {
        this.renest(path);
        for (const inner of pathsInside(this.sortedOutputs, path)) this.renest(inner);
      }
    }

    // Stages whose edges must be computed again.
    const addedSet = new Set(added);
    const redo = new Set<Stage>(added);
    const stamp = ++this.stamp;
    for (const path of changedOutputs) {
      for (const stage of this.depsUnder.get(path) ?? []) {
        redo.add(stage);
        this.depStamps.set(stage, stamp);
      }
      for (let parent = parentOf(path); parent; parent = parentOf(parent))
        for (const stage of this.depsExact.get(parent) ?? []) {
          redo.add(stage);
          this.depStamps.set(stage, stamp);
        }
    }
    for (const stage of added) this.depStamps.set(stage, stamp);
    for (const stage of [...removed, ...added])
      for (const name of namesOf(stage)) for (const dependent of this.needsOf.get(name) ?? []) redo.add(dependent);
    for (const stage of removed) for (const dependent of this.incoming.get(stage) ?? []) redo.add(dependent);

    // Edges by name before and after, to tell whether the graph's shape changed.
    const shapeBefore = new Map<string, Set<string>>();
    const shape = (edges: Edge[] | undefined) => new Set((edges ?? []).map((edge) => `${edge.kind}>${edge.to.name}`));
    // Names stand for stages only while no two stages share one, now and in the previous model.
    const unique = model.stageByName.size === model.stages.length && this.unique;
    this.unique = model.stageByName.size === model.stages.length;
    for (const stage of removed) {
      if (unique) shapeBefore.set(stage.name, shape(this.edges.get(stage)));
      this.unindex(stage);
    }
    for (const stage of redo) {
      if (!next.has(stage)) continue;
      if (unique && !addedSet.has(stage)) shapeBefore.set(stage.name, shape(this.edges.get(stage)));
      if (this.edges.has(stage)) this.unindex(stage);
    }
    const addedEdges: Edge[] = [];
    let shapeChanged = !unique || removed.length !== added.length;
    for (const stage of redo) {
      if (!next.has(stage)) continue;
      const edges = this.edgesOf(stage);
      this.index(stage, edges);
      const old = shapeBefore.get(stage.name);
      if (!old) {
        shapeChanged = true;
        addedEdges.push(...edges);
        continue;
      }
      const now = shape(edges);
      if (now.size !== old.size || [...old].some((item) => !now.has(item))) shapeChanged = true;
      for (const edge of edges) if (!old.has(`${edge.kind}>${edge.to.name}`)) addedEdges.push(edge);
    }
    for (const stage of removed) if (!model.stageByName.has(stage.name)) shapeChanged = true;

    // Cycles: a graph without cycles stays so unless an added edge closes one.
    if (this.cycleCache && this.cycleCache.length === 0) {
      // A walk per added edge is cheaper than Tarjan over everything only for a few edges.
      if (!unique || addedEdges.length > 16 || addedEdges.some((edge) => this.reaches(edge.to, edge.from)))
        this.cycleCache = undefined;
    } else if (shapeChanged || this.cycleCache) {
      this.cycleCache = undefined;
    }
  }

  private edgesOf(stage: Stage): Edge[] {
    const model = this.model;
    const edges: Edge[] = [];
    for (const need of stage.needs) {
      const target = model.stageByName.get(need.name) ?? model.variantToStage.get(need.name);
      // A stage naming itself gets its own diagnostic (self-need), not a one-stage cycle.
      if (target && target !== stage) edges.push({ from: stage, to: target, node: need.node, kind: 'needs' });
    }
    for (const dep of stage.deps) {
      const seen = new Set<Stage>();
      for (const path of dep.paths) {
        for (const producer of this.producersOf(path)) {
          if (producer.stage === stage || seen.has(producer.stage)) continue;
          seen.add(producer.stage);
          edges.push({ from: stage, to: producer.stage, node: dep.node, kind: 'dep' });
        }
      }
    }
    return edges;
  }

  private index(stage: Stage, edges: Edge[]): void {
    this.edges.set(stage, edges);
    for (const edge of edges) addTo(this.incoming, edge.to, stage);
    for (const need of stage.needs) addTo(this.needsOf, need.name, stage);
    for (const dep of stage.deps)
      for (const path of dep.paths) {
        addTo(this.depsExact, path, stage);
        for (let at = path; at; at = parentOf(at)) addTo(this.depsUnder, at, stage);
      }
  }

  private unindex(stage: Stage): void {
    for (const edge of this.edges.get(stage) ?? []) removeFrom(this.incoming, edge.to, stage);
    this.edges.delete(stage);
    for (const need of stage.needs) removeFrom(this.needsOf, need.name, stage);
    for (const dep of stage.deps)
      for (const path of dep.paths) {
        removeFrom(this.depsExact, path, stage);
        for (let at = path; at; at = parentOf(at)) removeFrom(this.depsUnder, at, stage);
      }
  }

  /** Whether `to` can be reached from `from` along edges (a depth-first walk). */
  private reaches(from: Stage, to: Stage): boolean {
    if (from === to) return true;
    const seen = new Set<Stage>([from]);
    const stack = [from];
    while (stack.length > 0) {
      for (const edge of this.edges.get(stack.pop()!) ?? []) {
        if (edge.to === to) return true;
        if (!seen.has(edge.to)) {
          seen.add(edge.to);
          stack.push(edge.to);
        }
      }
    }
    return false;
  }

  private insertSorted(path: string): void {
    const at = lowerBound(this.sortedOutputs, path);
    this.sortedOutputs.splice(at, 0, path);
  }

  private removeSorted(path: string): void {
    const at = lowerBound(this.sortedOutputs, path);
    if (this.sortedOutputs[at] === path) this.sortedOutputs.splice(at, 1);
  }

  /** Records whether an output lies inside another output. */
  private renest(path: string): void {
    let inside = false;
    if (this.outputs.has(path))
      for (let parent = parentOf(path); parent && !inside; parent = parentOf(parent)) inside = this.outputs.has(parent);
    if (inside) this.nested.add(path);
    else this.nested.delete(path);
  }

  /** Stages writing `path`, a folder that holds it, or files inside it (when `path` is a folder). */
  producersOf(path: string): Producer[] {
    const exact = this.outputs.get(path);
    if (exact) return exact;
    for (let parent = parentOf(path); parent; parent = parentOf(parent)) {
      const found = this.outputs.get(parent);
      if (found) return found;
    }
    return this.inside(path);
  }

  /** Outputs strictly inside the folder `path`. */
  inside(path: string): Producer[] {
    return pathsInside(this.sortedOutputs, path).flatMap((output) => this.outputs.get(output)!);
  }

  /** Every output path, in the order a fresh build meets them: by the first stage (and entry) writing each. */
  outputsInFileOrder(): string[] {
    const first = (path: string) => this.outputs.get(path)![0] as Placed;
    return [...this.outputs.keys()].sort((a, b) => (a === b ? 0 : before(first(a), first(b)) ? -1 : 1));
  }

  /** Outputs written by more than one stage, in file order. */
  sharedOutputs(): string[] {
    const first = (path: string) => this.outputs.get(path)![0] as Placed;
    return [...this.shared].sort((a, b) => (a === b ? 0 : before(first(a), first(b)) ? -1 : 1));
  }

  /** Pairs of outputs where one lies inside the other: each output with the nearest output holding it. */
  overlaps(): [Producer, Producer][] {
    const result: [Producer, Producer][] = [];
    for (const path of [...this.nested].sort(byPathSegments)) {
      let parent = parentOf(path);
      while (parent && !this.outputs.has(parent)) parent = parentOf(parent);
      if (parent) result.push([this.outputs.get(parent)![0], this.outputs.get(path)![0]]);
    }
    return result;
  }

  /** Stages that must run before `stage`, transitively. */
  upstream(stage: Stage): Set<Stage> {
    const seen = new Set<Stage>();
    const stack = [stage];
    while (stack.length > 0) {
      const current = stack.pop()!;
      for (const edge of this.edges.get(current) ?? []) {
        if (!seen.has(edge.to)) {
          seen.add(edge.to);
          stack.push(edge.to);
        }
      }
    }
    return seen;
  }

  /** Each dependency cycle once, as the edges that form it (cached while the graph's shape holds). */
  cycles(): Edge[][] {
    this.cycleCache ??= this.findCycles();
    return this.cycleCache;
  }

  /** Tarjan's algorithm (iterative). */
  private findCycles(): Edge[][] {
    const index = new Map<Stage, number>();
    const low = new Map<Stage, number>();
    const onStack = new Set<Stage>();
    const stack: Stage[] = [];
    const components: Stage[][] = [];
    let counter = 0;
    for (const root of this.model.stages) {
      if (index.has(root)) continue;
      const work: { stage: Stage; edge: number }[] = [{ stage: root, edge: 0 }];
      index.set(root, counter);
      low.set(root, counter++);
      stack.push(root);
      onStack.add(root);
      while (work.length > 0) {
        const frame = work[work.length - 1];
        const edges = this.edges.get(frame.stage) ?? [];
        if (frame.edge < edges.length) {
          const next = edges[frame.edge++].to;
          if (!index.has(next)) {
            index.set(next, counter);
            low.set(next, counter++);
            stack.push(next);
            onStack.add(next);
            work.push({ stage: next, edge: 0 });
          } else if (onStack.has(next)) {
            low.set(frame.stage, Math.min(low.get(frame.stage)!, index.get(next)!));
          }
          continue;
        }
        work.pop();
        if (work.length > 0) {
          const parent = work[work.length - 1].stage;
          low.set(parent, Math.min(low.get(parent)!, low.get(frame.stage)!));
        }
        if (low.get(frame.stage) === index.get(frame.stage)) {
          const component: Stage[] = [];
          let member: Stage;
          do {
            member = stack.pop()!;
            onStack.delete(member);
            component.push(member);
          } while (member !== frame.stage);
          if (component.length > 1) components.push(component); // no self-loops: graph edges never point back at their stage
        }
      }
    }
    return components.map((component) => this.cycleIn(new Set(component)));
  }

  /** One simple cycle inside a strongly connected set, starting from its first stage in file order. */
  private cycleIn(members: Set<Stage>): Edge[] {
    const start = this.model.stages.find((stage) => members.has(stage))!;
    // Breadth-first from start back to start gives the shortest cycle through it.
    const previous = new Map<Stage, Edge>();
    const queue: Stage[] = [start];
    while (queue.length > 0) {
      const current = queue.shift()!;
      for (const edge of this.edges.get(current) ?? []) {
        if (!members.has(edge.to)) continue;
        if (edge.to === start) {
          const path: Edge[] = [edge];
          for (let at = current; at !== start; at = previous.get(at)!.from) path.unshift(previous.get(at)!);
          return path;
        }
        if (!previous.has(edge.to)) {
          previous.set(edge.to, edge);
          queue.push(edge.to);
        }
      }
    }
    return [];
  }
}

export function byPathSegments(a: string, b: string): number {
  // As comparing the strings with '/' replaced by U+0000, without building them (sorting 10,000 paths calls this 130,000 times).
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const difference = (x === 47 ? 0 : x) - (y === 47 ? 0 : y);
    if (difference !== 0) return difference;
  }
  return a.length - b.length;
}

/** The paths strictly inside the folder `path`, from paths sorted with byPathSegments: a binary search. */
export function pathsInside(sorted: readonly string[], path: string): string[] {
  const prefix = path === '' ? '' : `${path}/`;
  const low = lowerBound(sorted, prefix);
  const found: string[] = [];
  for (let i = low; i < sorted.length && sorted[i].startsWith(prefix); i++) found.push(sorted[i]);
  return found;
}

/** The first index whose path sorts at or after `path` (byPathSegments). */
function lowerBound(sorted: readonly string[], path: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (byPathSegments(sorted[mid], path) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '' : path.slice(0, slash);
}
