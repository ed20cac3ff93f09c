import * as vscode from 'vscode';

/** Registry credentials live in VS Code's SecretStorage, one entry per registry host. */
const SECRET_PREFIX = 'mlpipe.registry.';

export interface RegistryCredentials {
  username: string;
  password: string;
}

/** The stored credentials of a registry host (as in oci://HOST/repo), if any. */
export async function registryCredentials(
  secrets: vscode.SecretStorage,
  host: string,
): Promise<RegistryCredentials | undefined> {
  const stored = await secrets.get(SECRET_PREFIX + host);
  if (!stored) return undefined;
  const value = JSON.parse(stored) as Partial<RegistryCredentials> | null;
  return typeof value?.username === 'string' && typeof value.password === 'string'
    ? { username: value.username, password: value.password }
    : undefined;
}

/**
 * "Set Registry Credentials...": asks for a host (unless given: an oci:// cache remote's), a user
 * name and a password or token.
 */
export async function setRegistryCredentials(secrets: vscode.SecretStorage, given?: string): Promise<void> {
  const host =
    given ??
    (await vscode.window.showInputBox({
      title: 'MLPipe: registry credentials',
      prompt: 'Registry host (and port), as in oci://HOST/repo',
      placeHolder: 'registry.example.com:5000',
      validateInput: (value) =>
        /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:\d+)?$/.test(value.trim())
          ? undefined
          : 'a host name, optionally with :port',
    }));
  if (!host) return;
  const username = await vscode.window.showInputBox({
    title: `MLPipe: credentials for ${host}`,
    prompt: 'User name (empty to remove the stored credentials)',
  });
  if (username === undefined) return;
  if (!username) {
    await secrets.delete(SECRET_PREFIX + host.trim());
    void vscode.window.showInformationMessage(`MLPipe: credentials for ${host} removed.`);
    return;
  }
  const password = await vscode.window.showInputBox({
    title: `MLPipe: credentials for ${host}`,
    prompt: `Password or token for ${username}`,
    password: true,
  });
  if (!password) return;
  await secrets.store(
    SECRET_PREFIX + host.trim(),
    JSON.stringify({ username, password } satisfies RegistryCredentials),
  );
  void vscode.window.showInformationMessage(`MLPipe: credentials for ${host} saved in VS Code's secret storage.`);
}
