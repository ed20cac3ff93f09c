import { URI } from 'vscode-uri';
import {
  CompletionItemKind,
  DiagnosticSeverity,
  DiagnosticTag,
  InsertTextFormat,
  SymbolKind,
  type CompletionItem,
  type Diagnostic as LspDiagnostic,
  type DocumentSymbol,
  type Range,
  type TextEdit,
  type WorkspaceEdit,
} from 'vscode-languageserver';
import { type CompletionEntry } from '../../core/src/language/completion';
import { type OutlineSymbol } from '../../core/src/language/outline';
import { type Diagnostic, type Fix } from '../../core/src/diagnostics/diagnostic';
import { LineIndex } from '../../core/src/text/line-index';

/** File paths for `file:` URIs; other schemes (untitled, virtual file systems) keep their URI as an opaque name. */
export function uriToPath(uri: string): string {
  const parsed = URI.parse(uri);
  return parsed.scheme === 'file' ? parsed.fsPath : `/__${parsed.scheme}__/${encodeURIComponent(uri)}`;
}

export function pathToUri(path: string): string {
  const virtual = /^\/__[a-z-]+__\/(.*)$/.exec(path);
  return virtual ? decodeURIComponent(virtual[1]) : URI.file(path).toString();
}

/** Offsets to positions for any file the analysis mentions; one LineIndex per text, reused until it changes. */
export class Positions {
  private readonly indexes = new Map<string, LineIndex>();

  constructor(private readonly textOf: (path: string) => string | undefined) {}

  index(path: string): LineIndex {
    const text = this.textOf(path) ?? '';
    let index = this.indexes.get(path);
    if (!index || index.text !== text) this.indexes.set(path, (index = new LineIndex(text)));
    return index;
  }

  range(path: string, start: number, end: number): Range {
    const index = this.index(path);
    return { start: index.position(start), end: index.position(end) };
  }
}

const SEVERITY: Record<Diagnostic['severity'], DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  information: DiagnosticSeverity.Information,
  hint: DiagnosticSeverity.Hint,
};

/** The quick fixes travel with the diagnostic (LSP 3.16 `data`), with edits already as LSP ranges. */
export interface FixData {
  /** `create`: URIs of files the fix creates before editing them. */
  fixes: { title: string; preferred: boolean; edits: Record<string, TextEdit[]>; create?: string[] }[];
}

export function toLspDiagnostic(
  path: string,
  diagnostic: Diagnostic,
  positions: Positions,
  range: (start: number, end: number) => Range,
): LspDiagnostic {
  const result: LspDiagnostic = {
    range: range(diagnostic.start, diagnostic.end),
    severity: SEVERITY[diagnostic.severity],
    code: diagnostic.code,
    codeDescription: { href: `https://github.com/mlpipe/mlpipe/blob/main/docs/diagnostics.md#${diagnostic.code}` },
    source: 'mlpipe',
    message: diagnostic.message,
  };
  if (diagnostic.tags)
    result.tags = diagnostic.tags.map((tag) =>
      tag === 'unnecessary' ? DiagnosticTag.Unnecessary : DiagnosticTag.Deprecated,
    );
  if (diagnostic.related) {
    result.relatedInformation = diagnostic.related.map((related) => {
      const target = related.path ?? path;
      return {
        location: {
          uri: pathToUri(target),
          range:
            target === path ? range(related.start, related.end) : positions.range(target, related.start, related.end),
        },
        message: related.message,
      };
    });
  }
  if (diagnostic.fixes && diagnostic.fixes.length > 0) {
    const data: FixData = { fixes: diagnostic.fixes.map((fix) => toFix(fix, path, positions, range)) };
    result.data = data;
  }
  return result;
}

function toFix(
  fix: Fix,
  path: string,
  positions: Positions,
  range: (start: number, end: number) => Range,
): FixData['fixes'][number] {
  const edits: Record<string, TextEdit[]> = {};
  const create: string[] = [];
  for (const edit of fix.edits) {
    const target = edit.path || path;
    const uri = pathToUri(target);
    if (edit.createFile && !create.includes(uri)) create.push(uri);
    (edits[uri] ??= []).push({
      range: target === path ? range(edit.start, edit.end) : positions.range(target, edit.start, edit.end),
      newText: edit.newText,
    });
  }
  return create.length > 0
    ? { title: fix.title, preferred: Boolean(fix.preferred), edits, create }
    : { title: fix.title, preferred: Boolean(fix.preferred), edits };
}

const COMPLETION_KIND: Record<CompletionEntry['kind'], CompletionItemKind> = {
  property: CompletionItemKind.Property,
  value: CompletionItemKind.Value,
  enum: CompletionItemKind.EnumMember,
  stage: CompletionItemKind.Function,
  param: CompletionItemKind.Variable,
  file: CompletionItemKind.File,
  folder: CompletionItemKind.Folder,
  host: CompletionItemKind.Module,
  snippet: CompletionItemKind.Snippet,
  metric: CompletionItemKind.Field,
  variable: CompletionItemKind.Variable,
};

/** A fix as an LSP edit: plain `changes`, or `documentChanges` when it creates a file first. */
export function toWorkspaceEdit(fix: FixData['fixes'][number]): WorkspaceEdit {
  if (!fix.create) return { changes: fix.edits };
  return {
    documentChanges: [
      ...fix.create.map((uri) => ({ kind: 'create' as const, uri, options: { ignoreIfExists: true } })),
      ...Object.entries(fix.edits).map(([uri, edits]) => ({ textDocument: { uri, version: null }, edits })),
    ],
  };
}

export function toCompletionItem(entry: CompletionEntry, range: Range): CompletionItem {
  const item: CompletionItem = {
    label: entry.label,
    kind: COMPLETION_KIND[entry.kind],
    textEdit: { range, newText: entry.insertText ?? entry.label },
    insertTextFormat: entry.snippet ? InsertTextFormat.Snippet : InsertTextFormat.PlainText,
  };
  if (entry.detail) item.detail = entry.detail;
  if (entry.documentation) item.documentation = { kind: 'markdown', value: entry.documentation };
  if (entry.sortText) item.sortText = entry.sortText;
  if (entry.filterText) item.filterText = entry.filterText;
  if (entry.retrigger) item.command = { title: 'Suggest', command: 'editor.action.triggerSuggest' };
  return item;
}

const SYMBOL_KIND: Record<OutlineSymbol['kind'], SymbolKind> = {
  namespace: SymbolKind.Namespace,
  function: SymbolKind.Function,
  property: SymbolKind.Property,
  object: SymbolKind.Object,
  array: SymbolKind.Array,
  string: SymbolKind.String,
  number: SymbolKind.Number,
  boolean: SymbolKind.Boolean,
  module: SymbolKind.Module,
  variable: SymbolKind.Variable,
};

export function toDocumentSymbol(symbol: OutlineSymbol, range: (start: number, end: number) => Range): DocumentSymbol {
  const result: DocumentSymbol = {
    name: symbol.name,
    kind: SYMBOL_KIND[symbol.kind],
    range: range(symbol.start, symbol.end),
    selectionRange: range(symbol.selectionStart, symbol.selectionEnd),
    children: symbol.children.map((child) => toDocumentSymbol(child, range)),
  };
  if (symbol.detail) result.detail = symbol.detail;
  return result;
}
