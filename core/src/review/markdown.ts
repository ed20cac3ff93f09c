/**
 * `mlpipe review --format markdown`: the review report as a pull-request comment.
 *
 * Everything from the pipeline, the params, the store or the card is text here, never markup:
 * the punctuation that starts markup is backslash-escaped (CommonMark's escapes, so `<img ...>`
 * stays text, `|` cannot end a cell and `@team` does not mention anyone), `&` is `&amp;`, and
 * line breaks become spaces. The comment
 * fits GitHub's 65,536 characters: each table keeps at most a number of rows and says how many
 * more there are, and when the whole is still too long the graph goes first, then rows; a table
 * is never cut in the middle.
 */
import { formatDagMermaid } from '../runner/dag';
import { type MetricChange, type ReviewReport } from './review';

/** GitHub's limit for a comment body. */
export const COMMENT_LIMIT = 65_536;

/** The reasons a row of the stages table shows; the JSON has all of them. */
const MAX_DETAILS = 10;

/** Breaks what GitHub reads in the rendered text, invisibly (a backslash does not stop it). */
const BREAK = '\u200b';

/** A value as inline markdown text: escaped, one line, at most `max` characters. */
export function mdText(value: unknown, max = 200): string {
  let text = typeof value === 'string' ? value : (JSON.stringify(value) ?? 'unset');
  // Other control and bidi characters as U+FFFD: a terminal acts on them, bidi ones reorder the line.
  text = text
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '\ufffd');
  if (text.length > max) text = `${text.slice(0, max - 1)}…`;
  // The characters that start markup (emphasis, code, links, images, HTML, tables, strikethrough,
  // headings, math, entities); the rest of ASCII punctuation stays readable. `<` is an entity, not
  // `\<`: an autolink can swallow a backslash and free what it escaped. `>` is markup only where a
  // line starts, which a value never does here.
  // GitHub finds mentions, issue references and emoji in the rendered text, where a backslash is
  // gone (github/markup#1168, github/cmark-gfm#181), and autolinks URLs, www. and e-mail
  // addresses: a zero-width space breaks each (before an address's `@` too: some linkers take it
  // for a letter of the domain). `@` only where it could start a mention or an address
  // (evaluate@test cannot).
  return text
    .replace(/[\\`*_{}[\]<#!|~$]|&/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : `\\${c}`))
    .replace(/(^|[^A-Za-z0-9])@/g, `$1@${BREAK}`)
    .replace(/@(?=\S*\.)/g, `${BREAK}@${BREAK}`)
    .replace(/\\#(?=\d)/g, `\\#${BREAK}`)
    .replace(/\b(GH)-(?=\d)/gi, `$1${BREAK}-`)
    .replace(/:(?=\/\/|(?:[A-Za-z0-9+-]|\\_)+:)/g, `:${BREAK}`)
    .replace(/(www)\./gi, `$1${BREAK}.`);
}

function number(value: number): string {
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 1e-4 || abs >= 1e6) ? value.toExponential(4) : String(Number(value.toPrecision(6)));
}

function valueText(value: MetricChange['before']): string {
  if (value === undefined) return '–';
  return typeof value === 'number' ? mdText(number(value)) : mdText(value, 60);
}

function change(metric: MetricChange): string {
  if (metric.delta === undefined) {
    if (metric.before === undefined) return 'new';
    if (metric.after === undefined) return 'gone';
    return metric.before === metric.after ? '=' : 'changed';
  }
  if (metric.delta === 0) return '=';
  const before = metric.before as number;
  const relative =
    before !== 0 ? ` (${metric.delta > 0 ? '+' : ''}${(100 * (metric.delta / Math.abs(before))).toFixed(1)}%)` : '';
  return `${metric.delta > 0 ? '▲' : '▼'} ${metric.delta > 0 ? '+' : ''}${mdText(number(metric.delta))}${mdText(relative)}`;
}

interface Limits {
  rows: number;
  graph: boolean;
}

function table(header: string[], rows: string[][], limit: number, more: string): string[] {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of rows.slice(0, limit)) lines.push(`| ${row.join(' | ')} |`);
  if (rows.length > limit)
    lines.push('', `… and ${rows.length - limit} more ${more} (\`mlpipe review --format json\`).`);
  return lines;
}

function render(report: ReviewReport, limits: Limits): string {
  const out: string[] = [];
  const short = (commit: string | undefined) => (commit ? commit.slice(0, 10) : 'no commit');
  out.push(
    `### mlpipe review: ${mdText(report.pipeline)}`,
    '',
    `${mdText(report.revision)} (\`${short(report.commit)}\`) → working tree`,
    '',
  );
  const added = report.stages.filter((stage) => stage.change === 'added').length;
  const removed = report.stages.filter((stage) => stage.change === 'removed').length;
  const changed = report.stages.filter((stage) => stage.change === 'changed').length;
  const summary = [
    report.rerun.length === 0
      ? '**Nothing would rerun.**'
      : `**${report.rerun.length} stage${report.rerun.length === 1 ? '' : 's'} would rerun.**`,
  ];
  const counts = [
    added ? `${added} added` : '',
    removed ? `${removed} removed` : '',
    changed ? `${changed} changed` : '',
    report.params.length ? `${report.params.length} param${report.params.length === 1 ? '' : 's'} changed` : '',
  ].filter(Boolean);
  if (counts.length > 0) summary.push(`${counts.join(', ')}.`);
  if (report.approval?.after?.status !== report.approval?.before?.status && report.approval)
    summary.push(
      `Model card: ${mdText(report.approval.before?.status ?? 'no approval')} → ${mdText(report.approval.after?.status ?? 'no approval')}.`,
    );
  const failed = report.metrics.filter((metric) => metric.met === false);
  if (failed.length > 0)
    summary.push(`⚠️ ${failed.length} metric${failed.length === 1 ? '' : 's'} below the model card's threshold.`);
  const moved = report.metrics.filter((metric) => metric.thresholdBefore !== undefined).length;
  if (moved > 0) summary.push(`⚠️ The model card changes ${moved} threshold${moved === 1 ? '' : 's'}.`);
  out.push(summary.join(' '), '');

  if (report.stages.length > 0) {
    out.push('#### Stages', '');
    out.push(
      ...table(
        ['stage', 'change', 'why'],
        report.stages.map((stage) => [
          mdText(stage.name, 80),
          stage.change,
          // At most a few reasons a row: one stage that changes thousands of things must not empty every table.
          [
            ...stage.details.slice(0, MAX_DETAILS).map((detail) => mdText(detail, 300)),
            ...(stage.details.length > MAX_DETAILS ? [`… and ${stage.details.length - MAX_DETAILS} more`] : []),
          ].join('<br>'),
        ]),
        limits.rows,
        'stages',
      ),
      '',
    );
  }
  if (report.params.length > 0) {
    out.push('#### Params', '');
    out.push(
      ...table(
        ['param', 'base', 'head'],
        report.params.map((param) => [
          mdText(param.path, 120),
          mdText(param.before ?? 'unset', 80),
          mdText(param.after ?? 'unset', 80),
        ]),
        limits.rows,
        'params',
      ),
      '',
    );
  }
  out.push('#### Metrics', '');
  const runText = (run: ReviewReport['runs']['base']) =>
    run
      ? `run ${mdText(run.id)} (commit ${mdText(short(run.commit))}${run.dirty ? ', uncommitted changes' : ''})`
      : 'no run';
  out.push(`Base: ${runText(report.runs.base)}. Head: ${runText(report.runs.head)}.`, '');
  if (report.metrics.length > 0) {
    out.push(
      ...table(
        ['metric', 'base', 'head', 'change', 'threshold'],
        report.metrics.map((metric) => [
          mdText(metric.name, 120),
          valueText(metric.before),
          valueText(metric.after),
          change(metric),
          (metric.threshold === undefined
            ? metric.thresholdBefore !== undefined
              ? 'none'
              : ''
            : `${mdText(metric.threshold)} ${metric.met === true ? '✅' : metric.met === false ? '❌' : '?'}`) +
            (metric.thresholdBefore !== undefined ? ` (was ${mdText(metric.thresholdBefore)})` : ''),
        ]),
        limits.rows,
        'metrics',
      ),
      '',
    );
  }
  for (const note of report.runs.notes) out.push(`> ${mdText(note, 400)}`, '');
  if (report.approval) {
    const one = (side: NonNullable<ReviewReport['approval']>['before']) =>
      side
        ? `${mdText(side.status)}${side.by ? ` by ${mdText(side.by, 80)}` : ''}${side.run ? `, run ${mdText(side.run)}` : ''}${side.artifact_digest ? `, artifact ${mdText(side.artifact_digest.slice(0, 19))}…` : ''}`
        : 'no approval';
    out.push(
      '#### Model card',
      '',
      // Not the path first: a line that starts with a value could start a list, a quote or code.
      `Card ${report.approval.previousCard !== undefined ? `${mdText(report.approval.previousCard)} → ` : ''}${mdText(report.approval.card)}: ${one(report.approval.before)} → ${one(report.approval.after)}`,
      '',
    );
  }
  if (limits.graph && report.graph.nodes.length > 0) {
    out.push('#### What reruns', '', '```mermaid', formatDagMermaid(report.graph).trimEnd(), '```', '');
  }
  out.push('<sub>mlpipe review</sub>', '');
  return out.join('\n');
}

/** The report as markdown that fits a pull-request comment (see the module comment for how). */
export function formatReviewMarkdown(report: ReviewReport, limit = COMMENT_LIMIT): string {
  for (const limits of [
    { rows: 100, graph: report.graph.nodes.length <= 60 },
    { rows: 100, graph: false },
    { rows: 30, graph: false },
    { rows: 10, graph: false },
    { rows: 0, graph: false },
  ]) {
    const text = render(report, limits);
    if (text.length <= limit) return text;
  }
  return `### mlpipe review: ${mdText(report.pipeline)}\n\nThe report is too long for a comment: \`mlpipe review --format json\` has all of it.\n`;
}
