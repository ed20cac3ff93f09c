import { basename } from 'node:path';

export type FileKind = 'pipeline' | 'modelcard' | 'params' | 'other';

const PIPELINE = /^(mlpipe\.ya?ml|.+\.pipeline\.ya?ml)$/;
const MODELCARD = /^(modelcard\.ya?ml|.+\.modelcard\.ya?ml)$/;
const PARAMS = /^params\.ya?ml$/;

/** What a file is by its name; a params file with another name is known only through the pipeline that lists it. */
export function kindByName(path: string): FileKind {
  const name = basename(path);
  if (PIPELINE.test(name)) return 'pipeline';
  if (MODELCARD.test(name)) return 'modelcard';
  if (PARAMS.test(name)) return 'params';
  return 'other';
}
