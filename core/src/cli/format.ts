import { relative } from 'node:path';
import { type Diagnostic, type Severity } from '../diagnostics/diagnostic';
import { LineIndex } from '../text/line-index';

export type OutputFormat = 'text' | 'json' | 'sarif' | 'github';

/** A diagnostic placed in its file with 1-based lines and columns, as command-line tools print them. */
export interface Finding {
  path: string;
  /** Path relative to the working directory, with forward slashes. */
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  diagnostic: Diagnostic;
}

export function toFindings(path: string, text: string, diagnostics: Diagnostic[], cwd: string): Finding[] {
  const index = new LineIndex(text);
  const file = relative(cwd, path).split('\\').join('/') || path;
  return diagnostics.map((diagnostic) => {
    const start = index.position(diagnostic.start);
    const end = index.position(diagnostic.end);
    return {
      path,
      file,
      line: start.line + 1,
      column: start.character + 1,
      endLine: end.line + 1,
      endColumn: end.character + 1,
      diagnostic,
    };
  });
}

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, information: 2, hint: 3 };

export function sortFindings(findings: Finding[]): Finding[] {
  return [...findings].sort((a, b) =>
    a.file < b.file
      ? -1
      : a.file > b.file
        ? 1
        : a.line - b.line ||
          a.column - b.column ||
          SEVERITY_ORDER[a.diagnostic.severity] - SEVERITY_ORDER[b.diagnostic.severity],
  );
}

export function formatText(findings: Finding[]): string {
  return findings
    .map(
      (f) =>
        `${f.file}:${f.line}:${f.column}: ${f.diagnostic.severity}: ${f.diagnostic.message} [${f.diagnostic.code}]\n`,
    )
    .join('');
}

export function formatJson(findings: Finding[], files: { path: string; kind: string }[], cwd: string): string {
  const summary = countBySeverity(findings);
  return `${JSON.stringify(
    {
      version: 1,
      files: files.map((file) => ({ file: relative(cwd, file.path).split('\\').join('/'), kind: file.kind })),
      diagnostics: findings.map((f) => ({
        file: f.file,
        line: f.line,
        column: f.column,
        endLine: f.endLine,
        endColumn: f.endColumn,
        severity: f.diagnostic.severity,
        code: f.diagnostic.code,
        message: f.diagnostic.message,
        fixes: f.diagnostic.fixes?.map((fix) => fix.title),
      })),
      summary,
    },
    null,
    2,
  )}\n`;
}

export function formatSarif(findings: Finding[], version: string): string {
  const level: Record<Severity, string> = { error: 'error', warning: 'warning', information: 'note', hint: 'note' };
  const rules = [...new Set(findings.map((f) => f.diagnostic.code))].sort().map((id) => ({
    id,
    name: id.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase()),
    helpUri: `https://github.com/mlpipe/mlpipe/blob/main/docs/diagnostics.md#${id}`,
  }));
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'mlpipe',
            semanticVersion: version,
            informationUri: 'https://github.com/mlpipe/mlpipe',
            rules,
          },
        },
        columnKind: 'utf16CodeUnits',
        originalUriBaseIds: { '%SRCROOT%': { uri: 'file:///' } },
        results: findings.map((f) => ({
          ruleId: f.diagnostic.code,
          ruleIndex: rules.findIndex((rule) => rule.id === f.diagnostic.code),
          level: level[f.diagnostic.severity],
          message: { text: f.diagnostic.message },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: f.file.split('/').map(encodeURIComponent).join('/'), uriBaseId: '%SRCROOT%' },
                region: { startLine: f.line, startColumn: f.column, endLine: f.endLine, endColumn: f.endColumn },
              },
            },
          ],
        })),
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}

/** GitHub Actions workflow commands: one annotation per finding. */
export function formatGithub(findings: Finding[]): string {
  const command: Record<Severity, string> = {
    error: 'error',
    warning: 'warning',
    information: 'notice',
    hint: 'notice',
  };
  const data = (text: string) => text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const property = (text: string) => data(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
  return findings
    .map((f) => {
      const props = [
        `file=${property(f.file)}`,
        `line=${f.line}`,
        `col=${f.column}`,
        `endLine=${f.endLine}`,
        `endColumn=${f.endColumn}`,
        `title=${property(`mlpipe ${f.diagnostic.code}`)}`,
      ];
      return `::${command[f.diagnostic.severity]} ${props.join(',')}::${data(f.diagnostic.message)}\n`;
    })
    .join('');
}

export function countBySeverity(findings: Finding[]): { errors: number; warnings: number; information: number } {
  let errors = 0;
  let warnings = 0;
  let information = 0;
  for (const f of findings) {
    if (f.diagnostic.severity === 'error') errors++;
    else if (f.diagnostic.severity === 'warning') warnings++;
    else information++;
  }
  return { errors, warnings, information };
}

/**
 * C0 and C1 controls (ESC starts every ANSI sequence), DEL, and the Unicode format characters that
 * reorder or hide text on a terminal (bidirectional overrides and isolates, zero-width characters,
 * line and paragraph separators).
 */
const TERMINAL_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
const NAMED_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Longest table cell `mlpipe runs list` and `compare` print; `--format json` has the whole value. */
export const MAX_CELL = 60;
/** Longest single value `mlpipe runs show` prints. */
export const MAX_VALUE = 1000;

/**
 * Text from run records, the index or files, made safe to print on a terminal: every control and
 * format character is shown escaped (`\x1b`, `\n`, `\u202e`), so a value can neither send escape
 * sequences, nor start a line of its own, nor reorder what follows; longer than `max` characters,
 * it is cut with an ellipsis.
 */
export function terminalText(text: string, max = Infinity): string {
  TERMINAL_UNSAFE.lastIndex = 0;
  const safe = TERMINAL_UNSAFE.test(text)
    ? text.replace(TERMINAL_UNSAFE, (char) => {
        const code = char.charCodeAt(0);
        return (
          NAMED_ESCAPES[char] ??
          (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`)
        );
      })
    : text;
  if (safe.length <= max) return safe;
  let cut = Math.max(0, max - 1);
  // Never split a surrogate pair.
  if (cut > 0 && /[\ud800-\udbff]/.test(safe[cut - 1])) cut--;
  return `${safe.slice(0, cut)}…`;
}

/** What JSON.stringify leaves raw but a terminal may act on: DEL, C1 controls, format characters. */
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/**
 * `JSON.stringify(value, null, 2)` with the characters it leaves raw that a terminal may act on
 * written as `\u` escapes: the same JSON to a parser, harmless when the output is read on a terminal.
 * (They can only occur inside strings, where an escape is always valid.)
 */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    JSON_UNSAFE,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
