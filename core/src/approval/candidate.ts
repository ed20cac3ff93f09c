import { type ExperimentStore, type StoredRun } from '../store/store';

/**
 * The model candidate: the run `mlpipe gate` and `mlpipe approve` take when no run is named. A
 * pipeline has at most one; tagging a run with CANDIDATE_TAG takes the tag from the pipeline's
 * other runs in the same store, whether the tag comes from `mlpipe runs tag` or from VS Code.
 */
export const CANDIDATE_TAG = 'mlpipe.candidate';

export function isCandidate(run: StoredRun): boolean {
  return Object.hasOwn(run.tags, CANDIDATE_TAG);
}

/** What a tag change did: the run's full id, and the runs of its pipeline that stopped being the candidate. */
export interface TagChange {
  id: string;
  /** The run's pipeline file, relative to the workspace folder. */
  pipeline: string;
  uncandidated: string[];
}

/**
 * Sets and removes tags of a run (an id or a unique prefix). When the run becomes the candidate,
 * the other runs of its pipeline lose the tag first, so an interrupted change leaves no pipeline
 * with two. Throws StoreError for an unknown run.
 */
export function tagRun(
  store: ExperimentStore,
  idOrPrefix: string,
  set: Record<string, string>,
  remove: string[] = [],
): TagChange {
  const run = store.resolve(idOrPrefix);
  const { id, pipeline } = run.summary;
  const uncandidated: string[] = [];
  if (Object.hasOwn(set, CANDIDATE_TAG) && !remove.includes(CANDIDATE_TAG)) {
    for (const other of store.runs()) {
      if (other.summary.id === id || other.summary.pipeline !== pipeline || !isCandidate(other)) continue;
      store.tag(other.summary.id, {}, [CANDIDATE_TAG]);
      uncandidated.push(other.summary.id);
    }
  }
  store.tag(id, set, remove);
  return { id, pipeline, uncandidated };
}

/** Makes a run its pipeline's model candidate. */
export function markCandidate(store: ExperimentStore, idOrPrefix: string): TagChange {
  return tagRun(store, idOrPrefix, { [CANDIDATE_TAG]: '' });
}
