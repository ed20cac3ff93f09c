import { type RegistryCredentials } from '../registry/oci-session';
import { type RemoteBackend, RemoteError, RemoteNotFound } from './backend';
import { FolderBackend } from './folder';
import { OciBackend } from './oci-remote';
import { S3Backend } from './s3';
import { type RemoteSpec } from './spec';

/** Opens the backend of a remote; the S3 SDK is loaded only when an S3 remote is used (scripts/build.mjs bundles ./s3 apart). */
export async function openBackend(
  spec: RemoteSpec,
  workspace: string,
  credentials: {
    registryCredentials?: (host: string) => RegistryCredentials | undefined;
    s3Credentials?: (remote: RemoteSpec) => { accessKeyId: string; secretAccessKey: string } | undefined;
  } = {},
): Promise<RemoteBackend> {
  if (spec.kind === 's3')
    return new S3Backend(spec, { RemoteError, RemoteNotFound }, credentials.s3Credentials?.(spec));
  if (spec.kind === 'oci') {
    const login = credentials.registryCredentials?.(spec.oci!.host);
    return new OciBackend(spec, login ? { credentials: login } : {});
  }
  return new FolderBackend(spec, workspace);
}
