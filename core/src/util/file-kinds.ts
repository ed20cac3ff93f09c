import { basename } from 'node:path';

/**
 * Which files mlpipe reads as what, by name: the one home of these rules (the CLI's discovery, the
 * language server, the client's watchers and tree, gc's card search and the card's `pipeline:`
 * check all ask here; package.json's `languages` say the same, checked by the project test).
 */
export type FileKind = 'pipeline' | 'modelcard' | 'params' | 'other';

const PIPELINE = /^(mlpipe\.ya?ml|.+\.pipeline\.ya?ml)$/;
const MODELCARD = /^(modelcard\.ya?ml|.+\.modelcard\.ya?ml)$/;
const PARAMS = /^params\.ya?ml$/;

/** Glob patterns for editors' file watchers and searches. */
export const PIPELINE_GLOB = '**/{mlpipe.yaml,mlpipe.yml,*.pipeline.yaml,*.pipeline.yml}';
export const MODELCARD_GLOB = '**/{modelcard.yaml,modelcard.yml,*.modelcard.yaml,*.modelcard.yml}';
/** The names, as messages say them. */
export const PIPELINE_NAMES = 'mlpipe.yaml or *.pipeline.yaml';
export const MODELCARD_NAMES = 'modelcard.yaml or *.modelcard.yaml';

/** What a file is by its name; a params file with another name is known only through the pipeline that lists it. */
export function kindByName(path: string): FileKind {
  const name = basename(path);
  if (PIPELINE.test(name)) return 'pipeline';
  if (MODELCARD.test(name)) return 'modelcard';
  if (PARAMS.test(name)) return 'params';
  return 'other';
}

export function isPipelineFile(path: string): boolean {
  return PIPELINE.test(basename(path));
}

export function isModelCardFile(path: string): boolean {
  return MODELCARD.test(basename(path));
}
