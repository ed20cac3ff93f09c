import { type AttemptResult, type AttemptSpec, type Executor } from './executor';

export interface AttemptHooks {
  /** The run's cancel: the stage is killed and the attempt is `cancelled`. */
  signal: AbortSignal;
  onLine: (line: string, stream: 'stdout' | 'stderr') => void;
}

/**
 * One try of a stage on any executor: refuse what the host cannot give, set up, send inputs,
 * start, follow logs, wait, bring outputs back, and always remove what the attempt left. The
 * stage's `timeout` and the run's cancel kill it; which of the two did is the outcome.
 */
export async function runAttempt(executor: Executor, spec: AttemptSpec, hooks: AttemptHooks): Promise<AttemptResult> {
  const { signal } = hooks;
  const refused = executor.unsupported(spec.stage);
  if (refused) throw refused;
  const execution = await executor.create(spec);
  let timedOut = false;
  let cancelled = false;
  const onAbort = () => {
    cancelled = true;
    execution.kill();
  };
  signal.addEventListener('abort', onAbort);
  const timer = spec.stage.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        execution.kill();
      }, spec.stage.timeoutMs)
    : undefined;
  try {
    await execution.prepareInputs();
    if (signal.aborted) return { outcome: 'cancelled' };
    await execution.start();
    await execution.followLogs(hooks.onLine);
    const exitCode = await execution.wait();
    if (cancelled) return { outcome: 'cancelled' };
    if (timedOut) return { outcome: 'timeout' };
    if (exitCode !== 0) return { outcome: 'exited', exitCode };
    return { outcome: 'exited', exitCode: 0, ...(await execution.collectOutputs()) };
  } finally {
    if (timer) clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    await execution.remove();
  }
}
