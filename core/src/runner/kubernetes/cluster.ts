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
  const server = config.getCurrentCluster()?.server ?? '';
  let version = '';
  try {
    version = (await config.makeApiClient(kube().VersionApi).getCode()).gitVersion;
    // The version is public on many clusters: listing Jobs is what proves the credentials.
    await batch.listNamespacedJob({ namespace, limit: 1 });
  } catch (error) {
    throw clusterError(`host '${hostName}' (${server}, context '${context}')`, 'connecting', error, config);
  }
  return {
    config,
    core,
    batch,
    namespace,
    context,
    shown: `kubernetes ${version} (context ${context}, namespace ${namespace})`,
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

/** Control characters out (a hostile server's terminal escapes), length bounded. */
function printable(text: string, max = 400): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}

/** A client-node failure as a HostError: the step, the API's status and message, what to do; never a token. */
export function clusterError(where: string, step: string, error: unknown, config?: K8s.KubeConfig): HostError {
  if (error instanceof HostError) return error;
  const secrets = [config?.getCurrentUser()?.token, config?.getCurrentUser()?.password].filter(
    (value): value is string => Boolean(value),
  );
  const redact = (text: string) => secrets.reduce((out, secret) => out.split(secret).join('***'), text);
  if (error instanceof kube().ApiException) {
    const code = (error as K8s.ApiException<unknown>).code;
    const message = statusMessage((error as K8s.ApiException<unknown>).body);
    let advice = '';
    if (code === 401)
      advice = '; the cluster refused the credentials: check the kubeconfig user (token, certificate or login plugin)';
    else if (code === 403)
      advice = '; the credentials may not do this: ask for a Role that allows jobs, pods, pods/log, secrets and events';
    return new HostError(redact(`${where}: ${step}: HTTP ${code}${message ? `: ${printable(message)}` : ''}${advice}`));
  }
  const text = error instanceof Error ? `${(error as { code?: string }).code ?? ''} ${error.message}` : String(error);
  let advice = '';
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH/.test(text))
    advice = '; is the cluster up and the server address right?';
  else if (/certificate|self[- ]signed|CERT_|UNABLE_TO_VERIFY/i.test(text))
    advice = "; the server's certificate did not verify against the kubeconfig's CA";
  return new HostError(redact(`${where}: ${step}: ${printable(text.trim().split('\n')[0] ?? '')}${advice}`));
}

/** Whether an error is the API's 404 (already gone). */
export function notFound(error: unknown): boolean {
  return error instanceof kube().ApiException && (error as K8s.ApiException<unknown>).code === 404;
}
