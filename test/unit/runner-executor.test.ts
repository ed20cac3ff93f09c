import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HostError, type AttemptSpec, type Executor, type StageExecution } from '../../core/src/runner/executor';
import { type HostSpec } from '../../core/src/runner/engine';
import { Runner, type RunEvent, type RunOptions } from '../../core/src/runner/runner';
import { type RunRecord } from '../../core/src/runs/records';
import { tempWorkspace } from '../support/files';

/**
 * The runner's own logic (order, parallel branches, cache keys, skip, restore, retries, timeouts,
 * cancel, blocked stages, records and events) driven through the executor seam with an in-memory
 * executor: no container runs here. Whether the Docker/Podman executor really runs stages is the
 * engine tier's question (test/engine, test/hostile).
 *
 * The fake understands a few commands:
 *   write PATH TEXT          writes TEXT to PATH in the workspace
 *   concat OUT IN...         writes the IN files one after the other to OUT
 *   flaky MARK PATH          fails (exit 1) the first time, writes PATH the second
 *   fail CODE                exits with CODE
 *   hang                     runs until killed (exit 137)
 */
class FakeExecutor implements Executor {
  readonly host: string;
  readonly version = 'fake 1.0';
  digest = 'sha256:1111111111111111111111111111111111111111111111111111111111111111';
  /** What the runner asked for, in order: `create train`, `remove train`, `orphans <live runs>`, ... */
  readonly calls: string[] = [];
  readonly attempts: AttemptSpec[] = [];
  /** Whether the fake goes away when a stage is killed: then `lost` blames it. */
  gone = false;
  running = 0;
  mostRunning = 0;

  constructor(
    spec: HostSpec,
    private readonly workspace: string,
    readonly sharesFiles = true,
  ) {
    this.host = spec.name;
  }

  unsupported(stage: AttemptSpec['stage']): HostError | undefined {
    return stage.resources.gpus !== undefined
      ? new HostError(`host '${this.host}' has no GPUs (fake), so stage '${stage.name}' cannot have GPUs.`)
      : undefined;
  }

  async resolveImage(image: string, onLine: (line: string) => void): Promise<string> {
    onLine(`resolved ${image}`);
    return this.digest;
  }

  async imageDigest(): Promise<string | undefined> {
    return this.digest;
  }

  async removeOrphans(liveRuns: ReadonlySet<string>): Promise<void> {
    this.calls.push(`orphans ${[...liveRuns].join(',')}`);
  }

  async create(attempt: AttemptSpec): Promise<StageExecution> {
    this.calls.push(`create ${attempt.stage.name}`);
    this.attempts.push(attempt);
    return new FakeExecution(this, attempt, this.workspace);
  }

  async lost(exitCode?: number): Promise<HostError | undefined> {
    return this.gone && (exitCode === undefined || exitCode === 137)
      ? new HostError(`lost the fake executor of host '${this.host}'`)
      : undefined;
  }
}

class FakeExecution implements StageExecution {
  private onLine: (line: string, stream: 'stdout' | 'stderr') => void = () => undefined;
  private killed: () => void = () => undefined;
  private readonly killedPromise = new Promise<void>((resolve) => (this.killed = resolve));

  constructor(
    private readonly executor: FakeExecutor,
    private readonly spec: AttemptSpec,
    private readonly workspace: string,
  ) {}

  async prepareInputs(): Promise<void> {
    if (!this.executor.sharesFiles)
      this.executor.calls.push(`inputs ${this.spec.stage.name}: ${this.spec.inputs.join(' ')}`);
  }

  async start(): Promise<void> {
    this.executor.calls.push(`start ${this.spec.stage.name}`);
  }

  async followLogs(onLine: (line: string, stream: 'stdout' | 'stderr') => void): Promise<void> {
    this.onLine = onLine;
  }

  async wait(): Promise<number> {
    const [verb, ...args] = this.spec.stage.command.argv;
    const at = (path: string) => join(this.workspace, path);
    this.executor.running++;
    this.executor.mostRunning = Math.max(this.executor.mostRunning, this.executor.running);
    try {
      // Another turn of the event loop, so that ready stages overlap as they would in containers.
      await new Promise((resolve) => setTimeout(resolve, 20));
      switch (verb) {
        case 'write':
          writeFileSync(at(args[0]), args.slice(1).join(' '));
          this.onLine(`wrote ${args[0]}`, 'stdout');
          return 0;
        case 'concat':
          writeFileSync(
            at(args[0]),
            args
              .slice(1)
              .map((path) => readFileSync(at(path), 'utf8'))
              .join(''),
          );
          return 0;
        case 'flaky':
          if (!existsSync(at(args[0]))) {
            writeFileSync(at(args[0]), '');
            this.onLine('not yet', 'stderr');
            return 1;
          }
          writeFileSync(at(args[1]), 'ok');
          return 0;
        case 'fail':
          this.onLine('about to fail', 'stdout');
          return Number(args[0]);
        case 'hang':
          await this.killedPromise;
          return 137;
        default:
          throw new Error(`the fake executor has no command ${verb}`);
      }
    } finally {
      this.executor.running--;
    }
  }

  async collectOutputs(): Promise<{ warning?: string }> {
    this.executor.calls.push(`collect ${this.spec.stage.name}`);
    return this.executor.sharesFiles ? {} : { warning: 'outputs were not verified (fake)' };
  }

  kill(): void {
    this.executor.calls.push(`kill ${this.spec.stage.name}`);
    this.killed();
  }

  async remove(): Promise<void> {
    this.executor.calls.push(`remove ${this.spec.stage.name}`);
  }
}

describe('the runner through the executor seam (in-memory executor, no containers)', () => {
  const previousConfig = process.env.XDG_CONFIG_HOME;
  const config = mkdtempSync(join(tmpdir(), 'mlpipe-config-'));
  const cleanups: (() => void)[] = [];
  before(() => {
    process.env.XDG_CONFIG_HOME = config;
  });
  after(() => {
    if (previousConfig === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = previousConfig;
    rmSync(config, { recursive: true, force: true });
    for (const cleanup of cleanups) cleanup();
  });

  function setUp(stages: string, options: { sharesFiles?: boolean; head?: string } = {}) {
    const { dir, cleanup } = tempWorkspace({
      'mlpipe.yaml': `version: 1\n${options.head ?? ''}defaults: { image: localhost/fake:1 }\nparams: params.yaml\nstages:\n${stages}`,
      'params.yaml': 'seed: 1\n',
    });
    cleanups.push(cleanup);
    const executors: FakeExecutor[] = [];
    const runner = Runner.open(join(dir, 'mlpipe.yaml'), undefined, async (spec, workspace) => {
      const executor = new FakeExecutor(spec, workspace, options.sharesFiles ?? true);
      executors.push(executor);
      return executor;
    });
    const run = async (options: Partial<RunOptions> = {}) => {
      const events: RunEvent[] = [];
      const record = await runner.run({ stages: [], upstream: false, force: false, jobs: 4, ...options }, (event) =>
        events.push(event),
      );
      return { record, events };
    };
    return { dir, runner, executors, run };
  }

  const statuses = (record: RunRecord) => Object.fromEntries(record.stages.map((stage) => [stage.name, stage.status]));
  const stageOf = (record: RunRecord, name: string) => record.stages.find((stage) => stage.name === name)!;

  const TWO_STAGES = `  prepare:
    cmd: write data.txt prepared
    outs: [data.txt]
  train:
    cmd: concat model.txt data.txt
    deps: [data.txt]
    outs: [model.txt]
`;

  it('runs stages in order, records them, then skips them while nothing changed', async () => {
    const { dir, executors, run } = setUp(TWO_STAGES);
    const first = await run();
    assert.equal(first.record.status, 'succeeded');
    assert.deepEqual(statuses(first.record), { prepare: 'succeeded', train: 'succeeded' });
    assert.equal(readFileSync(join(dir, 'model.txt'), 'utf8'), 'prepared');
    assert.equal(executors.length, 1, 'one executor per host, connected once');
    const [executor] = executors;
    assert.deepEqual(executor.calls, [
      `orphans ${first.record.id}`,
      'create prepare',
      'start prepare',
      'collect prepare',
      'remove prepare',
      'create train',
      'start train',
      'collect train',
      'remove train',
    ]);
    const train = stageOf(first.record, 'train');
    assert.equal(train.engine, 'fake 1.0');
    assert.equal(train.imageDigest, executor.digest);
    assert.equal(train.attempts, 1);
    assert.equal(train.exitCode, 0);
    assert.equal(train.reason, 'never run before');
    assert.deepEqual(Object.keys(train.deps), ['data.txt']);
    assert.match(train.outputs['model.txt'], /^sha256:/);
    assert.deepEqual(
      first.events
        .filter((event) => event.type !== 'log')
        .map((event) =>
          event.type === 'stage-start'
            ? `${event.type} ${event.stage} ${event.host} ${event.attempt}`
            : event.type === 'stage-end'
              ? `${event.type} ${event.stage} ${event.status}`
              : event.type,
        ),
      [
        'run-start',
        'stage-start prepare local 1',
        'stage-end prepare succeeded',
        'stage-start train local 1',
        'stage-end train succeeded',
        'run-end',
      ],
    );
    const logs = first.events.flatMap((event) =>
      event.type === 'log' && event.stage === 'prepare' ? [event.line] : [],
    );
    assert.deepEqual(logs, [
      'resolved localhost/fake:1',
      '$ write data.txt prepared   (host local, fake 1.0, localhost/fake:1)',
      'wrote data.txt',
    ]);

    const second = await run();
    assert.deepEqual(statuses(second.record), { prepare: 'skipped', train: 'skipped' });
    assert.equal(stageOf(second.record, 'train').reason, `unchanged since run ${first.record.id}`);
    assert.deepEqual(
      executor.calls.slice(9),
      [`orphans ${second.record.id}`],
      'nothing created: the orphans of the host are removed once per run',
    );
  });

  it('restores a modified output from the cache, and reruns when the image digest changes', async () => {
    const { dir, executors, run } = setUp(TWO_STAGES);
    const first = await run();
    writeFileSync(join(dir, 'model.txt'), 'edited by hand');
    const second = await run();
    assert.deepEqual(statuses(second.record), { prepare: 'skipped', train: 'restored' });
    assert.equal(
      stageOf(second.record, 'train').reason,
      `same inputs as run ${first.record.id}: outputs restored from the cache`,
    );
    assert.equal(readFileSync(join(dir, 'model.txt'), 'utf8'), 'prepared');
    assert.ok(!executors[0].calls.slice(9).some((call) => call.startsWith('create')));

    executors[0].digest = `sha256:${'2'.repeat(64)}`;
    const third = await run();
    assert.deepEqual(statuses(third.record), { prepare: 'succeeded', train: 'succeeded' });
    assert.match(stageOf(third.record, 'prepare').reason ?? '', /^image changed \(sha256:1111111111/);
  });

  it('runs independent branches side by side, retries as declared, and blocks what a failure stops', async () => {
    const { executors, run } = setUp(`  left:
    cmd: write left.txt l
    outs: [left.txt]
  right:
    cmd: write right.txt r
    outs: [right.txt]
  flaky:
    cmd: flaky tried flaky.txt
    outs: [flaky.txt]
    retries: 1
  broken:
    cmd: fail 3
    outs: [broken.txt]
  after-broken:
    cmd: write after.txt never
    needs: [broken]
    outs: [after.txt]
`);
    const { record, events } = await run({ jobs: 2 });
    assert.equal(record.status, 'failed');
    assert.deepEqual(statuses(record), {
      left: 'succeeded',
      right: 'succeeded',
      flaky: 'succeeded',
      broken: 'failed',
      'after-broken': 'blocked',
    });
    assert.equal(executors[0].mostRunning, 2, 'at most --jobs stages at a time, and that many');
    const flaky = stageOf(record, 'flaky');
    assert.equal(flaky.attempts, 2);
    assert.ok(
      events.some(
        (event) =>
          event.type === 'log' &&
          event.stage === 'flaky' &&
          event.line === 'exited with code 1; retrying (1 of 1 retries)',
      ),
    );
    const broken = stageOf(record, 'broken');
    assert.equal(broken.exitCode, 3);
    assert.equal(broken.reason, 'exited with code 3');
    assert.equal(stageOf(record, 'after-broken').reason, "upstream stage 'broken' did not finish");
    const created = executors[0].calls.filter((call) => call.startsWith('create')).length;
    assert.equal(
      executors[0].calls.filter((call) => call.startsWith('remove')).length,
      created,
      'every attempt is removed',
    );
  });

  it('kills a stage at its timeout, and every running stage when the run is cancelled', async () => {
    const { executors, run } = setUp(`  slow:
    cmd: hang
    outs: [slow.txt]
    timeout: 200ms
`);
    const timedOut = await run();
    assert.equal(stageOf(timedOut.record, 'slow').status, 'failed');
    assert.equal(stageOf(timedOut.record, 'slow').reason, 'timed out after 0 s');
    assert.ok(executors[0].calls.includes('kill slow'));

    const cancelled = setUp(`  long:
    cmd: hang
    outs: [long.txt]
  next:
    cmd: write next.txt x
    needs: [long]
    outs: [next.txt]
`);
    const stop = new AbortController();
    const pending = cancelled.run({ signal: stop.signal });
    while (!cancelled.executors[0]?.calls.includes('start long'))
      await new Promise((resolve) => setTimeout(resolve, 5));
    stop.abort();
    const { record } = await pending;
    assert.equal(record.status, 'cancelled');
    assert.deepEqual(statuses(record), { long: 'cancelled', next: 'cancelled' });
    assert.equal(stageOf(record, 'long').reason, 'the run was cancelled');
    assert.deepEqual(cancelled.executors[0].calls.slice(-2), ['kill long', 'remove long']);
  });

  it('blames the executor when it is lost, and refuses what the host cannot give before anything starts', async () => {
    const lost = setUp(`  long:
    cmd: hang
    outs: [long.txt]
    timeout: 100ms
`);
    const executor = new Promise<FakeExecutor>((resolve) => {
      const check = () => (lost.executors[0] ? resolve(lost.executors[0]) : setTimeout(check, 1));
      check();
    });
    const pending = lost.run();
    (await executor).gone = true;
    const { record } = await pending;
    // A timeout is the stage's own: only a stage that exits (137 here) or throws asks the executor.
    assert.equal(stageOf(record, 'long').reason, 'timed out after 0 s');

    const killed = setUp(`  work:
    cmd: fail 137
    outs: [work.txt]
    retries: 2
`);
    const first = killed.run();
    (
      await new Promise<FakeExecutor>((resolve) => {
        const check = () => (killed.executors[0] ? resolve(killed.executors[0]) : setTimeout(check, 1));
        check();
      })
    ).gone = true;
    const work = stageOf((await first).record, 'work');
    assert.equal(work.status, 'failed');
    assert.equal(work.attempts, 1, 'a lost executor is not retried');
    assert.equal(work.error, "lost the fake executor of host 'local'");

    const gpu = setUp(
      `  train:
    cmd: write model.txt m
    resources: { gpus: 1 }
    outs: [model.txt]
`,
      { head: 'hosts:\n  local: { docker: "unix:///nowhere.sock", gpus: 1 }\n' },
    );
    const refused = stageOf((await gpu.run()).record, 'train');
    assert.equal(refused.status, 'failed');
    assert.equal(refused.error, "host 'local' has no GPUs (fake), so stage 'train' cannot have GPUs.");
    assert.ok(!gpu.executors[0].calls.some((call) => call.startsWith('create')), 'nothing was created');
  });

  it('hands inputs to an executor that does not share the workspace, and collects outputs only after success', async () => {
    const { executors, run } = setUp(
      `  prepare:
    cmd: write data.txt prepared
    outs: [data.txt]
  train:
    cmd: concat model.txt data.txt
    deps: [data.txt]
    outs: [model.txt]
  broken:
    cmd: fail 2
    deps: [data.txt]
    outs: [broken.txt]
`,
      { sharesFiles: false },
    );
    const { record, events } = await run({ jobs: 1 });
    assert.deepEqual(statuses(record), { prepare: 'succeeded', train: 'succeeded', broken: 'failed' });
    const calls = executors[0].calls;
    assert.ok(calls.includes('inputs train: data.txt params.yaml'), calls.join('\n'));
    assert.ok(calls.includes('inputs prepare: params.yaml'));
    assert.ok(calls.includes('collect train') && !calls.includes('collect broken'));
    assert.ok(
      events.some(
        (event) =>
          event.type === 'log' &&
          event.stage === 'train' &&
          event.stream === 'stderr' &&
          event.line === 'warning: outputs were not verified (fake)',
      ),
    );
  });
});
