import { detached } from '../util/strings';
import { type Span } from '../yaml/nodes';

/**
 * One `${...}` in a scalar. Offsets are kept relative to the scalar node and read through it, so
 * a cached stage stays right when an edit above it moves the node.
 */
export class Interpolation {
  constructor(
    private readonly node: Span,
    private readonly relStart: number,
    private readonly relEnd: number,
    private readonly relPathStart: number,
    /** The text between the braces, trimmed. */
    readonly expression: string,
    /** `params`, `matrix`, or another word before the first dot. */
    readonly namespace: string,
    /** The part after `namespace.` (`train.lr`). */
    readonly path: string,
  ) {}

  get start(): number {
    return this.node.start + this.relStart;
  }

  get end(): number {
    return this.node.start + this.relEnd;
  }

  /** Offset where `path` starts in the file. */
  get pathStart(): number {
    return this.node.start + this.relPathStart;
  }
}

const PATTERN = /\$\{([^{}\n]*)\}/g;

/**
 * Finds the `${...}` references in a scalar as written (its source text, so offsets are exact
 * even inside quoted or block scalars). `$${...}` is an escaped literal. `${NAME}` without a dot
 * is a shell variable and is left to the shell.
 */
export function findInterpolations(text: string, node: Span): Interpolation[] {
  const view = text.slice(node.start, node.end);
  if (!view.includes('${')) return [];
  // Interpolations live in cached stages: keep them from pinning this version of the document.
  const source = detached(view);
  const found: Interpolation[] = [];
  for (const match of source.matchAll(PATTERN)) {
    const at = match.index ?? 0;
    if (at > 0 && source.charCodeAt(at - 1) === 36 /* $ */) continue;
    const inner = match[1];
    const leading = inner.length - inner.trimStart().length;
    const expression = inner.trim();
    const dot = expression.indexOf('.');
    if (dot === -1 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(expression)) continue; // ${HOME}: the shell's
    const namespace = dot === -1 ? expression : expression.slice(0, dot);
    const path = dot === -1 ? '' : expression.slice(dot + 1);
    const exprStart = at + 2 + leading;
    found.push(
      new Interpolation(
        node,
        at,
        at + match[0].length,
        exprStart + (dot === -1 ? expression.length : dot + 1),
        expression,
        namespace,
        path,
      ),
    );
  }
  return found;
}

/** A value with every `${namespace.path}` replaced; `lookup` answers undefined for unknown references, which stay as written. */
export function substitute(value: string, lookup: (namespace: string, path: string) => string | undefined): string {
  if (!value.includes('${')) return value;
  return value.replace(PATTERN, (whole, inner: string, offset: number, all: string) => {
    if (offset > 0 && all.charCodeAt(offset - 1) === 36) return whole;
    const expression = inner.trim();
    const dot = expression.indexOf('.');
    if (dot === -1) return whole;
    return lookup(expression.slice(0, dot), expression.slice(dot + 1)) ?? whole;
  });
}
