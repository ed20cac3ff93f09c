import * as vscode from 'vscode';
import { GateError } from '../../../core/src/approval/gate';
import { approvedPackage, pushPackage } from '../../../core/src/approval/release';
import { parseOciTarget } from '../../../core/src/registry/oci';
import { PushError } from '../../../core/src/registry/types';
import { trackingUri } from '../../../core/src/tracking/mlflow';
import { redactText, redactUri } from '../../../core/src/tracking/transfer';
// Models whose run keeps its artifacts in S3 are written with the remote cache's S3 client (ADR 0018).
import '../../../core/src/remote/mlflow-s3';
import { Cmd } from '../commands/ids';
import { type Ctx } from '../ctx';
import { messageOf } from '../errors';
import { choosePipeline } from '../pipelines/find';
import { registryCredentials } from './credentials';

/** "Push Approved Version...": the approved artifact, card and metrics to the local layout, an OCI registry or MLflow. */

const LAST_OCI_TARGET = 'mlpipe.lastOciTarget';

export async function pushModel(ctx: Ctx, given: vscode.Uri | undefined, onChange: () => void): Promise<void> {
  if (!ctx.trust.allows('push')) return;
  const pipeline = await choosePipeline(given);
  if (!pipeline) return;
  const { pkg } = await approvedPackage(pipeline.fsPath);
  const { workspaceState, secrets } = ctx.extension;
  const mlflow = trackingUri(ctx.settings().tracking.uri || undefined);
  const lastOci = workspaceState.get<string>(LAST_OCI_TARGET);
  const targets: (vscode.QuickPickItem & { target: string })[] = [
    { label: '$(folder) Local registry', description: '.mlpipe/registry (an OCI image layout)', target: 'local' },
    ...(lastOci ? [{ label: `$(package) ${lastOci}`, description: 'OCI registry, last used', target: lastOci }] : []),
    { label: '$(package) OCI registry...', description: 'oci://host[:port]/repository[:tag]', target: 'oci' },
    ...(mlflow ? [{ label: '$(beaker) MLflow Model Registry', description: redactUri(mlflow), target: 'mlflow' }] : []),
  ];
  const picked = await vscode.window.showQuickPick(targets, {
    title: `MLPipe: push ${pkg.name}:${pkg.version} (run ${pkg.run}, approved by ${pkg.approval.by}) to`,
  });
  if (!picked) return;
  let target = picked.target;
  if (target === 'oci') {
    const typed = await vscode.window.showInputBox({
      title: 'MLPipe: OCI registry',
      prompt: 'oci://host[:port]/repository[:tag] (oci+http:// for a local registry without TLS)',
      value: lastOci ?? 'oci://',
      validateInput: (value) => {
        try {
          parseOciTarget(value.trim());
          return undefined;
        } catch (error) {
          return messageOf(error);
        }
      },
    });
    if (!typed) return;
    target = typed.trim();
    await workspaceState.update(LAST_OCI_TARGET, target);
  }
  const credentials = target.startsWith('oci')
    ? await registryCredentials(secrets, parseOciTarget(target).host)
    : undefined;
  try {
    const result = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `MLPipe: pushing ${pkg.name}:${pkg.version}`,
        cancellable: true,
      },
      async (progress, token) => {
        const controller = new AbortController();
        const cancel = token.onCancellationRequested(() => controller.abort());
        let reported = 0;
        try {
          return await pushPackage(pipeline.fsPath, pkg, {
            target,
            ...(credentials ? { credentials } : {}),
            env: mlflow ? { ...process.env, MLFLOW_TRACKING_URI: mlflow } : process.env,
            signal: controller.signal,
            onProgress: (event) => {
              if ('message' in event) progress.report({ message: event.message });
              else if (event.total > 0) {
                const percent = Math.floor((100 * event.bytes) / event.total);
                if (percent !== reported) {
                  progress.report({ message: `${event.file} ${percent}%` });
                  reported = percent;
                }
              }
            },
          });
        } finally {
          cancel.dispose();
        }
      },
    );
    onChange();
    const choice = await vscode.window.showInformationMessage(
      `MLPipe: pushed ${pkg.name}:${result.tag} (${result.uploadedBlobs} uploaded, ${result.skippedBlobs} already there): ${result.reference}`,
      'Copy Reference',
    );
    if (choice) await vscode.env.clipboard.writeText(result.reference);
  } catch (error) {
    // Everything a registry or a tracking server says is shown redacted.
    const text = redactText(
      error instanceof PushError || error instanceof GateError ? error.message : messageOf(error),
    );
    ctx.log.error(`push: ${text}`);
    // A push cut short says NOT PUSHED and how far it got: offer to run it again (stored blobs are skipped, a registered version reused).
    const actions = [
      ...(target.startsWith('oci') && /401|credential|unauthori/i.test(text) ? ['Set Registry Credentials'] : []),
      ...(/NOT PUSHED/.test(text) ? ['Push Again'] : []),
    ];
    void vscode.window.showErrorMessage(`MLPipe: push failed: ${text}`, ...actions).then((choice) => {
      if (choice === 'Set Registry Credentials') void vscode.commands.executeCommand(Cmd.setRegistryCredentials);
      else if (choice === 'Push Again') void vscode.commands.executeCommand(Cmd.pushModel, pipeline);
    });
  }
}
