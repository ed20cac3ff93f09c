import { machineId } from '../runs/machine';
import { type UserError } from '../errors';
import { ContainerExecution, ensureImage, gpuRefusal, LABELS } from './container';
import { connect, type Engine, type HostSpec } from './engine';
import { HostError, type AttemptSpec, type Executor, type StageExecution } from './executor';
import { type PlannedStage } from './plan';

/** Exit codes of containers an engine stops on its way down (SIGTERM, then SIGKILL). */
const STOPPED_BY_ENGINE = [137, 143];

/**
 * Stages in containers of a Docker-compatible engine (Docker Engine or Podman), local or remote:
 * one container per attempt, labelled so that orphans can be found; the local host bind-mounts the
 * workspace, a remote one gets inputs and returns outputs by archive.
 */
export class DockerExecutor implements Executor {
  private constructor(
    private readonly engine: Engine,
    private readonly workspace: string,
  ) {}

  /** Connects to the host's engine; TLS paths are relative to `workspace` (the pipeline's folder). */
  static async connect(spec: HostSpec, workspace: string): Promise<DockerExecutor> {
    return new DockerExecutor(await connect(spec, workspace), workspace);
  }

  get host(): string {
    return this.engine.spec.name;
  }

  get version(): string {
    return this.engine.version;
  }

  get sharesFiles(): boolean {
    return this.engine.spec.sharesFiles;
  }

  unsupported(stage: PlannedStage): UserError | undefined {
    return gpuRefusal(this.engine, stage);
  }

  resolveImage(image: string, onLine: (line: string) => void): Promise<string> {
    return ensureImage(this.engine, image, onLine);
  }

  async imageDigest(image: string): Promise<string | undefined> {
    return (
      await this.engine.docker
        .getImage(image)
        .inspect()
        .catch(() => undefined)
    )?.Id;
  }

  async removeOrphans(liveRuns: ReadonlySet<string>): Promise<void> {
    const machine = machineId();
    const containers = await this.engine.docker
      .listContainers({
        all: true,
        filters: { label: [`${LABELS.workspace}=${this.workspace}`, `${LABELS.machine}=${machine}`] },
      })
      .catch(() => []);
    for (const info of containers) {
      // The engine's filter is not trusted: a shared or hostile engine may answer with any container.
      if (info.Labels?.[LABELS.machine] !== machine || info.Labels?.[LABELS.workspace] !== this.workspace) continue;
      if (liveRuns.has(info.Labels[LABELS.run])) continue;
      await this.engine.docker
        .getContainer(info.Id)
        .remove({ force: true })
        .catch(() => undefined);
    }
  }

  create(attempt: AttemptSpec): Promise<StageExecution> {
    return ContainerExecution.create(this.engine, this.workspace, attempt);
  }

  /**
   * An engine that is shutting down can still answer one ping, so a second one follows a second
   * later before the failure is blamed on the stage. Of exit codes, only those of a container the
   * engine stopped need a look.
   */
  async lost(exitCode?: number): Promise<UserError | undefined> {
    if (exitCode !== undefined && !STOPPED_BY_ENGINE.includes(exitCode)) return undefined;
    const ping = () =>
      this.engine.docker.ping().then(
        () => true,
        () => false,
      );
    const alive = (await ping()) && (await new Promise((resolve) => setTimeout(resolve, 1000)), await ping());
    return alive
      ? undefined
      : new HostError(
          `lost the Docker engine of host '${this.engine.spec.name}' (${this.engine.spec.address}) while the stage ran; start it again and rerun.`,
        );
  }
}
