import { type Diagnostic, type Fix } from '../diagnostics/diagnostic';
import { deref, type YMap, type YNode, type YScalar } from '../yaml/nodes';
import { didYouMean, quoteList } from '../util/did-you-mean';
import { quoteValue } from '../yaml/quote';
import { mapGet } from '../yaml/values';
import { type PipelineCheck, type PipelineCheckInput, spanOf } from './check-context';
import { appendToList, replaceFix } from './check-fixes';
import { inlineCodeProblems } from './command';
import { parseImageRef } from './image-ref';
import { normalizePath, type Stage } from './model';
import { isDurationSyntax, isSizeSyntax, parseDuration, parseSize } from './units';

/* Rules on what each stage runs: its host, GPUs, image, resource values, and its commands. */

/** Hosts, GPUs and images: a host or image given once (in defaults, or through an anchor) is checked once, where it is written. */
export function checkHostsAndImages(check: PipelineCheck): void {
  const { input, out, checkedNodes } = check;
  const { model } = input;
  const hostNames = ['local', ...model.hosts.keys()];
  for (const stage of model.stages) {
    const host = model.hosts.get(stage.host);
    const hostKnown = Boolean(host) || stage.host === 'local';
    if (!hostKnown && stage.hostNode && !checkedNodes.has(stage.hostNode)) {
      checkedNodes.add(stage.hostNode);
      const suggestion = didYouMean(stage.host, hostNames);
      out.push({
        ...spanOf(stage.hostNode),
        severity: 'error',
        code: 'unknown-host',
        message: `Unknown host '${stage.host}'${suggestion ? `; did you mean '${suggestion}'?` : `; declare it under hosts, or use ${quoteList(hostNames)}.`}`,
        fixes:
          suggestion && stage.hostNode.kind === 'scalar'
            ? [replaceFix(input.path, stage.hostNode, suggestion, input.text)]
            : undefined,
      });
    }
    // A cluster's scheduler knows its GPUs: a stage asking for more than any node has is said at run time.
    if (stage.gpus && hostKnown && !host?.kubernetes) checkGpus(stage, host?.gpus, input, out);
    if (!stage.image) {
      out.push({
        ...spanOf(stage.pair.key),
        severity: 'error',
        code: 'missing-image',
        message: `Stage '${stage.name}' has no image; set \`image:\` on it or \`defaults.image\` for every stage.`,
      });
    } else if (stage.imageNode && !checkedNodes.has(stage.imageNode)) {
      checkedNodes.add(stage.imageNode);
      checkImage(stage.image, stage.imageNode, input, out);
    }
  }
}

/**
 * Values the schema lets through but the runner could not use: zero sizes and timeouts, and
 * anything given through `${params...}` (checked once resolved). Each value is checked once,
 * where it is written, whether a stage sets it, `defaults` does, or an anchor shared by several.
 */
export function checkResourceValues(check: PipelineCheck): void {
  const { input, out } = check;
  const { model } = input;
  const seen = new Set<YNode>();
  // `dry`: only whether some value would be reported, without reporting it or marking it seen.
  let dry = false;
  let found = false;
  const visit = (node: YNode | null | undefined, rule: ValueRule, owner: string) => {
    const scalar = deref(node);
    if (!scalar || scalar.kind !== 'scalar') return;
    if (dry) {
      if (!found && misfit(scalar, rule, input)) found = true;
      return;
    }
    if (seen.has(scalar)) return;
    seen.add(scalar);
    const problem = misfit(scalar, rule, input);
    if (!problem) return;
    let message: string;
    if (problem.param === undefined) {
      const what =
        rule.field === 'timeout'
          ? `would stop ${owner} at once`
          : `leaves ${owner} no ${rule.field === 'shm' ? 'shared memory' : 'memory'}`;
      message = `A ${rule.field} of ${String(scalar.value)} ${what}; use ${rule.expected}, or remove ${rule.field}.`;
    } else {
      const value = problem.value;
      message = `${rule.field} of ${owner} reads params.${quoteValue(problem.param)} = ${typeof value === 'string' ? `"${quoteValue(value)}"` : quoteValue(value)}, but needs ${rule.expected}.`;
    }
    out.push({ start: scalar.start, end: scalar.end, severity: 'error', code: rule.code, message });
  };
  const resourcesOf = (map: YMap | null) => {
    const resources = deref(mapGet(map, 'resources')?.value);
    return resources?.kind === 'map' ? resources : null;
  };
  const checkMap = (map: YMap | null, owner: string) => {
    const resources = resourcesOf(map);
    for (const field of ['memory', 'shm', 'cpus', 'gpus'])
      visit(mapGet(resources, field)?.value, VALUE_RULES[field], owner);
    for (const field of ['timeout', 'retries']) visit(mapGet(map, field)?.value, VALUE_RULES[field], owner);
  };
  checkMap(model.defaultsMap, 'every stage');
  for (const stage of model.stages) {
    // A stage whose values all fit (under these params) reports nothing, and skipping it hides
    // nothing from later stages: a value it shares with them fits for them too.
    if (cleanValues.get(stage) === input.params) continue;
    dry = true;
    found = false;
    checkMap(stage.map, '');
    dry = false;
    if (!found) {
      cleanValues.set(stage, input.params);
      continue;
    }
    checkMap(stage.map, `stage '${stage.name}'`);
  }
}

/** Stages whose resource values and timeouts all fit, by the params they were checked under. */
const cleanValues = new WeakMap<Stage, unknown>();

/**
 * Why a value fails its rule, or undefined when it fits: a literal of the right shape but no size
 * (`0s`, `0g`; other literals are the schema's to judge), or a `${params...}` whose value does not fit.
 */
function misfit(
  scalar: YScalar,
  rule: ValueRule,
  input: PipelineCheckInput,
): { param?: string; value?: unknown } | undefined {
  const match = typeof scalar.value === 'string' ? /^\$\{\s*params\.([^}\s]+)\s*\}$/.exec(scalar.value) : null;
  if (!match) {
    const literal = scalar.value;
    const wellFormed =
      typeof literal === 'string' &&
      (rule.field === 'timeout'
        ? isDurationSyntax(literal)
        : (rule.field === 'memory' || rule.field === 'shm') && isSizeSyntax(literal));
    return wellFormed && !rule.valid(literal) ? {} : undefined;
  }
  const entry = input.params.get(match[1]);
  return !entry || rule.valid(entry.value) ? undefined : { param: match[1], value: entry.value };
}

/** The image `defaults` sets, when no stage's check reached it. */
export function checkDefaultImage(check: PipelineCheck): void {
  const { input, out, checkedNodes } = check;
  const { model } = input;
  const defaultImage = deref(model.defaultsMap?.pairs.find((pair) => pair.keyText === 'image')?.value);
  if (defaultImage?.kind === 'scalar' && typeof defaultImage.value === 'string' && !checkedNodes.has(defaultImage))
    checkImage(defaultImage.value, defaultImage, input, out);
}

/** Commands that read another stage's output without declaring it. */
export function checkUndeclaredInputs(check: PipelineCheck): void {
  const { input, out } = check;
  const { graph } = input;
  for (const stage of input.model.stages) {
    // Nothing to say for this stage while no output appeared, moved or vanished since it said nothing.
    const clean = cleanCommands.get(stage);
    if (clean && clean.graph === graph && clean.version === graph.outputsVersion) continue;
    const before = out.length;
    undeclaredInputs(stage, input, out);
    if (out.length === before) cleanCommands.set(stage, { graph, version: graph.outputsVersion });
  }
}

/** Stages whose commands read no undeclared output, by the graph (and its outputs) they were checked against. */
const cleanCommands = new WeakMap<Stage, { graph: object; version: number }>();

/** Values pasted into code another interpreter parses. */
export function checkValuesInCode(check: PipelineCheck): void {
  const { out } = check;
  for (const stage of check.input.model.stages) valuesInCode(stage, out);
}

function checkGpus(stage: Stage, hostGpus: number | undefined, input: PipelineCheckInput, out: Diagnostic[]): void {
  const node = stage.gpus!.node;
  let value = stage.gpus!.value;
  if (typeof value === 'string' && /^\$\{\s*params\.([^}\s]+)\s*\}$/.test(value))
    value = input.params.get(/params\.([^}\s]+)/.exec(value)![1])?.value;
  const asked = value === 'all' ? Infinity : typeof value === 'number' ? value : 0;
  if (!(asked > 0)) return;
  const span = { start: node.start, end: Math.max(node.end, node.start + 1) };
  const insideStage = node.start >= stage.pair.start && node.end <= stage.pair.end;
  const where = insideStage ? span : { start: stage.pair.key.start, end: stage.pair.key.end };
  const count = value === 'all' ? 'all GPUs' : `${value} GPU${value === 1 ? '' : 's'}`;
  if (hostGpus === undefined || hostGpus === 0) {
    const local = stage.host === 'local' && hostGpus === undefined;
    out.push({
      ...where,
      severity: local ? 'warning' : 'error',
      code: 'no-gpus',
      message: local
        ? `Stage '${stage.name}' asks for ${count} on host 'local', which declares none; add \`hosts: { local: { docker: unix:///var/run/docker.sock, gpus: N } }\` if this machine has GPUs, or run the stage on a GPU host.`
        : `Stage '${stage.name}' asks for ${count}, but host '${stage.host}' declares none (hosts.${stage.host}.gpus); pick a GPU host or drop resources.gpus.`,
    });
  } else if (asked !== Infinity && asked > hostGpus) {
    out.push({
      ...where,
      severity: 'error',
      code: 'no-gpus',
      message: `Stage '${stage.name}' asks for ${count}, but host '${stage.host}' has ${hostGpus}.`,
    });
  }
}

function checkImage(image: string, node: YNode, input: PipelineCheckInput, out: Diagnostic[]): void {
  let resolved = image;
  if (image.includes('${')) {
    resolved = image.replace(/\$\{\s*params\.([^}\s]+)\s*\}/g, (whole, path: string) => {
      const entry = input.params.get(path);
      return entry && typeof entry.value !== 'object' ? String(entry.value) : whole;
    });
    if (resolved.includes('${')) return; // unresolved references are reported on their own
  }
  const result = parseImageRef(resolved);
  if (result.ok) return;
  const fixes: Fix[] | undefined =
    result.suggestion && resolved === image && node.kind === 'scalar'
      ? [replaceFix(input.path, node, result.suggestion, input.text)]
      : undefined;
  out.push({
    start: node.start,
    end: Math.max(node.end, node.start + 1),
    severity: 'error',
    code: 'bad-image',
    message: `Malformed image reference '${quoteValue(resolved)}': ${result.reason}${result.suggestion ? ` (did you mean '${quoteValue(result.suggestion)}'?)` : ''}.`,
    fixes,
  });
}

interface ValueRule {
  field: string;
  /** Valid as the runner will read it (after `${params...}`). */
  valid: (value: unknown) => boolean;
  code: string;
  expected: string;
}

const VALUE_RULES: Record<string, ValueRule> = {
  memory: {
    field: 'memory',
    valid: (v) => parseSize(v) !== undefined,
    code: 'bad-size',
    expected: 'a size larger than zero, such as 32g',
  },
  shm: {
    field: 'shm',
    valid: (v) => parseSize(v) !== undefined,
    code: 'bad-size',
    expected: 'a size larger than zero, such as 8g',
  },
  cpus: {
    field: 'cpus',
    valid: (v) => typeof v === 'number' && v > 0,
    code: 'schema',
    expected: 'a positive number of CPUs',
  },
  gpus: {
    field: 'gpus',
    valid: (v) => v === 'all' || (typeof v === 'number' && Number.isInteger(v) && v >= 0),
    code: 'schema',
    expected: "a number of GPUs or 'all'",
  },
  timeout: {
    field: 'timeout',
    valid: (v) => parseDuration(v) !== undefined,
    code: 'bad-duration',
    expected: 'a duration longer than zero, such as 2h',
  },
  retries: {
    field: 'retries',
    valid: (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 10,
    code: 'schema',
    expected: 'a whole number from 0 to 10',
  },
};

const SHELL_SPLIT = /[\s'"=,;|&<>()`]+/;
const pathTokens = new Map<string, string[]>();

/** Words of a command that look like paths, normalised; memoised per command text. */
function pathLikeTokens(command: string): string[] {
  let tokens = pathTokens.get(command);
  if (tokens) return tokens;
  tokens = [];
  for (const token of command.split(SHELL_SPLIT)) {
    if (!token.includes('/') && !token.includes('.')) continue;
    if (token.startsWith('-') || token.includes('${') || token.includes('://')) continue;
    tokens.push(token);
  }
  if (pathTokens.size > 50_000) pathTokens.clear();
  pathTokens.set(command, tokens);
  return tokens;
}

function undeclaredInputs(stage: Stage, input: PipelineCheckInput, out: Diagnostic[]): void {
  const { graph } = input;
  if (stage.cmd.length === 0 || graph.outputs.size === 0) return;
  const declared = new Set<string>();
  for (const entry of [...stage.deps, ...stage.outs, ...stage.metrics, ...stage.plots])
    for (const path of entry.paths) declared.add(path);
  const isDeclared = (path: string) => {
    for (let current = path; current; current = current.includes('/') ? current.slice(0, current.lastIndexOf('/')) : '')
      if (declared.has(current)) return true;
    return false;
  };
  let upstream: Set<Stage> | undefined;
  const reported = new Set<string>();
  for (const cmd of stage.cmd) {
    const text = String(cmd.value);
    for (const token of pathLikeTokens(text)) {
      const path = normalizePath(token);
      if (!path || path.startsWith('/') || reported.has(path) || isDeclared(path)) continue;
      const producer = graph.producersOf(path).find((candidate) => candidate.stage !== stage);
      if (!producer || (graph.inside(path).length > 0 && !graph.outputs.has(path))) continue;
      reported.add(path);
      upstream ??= graph.upstream(stage);
      const ordered = upstream.has(producer.stage);
      const offset = input.text.indexOf(token, cmd.start);
      const span =
        offset !== -1 && offset < cmd.end
          ? { start: offset, end: offset + token.length }
          : { start: cmd.start, end: cmd.end };
      const fixes: Fix[] = [];
      const depsEdit = appendToList(input, stage, 'deps', path);
      if (depsEdit)
        fixes.push({ title: `Add ${path} to the deps of '${stage.name}'`, edits: [depsEdit], preferred: true });
      if (!ordered && !stage.needs.some((need) => need.name === producer.stage.name)) {
        const needsEdit = appendToList(input, stage, 'needs', producer.stage.name);
        if (needsEdit)
          fixes.push({ title: `Add '${producer.stage.name}' to the needs of '${stage.name}'`, edits: [needsEdit] });
      }
      out.push({
        ...span,
        severity: 'warning',
        code: 'undeclared-input',
        message: ordered
          ? `The command reads ${path}, which stage '${producer.stage.name}' writes, but it is not in deps: a change to it will not rerun '${stage.name}'.`
          : `The command reads ${path}, which stage '${producer.stage.name}' writes, but it is not in deps: '${stage.name}' may run before '${producer.stage.name}' and will not rerun when the file changes.`,
        fixes,
      });
    }
  }
}

/**
 * A `${...}` inside code another interpreter parses (`python -c`, a nested `sh -c` in a shell
 * command, an awk program): the runner refuses to paste a value there, so check says so first.
 */
function valuesInCode(stage: Stage, out: Diagnostic[]): void {
  if (stage.cmd.length === 0) return;
  // A stage is rebuilt whenever its text changes, so what its commands hold is worked out once per stage.
  let found = codeProblems.get(stage);
  if (!found) {
    const [problem] = inlineCodeProblems(stage.cmd.map((cmd) => String(cmd.value)));
    const node = problem
      ? (stage.cmd.find((cmd) => inlineCodeProblems([String(cmd.value)]).length > 0) ?? stage.cmd[0])
      : undefined;
    codeProblems.set(stage, (found = { problem, node }));
  }
  const { problem, node } = found;
  if (!problem || !node) return;
  out.push({ start: node.start, end: node.end, severity: 'error', code: 'value-in-code', message: problem });
}

const codeProblems = new WeakMap<Stage, { problem: string | undefined; node: YScalar | undefined }>();

/** An output's `remote:` names a remote the pipeline declares (a user's own ones, in .mlpipe/config.yaml, are not known here: a warning). */
export function checkOutputRemotes(check: PipelineCheck): void {
  const { input, out } = check;
  const remotes = deref(mapGet(input.model.root, 'remotes')?.value ?? null);
  const names = remotes?.kind === 'map' ? remotes.pairs.map((pair) => pair.keyText) : [];
  for (const stage of input.model.stages) {
    const outs = deref(mapGet(stage.map, 'outs')?.value ?? null);
    if (outs?.kind !== 'seq') continue;
    for (const item of outs.items) {
      const target = deref(item);
      if (target?.kind !== 'map') continue;
      const node = deref(mapGet(target, 'remote')?.value ?? null);
      if (node?.kind !== 'scalar' || typeof node.value !== 'string' || names.includes(node.value)) continue;
      const suggestion = didYouMean(node.value, names);
      out.push({
        ...spanOf(node),
        severity: names.length === 0 ? 'warning' : 'error',
        code: 'unknown-remote',
        message: `Unknown remote '${node.value}'${suggestion ? `; did you mean '${suggestion}'?` : names.length > 0 ? `; declare it under remotes, or use ${quoteList(names)}.` : '; the pipeline declares no remotes (declare it under remotes, or in .mlpipe/config.yaml).'}`,
        fixes: suggestion ? [replaceFix(input.path, node, suggestion, input.text)] : undefined,
      });
    }
  }
}

/**
 * What works locally but not on a cluster (a local/remote parity lint): a host that is neither an
 * engine nor a cluster, and for stages on a `kubernetes:` host, no S3 remote for their data, the
 * host network, all GPUs, and an image only this machine has.
 */
export function checkClusterParity(check: PipelineCheck): void {
  const { input, out, checkedNodes } = check;
  const { model } = input;
  for (const host of model.hosts.values()) {
    const decl = deref(host.pair.value);
    if (decl?.kind !== 'map') continue;
    const hasDocker = Boolean(mapGet(decl, 'docker'));
    if (hasDocker && host.kubernetes)
      out.push({
        ...spanOf(host.pair.key),
        severity: 'error',
        code: 'host-kind',
        message: `Host '${host.name}' declares both docker: and kubernetes:; a host is one engine or one cluster. Declare two hosts.`,
      });
    else if (!hasDocker && !host.kubernetes && host.name !== 'local')
      out.push({
        ...spanOf(host.pair.key),
        severity: 'error',
        code: 'host-kind',
        message: `Host '${host.name}' says neither where its engine is (docker: ssh://user@host) nor which cluster it is (kubernetes: { context: NAME }).`,
      });
  }
  const remotes = deref(mapGet(model.root, 'remotes')?.value ?? null);
  const urls =
    remotes?.kind === 'map'
      ? remotes.pairs.map((pair) => {
          const url = deref(mapGet(deref(pair.value) as YMap, 'url')?.value ?? null);
          return url?.kind === 'scalar' ? String(url.value) : '';
        })
      : [];
  for (const stage of model.stages) {
    const host = model.hosts.get(stage.host);
    if (!host?.kubernetes) continue;
    const where = stage.hostNode && !checkedNodes.has(stage.hostNode) ? stage.hostNode : undefined;
    const at = where ? spanOf(where) : spanOf(stage.pair.key);
    const warnOnce = (code: string, message: string, severity: 'warning' | 'error' = 'warning') => {
      if (out.some((finding) => finding.code === code && finding.message === message)) return;
      out.push({ ...at, severity, code, message });
    };
    if (urls.length === 0)
      warnOnce(
        'cluster-remote',
        `Host '${host.name}' is a cluster: its pods get deps and send outputs through an S3 remote, and this pipeline declares none; declare one under remotes (or in .mlpipe/config.yaml).`,
      );
    else if (!urls.some((url) => url.startsWith('s3://')))
      warnOnce(
        'cluster-remote',
        `Host '${host.name}' is a cluster: its pods move data through an S3 remote, and this pipeline's remotes are not S3 (s3://bucket/prefix).`,
      );
    const network = deref(mapGet(stage.map, 'network')?.value ?? null);
    if (network?.kind === 'scalar' && network.value === 'host')
      out.push({
        ...spanOf(network),
        severity: 'error',
        code: 'cluster-parity',
        message: `Stage '${stage.name}' uses network: host, which a cluster's pods do not get; use network: bridge on host '${host.name}'.`,
      });
    const pull = deref(mapGet(host.kubernetes, 'imagePullPolicy')?.value ?? null);
    const pinned = stage.image?.includes('@sha256:');
    if (
      stage.image &&
      !pinned &&
      (stage.image.startsWith('localhost/') || stage.image.startsWith('localhost:')) &&
      !(pull?.kind === 'scalar' && pull.value === 'Never')
    )
      warnOnce(
        'cluster-parity',
        `Image ${stage.image} (stage '${stage.name}') is only where it was built or imported; host '${host.name}' cannot pull it. Push it to a registry the cluster pulls from, or import it into the nodes and set imagePullPolicy: Never.`,
      );
  }
}
