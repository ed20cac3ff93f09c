import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import Docker from 'dockerode';
import { hostKeyProblem, hostVerifier, knownHostsFor } from './known-hosts';
import { readFileBounded } from '../runs/files';
import { HostError, reason } from './executor';
import { type KubernetesHost } from './kubernetes/spec';

// Where the CLI and the extension have always found it; every executor's host errors are this class.
export { HostError } from './executor';

/** How to reach one Docker-compatible engine, from `hosts:` in the pipeline or the environment. */
export interface HostSpec {
  name: string;
  /** unix://, tcp://, ssh:// or npipe:// */
  address: string;
  tls?: { ca?: string; cert?: string; key?: string; verify?: boolean };
  /** Declared engine kind; detected from the engine's version when absent. */
  engine?: 'docker' | 'podman';
  gpus?: number;
  /** Whether the engine shares the workspace's file system (the local host): bind mounts instead of copies. */
  sharesFiles: boolean;
  /** A Kubernetes cluster instead of an engine (then `address` is empty). */
  kubernetes?: KubernetesHost;
}

export interface Engine {
  spec: HostSpec;
  docker: Docker;
  kind: 'docker' | 'podman';
  /** Engine version text, for messages. */
  version: string;
  /** Whether the engine can hand out NVIDIA GPUs (an nvidia runtime or CDI specs), as far as its API tells. */
  gpuRuntime: boolean;
}

/** Why the SSH host key check refused a host's key, by client: ssh2 itself only says "verification failed". */
const hostKeyRefusals = new WeakMap<Docker, () => string | undefined>();

/**
 * The local host: DOCKER_HOST when set, else the current Docker context (~/.docker), else the
 * default socket (/var/run/docker.sock, or the rootless and Docker Desktop ones).
 */
export function localAddress(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DOCKER_HOST) return env.DOCKER_HOST;
  const config = join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'));
  try {
    const current = (JSON.parse(readFileSync(join(config, 'config.json'), 'utf8')) as { currentContext?: string })
      .currentContext;
    if (current && current !== 'default') {
      const meta = join(config, 'contexts', 'meta', createHash('sha256').update(current).digest('hex'), 'meta.json');
      const endpoint = (JSON.parse(readFileSync(meta, 'utf8')) as { Endpoints?: { docker?: { Host?: string } } })
        .Endpoints?.docker?.Host;
      if (endpoint) return endpoint;
    }
  } catch {
    // no config or context: the default socket
  }
  const candidates = [
    '/var/run/docker.sock',
    join(homedir(), '.docker', 'run', 'docker.sock'),
    `/run/user/${process.getuid?.() ?? 0}/docker.sock`,
  ];
  return `unix://${candidates.find((path) => existsSync(path)) ?? candidates[0]}`;
}

function readMaterial(path: string | undefined, base: string, what: string, host: string): Buffer | undefined {
  if (!path) return undefined;
  const full = path.startsWith('~/') ? join(homedir(), path.slice(2)) : isAbsolute(path) ? path : resolve(base, path);
  try {
    // Certificates and keys are a few KB: a pipeline naming /dev/zero or a FIFO gets an error, not a hang.
    return readFileBounded(full, 1024 * 1024);
  } catch (error) {
    throw new HostError(
      `host '${host}': cannot read the TLS ${what} ${full}${error instanceof Error && !('code' in error) ? ` (${error.message})` : ''}`,
    );
  }
}

function sshKey(): Buffer | undefined {
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const path = join(homedir(), '.ssh', name);
    if (existsSync(path)) return readFileSync(path);
  }
  return undefined;
}

/** A dockerode client for a host; nothing is contacted yet. */
export function dockerFor(spec: HostSpec, base: string): Docker {
  const url = new URL(spec.address.includes('://') ? spec.address : `tcp://${spec.address}`);
  switch (url.protocol) {
    case 'unix:':
      return new Docker({ socketPath: url.pathname });
    case 'npipe:':
      return new Docker({ socketPath: spec.address.slice('npipe://'.length) });
    case 'tcp:': {
      const port = Number(url.port || (spec.tls ? 2376 : 2375));
      if (!spec.tls) return new Docker({ host: url.hostname, port, protocol: 'http' });
      const ca = readMaterial(spec.tls.ca, base, 'CA certificate', spec.name);
      const cert = readMaterial(spec.tls.cert, base, 'client certificate', spec.name);
      const key = readMaterial(spec.tls.key, base, 'client key', spec.name);
      if (spec.tls.verify === false) {
        // Only when the pipeline says so, for a test engine with a self-signed certificate.
        return new Docker({
          host: url.hostname,
          port,
          protocol: 'https',
          agent: new Agent({ ca, cert, key, rejectUnauthorized: false }),
        } as Docker.DockerOptions);
      }
      return new Docker({ host: url.hostname, port, protocol: 'https', ca, cert, key });
    }
    case 'ssh:': {
      const port = Number(url.port || 22);
      const known = knownHostsFor(url.hostname, port);
      if (known.keys.length === 0) {
        // No usable line: not listed, listed only with revoked keys, or only through @cert-authority.
        const problem = known.certAuthorities > 0 ? hostKeyProblem(known, Buffer.alloc(0)) : undefined;
        throw new HostError(
          `host '${spec.name}': ${problem ?? `${url.hostname}${port === 22 ? '' : `:${port}`} is not in ~/.ssh/known_hosts${known.revoked.length > 0 ? ' (or only with keys marked @revoked)' : ''}; connect once with ssh to check and record its key`}`,
        );
      }
      let refusal: string | undefined;
      const agent = process.env.SSH_AUTH_SOCK;
      const privateKey = agent ? undefined : sshKey();
      if (!agent && !privateKey)
        throw new HostError(
          `host '${spec.name}': no SSH agent (SSH_AUTH_SOCK) and no key in ~/.ssh (id_ed25519, id_ecdsa, id_rsa)`,
        );
      const docker = new Docker({
        protocol: 'ssh',
        host: url.hostname,
        port,
        username: decodeURIComponent(url.username) || process.env.USER,
        sshOptions: {
          agent,
          privateKey,
          hostVerifier: hostVerifier(url.hostname, port, undefined, (reason) => (refusal = reason)),
          readyTimeout: 20_000,
        },
      } as Docker.DockerOptions);
      hostKeyRefusals.set(docker, () => refusal);
      return docker;
    }
    default:
      throw new HostError(`host '${spec.name}': unsupported address ${spec.address}; use unix://, tcp:// or ssh://`);
  }
}

/** Connects and learns what the engine is; fails with a message that names the host and what to do. */
export async function connect(spec: HostSpec, base: string): Promise<Engine> {
  const docker = dockerFor(spec, base);
  let version: Docker.DockerVersion;
  try {
    version = await docker.version();
  } catch (error) {
    const refused = hostKeyRefusals.get(docker)?.();
    if (refused)
      throw new HostError(`cannot reach the Docker engine of host '${spec.name}' at ${spec.address}: ${refused}.`);
    const code = String((error as NodeJS.ErrnoException).code ?? '');
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code)) {
      throw new HostError(
        `cannot reach the Docker engine of host '${spec.name}' at ${spec.address}: its TLS certificate does not verify (${reason(error)}); check hosts.${spec.name}.tls.ca and that the certificate names this address.`,
      );
    }
    if (code === 'EACCES') {
      throw new HostError(
        `permission denied on the Docker socket of host '${spec.name}' (${spec.address}); add your user to the docker group (then log in again), or use rootless Docker or Podman.`,
      );
    }
    throw new HostError(
      `cannot reach the Docker engine of host '${spec.name}' at ${spec.address}: ${reason(error)}. Is the engine running${spec.name === 'local' ? ' (or DOCKER_HOST set)' : ''}?`,
    );
  }
  const components = (version as { Components?: { Name: string }[] }).Components ?? [];
  const kind = spec.engine ?? (components.some((component) => /podman/i.test(component.Name)) ? 'podman' : 'docker');
  let gpuRuntime = false;
  try {
    const info = (await docker.info()) as { Runtimes?: Record<string, unknown>; CDISpecDirs?: string[] };
    gpuRuntime = Boolean(info.Runtimes?.nvidia) || (info.CDISpecDirs ?? []).length > 0;
  } catch {
    gpuRuntime = false;
  }
  // Podman hands out GPUs through CDI specs its compat API does not report: trust the host's declaration.
  if (kind === 'podman' && (spec.gpus ?? 0) > 0) gpuRuntime = true;
  return { spec, docker, kind, version: `${kind} ${version.Version}`, gpuRuntime };
}
