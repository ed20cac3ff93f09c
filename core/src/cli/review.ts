/** `mlpipe review [BASE]`: the pull-request report (review/review.ts, review/markdown.ts). */
import { relative } from 'node:path';
import { UsageError } from '../errors';
import { RunError } from '../runner/runner';
import { pipelineReview } from '../review/review';
import { formatReviewMarkdown } from '../review/markdown';
import { terminalJson, terminalText } from './format';
import { type CliIo } from './io';
import { findPipeline } from './pipeline-file';

export interface ReviewCommandOptions {
  pipeline?: string;
  revision: string;
  format: 'markdown' | 'json';
  baseRun?: string;
  headRun?: string;
}

export async function reviewCommand(options: ReviewCommandOptions, io: CliIo): Promise<number> {
  const pipeline = findPipeline(io.cwd, options.pipeline);
  try {
    const report = await pipelineReview(pipeline, options.revision, {
      baseRun: options.baseRun,
      headRun: options.headRun,
    });
    if (options.format === 'json') io.stdout(`${terminalJson({ version: 1, ...report })}\n`);
    else io.stdout(formatReviewMarkdown({ ...report, pipeline: relative(io.cwd, pipeline) || report.pipeline }));
    return 0;
  } catch (error) {
    // The message may quote the pipeline (a path that is not inside): escaped for the terminal.
    if (error instanceof RunError) throw new UsageError(terminalText(error.message), 2);
    throw error;
  }
}
