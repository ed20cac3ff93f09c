/**
 * The editor commands the language server puts in code lenses, declared once for both sides: the
 * server (server/src) sends them, the VS Code client (client/src) registers and runs them, and
 * any other editor can bind the same ids. Each has a literal id and the types of its arguments.
 *
 * On the wire a lens command's first argument is the URI of the pipeline document it sits in
 * (the server adds it); the command's own arguments follow. Titles and icons are the server's
 * business, not core's.
 */
export interface LensCommands {
  /** Runs the whole pipeline. */
  'mlpipe.runPipeline': [];
  /** Runs a stage (every matrix variant of it) and what it needs first, as `mlpipe run --upstream STAGE`. */
  'mlpipe.runStageUpstream': [stage: string];
  /** Runs the whole pipeline on one host (a cluster), as `mlpipe run --host HOST`. */
  'mlpipe.runPipelineOnHost': [host: string];
  /** Opens the pipeline's graph view. */
  'mlpipe.showPipelineGraph': [];
}

export type LensCommandId = keyof LensCommands;

export const RUN_PIPELINE = 'mlpipe.runPipeline' satisfies LensCommandId;
export const RUN_STAGE_UPSTREAM = 'mlpipe.runStageUpstream' satisfies LensCommandId;
export const RUN_PIPELINE_ON_HOST = 'mlpipe.runPipelineOnHost' satisfies LensCommandId;
export const SHOW_PIPELINE_GRAPH = 'mlpipe.showPipelineGraph' satisfies LensCommandId;

/** A lens command with its own arguments (the document's URI comes first on the wire). */
export type LensCommand = { [K in LensCommandId]: { id: K; args: LensCommands[K] } }[LensCommandId];

/** The arguments a lens command's handler receives. */
export type LensArguments<K extends LensCommandId> = [documentUri: string, ...LensCommands[K]];

/** The arguments the server sends: the document's URI, then the command's own. */
export function lensArguments(documentUri: string, command: LensCommand): LensArguments<LensCommandId> {
  return [documentUri, ...command.args];
}

const isString = (value: unknown): value is string => typeof value === 'string';

/** How many arguments each command takes after the URI, and what they must be. */
const ARGUMENTS: { [K in LensCommandId]: (args: readonly unknown[]) => args is LensCommands[K] } = {
  'mlpipe.runPipeline': (args): args is [] => args.length === 0,
  'mlpipe.runStageUpstream': (args): args is [string] => args.length === 1 && isString(args[0]) && args[0].length > 0,
  'mlpipe.runPipelineOnHost': (args): args is [string] =>
    args.length === 1 && isString(args[0]) && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(args[0]),
  'mlpipe.showPipelineGraph': (args): args is [] => args.length === 0,
};

/**
 * The arguments of a lens command as they arrived (any client may invoke the id with anything),
 * checked against the declaration; undefined when they are not that command's.
 */
export function parseLensArguments<K extends LensCommandId>(
  id: K,
  raw: readonly unknown[],
): LensArguments<K> | undefined {
  const [uri, ...rest] = raw;
  if (!isString(uri) || !/^[a-z][a-z0-9+.-]*:/i.test(uri)) return undefined;
  const check = ARGUMENTS[id] as (args: readonly unknown[]) => args is LensCommands[K];
  return check(rest) ? ([uri, ...rest] as LensArguments<K>) : undefined;
}
