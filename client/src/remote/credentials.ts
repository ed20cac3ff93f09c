import * as vscode from 'vscode';
import { type RegistryCredentials } from '../../../core/src/registry/oci-session';
import { type RemoteConfig, type RemoteSpec } from '../../../core/src/remote/spec';
import { type RemoteCacheOptions } from '../../../core/src/remote/sync';
import { redactUri } from '../../../core/src/tracking/transfer';
import { registryCredentials, setRegistryCredentials } from '../registry/credentials';

/*
 * Credentials of team cache remotes from VS Code's SecretStorage, for an extension host that lacks
 * the AWS environment or ~/.docker/config.json: registry logins are the registry push's own (one
 * entry per host, client/src/registry/credentials.ts); S3 keys are kept per bucket and endpoint, so
 * a workspace that names its remote like another's never receives that one's keys.
 */

const S3_PREFIX = 'mlpipe.remote.s3.';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export type RemoteCredentialOptions = Pick<RemoteCacheOptions, 'registryCredentials' | 's3Credentials'>;

/** Where an S3 remote's keys are kept: its endpoint (AWS when none) and bucket, not its name. */
export function s3SecretName(spec: RemoteSpec): string {
  return `${S3_PREFIX}${spec.endpoint ?? 'aws'} ${spec.bucket ?? ''}`;
}

function where(spec: RemoteSpec): string {
  return spec.kind === 's3' ? `s3://${spec.bucket}${spec.endpoint ? ` (${spec.endpoint})` : ''}` : redactUri(spec.url);
}

async function s3Credentials(secrets: vscode.SecretStorage, spec: RemoteSpec): Promise<S3Credentials | undefined> {
  const stored = await secrets.get(s3SecretName(spec));
  if (!stored) return undefined;
  const value = JSON.parse(stored) as Partial<S3Credentials> | null;
  return typeof value?.accessKeyId === 'string' && typeof value.secretAccessKey === 'string'
    ? { accessKeyId: value.accessKeyId, secretAccessKey: value.secretAccessKey }
    : undefined;
}

/**
 * The stored credentials of a pipeline's remotes, read once (the core asks for them synchronously
 * when it opens a remote). A remote without any falls back to the core's own places.
 */
export async function remoteCredentials(
  secrets: vscode.SecretStorage,
  config: RemoteConfig,
  onProblem: (message: string) => void,
): Promise<RemoteCredentialOptions> {
  const registry = new Map<string, RegistryCredentials>();
  const s3 = new Map<string, S3Credentials>();
  for (const spec of config.remotes.values()) {
    try {
      if (spec.kind === 'oci' && spec.oci) {
        const found = await registryCredentials(secrets, spec.oci.host);
        if (found) registry.set(spec.oci.host, found);
      } else if (spec.kind === 's3') {
        const found = await s3Credentials(secrets, spec);
        if (found) s3.set(s3SecretName(spec), found);
      }
    } catch {
      onProblem(
        `the stored credentials of remote '${spec.name}' are unreadable; set them again (MLPipe: Set Remote Credentials...)`,
      );
    }
  }
  return {
    registryCredentials: (host) => registry.get(host),
    s3Credentials: (spec) => s3.get(s3SecretName(spec)),
  };
}

/** "Set Remote Credentials...": S3 keys, or a registry login, for one of a pipeline's remotes. */
export async function setRemoteCredentials(secrets: vscode.SecretStorage, config: RemoteConfig): Promise<void> {
  const specs = [...config.remotes.values()];
  const spec =
    specs.length === 1
      ? specs[0]
      : (
          await vscode.window.showQuickPick(
            specs.map((one) => ({ label: one.name, description: where(one), spec: one })),
            { title: 'MLPipe: credentials of which remote?' },
          )
        )?.spec;
  if (!spec) return;
  if (spec.kind === 'folder') {
    void vscode.window.showInformationMessage(
      `MLPipe: remote '${spec.name}' is a folder (${where(spec)}); it needs no credentials.`,
    );
    return;
  }
  if (spec.kind === 'oci') {
    await setRegistryCredentials(secrets, spec.oci!.host);
    return;
  }
  const title = `MLPipe: S3 keys for remote '${spec.name}' (${where(spec)})`;
  const accessKeyId = await vscode.window.showInputBox({
    title,
    prompt: 'Access key id (empty to remove the stored keys; the AWS environment and ~/.aws profiles are used then)',
    ignoreFocusOut: true,
    validateInput: (value) => (/\s/.test(value.trim()) ? 'an access key id has no spaces' : undefined),
  });
  if (accessKeyId === undefined) return;
  if (!accessKeyId.trim()) {
    await secrets.delete(s3SecretName(spec));
    void vscode.window.showInformationMessage(`MLPipe: S3 keys for ${where(spec)} removed.`);
    return;
  }
  const secretAccessKey = await vscode.window.showInputBox({
    title,
    prompt: `Secret access key of ${accessKeyId.trim()}`,
    password: true,
    ignoreFocusOut: true,
  });
  if (!secretAccessKey) return;
  await secrets.store(
    s3SecretName(spec),
    JSON.stringify({ accessKeyId: accessKeyId.trim(), secretAccessKey } satisfies S3Credentials),
  );
  void vscode.window.showInformationMessage(`MLPipe: S3 keys for ${where(spec)} saved in VS Code's secret storage.`);
}
