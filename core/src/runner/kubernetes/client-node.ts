import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };

export type { K8s };

let loaded: typeof K8s | undefined;

/**
 * @kubernetes/client-node, loaded on the first use of a cluster host: it is an ES module of about
 * 2 MB that no other command needs (scripts/build.mjs bundles it apart as dist/kubernetes-client.js).
 */
export function kube(): typeof K8s {
  loaded ??= require('@kubernetes/client-node') as typeof K8s;
  return loaded;
}
