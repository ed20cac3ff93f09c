/** A `kubernetes:` host as the pipeline declares it (schemas/pipeline.schema.json, definitions.kubernetes). */
export interface KubernetesHost {
  context?: string;
  kubeconfig?: string;
  namespace?: string;
  /** Kueue's LocalQueue: Jobs are created suspended, with the queue label. */
  queue?: string;
  serviceAccount?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  imagePullSecrets?: string[];
  priorityClass?: string;
  /** The `nvidia.com/gpu.product` node label GPU stages need. */
  gpuType?: string;
  imagePullPolicy?: 'IfNotPresent' | 'Always' | 'Never';
  helperImage?: string;
  /** The S3 endpoint as pods reach it, when it differs from this machine's. */
  remoteEndpoint?: string;
  runAsUser?: number;
}

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

/** The data helper's image (pod-helper/, built by scripts/pod-helper.ts); its tag is the helper's protocol version. */
export const DEFAULT_HELPER_IMAGE = 'localhost/mlpipe-pod:1';
