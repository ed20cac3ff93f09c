import { closeSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { Boundary } from '../util/boundary';
import { type ModelPackage, PushError } from './types';

/*
 * The MLmodel file that makes a pushed version an MLflow Model, so that
 * `mlflow.pyfunc.load_model("models:/<name>@champion")` and `mlflow models serve` load it. The
 * flavor comes from the pipeline's `model` section (docs/registry.md#what-mlflow-can-load):
 * - `flavor: sklearn`, a pickle or cloudpickle file: MLflow's own `sklearn` flavor (loaded with
 *   cloudpickle, which reads both) and `python_function` through `mlflow.sklearn`;
 * - `flavor: sklearn`, a `.joblib` file: `python_function` through a small loader mlpipe writes
 *   (`code/mlpipe_joblib_loader.py`: `joblib.load`), since MLflow's sklearn flavor reads pickles only;
 * - `flavor: pyfunc` with `loader: src/serve.py`: `python_function` through that file, pushed as
 *   `code/serve.py`, whose `_load_pyfunc(path)` gets the model file's path;
 * - no flavor: an MLmodel with no flavor (its metadata only); pyfunc says it has no
 *   python_function flavor instead of not finding an MLmodel.
 * Loading pickles runs code, so MLflow asks for MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true; mlpipe's
 * joblib loader asks the same. The file is the same for the same package, so pushing again
 * uploads nothing new.
 */

export type MlflowFlavor = 'sklearn' | 'pyfunc';

/** Loader files and pipelines larger than this are not read. */
const MAX_SOURCE_BYTES = 1024 * 1024;
const PYTHON_MODULE = /^[A-Za-z_][A-Za-z0-9_]*$/;

const JOBLIB_LOADER = `"""Written by mlpipe: loads a scikit-learn model saved with joblib, for mlflow.pyfunc."""
import os


def _load_pyfunc(path):
    # Unpickling runs code from the file: the same consent MLflow asks for its own pickled models.
    if os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "").lower() != "true":
        raise RuntimeError(
            "Deserializing this model is disallowed because 'MLFLOW_ALLOW_PICKLE_DESERIALIZATION' is not set "
            "to 'true'. Loading a model can execute arbitrary code; only load models from trusted sources."
        )
    import joblib

    return joblib.load(path)
`;
import { readOpenedFile } from '../util/read-whole';

export interface PipelineFlavor {
  flavor?: MlflowFlavor;
  /** `flavor: pyfunc`: the loader file (absolute) and its module name. */
  loader?: { file: string; module: string; source: Buffer };
}

/** Reads a file inside `folder` (no link out of it), at most MAX_SOURCE_BYTES. */
function readInside(folder: string, file: string, what: string): Buffer {
  const boundary = new Boundary(folder);
  if (!boundary.contains(file)) throw new PushError(`${what} ${file} is outside the pipeline's folder; move it inside`);
  let opened: ReturnType<Boundary['openRead']>;
  try {
    opened = boundary.openRead(file);
  } catch (error) {
    throw new PushError(`${what} ${boundary.show(file)} cannot be read: ${(error as Error).message}`);
  }
  try {
    if (!opened.stat.isFile()) throw new PushError(`${what} ${boundary.show(file)} is not a file`);
    if (opened.stat.size > MAX_SOURCE_BYTES)
      throw new PushError(`${what} ${boundary.show(file)} is larger than ${MAX_SOURCE_BYTES} bytes`);
    return readOpenedFile(opened.fd, opened.stat.size);
  } finally {
    closeSync(opened.fd);
  }
}

/** The pipeline's `model.flavor` and `model.loader`, checked; a PushError says what to fix. */
export function pipelineFlavor(pipelinePath: string): PipelineFlavor {
  const folder = dirname(pipelinePath);
  const pipeline = basename(pipelinePath);
  let data: unknown;
  try {
    data = parseYaml(readInside(folder, pipelinePath, 'the pipeline').toString('utf8'));
  } catch (error) {
    if (error instanceof PushError) throw error;
    throw new PushError(`${pipeline} does not parse: ${(error as Error).message}; mlpipe check shows where`);
  }
  const model = (data as { model?: { flavor?: unknown; loader?: unknown } } | null)?.model;
  const flavor = model?.flavor;
  if (flavor === undefined) return {};
  if (flavor !== 'sklearn' && flavor !== 'pyfunc')
    throw new PushError(`model.flavor in ${pipeline} is '${String(flavor)}': use sklearn or pyfunc (with loader)`);
  if (flavor === 'sklearn') return { flavor };
  if (typeof model?.loader !== 'string' || !model.loader.trim())
    throw new PushError(
      `model.flavor in ${pipeline} is pyfunc, but model.loader names no Python file; add loader: src/serve.py (a file defining _load_pyfunc(path))`,
    );
  const file = join(folder, model.loader);
  const module = basename(file).replace(/\.py$/, '');
  if (!file.endsWith('.py') || !PYTHON_MODULE.test(module))
    throw new PushError(
      `model.loader in ${pipeline} is '${model.loader}': name a Python file whose name is a module name (letters, digits, _), such as src/serve.py`,
    );
  const source = readInside(folder, file, 'model.loader');
  if (!/^\s*def\s+_load_pyfunc\s*\(/m.test(source.toString('utf8')))
    throw new PushError(
      `model.loader ${model.loader} defines no _load_pyfunc(path); MLflow calls it with the model file's path and uses what it returns to predict`,
    );
  return { flavor, loader: { file, module, source } };
}

/** MLflow's time format (`2026-05-04 12:00:00.000000`). */
function mlflowTime(iso: string): string {
  const date = new Date(Date.parse(iso) || 0);
  return `${date.toISOString().replace('T', ' ').replace('Z', '')}000`;
}

/**
 * The files that make the package an MLflow Model, written to a temporary folder: `MLmodel` and
 * the loader code, each with its path below the version's `model/` folder. `cleanup` removes them.
 */
export function mlflowModelFiles(
  pkg: ModelPackage,
  flavor: PipelineFlavor,
  mlflowRunId: string,
): { files: { name: string; file: string }[]; cleanup: () => void } {
  const models = pkg.files.filter((file) => file.role === 'model');
  const modelFile = models.length === 1 ? models[0].name.split(/[\\/]+/).pop()! : undefined;
  if (flavor.flavor && !modelFile)
    throw new PushError(
      `model.flavor ${flavor.flavor} needs one model file, but the package of ${pkg.name} has ${models.length}; set model.artifact to the file MLflow loads`,
    );
  const code: { name: string; content: string | Buffer }[] = [];
  const flavors: Record<string, unknown> = {};
  if (flavor.flavor === 'sklearn' && /\.joblib$/i.test(modelFile!)) {
    code.push({ name: 'code/mlpipe_joblib_loader.py', content: JOBLIB_LOADER });
    flavors.python_function = { code: 'code', data: modelFile, loader_module: 'mlpipe_joblib_loader' };
  } else if (flavor.flavor === 'sklearn') {
    flavors.python_function = {
      loader_module: 'mlflow.sklearn',
      model_path: modelFile,
      predict_fn: 'predict',
    };
    flavors.sklearn = { code: null, pickled_model: modelFile, serialization_format: 'cloudpickle' };
  } else if (flavor.flavor === 'pyfunc' && flavor.loader) {
    code.push({ name: `code/${flavor.loader.module}.py`, content: flavor.loader.source });
    flavors.python_function = { code: 'code', data: modelFile, loader_module: flavor.loader.module };
  }
  const mlmodel = {
    artifact_path: 'model',
    flavors,
    // The same for the same approved artifact, so a second push finds the file unchanged.
    model_uuid: pkg.artifactDigest.slice('sha256:'.length, 'sha256:'.length + 32),
    run_id: mlflowRunId,
    utc_time_created: mlflowTime(pkg.approval.at),
    metadata: {
      'mlpipe.run_id': pkg.run,
      'mlpipe.artifact_digest': pkg.artifactDigest,
      'mlpipe.version': pkg.version,
    },
  };
  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-mlmodel-'));
  const files: { name: string; file: string }[] = [];
  try {
    for (const [index, one] of [{ name: 'MLmodel', content: stringify(mlmodel) }, ...code].entries()) {
      const file = join(dir, String(index));
      writeFileSync(file, one.content);
      files.push({ name: one.name, file });
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return { files, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
