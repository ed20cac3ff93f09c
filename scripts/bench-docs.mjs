#!/usr/bin/env node
// `npm run bench:docs`: writes the benchmark figures of docs/performance.json into
// docs/performance.md and README.md, between generated markers:
//
//   <!-- bench:NAME -->...<!-- /bench:NAME -->   in docs/performance.md: the bench's tables, targets,
//                                                 ratios against peers and where they were measured;
//                                                 in the README: its targets and ratios
//
// A bench missing from the JSON keeps what its markers hold; each section says the date and
// commit of the run it comes from. `--check` writes nothing and exits 1 when a file is not what
// the JSON generates (a hand-edited figure; test/unit/bench-docs.test.ts runs it). `--json`,
// `--md` and `--readme` point at other files (the test uses copies).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const cell = (value) => {
  if (value === null || value === undefined || value === '') return '';
  const text = typeof value === 'number' ? formatNumber(value) : String(value);
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
};

function formatNumber(value) {
  if (!Number.isFinite(value)) return String(value);
  const [whole, fraction] = String(value).split('.');
  const grouped = Math.abs(value) >= 10_000 ? whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',') : whole;
  return fraction === undefined ? grouped : `${grouped}.${fraction}`;
}

const passes = (target) =>
  target.value !== null &&
  Number.isFinite(target.value) &&
  (target.op === '<=' ? target.value <= target.target : target.value >= target.target);

const measured = (value, unit) => (value === null || value === undefined ? 'not measured' : `${cell(value)} ${unit}`);

function markdownTable(columns, rows) {
  const lines = [`| ${columns.map(cell).join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`];
  for (const row of rows) lines.push(`| ${row.map(cell).join(' | ')} |`);
  return lines.join('\n');
}

/** When, where and how a bench's figures were measured, in one line. */
function provenance(result) {
  const day = result.date.slice(0, 10);
  const time = result.date.slice(11, 16);
  const machine = result.machine;
  return (
    `Run of ${day} ${time} UTC, commit \`${result.commit}\`, ${machine.cpus} cores (${machine.model.trim()}), ` +
    `${machine.memoryGiB} GiB, Node ${machine.node.replace(/^v/, '')}: \`${result.command}\` (${result.size}), ` +
    `${cell(result.seconds)} s.`
  );
}

function targetRows(result) {
  return result.targets.map((target) => [
    target.name,
    measured(target.value, target.unit),
    `${target.op} ${cell(target.target)} ${target.unit}`,
    target.value === null ? 'not measured' : passes(target) ? 'met' : '**missed**',
    target.note ?? '',
  ]);
}

/** One bench's section of docs/performance.md. */
export function renderBench(result) {
  const parts = [provenance(result)];
  for (const table of result.tables) {
    parts.push(`**${table.title}**`);
    parts.push(markdownTable(table.columns, table.rows));
    if (table.notes?.length) parts.push(table.notes.join('\n\n'));
  }
  if (result.targets.length > 0) {
    parts.push(`**Targets** (${result.targetsPassed} of ${result.targetsTotal} met)`);
    parts.push(markdownTable(['target', 'measured', 'target', '', 'note'], targetRows(result)));
  }
  if (result.ratios.length > 0) {
    parts.push('**Against peers, same run**');
    parts.push(
      result.ratios
        .map(
          (ratio) =>
            `- ${ratio.name}: ${ratio.value === null ? 'n/a' : `${cell(ratio.value)}x`}${ratio.note ? ` (${ratio.note})` : ''}`,
        )
        .join('\n'),
    );
  }
  const peers = Object.entries(result.peers ?? {});
  if (peers.length > 0) parts.push(`Peers: ${peers.map(([name, version]) => `${name} ${version}`).join(', ')}.`);
  return parts.join('\n\n');
}

/** A bench's figures in the README: its targets and its ratios against peers. */
export function renderCompact(result) {
  const parts = [
    `\`npm run bench:${result.bench}\`, run of ${result.date.slice(0, 10)} (commit \`${result.commit}\`, ${result.size}; ${describeMachine(result.machine)}):`,
  ];
  if (result.targets.length > 0)
    parts.push(
      markdownTable(
        ['target', 'measured', 'target', ''],
        result.targets.map((target) => [
          target.name,
          measured(target.value, target.unit),
          `${target.op} ${cell(target.target)} ${target.unit}`,
          target.value === null ? 'not measured' : passes(target) ? 'met' : '**missed**',
        ]),
      ),
    );
  if (result.ratios.length > 0)
    parts.push(
      result.ratios
        .map(
          (ratio) =>
            `- ${ratio.name}: ${ratio.value === null ? 'n/a' : `${cell(ratio.value)}x`}${ratio.note ? ` (${ratio.note})` : ''}`,
        )
        .join('\n'),
    );
  return parts.join('\n\n');
}

function describeMachine(machine) {
  return `${machine.cpus} cores (${machine.model.trim()}), ${machine.memoryGiB} GiB, Node ${machine.node.replace(/^v/, '')}, ${machine.platform}`;
}

/** Replaces what is between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`; a text without them is an error. */
export function replaceSection(text, name, body, file) {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  if (start === -1 || end === -1 || end < start) throw new Error(`${file} has no ${open} ... ${close} section`);
  return `${text.slice(0, start + open.length)}\n${body}\n${text.slice(end)}`;
}

/** The bench names a text has sections for. */
export function sectionsOf(text) {
  return [...text.matchAll(/<!-- bench:([a-z0-9-]+) -->/g)].map((match) => match[1]);
}

/** What docs/performance.md and the README become for this JSON. */
export function renderDocs(json, markdown, readme) {
  const benches = json.benches ?? {};
  let md = markdown;
  let rd = readme;
  for (const name of Object.keys(benches)) {
    if (!sectionsOf(markdown).includes(name))
      throw new Error(`docs/performance.md has no <!-- bench:${name} --> section for the ${name} figures`);
    // The last run at the target sizes, when the last run was a quick one.
    const full = json.full?.[name] && json.full[name].date !== benches[name].date ? json.full[name] : undefined;
    const atTargetSizes = '**At the target sizes**, the last such run:';
    md = replaceSection(
      md,
      name,
      [renderBench(benches[name]), ...(full ? [atTargetSizes, renderBench(full)] : [])].join('\n\n'),
      'docs/performance.md',
    );
    if (sectionsOf(readme).includes(name))
      rd = replaceSection(
        rd,
        name,
        [renderCompact(benches[name]), ...(full ? [atTargetSizes, renderCompact(full)] : [])].join('\n\n'),
        'README.md',
      );
  }
  return { markdown: md, readme: rd };
}

function option(name, fallback) {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : resolve(process.argv[index + 1]);
}

function main() {
  const jsonPath = option('--json', join(root, 'docs', 'performance.json'));
  const mdPath = option('--md', join(root, 'docs', 'performance.md'));
  const readmePath = option('--readme', join(root, 'README.md'));
  const json = JSON.parse(readFileSync(jsonPath, 'utf8'));
  const markdown = readFileSync(mdPath, 'utf8');
  const readme = readFileSync(readmePath, 'utf8');
  const rendered = renderDocs(json, markdown, readme);
  if (process.argv.includes('--check')) {
    const stale = [
      ...(rendered.markdown === markdown ? [] : [mdPath]),
      ...(rendered.readme === readme ? [] : [readmePath]),
    ];
    if (stale.length > 0) {
      console.error(
        `${stale.join(' and ')} ${stale.length === 1 ? 'is' : 'are'} not what ${jsonPath} generates: a figure was edited by hand, or the JSON changed without npm run bench:docs.`,
      );
      process.exit(1);
    }
    console.log(`docs agree with ${jsonPath}`);
    return;
  }
  writeFileSync(mdPath, rendered.markdown);
  writeFileSync(readmePath, rendered.readme);
  console.log(`wrote the figures of ${jsonPath} into ${mdPath} and ${readmePath}`);
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) main();
