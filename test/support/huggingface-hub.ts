import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { acquireFileLock } from '../../core/src/runs/file-lock';
import { ROOT } from './files';

/**
 * Hugging Face's own Python client, `huggingface_hub` from PyPI, as the other side of the model
 * card export and import: in a venv made once and reused (`~/.cache/mlpipe/huggingface_hub-<version>`,
 * MLPIPE_CACHE_DIR moves it). test/support/hf_card_reader.py loads cards with it.
 */
export const HUGGINGFACE_HUB_VERSION = '2.4.0';

const INSTALL = 'apt-get install -y python3 python3-venv (or run .ci/run)';

export function huggingFaceHubVenv(): string {
  return resolve(
    process.env.MLPIPE_CACHE_DIR ?? join(homedir(), '.cache', 'mlpipe'),
    `huggingface_hub-${HUGGINGFACE_HUB_VERSION}`,
  );
}

/** Why huggingface_hub cannot be installed here, or undefined. Tests fail with this in CI and skip outside it. */
export function huggingFaceHubMissing(): string | undefined {
  if (existsSync(join(huggingFaceHubVenv(), '.installed'))) return undefined;
  const python = spawnSync('python3', ['-c', 'import sys, venv, ensurepip; print(sys.version_info >= (3, 9))'], {
    encoding: 'utf8',
  });
  if (python.error) return `python3 is not installed: ${INSTALL}`;
  if (python.status !== 0)
    return `python3 cannot make virtual environments (the venv module or ensurepip is missing): ${INSTALL}`;
  if (python.stdout.trim() !== 'True')
    return `huggingface_hub ${HUGGINGFACE_HUB_VERSION} needs Python 3.9 or later: ${INSTALL}`;
  return undefined;
}

/** The venv's python, with huggingface_hub installed on first use (a marker after pip succeeded; a lock against two installers). */
export function ensureHuggingFaceHub(): string {
  const venv = huggingFaceHubVenv();
  const marker = join(venv, '.installed');
  const python = join(venv, 'bin', 'python');
  if (existsSync(marker)) return python;
  mkdirSync(resolve(venv, '..'), { recursive: true });
  const release = acquireFileLock(`${venv}.lock`, 10 * 60_000, 15 * 60_000);
  try {
    if (existsSync(marker)) return python;
    rmSync(venv, { recursive: true, force: true });
    const steps: [string, string[]][] = [
      ['python3', ['-m', 'venv', venv]],
      [
        join(venv, 'bin', 'pip'),
        [
          'install',
          '--disable-pip-version-check',
          '--no-input',
          '--quiet',
          `huggingface_hub==${HUGGINGFACE_HUB_VERSION}`,
        ],
      ],
    ];
    for (const [command, args] of steps) {
      const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      if (result.status !== 0)
        throw new Error(
          `installing huggingface_hub ${HUGGINGFACE_HUB_VERSION} failed at '${command} ${args.join(' ')}' (exit ${result.status ?? result.signal}):\n${`${result.stdout ?? ''}${result.stderr ?? ''}${result.error?.message ?? ''}`.slice(-3000)}`,
        );
    }
    writeFileSync(marker, `${HUGGINGFACE_HUB_VERSION}\n`);
    return python;
  } finally {
    release();
  }
}

export interface HubEvalResult {
  task_type: string;
  task_name: string | null;
  dataset_type: string;
  dataset_name: string;
  dataset_config: string | null;
  dataset_split: string | null;
  dataset_revision: string | null;
  dataset_args: unknown;
  metric_type: string;
  metric_name: string | null;
  metric_value: unknown;
  verified: boolean | null;
}

export interface HubCard {
  /** ModelCard.load(path).data.to_dict(). */
  data: Record<string, unknown>;
  /** The model name and eval results from model_index_to_eval_results(metadata_load(path)['model-index']). */
  model_name: string | null;
  eval_results: HubEvalResult[];
  /** ModelCard.load(path).text: the Markdown body. */
  text: string;
}

/** What huggingface_hub reads from each README (no network: ModelCard.load of a local file). */
export function readWithHuggingFaceHub(paths: string[]): HubCard[] {
  const python = ensureHuggingFaceHub();
  const result = spawnSync(python, [join(ROOT, 'test/support/hf_card_reader.py'), ...paths], {
    encoding: 'utf8',
    env: { ...process.env, HF_HUB_OFFLINE: '1', HF_HUB_DISABLE_TELEMETRY: '1' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0)
    throw new Error(
      `huggingface_hub could not read ${paths.join(', ')}:\n${result.stderr}${result.error?.message ?? ''}`,
    );
  return JSON.parse(result.stdout) as HubCard[];
}
