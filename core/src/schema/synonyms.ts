/**
 * Words people carry over from other tools (DVC, GitHub Actions, Compose, Kubernetes) for keys
 * mlpipe spells differently; "did you mean" uses them when spelling distance finds nothing.
 */
const SYNONYMS: Record<string, string[]> = {
  cmd: ['command', 'comand', 'commands', 'run', 'script', 'exec', 'entrypoint', 'args'],
  deps: ['dependencies', 'depends', 'inputs', 'input', 'dep', 'requires'],
  outs: ['outputs', 'output', 'out', 'artifacts', 'products'],
  needs: ['depends_on', 'dependsOn', 'after', 'requires_stages', 'need', 'upstream'],
  env: ['environment', 'envs', 'variables', 'vars'],
  gpus: ['gpu', 'num_gpus', 'nvidia.com/gpu'],
  cpus: ['cpu', 'num_cpus', 'cores'],
  memory: ['mem', 'ram', 'memory_limit'],
  shm: ['shm_size', 'shmsize', 'shared_memory'],
  image: ['docker_image', 'container', 'img'],
  host: ['runs-on', 'runs_on', 'machine', 'node'],
  timeout: ['timeout-minutes', 'time_limit', 'deadline'],
  retries: ['retry', 'max_retries', 'attempts'],
  workdir: ['working_dir', 'working-directory', 'cwd', 'wdir'],
  matrix: ['foreach', 'for_each', 'strategy'],
  metrics: ['metric'],
  plots: ['plot', 'charts'],
  params: ['parameters', 'param', 'hyperparameters'],
  stages: ['steps', 'jobs', 'tasks'],
  license: ['licence', 'licenses'],
  owners: ['owner', 'authors', 'maintainers'],
};

const BY_SYNONYM = new Map<string, string>();
for (const [key, words] of Object.entries(SYNONYMS)) for (const word of words) BY_SYNONYM.set(word.toLowerCase(), key);

/** The key a synonym stands for, when it is one of `allowed`. */
export function synonymFor(word: string, allowed: readonly string[]): string | undefined {
  const key = BY_SYNONYM.get(word.toLowerCase());
  return key && allowed.includes(key) ? key : undefined;
}
