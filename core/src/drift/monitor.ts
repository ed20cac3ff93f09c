import { Boundary } from '../util/boundary';
import { basename, dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UsageError } from '../errors';
import { DRIFT_METHODS, type DriftMethod, type DriftOptions } from './types';
import { readStateFile } from '../runs/files';

/** What to compare: the files given, or the pipeline's `monitor.drift` section. */
export interface DriftTarget {
  reference: string;
  current: string;
  options: DriftOptions;
  /** Where the settings came from, for messages. */
  source: string;
}

/**
 * The pipeline's `monitor.drift`, with paths resolved against the pipeline's folder, which is also
 * their boundary: a pipeline comes from someone else's repository, so neither a path outside its
 * folder nor a link inside it that leads outside is read (options.boundary, read.ts).
 */
export function monitorTarget(pipelinePath: string): DriftTarget {
  let data: unknown;
  try {
    // The pipeline is read like any file of the repository: bounded, and not through a link out of its folder.
    data = parseYaml(
      readStateFile(new Boundary(dirname(pipelinePath)), pipelinePath, 4 * 1024 * 1024, 'follow-inside') ?? '',
      { maxAliasCount: 100 },
    );
  } catch (error) {
    throw new UsageError(
      `${pipelinePath}: cannot read the pipeline (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); mlpipe check shows the problem`,
    );
  }
  const drift = (data as { monitor?: { drift?: Record<string, unknown> } } | null)?.monitor?.drift;
  if (!drift || typeof drift.reference !== 'string' || typeof drift.current !== 'string') {
    throw new UsageError(
      `${basename(pipelinePath)} has no monitor.drift section with reference and current; give the two files: mlpipe drift REFERENCE CURRENT`,
    );
  }
  const dir = dirname(pipelinePath);
  const methods: Record<string, DriftMethod> = {};
  for (const [column, method] of Object.entries((drift.methods as Record<string, unknown> | undefined) ?? {})) {
    if (typeof method === 'string' && (DRIFT_METHODS as readonly string[]).includes(method))
      methods[column] = method as DriftMethod;
  }
  return {
    reference: resolve(dir, drift.reference),
    current: resolve(dir, drift.current),
    options: {
      ...(Array.isArray(drift.columns)
        ? { columns: drift.columns.filter((column): column is string => typeof column === 'string') }
        : {}),
      ...(typeof drift.drift_share === 'number' ? { driftShare: drift.drift_share } : {}),
      methods,
      boundary: { root: dir, outside: 'refuse', what: "the pipeline's folder" },
    },
    source: `${basename(pipelinePath)} monitor.drift`,
  };
}

export function parseMethods(pairs: string[]): Record<string, DriftMethod> {
  const methods: Record<string, DriftMethod> = {};
  for (const pair of pairs) {
    const eq = pair.lastIndexOf('=');
    const column = pair.slice(0, eq);
    const method = pair.slice(eq + 1);
    if (eq <= 0 || !(DRIFT_METHODS as readonly string[]).includes(method))
      throw new UsageError(
        `--method takes COLUMN=METHOD with METHOD one of ${DRIFT_METHODS.join(', ')}, not '${pair}'`,
      );
    methods[column] = method as DriftMethod;
  }
  return methods;
}
