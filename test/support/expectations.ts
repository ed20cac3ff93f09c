import { readFileSync } from 'node:fs';

export interface Expectation {
  file: string;
  line: number;
  severity: string;
  code: string;
}

const EXPECT = /#\s*expect:\s*(.+)$/;

/**
 * Reads `# expect: error unknown-stage, warning missing-dep` comments. At the end of a line they
 * describe that line; on a line of their own, the next line that is not a comment.
 */
export function readExpectations(file: string, relative: string): Expectation[] {
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  const found: Expectation[] = [];
  let carried: string[] = [];
  lines.forEach((text, index) => {
    const match = EXPECT.exec(text);
    const commentOnly = /^\s*#/.test(text);
    if (match && commentOnly) {
      carried.push(...match[1].split(','));
      return;
    }
    if (commentOnly || text.trim() === '') return;
    const items = [...carried, ...(match ? match[1].split(',') : [])];
    carried = [];
    for (const item of items) {
      const [severity, code] = item.trim().split(/\s+/);
      found.push({ file: relative, line: index + 1, severity, code });
    }
  });
  return found;
}
