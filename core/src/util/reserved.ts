/**
 * Folders a stage may never write or have removed, at the top of the pipeline's folder, with who
 * keeps each: git's history and hooks, mlpipe's state, VS Code's workspace settings and tasks.
 */
export const RESERVED_TOP = ['.git', '.mlpipe', '.vscode'] as const;
export const RESERVED_KEEPER: Record<(typeof RESERVED_TOP)[number], string> = {
  '.git': 'git',
  '.mlpipe': 'mlpipe',
  '.vscode': 'VS Code',
};

/**
 * The reserved folder a workspace path is or lies in, compared as case-insensitive file systems
 * compare names (macOS, Windows: `.GIT` is `.git`, `.git.` and `.git ` too, and `GIT~1` is its 8.3
 * short name); undefined when it is free.
 */
export function reservedTop(path: string): (typeof RESERVED_TOP)[number] | undefined {
  const first = path
    .split('/')[0]
    .toLowerCase()
    .replace(/[. ]+$/, '');
  return RESERVED_TOP.find((reserved) => first === reserved || new RegExp(`^${reserved.slice(1)}~\\d+$`).test(first));
}
