import { dirname, join } from 'node:path';
import { paramText } from '../params/params';
import { normalizePath } from '../pipeline/model';
import { description, schemaAt, type SchemaKind } from '../schema/schemas';
import { type Analysis, type Workspace } from '../workspace/workspace';
import { stageDoc } from './completion';
import { symbolAt } from './navigation';
import { nodeAt } from './node-at';

export interface HoverResult {
  /** Markdown. */
  contents: string;
  start: number;
  end: number;
}

export function hover(workspace: Workspace, analysis: Analysis, offset: number): HoverResult | undefined {
  if (analysis.kind === 'other' || !analysis.yaml) return undefined;
  const symbol = symbolAt(workspace, analysis, offset);
  if (symbol && symbol.span.path === analysis.path) {
    const span = { start: symbol.span.start, end: symbol.span.end };
    switch (symbol.kind) {
      case 'param': {
        const entry = symbol.pipeline?.params.get(symbol.name);
        if (!entry) return { ...span, contents: `\`params.${symbol.name}\` is not defined in the params file.` };
        const value = paramText(entry.value);
        const where = `${relativeName(analysis.path, entry.file)}, line ${lineOf(workspace.text(entry.file) ?? '', entry.keyStart)}`;
        const shown =
          entry.value !== null && typeof entry.value === 'object'
            ? `\`\`\`json\n${JSON.stringify(entry.value, null, 2).slice(0, 2000)}\n\`\`\``
            : `\`${value}\``;
        return { ...span, contents: `**params.${symbol.name}** = ${shown}\n\nfrom ${where}` };
      }
      case 'stage':
        if (analysis.kind === 'pipeline' || analysis.kind === 'modelcard')
          return { ...span, contents: stageDoc(symbol.pipeline, symbol.name) || `Unknown stage \`${symbol.name}\`.` };
        break;
      case 'host': {
        const host = symbol.pipeline.model.hosts.get(symbol.name);
        if (symbol.name === 'local' && !host)
          return {
            ...span,
            contents: '**host local**: the Docker engine `DOCKER_HOST` or the current Docker context points at.',
          };
        if (host?.kubernetes) {
          const field = (key: string) => {
            const value = host.kubernetes?.pairs.find((pair) => pair.keyText === key)?.value;
            return value?.kind === 'scalar' ? String(value.value) : undefined;
          };
          const parts = [
            `context \`${field('context') ?? "the kubeconfig's current one"}\``,
            `namespace \`${field('namespace') ?? "the context's"}\``,
            ...(field('queue') ? [`Kueue queue \`${field('queue')}\``] : []),
          ];
          return {
            ...span,
            contents: `**host ${symbol.name}**: a Kubernetes cluster (${parts.join(', ')}); each stage runs there as a Job, its data through the S3 remote.`,
          };
        }
        if (host) {
          const docker =
            host.pair.value?.kind === 'map'
              ? host.pair.value.pairs.find((pair) => pair.keyText === 'docker')?.value
              : undefined;
          const address = docker?.kind === 'scalar' ? String(docker.value) : '?';
          return {
            ...span,
            contents: `**host ${symbol.name}**: \`${address}\`, ${host.gpus ? `${host.gpus} GPU${host.gpus === 1 ? '' : 's'}` : 'no GPUs declared'}${host.engine ? `, ${host.engine}` : ''}`,
          };
        }
        break;
      }
      case 'matrix': {
        const stage = symbol.pipeline.model.stageByName.get(symbol.stage);
        const values = stage ? [...new Set(stage.variants.map((variant) => String(variant.values[symbol.name])))] : [];
        return {
          ...span,
          contents: `**matrix.${symbol.name}**: ${values.map((v) => `\`${v}\``).join(', ') || 'no values'}`,
        };
      }
      case 'file': {
        if (!symbol.pipeline) break;
        const path = normalizePath(symbol.name);
        const producers = symbol.pipeline.graph.producersOf(path);
        const lines: string[] = [`\`${path}\``];
        const others = producers.filter((producer) => producer.entry.node.start !== symbol.span.start);
        if (others.length > 0) lines.push(`written by stage **${others[0].stage.name}**`);
        const stat = workspace.host.stat(join(symbol.base, path));
        lines.push(
          stat ? (stat.isDirectory ? 'folder on disk' : `file on disk, ${formatSize(stat.size)}`) : 'not on disk yet',
        );
        const readers = symbol.pipeline.model.stages.filter((stage) =>
          stage.deps.some((dep) =>
            dep.paths.some((p) => p === path || p.startsWith(`${path}/`) || path.startsWith(`${p}/`)),
          ),
        );
        if (readers.length > 0 && symbol.role !== 'dep')
          lines.push(`read by ${readers.map((stage) => `**${stage.name}**`).join(', ')}`);
        return { ...span, contents: lines.join(' · ') };
      }
    }
  }
  // Otherwise the schema's documentation for the key (or the value's key).
  const hit = nodeAt(analysis.yaml.root, offset);
  if (!hit.pair) return undefined;
  const kind: SchemaKind = analysis.kind;
  const schema = schemaAt(kind, hit.path);
  const text = description(schema);
  if (!text) return undefined;
  const key = hit.pair.key;
  const enumIndex =
    schema?.enum && hit.node?.kind === 'scalar' && !hit.onKey ? schema.enum.indexOf(hit.node.value) : -1;
  const enumDoc = enumIndex >= 0 ? schema?.markdownEnumDescriptions?.[enumIndex] : undefined;
  const target = hit.onKey || !hit.node ? key : hit.node;
  return {
    start: target.start,
    end: target.end,
    contents: `**${hit.pair.keyText}**: ${text}${enumDoc ? `\n\n\`${String(hit.node?.kind === 'scalar' ? hit.node.value : '')}\`: ${enumDoc}` : ''}`,
  };
}

function relativeName(from: string, to: string): string {
  return dirname(from) === dirname(to) ? to.slice(dirname(to).length + 1) : to;
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
