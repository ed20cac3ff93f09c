import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../errors';
import { isPipelineFile } from '../util/file-kinds';

/** The pipeline a command works on: `--pipeline FILE`, else mlpipe.yaml or the one *.pipeline.yaml in the folder. */
export function findPipeline(cwd: string, given: string | undefined): string {
  if (given) {
    const path = resolve(cwd, given);
    if (!existsSync(path)) throw new UsageError(`${given}: no such file`);
    return path;
  }
  for (const name of ['mlpipe.yaml', 'mlpipe.yml']) if (existsSync(join(cwd, name))) return join(cwd, name);
  const others = readdirSync(cwd).filter((name) => isPipelineFile(name) && !/^mlpipe\.ya?ml$/.test(name));
  if (others.length === 1) return join(cwd, others[0]);
  if (others.length > 1)
    throw new UsageError(`several pipelines here (${others.join(', ')}); choose one with --pipeline`);
  throw new UsageError(`no mlpipe.yaml in ${cwd}; run from the pipeline's folder or pass --pipeline FILE`);
}
