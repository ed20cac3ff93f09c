import { lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { extractInto, packPaths } from './archive';
import { type Engine } from './engine';
import { HostError, reason, type AttemptSpec, type StageExecution } from './executor';
import { machineId } from '../runs/machine';
import { Boundary } from '../util/boundary';
import { type PlannedStage } from './plan';

/** Labels on every container mlpipe starts, so its containers can always be found and removed. */
export const LABELS = {
  workspace: 'dev.mlpipe.workspace',
  run: 'dev.mlpipe.run',
  stage: 'dev.mlpipe.stage',
  pid: 'dev.mlpipe.pid',
  machine: 'dev.mlpipe.machine',
} as const;

/**
 * What of the workspace a local stage's container may not write. `.mlpipe/` (runs, cache, locks,
 * plans) is hidden under an empty read-only tmpfs: a stage has no business there, and a stage that
 * could write it could plant cache entries or records. `.git` and `.vscode` hold configuration the
 * user's own tools execute (hooks, fsmonitor, tasks): they are mounted read-only when present.
 */
export const HIDDEN_FOLDERS = ['.mlpipe'] as const;
export const READ_ONLY_FOLDERS = ['.git', '.vscode'] as const;

/** Binds and tmpfs mounts for a local stage; refuses a protected folder that is a link (a bind would follow it on the host). */
export function localMounts(workspace: string, kind: Engine['kind']): Pick<Docker.HostConfig, 'Binds' | 'Tmpfs'> {
  const binds = [`${workspace}:${CONTAINER_WORKSPACE}`];
  for (const name of READ_ONLY_FOLDERS) {
    let stat: ReturnType<typeof lstatSync>;
    try {
      stat = lstatSync(join(workspace, name));
    } catch {
      continue;
    }
    if (stat.isSymbolicLink())
      throw new HostError(
        `${name} in ${workspace} is a symbolic link; mlpipe mounts ${name} read-only into local stages and will not follow a link to do it. Replace the link with the folder.`,
      );
    binds.push(`${join(workspace, name)}:${CONTAINER_WORKSPACE}/${name}:ro`);
  }
  // Podman copies what is under a tmpfs mount point into it unless told not to: that would hand the stage the very folder hidden.
  const options = kind === 'podman' ? 'ro,size=4k,mode=0555,notmpcopyup' : 'ro,size=4k,mode=0555';
  return {
    Binds: binds,
    Tmpfs: Object.fromEntries(HIDDEN_FOLDERS.map((name) => [`${CONTAINER_WORKSPACE}/${name}`, options])),
  };
}

/** Where the workspace is inside a stage's container. */
export const CONTAINER_WORKSPACE = '/workspace';
const HASHES_FILE = '/tmp/.mlpipe-hashes';

/** Runs the user's command, then (on success) lists sha256 sums of the outputs for verification on the way back. */
const REMOTE_WRAPPER = [
  '"$@"',
  'status=$?',
  'if [ "$status" -eq 0 ] && command -v sha256sum >/dev/null 2>&1; then',
  `  (cd ${CONTAINER_WORKSPACE} && printf '%s\\n' "$MLPIPE_OUTPUTS" | while IFS= read -r p; do if [ -n "$p" ] && [ -e "$p" ]; then find "$p" -type f -exec sha256sum {} +; fi; done) > ${HASHES_FILE}`,
  'fi',
  'exit $status',
].join('\n');

/** The image's id (digest) on the host, pulling it when it is missing and can be pulled. */
export async function ensureImage(engine: Engine, image: string, onLine: (line: string) => void): Promise<string> {
  try {
    return (await engine.docker.getImage(image).inspect()).Id;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404)
      throw new HostError(`host '${engine.spec.name}': cannot inspect image ${image}: ${reason(error)}`);
  }
  onLine(`pulling ${image} on host '${engine.spec.name}'`);
  try {
    const stream = (await engine.docker.pull(image)) as NodeJS.ReadableStream;
    await new Promise<void>((resolve, reject) =>
      engine.docker.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve())),
    );
    return (await engine.docker.getImage(image).inspect()).Id;
  } catch (error) {
    throw new HostError(
      `image ${image} is not on host '${engine.spec.name}' and could not be pulled (${reason(error)}); build or load it there (for the sample: npm run sample:image).`,
    );
  }
}

/** Why the engine cannot give the stage the GPUs it asks for, or undefined. */
export function gpuRefusal(engine: Engine, stage: PlannedStage): HostError | undefined {
  if (stage.resources.gpus === undefined || engine.gpuRuntime) return undefined;
  return new HostError(
    `host '${engine.spec.name}' has no GPU runtime (install the NVIDIA Container Toolkit), so stage '${stage.name}' cannot have GPUs.`,
  );
}

function gpuConfig(engine: Engine, stage: PlannedStage): Partial<Docker.HostConfig> {
  const gpus = stage.resources.gpus;
  if (gpus === undefined) return {};
  const refused = gpuRefusal(engine, stage);
  if (refused) throw refused;
  if (engine.kind === 'podman') {
    // Podman's compat API ignores DeviceRequests; it takes GPUs as CDI devices.
    const names =
      gpus === 'all' ? ['nvidia.com/gpu=all'] : Array.from({ length: gpus }, (_, i) => `nvidia.com/gpu=${i}`);
    return { Devices: names.map((name) => ({ PathOnHost: name, PathInContainer: name, CgroupPermissions: 'rwm' })) };
  }
  return {
    DeviceRequests: [
      { Driver: '', Count: gpus === 'all' ? -1 : gpus, Capabilities: [['gpu']], DeviceIDs: [], Options: {} },
    ],
  };
}

/** Engine errors that mean "no GPU runtime", from Docker and Podman, answered in the user's terms. */
function explain(engine: Engine, stage: PlannedStage, error: unknown): Error {
  const text = reason(error);
  if (stage.resources.gpus !== undefined && /could not select device driver|nvidia|CDI|unresolvable/i.test(text)) {
    return new HostError(
      `host '${engine.spec.name}' has no GPU runtime (install the NVIDIA Container Toolkit), so stage '${stage.name}' cannot have GPUs (${text}).`,
    );
  }
  return new HostError(`host '${engine.spec.name}': ${text}`);
}

type OnLine = (line: string, stream: 'stdout' | 'stderr') => void;

/** How long the log stream may stay open after the container exited before it is read again without follow. */
const LOG_DRAIN_MS = 2000;

/**
 * One try of a stage in a container: created with the stage's labels, limits, user and mounts
 * (local) or the output-summing wrapper (remote); inputs copied in and outputs copied back on
 * remote hosts; removed at the end whatever happened.
 */
export class ContainerExecution implements StageExecution {
  private logs: Readable | undefined;
  private logsDone: Promise<void> | undefined;
  private onLine: OnLine = () => undefined;
  private readonly counted = { stdout: 0, stderr: 0 };

  private constructor(
    private readonly engine: Engine,
    private readonly container: Docker.Container,
    private readonly workspace: string,
    private readonly spec: AttemptSpec,
  ) {}

  private get local(): boolean {
    return this.engine.spec.sharesFiles;
  }

  private get outputs(): string[] {
    return this.spec.stage.outputs.map((output) => output.path);
  }

  static async create(engine: Engine, workspace: string, spec: AttemptSpec): Promise<ContainerExecution> {
    const { stage, runId, owner } = spec;
    const local = engine.spec.sharesFiles;
    const workdir = stage.workdir ? `${CONTAINER_WORKSPACE}/${stage.workdir}` : CONTAINER_WORKSPACE;
    const env: Record<string, string> = {
      HOME: '/tmp',
      MLPIPE_STAGE: stage.name,
      MLPIPE_RUN: runId,
      ...stage.env,
      ...stage.command.env,
    };
    if (!local) env.MLPIPE_OUTPUTS = stage.outputs.map((output) => output.path).join('\n');
    const hostConfig: Docker.HostConfig = {
      NetworkMode: stage.network,
      ...(stage.resources.cpus ? { NanoCpus: Math.round(stage.resources.cpus * 1e9) } : {}),
      ...(stage.resources.memoryBytes ? { Memory: stage.resources.memoryBytes } : {}),
      ...(stage.resources.shmBytes ? { ShmSize: stage.resources.shmBytes } : {}),
      ...(local ? localMounts(workspace, engine.kind) : {}),
      ...gpuConfig(engine, stage),
    };
    try {
      const container = await engine.docker.createContainer({
        Image: stage.image,
        Cmd: local ? stage.command.argv : ['sh', '-c', REMOTE_WRAPPER, 'mlpipe-stage', ...stage.command.argv],
        Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
        WorkingDir: workdir,
        User: `${owner.uid}:${owner.gid}`,
        Labels: {
          [LABELS.workspace]: workspace,
          [LABELS.run]: runId,
          [LABELS.stage]: stage.name,
          [LABELS.pid]: String(process.pid),
          [LABELS.machine]: machineId(),
        },
        Tty: false,
        HostConfig: hostConfig,
      });
      return new ContainerExecution(engine, container, workspace, spec);
    } catch (error) {
      throw explain(engine, stage, error);
    }
  }

  async prepareInputs(): Promise<void> {
    if (this.local) return;
    const dirs = [...new Set(this.outputs.map((path) => dirname(path)).filter((dir) => dir !== '.'))];
    const archive = packPaths(
      new Boundary(this.workspace),
      this.spec.inputs,
      CONTAINER_WORKSPACE.slice(1),
      this.spec.owner,
      dirs,
    );
    await this.container.putArchive(archive, { path: '/' });
  }

  async start(): Promise<void> {
    try {
      await this.container.start();
    } catch (error) {
      throw explain(this.engine, this.spec.stage, error);
    }
  }

  async followLogs(onLine: OnLine): Promise<void> {
    this.onLine = onLine;
    this.logs = (await this.container.logs({ follow: true, stdout: true, stderr: true })) as unknown as Readable;
    this.logsDone = streamLines(this.engine, this.logs, (line, stream) => {
      this.counted[stream]++;
      onLine(line, stream);
    });
  }

  async wait(): Promise<number> {
    const status = (await this.container.wait()) as { StatusCode: number };
    const done = this.logsDone;
    if (!done || !this.logs) return status.StatusCode;
    // Podman 4's compat API can leave a follow stream open after the container exited (when it
    // exits before the stream starts): give it a moment, then read what is left without follow.
    const ended = await Promise.race([
      done.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), LOG_DRAIN_MS)),
    ]);
    if (!ended) {
      this.logs.destroy();
      await done;
      const rest = (await this.container.logs({ follow: false, stdout: true, stderr: true })) as unknown as Buffer;
      const skip = { ...this.counted };
      await streamLines(this.engine, Readable.from([rest]), (line, stream) => {
        if (skip[stream] > 0) skip[stream]--;
        else this.onLine(line, stream);
      });
    }
    return status.StatusCode;
  }

  async collectOutputs(): Promise<{ warning?: string }> {
    if (this.local) return {};
    const { warning } = await copyOut(this.container, this.workspace, this.outputs);
    return warning ? { warning } : {};
  }

  kill(): void {
    void this.container.kill().catch(() => undefined);
  }

  async remove(): Promise<void> {
    await this.container.remove({ force: true, v: true }).catch(() => undefined);
  }
}

function streamLines(engine: Engine, logs: Readable, onLine: OnLine): Promise<void> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  engine.docker.modem.demuxStream(logs, stdout, stderr);
  const read = (stream: PassThrough, name: 'stdout' | 'stderr') =>
    new Promise<void>((resolve) => {
      const lines = createInterface({ input: stream, crlfDelay: Infinity });
      lines.on('line', (line) => onLine(line, name));
      lines.on('close', () => resolve());
    });
  const end = () => {
    stdout.end();
    stderr.end();
  };
  logs.on('end', end);
  logs.on('error', end);
  logs.on('close', end);
  return Promise.all([read(stdout, 'stdout'), read(stderr, 'stderr')]).then(() => undefined);
}

/** Copies the declared outputs back from a remote container and checks them against the sums taken there. */
async function copyOut(
  container: Docker.Container,
  workspace: string,
  outputs: string[],
): Promise<{ received: Record<string, Record<string, string>>; warning?: string }> {
  const received: Record<string, Record<string, string>> = {};
  for (const output of outputs) {
    let archive: Readable;
    try {
      archive = (await container.getArchive({ path: `${CONTAINER_WORKSPACE}/${output}` })) as unknown as Readable;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) continue; // reported as a missing output
      throw error;
    }
    received[output] = await extractInto(
      archive,
      join(workspace, output),
      new Boundary(workspace, { trash: join(workspace, '.mlpipe', 'trash') }),
    );
  }
  let sums: string | undefined;
  try {
    const archive = (await container.getArchive({ path: HASHES_FILE })) as unknown as Readable;
    const chunks: Buffer[] = [];
    const { extract } = await import('tar-stream');
    const unpack = extract();
    unpack.on('entry', (_header, stream, next) => {
      stream.on('data', (chunk: unknown) => chunks.push(Buffer.from(chunk as Buffer)));
      stream.on('end', () => next());
    });
    await new Promise<void>((resolve, reject) => {
      unpack.on('finish', () => resolve());
      unpack.on('error', reject);
      archive.pipe(unpack as unknown as NodeJS.WritableStream);
    });
    sums = Buffer.concat(chunks).toString('utf8');
  } catch {
    return { received, warning: 'outputs were not verified: the image has no sha256sum' };
  }
  const expected = new Map<string, string>();
  for (const line of sums.split('\n')) {
    const match = /^([0-9a-f]{64})\s+\*?(?:\.\/)?(.+)$/.exec(line.trim());
    if (match) expected.set(match[2], `sha256:${match[1]}`);
  }
  for (const [output, files] of Object.entries(received)) {
    for (const [name, hash] of Object.entries(files)) {
      const path = name ? `${output}/${name}` : output;
      const remote = expected.get(path);
      if (remote && remote !== hash)
        throw new HostError(
          `output ${path} changed on its way back from the host (sha256 ${remote} there, ${hash} here); run the stage again.`,
        );
    }
  }
  return { received };
}
