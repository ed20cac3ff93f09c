import * as vscode from 'vscode';

/**
 * What a workspace must be trusted for, and why, in the words of the warning. Checking,
 * completion and reading runs work anywhere; nothing here happens in an untrusted workspace.
 */
const NEEDS_TRUST = {
  run: 'MLPipe runs pipelines in containers only in a trusted workspace: a pipeline decides what runs on your machine. Checking and completion work without trust.',
  status:
    "MLPipe checks what is out of date only in a trusted workspace: it asks the pipeline's Docker hosts for image digests and keeps the plan in .mlpipe/. Checking and completion work without trust.",
  push: 'MLPipe pushes models only from a trusted workspace: a push sends files and your registry credentials to where the workspace says.',
  remote:
    "MLPipe pushes to and pulls from a pipeline's team cache remotes only in a trusted workspace: the workspace says where files and your remote credentials go.",
  write: "MLPipe changes a workspace's run store (.mlpipe/) only when the workspace is trusted.",
} as const;

export type TrustedAction = keyof typeof NEEDS_TRUST;

/** The one workspace-trust gate of the extension. */
export class TrustGate {
  /** Whether the workspace is trusted now (tracking and the drift rerun ask this quietly). */
  get trusted(): boolean {
    return vscode.workspace.isTrusted;
  }

  /** Whether `action` may go ahead; when not, says why and offers to manage trust. */
  allows(action: TrustedAction): boolean {
    if (this.trusted) return true;
    void vscode.window
      .showWarningMessage(NEEDS_TRUST[action], 'Manage Workspace Trust')
      .then((choice) => choice && vscode.commands.executeCommand('workbench.trust.manage'));
    return false;
  }
}
