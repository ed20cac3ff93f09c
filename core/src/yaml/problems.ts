import { type Span } from './nodes';

/** What the YAML layer reports about a file: syntax, duplicates, aliases, depth. */
export type YamlProblemCode =
  | 'yaml-syntax'
  | 'yaml-warning'
  | 'duplicate-key'
  | 'unknown-anchor'
  | 'recursive-alias'
  | 'alias-expansion'
  | 'too-deep'
  | 'not-a-mapping';

export interface YamlProblem extends Span {
  code: YamlProblemCode;
  severity: 'error' | 'warning' | 'information';
  message: string;
  related?: (Span & { message: string })[];
}
