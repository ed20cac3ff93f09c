import { UserError } from '../errors';
/**
 * What is pushed to a registry and what a push reports; shared by the OCI client, the local OCI
 * layout, the MLflow Model Registry and the CLI / VS Code. See docs/registry.md.
 */

/** One file of a model package, streamed from disk when pushed (never read whole). */
export interface PackageFile {
  /** Its name inside the artifact (`model.npz`, `modelcard.yaml`, `metrics/eval-test.json`). */
  name: string;
  /** Absolute path of the bytes to push (for the model: the run's cached output, by digest). */
  file: string;
  role: 'model' | 'card' | 'metrics' | 'record';
  /** `sha256:...` of the bytes, when known in advance (the model's approved digest); checked while streaming. */
  digest?: string;
  size?: number;
}

/** An approved model version, ready to push. */
export interface ModelPackage {
  /** Model name from the card (`churn-classifier`). */
  name: string;
  /** Version from the card (`1.0.0`): the OCI tag, the MLflow version tag. */
  version: string;
  files: PackageFile[];
  /** The approved artifact's digest (the model file's sha256). */
  artifactDigest: string;
  /** The run that produced it, and the approval. */
  run: string;
  approval: { by: string; at: string; note?: string };
  /** Scalar metrics of the run at approval time. */
  metrics: Record<string, number | string | boolean | null>;
  /** Extra annotations (org.opencontainers.image.source, revision...). */
  annotations: Record<string, string>;
}

export interface PushResult {
  /** The target as given (`oci://host/repo:tag`, `local`, `mlflow://...`). */
  target: string;
  /** A reference deployment can pull: `host/repo@sha256:...`, `models:/name/3`. */
  reference: string;
  tag: string;
  /** The manifest's digest (OCI), or the model version (MLflow). */
  digest: string;
  uploadedBlobs: number;
  skippedBlobs: number;
  bytesUploaded: number;
}

export interface PushProgress {
  (event: { file: string; bytes: number; total: number } | { message: string }): void;
}

/** A user-facing push failure: which target, what happened, what to do; never a credential. */
export class PushError extends UserError {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}
