import { relative } from 'node:path';
import { approve, reject } from '../approval/approve';
import { evaluateGate, GateError, type GateResult } from '../approval/gate';
import { approvedPackage, pushPackage } from '../approval/release';
import { PushError } from '../registry/types';
import { redactText, redactUri } from '../tracking/transfer';
// Models whose run keeps its artifacts in S3 are written with the remote cache's S3 client (ADR 0018).
import '../remote/mlflow-s3';
import { type CliIo } from './io';
import { UsageError } from '../errors';
import { findPipeline } from './pipeline-file';

/**
 * `mlpipe gate | approve | reject | push`: documented in docs/registry.md. A push that fails says
 * NOT PUSHED and how far it got, and exits 1; every target and error shown is redacted.
 */

async function guarded<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof GateError || error instanceof PushError) throw new UsageError(redactText(error.message), 1);
    throw error;
  }
}

export function formatGate(result: GateResult, cwd: string): string {
  const lines = [
    `gate for run ${result.candidate.run.id} (${relative(cwd, result.candidate.cardPath) || result.candidate.cardPath}, ${result.candidate.card.name} ${result.candidate.card.version}):`,
  ];
  for (const condition of result.conditions)
    lines.push(`  ${condition.ok ? 'pass' : 'FAIL'}  ${condition.name.padEnd(8)} ${condition.detail}`);
  lines.push(
    result.passed
      ? 'passed: mlpipe approve --run ' + result.candidate.run.id + ' --by NAME approves it'
      : `failed: ${result.conditions.filter((condition) => !condition.ok).length} condition(s) not met`,
  );
  return `${lines.join('\n')}\n`;
}

export async function gateCommand(
  options: { pipeline?: string; run?: string; allowDirty: boolean; drift: boolean; format: 'text' | 'json' },
  io: CliIo,
): Promise<number> {
  const result = await guarded(() =>
    evaluateGate(findPipeline(io.cwd, options.pipeline), {
      runId: options.run,
      allowDirty: options.allowDirty,
      drift: options.drift,
    }),
  );
  if (options.format === 'json') {
    io.stdout(
      `${JSON.stringify({ version: 1, run: result.candidate.run.id, card: result.candidate.card, artifact: { path: result.candidate.artifactPath, digest: result.candidate.artifactDigest ?? null }, passed: result.passed, conditions: result.conditions }, null, 2)}\n`,
    );
  } else {
    io.stdout(formatGate(result, io.cwd));
  }
  return result.passed ? 0 : 1;
}

export async function approveCommand(
  options: { pipeline?: string; run?: string; by?: string; note?: string; allowDirty: boolean; drift: boolean },
  io: CliIo,
): Promise<number> {
  const by = options.by;
  if (!by?.trim())
    throw new UsageError(
      'approve needs --by NAME: who approves (it goes into the model card, reviewed in the pull request)',
    );
  const pipeline = findPipeline(io.cwd, options.pipeline);
  const result = await guarded(() =>
    evaluateGate(pipeline, { runId: options.run, allowDirty: options.allowDirty, drift: options.drift }),
  );
  if (!result.passed) io.stderr(formatGate(result, io.cwd));
  await guarded(async () => approve(result, { by, note: options.note }));
  const candidate = result.candidate;
  io.stderr(
    `approved run ${candidate.run.id} (${candidate.artifactPath} ${candidate.artifactDigest}) in ${relative(io.cwd, candidate.cardPath) || candidate.cardPath}; commit the card for review, then mlpipe push\n`,
  );
  return 0;
}

export async function rejectCommand(
  options: { pipeline?: string; run?: string; by?: string; note?: string },
  io: CliIo,
): Promise<number> {
  const by = options.by;
  if (!by?.trim()) throw new UsageError('reject needs --by NAME');
  if (!options.note?.trim()) throw new UsageError('reject needs --note "why": the reason goes into the model card');
  const pipeline = findPipeline(io.cwd, options.pipeline);
  const { candidate } = await guarded(async () => reject(pipeline, options.run, { by, note: options.note }));
  io.stderr(`rejected run ${candidate.run.id} in ${relative(io.cwd, candidate.cardPath) || candidate.cardPath}\n`);
  return 0;
}

export async function pushCommand(
  options: { pipeline?: string; to?: string; dryRun: boolean; caFile?: string; format: 'text' | 'json' },
  io: CliIo,
  signal?: AbortSignal,
): Promise<number> {
  const pipeline = findPipeline(io.cwd, options.pipeline);
  const { pkg } = await guarded(() => approvedPackage(pipeline));
  const target = options.to ?? 'local';
  if (options.dryRun) {
    const lines = [
      `would push ${pkg.name}:${pkg.version} (run ${pkg.run}, approved by ${pkg.approval.by} at ${pkg.approval.at}) to ${redactUri(target)}:`,
    ];
    for (const file of pkg.files)
      lines.push(`  ${file.role.padEnd(7)} ${file.name}${file.digest ? `  ${file.digest}` : ''}`);
    io.stdout(`${lines.join('\n')}\n`);
    return 0;
  }
  let last = 0;
  const result = await guarded(() =>
    pushPackage(pipeline, pkg, {
      target,
      ...(options.caFile ? { caFile: options.caFile } : {}),
      signal,
      onProgress: (event) => {
        if ('message' in event) io.stderr(`${redactText(event.message)}\n`);
        else if (event.total > 64 * 1048576 && Date.now() - last > 2000) {
          last = Date.now();
          io.stderr(`  ${event.file}: ${Math.round((100 * event.bytes) / event.total)}%\n`);
        }
      },
    }),
  );
  if (options.format === 'json')
    io.stdout(`${JSON.stringify({ version: 1, ...result, target: redactUri(result.target) }, null, 2)}\n`);
  else
    io.stdout(
      `pushed ${pkg.name}:${result.tag} to ${redactUri(result.target)}: ${result.reference} (${result.uploadedBlobs} uploaded, ${result.skippedBlobs} already there)\n`,
    );
  return 0;
}
