/** `mlpipe dag`: the pipeline's graph for the terminal and for docs (runner/dag.ts). */
import { UsageError } from '../errors';
import { buildDag, type Dag, formatDagDot, formatDagMermaid, formatDagText } from '../runner/dag';
import { RunError, Runner } from '../runner/runner';
import { HostError } from '../runner/executor';
import { pipelineStatus, type StageReport } from '../runner/status';
import { type FileHost } from '../workspace/file-host';
import { DEFAULT_OPTIONS, Workspace } from '../workspace/workspace';
import { terminalJson, terminalText } from './format';
import { type CliIo } from './io';
import { findPipeline } from './pipeline-file';

export type DagFormat = 'text' | 'dot' | 'mermaid' | 'json';

export interface DagOptions {
  pipeline?: string;
  format: DagFormat;
  /** Add each stage's state from `mlpipe status` (reads only the local cache state: no remote, no engine). */
  status: boolean;
  /** Draw data and code files no stage writes. */
  sources: boolean;
}

/** Names and paths are the pipeline's, which may be someone else's: escaped for the terminal. */
function shown(dag: Dag): Dag {
  return {
    nodes: dag.nodes.map((node) => ({
      ...node,
      label: terminalText(node.label),
      ...(node.reasons ? { reasons: node.reasons.map((reason) => terminalText(reason)) } : {}),
    })),
    edges: dag.edges.map((edge) => ({ ...edge, via: edge.via.map((path) => terminalText(path)) })),
  };
}

export async function dagCommand(options: DagOptions, io: CliIo, host: FileHost): Promise<number> {
  const path = findPipeline(io.cwd, options.pipeline);
  const runner = Runner.open(path, host);
  try {
    const plan = runner.plan();
    let status: Map<string, StageReport> | undefined;
    if (options.status) {
      const reports = await pipelineStatus(runner, { stages: [], upstream: false, images: false });
      status = new Map(reports.map((report) => [report.name, report]));
    }
    const analysis = new Workspace(host, { ...DEFAULT_OPTIONS, fileChecks: false }).analyze(path, 'pipeline');
    const model = analysis.kind === 'pipeline' ? analysis.model : undefined;
    const dag = buildDag(plan, {
      artifact: model?.modelArtifact?.name,
      card: model?.modelCard?.name,
      status,
      sources: options.sources,
    });
    if (options.format === 'json') io.stdout(`${terminalJson({ version: 1, ...dag })}\n`);
    else if (options.format === 'dot') io.stdout(formatDagDot(dag));
    else if (options.format === 'mermaid') io.stdout(formatDagMermaid(dag));
    else io.stdout(formatDagText(shown(dag)));
    return 0;
  } catch (error) {
    // The message may quote the pipeline (a path that is not inside): escaped for the terminal.
    if (error instanceof RunError || error instanceof HostError)
      throw new UsageError(terminalText(error.message), error.exitCode);
    throw error;
  }
}
