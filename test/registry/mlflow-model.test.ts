import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mlflowTargetOf, pushToMlflowRegistry } from '../../core/src/registry/mlflow-registry';
import { pipelineFlavor } from '../../core/src/registry/mlflow-model';
import { PushError } from '../../core/src/registry/types';
import { MlpipeDir } from '../../core/src/runs/records';
import { MlflowClient } from '../../core/src/tracking/mlflow';
import { tempWorkspace } from '../support/files';
import {
  type MlflowArtifactMode,
  mlflowMissing,
  mlflowPython,
  mlflowVenv,
  startMlflow,
  type RunningMlflow,
} from '../support/mlflow-server';
import { makePackage } from '../support/registry';
import { freePort } from '../../scripts/vscode-web';
import { fakeRecord } from '../support/store-fixtures';

const missing = mlflowMissing();
if (missing && process.env.CI) throw new Error(`MLflow tests cannot run: ${missing}`);

/*
 * What mlpipe registers is an MLflow Model: MLflow's own Python client loads the champion with
 * `mlflow.pyfunc.load_model("models:/<name>@champion")` and its predictions are the model's own.
 * The models are real scikit-learn estimators trained by Python (pickle and joblib), and a model
 * of plain JSON weights loaded by a loader file the pipeline names.
 */

const X = [
  [0.1, 0.2, 0.3],
  [0.9, 0.8, 0.7],
  [0.5, 0.1, 0.9],
];

/** Trains a logistic regression, saves it as pickle and joblib, and prints its own predictions on X. */
const TRAIN = `
import json, pickle, sys, joblib, numpy as np
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(7)
features = rng.random((200, 3))
labels = (features @ np.array([2.0, -1.0, 0.5]) > 0.6).astype(int)
model = LogisticRegression().fit(features, labels)
with open(sys.argv[1], 'wb') as out:
    pickle.dump(model, out)
joblib.dump(model, sys.argv[2])
print(json.dumps(model.predict(np.array(json.loads(sys.argv[3]))).tolist()))
`;

/** Loads a registered model with MLflow's Python client and predicts X; prints the error instead when it cannot. */
const LOAD = `
import json, os, sys, numpy as np, mlflow
os.environ['MLFLOW_ALLOW_PICKLE_DESERIALIZATION'] = 'true'
try:
    model = mlflow.pyfunc.load_model(sys.argv[1])
    result = {'predictions': np.asarray(model.predict(np.array(json.loads(sys.argv[2])))).tolist(),
              'flavors': sorted(model.metadata.flavors)}
    if sys.argv[3] == 'sklearn':
        result['sklearn'] = type(mlflow.sklearn.load_model(sys.argv[1])).__name__
    print(json.dumps(result))
except Exception as error:
    print(json.dumps({'error': f'{type(error).__name__}: {error}'}))
`;

const LOADER = `import json


class Linear:
    def __init__(self, weights):
        self.weights = weights

    def predict(self, rows):
        return [int(sum(w * x for w, x in zip(self.weights["w"], row)) + self.weights["b"] > 0) for row in rows]


def _load_pyfunc(path):
    with open(path) as source:
        return Linear(json.load(source))
`;

interface Loaded {
  predictions?: number[];
  flavors?: string[];
  sklearn?: string;
  error?: string;
}

let RUN_SEQUENCE = 0;

/** A workspace whose run wrote `model` (an existing file) and whose pipeline says `model:` as given. */
function workspaceFor(modelFile: string, modelSection: string, extra: Record<string, string> = {}) {
  const run = `20260504-113000-00${RUN_SEQUENCE++}-a1b2`;
  const workspace = tempWorkspace({
    'mlpipe.yaml': `version: 1\nname: churn\nstages: {}\nmodel:\n  card: package/modelcard.yaml\n  artifact: models/x\n${modelSection}`,
    ...extra,
  });
  new MlpipeDir(join(workspace.dir, '.mlpipe')).writeRecord(fakeRecord(run, workspace.dir));
  const pkg = { ...makePackage(join(workspace.dir, 'package'), { modelFile }), run };
  // The model file's name in the package is the artifact's own (model.pkl, model.joblib, weights.json).
  pkg.files[0] = { ...pkg.files[0]!, name: modelFile.split('/').pop()! };
  return { ...workspace, pkg, pipeline: join(workspace.dir, 'mlpipe.yaml') };
}

describe('the MLmodel mlpipe writes: what the pipeline says, checked before anything is sent', () => {
  it('reads flavor and loader, and refuses what MLflow could not load', () => {
    const ws = tempWorkspace({
      'a.yaml': 'version: 1\nmodel: { artifact: m.pkl, flavor: sklearn }\n',
      'b.yaml': 'version: 1\nmodel: { artifact: m, flavor: pyfunc }\n',
      'c.yaml': 'version: 1\nmodel: { artifact: m, flavor: pyfunc, loader: src/serve.py }\n',
      'd.yaml': 'version: 1\nmodel: { artifact: m, flavor: pyfunc, loader: src/no_loader.py }\n',
      'e.yaml': 'version: 1\nmodel: { artifact: m, flavor: pyfunc, loader: ../outside.py }\n',
      'f.yaml': 'version: 1\nmodel: { artifact: m, flavor: tensorflow }\n',
      'g.yaml': 'version: 1\nmodel: { artifact: m }\n',
      'src/serve.py': LOADER,
      'src/no_loader.py': 'def load(path):\n    return None\n',
    });
    try {
      assert.deepEqual(pipelineFlavor(join(ws.dir, 'a.yaml')), { flavor: 'sklearn' });
      assert.deepEqual(pipelineFlavor(join(ws.dir, 'g.yaml')), {});
      assert.throws(() => pipelineFlavor(join(ws.dir, 'b.yaml')), /model.loader names no Python file/);
      const c = pipelineFlavor(join(ws.dir, 'c.yaml'));
      assert.equal(c.loader?.module, 'serve');
      assert.throws(() => pipelineFlavor(join(ws.dir, 'd.yaml')), /defines no _load_pyfunc\(path\)/);
      assert.throws(() => pipelineFlavor(join(ws.dir, 'e.yaml')), /outside the pipeline's folder/);
      assert.throws(
        () => pipelineFlavor(join(ws.dir, 'f.yaml')),
        (error: unknown) => error instanceof PushError && /use sklearn or pyfunc/.test(error.message),
      );
    } finally {
      ws.cleanup();
    }
  });

  it('names the target by the scheme it really uses', () => {
    assert.equal(mlflowTargetOf('http://127.0.0.1:5000'), 'mlflow+http://127.0.0.1:5000');
    assert.equal(mlflowTargetOf('https://mlflow.example.com'), 'mlflow://mlflow.example.com');
    assert.equal(mlflowTargetOf('https://mlflow.example.com:8443/team/'), 'mlflow://mlflow.example.com:8443/team');
  });
});

for (const [mode, how] of [
  ['proxy', 'with the artifact proxy'],
  ['default-root', 'with --default-artifact-root (the common way)'],
  ['no-serve', 'with --default-artifact-root and --no-serve-artifacts'],
] as [MlflowArtifactMode, string][]) {
  describe(`MLflow's Python client loads the champion mlpipe pushed to a server ${how}`, { skip: missing }, () => {
    let server: RunningMlflow;
    let client: MlflowClient;
    let models: { dir: string; cleanup: () => void };
    let expected: number[];
    const cleanups: (() => void)[] = [];

    before(async () => {
      server = await startMlflow({ artifacts: mode });
      client = new MlflowClient(server.uri, { env: {} });
      models = tempWorkspace({
        'weights.json': JSON.stringify({ w: [2.0, -1.0, 0.5], b: -0.6 }),
      });
      cleanups.push(models.cleanup);
      expected = mlflowPython<number[]>(server.uri, TRAIN, [
        join(models.dir, 'model.pkl'),
        join(models.dir, 'model.joblib'),
        JSON.stringify(X),
      ]);
    });
    after(async () => {
      await server?.stop();
      for (const cleanup of cleanups) cleanup();
    });

    const push = async (name: string, modelFile: string, section: string, extra: Record<string, string> = {}) => {
      const ws = workspaceFor(join(models.dir, modelFile), section, extra);
      cleanups.push(ws.cleanup);
      const options = { client, mlpipeRoot: join(ws.dir, '.mlpipe'), modelName: name, pipelinePath: ws.pipeline };
      return {
        result: await pushToMlflowRegistry(ws.pkg, options),
        again: () => pushToMlflowRegistry(ws.pkg, options),
      };
    };
    const load = (name: string, flavor = '') =>
      mlflowPython<Loaded>(server.uri, LOAD, [`models:/${name}@champion`, JSON.stringify(X), flavor]);

    it('flavor: sklearn (a pickle): pyfunc and mlflow.sklearn load it and predict as the model does', async () => {
      const { result, again } = await push('churn-pickle', 'model.pkl', '  flavor: sklearn\n');
      assert.equal(result.target, `mlflow+http://127.0.0.1:${server.port}`);
      const loaded = load('churn-pickle', 'sklearn');
      assert.equal(loaded.error, undefined, `${loaded.error}\n${server.log()}`);
      assert.deepEqual(loaded.predictions, expected);
      assert.deepEqual(loaded.flavors, ['python_function', 'sklearn']);
      assert.equal(loaded.sklearn, 'LogisticRegression');
      // Pushing again uploads nothing: the MLmodel is the same for the same package.
      const second = await again();
      assert.equal(second.reusedVersion, true);
      assert.equal(second.uploadedBlobs, 0);
      assert.equal(second.version, result.version);
    });

    if (mode !== 'proxy') return;

    it("mlflow models serve answers /invocations with the champion's predictions", async () => {
      const port = await freePort();
      const log = join(models.dir, 'serve.log');
      const out = openSync(log, 'a');
      // The champion of the first test (churn-pickle), served from this environment.
      const child = spawn(
        join(mlflowVenv(), 'bin', 'mlflow'),
        [
          'models',
          'serve',
          '-m',
          'models:/churn-pickle@champion',
          '--env-manager',
          'local',
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
        ],
        {
          detached: true,
          stdio: ['ignore', out, out],
          env: {
            // As in an activated venv: the scoring server (uvicorn) is found beside mlflow.
            PATH: `${join(mlflowVenv(), 'bin')}:${process.env.PATH}`,
            HOME: process.env.HOME,
            LANG: 'C.UTF-8',
            MLFLOW_TRACKING_URI: server.uri,
            MLFLOW_ALLOW_PICKLE_DESERIALIZATION: 'true',
            MLFLOW_DISABLE_TELEMETRY: 'true',
          },
        },
      );
      closeSync(out);
      try {
        const deadline = Date.now() + 120_000;
        let answer: Response | undefined;
        while (!answer) {
          if (child.exitCode !== null)
            assert.fail(`mlflow models serve exited:\n${readFileSync(log, 'utf8').slice(-3000)}`);
          answer = await fetch(`http://127.0.0.1:${port}/invocations`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ inputs: X }),
            signal: AbortSignal.timeout(5000),
          }).catch(() => undefined);
          if (!answer) {
            if (Date.now() > deadline)
              assert.fail(`mlflow models serve did not answer:\n${readFileSync(log, 'utf8').slice(-3000)}`);
            await new Promise((done) => setTimeout(done, 250));
          }
        }
        assert.equal(answer.status, 200, await answer.clone().text());
        assert.deepEqual(((await answer.json()) as { predictions: number[] }).predictions, expected);
      } finally {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    });

    it("flavor: sklearn (a .joblib file): pyfunc loads it through mlpipe's joblib loader", async () => {
      await push('churn-joblib', 'model.joblib', '  flavor: sklearn\n');
      const loaded = load('churn-joblib');
      assert.equal(loaded.error, undefined, loaded.error);
      assert.deepEqual(loaded.predictions, expected);
    });

    it("flavor: pyfunc with a loader file: any model, loaded by the pipeline's own code", async () => {
      await push('churn-loader', 'weights.json', '  flavor: pyfunc\n  loader: src/serve.py\n', {
        'src/serve.py': LOADER,
      });
      const loaded = load('churn-loader');
      assert.equal(loaded.error, undefined, loaded.error);
      // The rule the weights say: 2a - b + 0.5c - 0.6 > 0.
      assert.deepEqual(loaded.predictions, [0, 1, 1]);
    });

    it('no flavor: still an MLflow Model; pyfunc says it has no python_function flavor', async () => {
      await push('churn-plain', 'model.pkl', '');
      const loaded = load('churn-plain');
      assert.match(loaded.error ?? '', /does not have the "python_function" flavor/);
    });
  });
}
