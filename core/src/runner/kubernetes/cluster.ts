import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { kube, type K8s } from './client-node';
import { readFileBounded } from '../../runs/files';
import { HostError } from '../executor';
import { type KubernetesHost } from './spec';

/*
 * Reaching a cluster as kubectl does: the kubeconfig the host names (or KUBECONFIG, ~/.kube/config,
 * or the pod's own service account), its context, the exec credential plugins and client
 * certificates it lists. TLS is always verified: a cluster entry that turns verification off is
 * refused, since mlpipe would send it the user's token.
 */

/** The most a kubeconfig may be: they are a few KB. */
const MAX_KUBECONFIG_BYTES = 4 * 1024 * 1024;

export interface Cluster {
  config: K8s.KubeConfig;
  core: K8s.CoreV1Api;
  batch: K8s.BatchV1Api;
  namespace: string;
  /** What the records say runs the stages: `kubernetes v1.34.2 (context NAME, namespace ml)`. */
  shown: string;
  context: string;
  networking: K8s.NetworkingV1Api;
  /** The credentials sent, kept out of every message. */
  secrets: string[];
}

function expand(path: string, base: string): string {
  return path.startsWith('~/') ? join(homedir(), path.slice(2)) : isAbsolute(path) ? path : resolve(base, path);
}

/** Loads the kubeconfig and context a host names; nothing is contacted yet. */
export function loadKubeConfig(
  hostName: string,
  host: KubernetesHost,
  workspace: string,
): { config: K8s.KubeConfig; context: string; namespace: string } {
  const config = new (kube().KubeConfig)();
  const where = `host '${hostName}'`;
  try {
    if (host.kubeconfig) {
      const path = expand(host.kubeconfig, workspace);
      let text: string;
      try {
        text = readFileBounded(path, MAX_KUBECONFIG_BYTES).toString('utf8');
      } catch (error) {
        throw new HostError(
          `${where}: cannot read the kubeconfig ${path}${error instanceof Error && !('code' in error) ? ` (${error.message})` : ''}; check hosts.${hostName}.kubernetes.kubeconfig`,
        );
      }
      config.loadFromString(text);
    } else {
      const fromEnvironment = process.env.KUBECONFIG || join(homedir(), '.kube', 'config');
      if (!process.env.KUBECONFIG && !existsSync(fromEnvironment) && !process.env.KUBERNETES_SERVICE_HOST)
        throw new HostError(
          `${where}: no kubeconfig: set hosts.${hostName}.kubernetes.kubeconfig, KUBECONFIG, or write ~/.kube/config (kubectl config)`,
        );
      config.loadFromDefault();
    }
  } catch (error) {
    if (error instanceof HostError) throw error;
    throw new HostError(
      `${where}: the kubeconfig is not valid: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
    );
  }
  if (host.context) {
    if (!config.getContextObject(host.context)) {
      const known = config.getContexts().map((context) => context.name);
      throw new HostError(
        `${where}: the kubeconfig has no context '${host.context}'${known.length > 0 ? `; it has ${known.map((name) => `'${name}'`).join(', ')}` : ''}`,
      );
    }
    config.setCurrentContext(host.context);
  }
  const context = config.getCurrentContext();
  const cluster = config.getCurrentCluster();
  if (!cluster)
    throw new HostError(
      `${where}: the kubeconfig's context '${context}' names no cluster; set hosts.${hostName}.kubernetes.context`,
    );
  if (cluster.skipTLSVerify)
    throw new HostError(
      `${where}: the kubeconfig's cluster '${cluster.name}' turns TLS verification off (insecure-skip-tls-verify); mlpipe sends credentials only to a server it verified: give the cluster's CA (certificate-authority-data)`,
    );
  const namespace = host.namespace ?? config.getContextObject(context)?.namespace ?? 'default';
  return { config, context, namespace };
}

/** Connects: loads the configuration and asks the API server its version (which proves the credentials too). */
export async function connectCluster(hostName: string, host: KubernetesHost, workspace: string): Promise<Cluster> {
  const { config, context, namespace } = loadKubeConfig(hostName, host, workspace);
  const core = config.makeApiClient(kube().CoreV1Api);
  const batch = config.makeApiClient(kube().BatchV1Api);
  const networking = config.makeApiClient(kube().NetworkingV1Api);
  const server = config.getCurrentCluster()?.server ?? '';
  const where = `host '${hostName}' (${server}, context '${context}')`;
  const secrets = await sentSecrets(config);
  let version = '';
  try {
    version = (await deadline(config.makeApiClient(kube().VersionApi).getCode(), 30_000, where)).gitVersion;
    // The version is public on many clusters: listing Jobs is what proves the credentials.
    await deadline(batch.listNamespacedJob({ namespace, limit: 1 }), 30_000, where);
  } catch (error) {
    throw clusterError(where, 'connecting', error, secrets);
  }
  return {
    config,
    core,
    batch,
    networking,
    namespace,
    context,
    secrets,
    shown: `kubernetes ${printable(version, 40)} (context ${context}, namespace ${namespace})`,
  };
}

/** The API's own message in an ApiException's body, if it has one. */
function statusMessage(body: unknown): string | undefined {
  let data = body;
  if (typeof body === 'string') {
    try {
      data = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const message = (data as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : undefined;
}

/** Control characters out (a hostile server's terminal escapes, fake lines), length bounded. */
export function printable(text: string, max = 400): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}

/** Text with the given secrets and any presigned URL's signature and credential replaced by `***`. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('***');
  return out.replace(/(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s"']+/gi, '$1***');
}

/** The credentials client-node sends (a static token, a password, or what an exec or OIDC plugin gave), to keep out of messages. */
async function sentSecrets(config: K8s.KubeConfig): Promise<string[]> {
  const user = config.getCurrentUser();
  const secrets = [user?.token, user?.password].filter((value): value is string => Boolean(value));
  try {
    const options = await config.applyToFetchOptions({});
    const headers = options.headers as Record<string, string> | undefined;
    const authorization = headers?.Authorization ?? headers?.authorization;
    if (authorization) secrets.push(authorization, authorization.replace(/^\S+\s+/, ''));
  } catch {
    // No credentials to find: nothing to redact from them.
  }
  return secrets;
}

/** A call that must answer within `ms`, or fail saying so (a silent API server must not hang a run). */
export function deadline<T>(call: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HostError(`${what}: the API server did not answer within ${Math.round(ms / 1000)} s`)),
      ms,
    );
    timer.unref();
  });
  return Promise.race([call, late]).finally(() => clearTimeout(timer));
}

/** A client-node failure as a HostError: the step, the API's status and message, what to do; never a token. */
export function clusterError(where: string, step: string, error: unknown, secrets: readonly string[] = []): HostError {
  if (error instanceof HostError) return new HostError(printable(redact(error.message, secrets), 1000));
  if (error instanceof kube().ApiException) {
    const code = (error as K8s.ApiException<unknown>).code;
    const message = statusMessage((error as K8s.ApiException<unknown>).body);
    let advice = '';
    if (code === 401)
      advice = '; the cluster refused the credentials: check the kubeconfig user (token, certificate or login plugin)';
    else if (code === 403)
      advice =
        '; the credentials may not do this: ask for a Role that allows jobs, pods, pods/log, secrets, events and networkpolicies';
    return new HostError(
      `${where}: ${step}: HTTP ${code}${message ? `: ${printable(redact(message, secrets))}` : ''}${advice}`,
    );
  }
  const text = error instanceof Error ? `${(error as { code?: string }).code ?? ''} ${error.message}` : String(error);
  let advice = '';
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH/.test(text))
    advice = '; is the cluster up and the server address right?';
  else if (/certificate|self[- ]signed|CERT_|UNABLE_TO_VERIFY/i.test(text))
    advice = "; the server's certificate did not verify against the kubeconfig's CA";
  return new HostError(`${where}: ${step}: ${printable(redact(text.trim().split('\n')[0] ?? '', secrets))}${advice}`);
}

/** Whether an error is the API's 404 (already gone). */
export function notFound(error: unknown): boolean {
  return error instanceof kube().ApiException && (error as K8s.ApiException<unknown>).code === 404;
}
