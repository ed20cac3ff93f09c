import { DockerExecutor } from './docker-executor';
import { KubernetesExecutor } from './kubernetes/executor';
import { localAddress, type HostSpec } from './engine';
import { type Executor } from './executor';
import { type DeclaredHost } from './plan';

/**
 * How to reach a host: as declared under `hosts:`, or `local` (this machine's engine) when it is
 * not declared or declared only to state its GPUs.
 */
export function hostSpecOf(name: string, declared: DeclaredHost | undefined): HostSpec {
  if (!declared) return { name: 'local', address: localAddress(), sharesFiles: true };
  return {
    ...declared,
    address: declared.address ?? (name === 'local' ? localAddress() : ''),
    sharesFiles: name === 'local' && !declared.kubernetes,
  };
}

/** Makes the executor of a host; `workspace` is the pipeline's folder. */
export type ExecutorFactory = (spec: HostSpec, workspace: string) => Promise<Executor>;

/** The executor that runs a host's stages; every host kind the pipeline can declare has one. */
export function openExecutor(spec: HostSpec, workspace: string): Promise<Executor> {
  if (spec.kubernetes) return KubernetesExecutor.connect(spec.name, spec.kubernetes, workspace);
  return DockerExecutor.connect(spec, workspace);
}
