import { execFile } from 'node:child_process';

/**
 * Runs git read-only in a repository that may not be the user's own: no fsmonitor hook (a
 * repository's config could name a program to run), no pager, no prompts.
 */
export const SAFE_GIT = ['-c', 'core.fsmonitor=false', '-c', 'core.hooksPath=/dev/null', '--no-pager'];

function git(args: string[], cwd: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(
      'git',
      [...SAFE_GIT, ...args],
      { cwd, timeout: 10_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } },
      (error, stdout) => resolve(error ? undefined : stdout),
    );
  });
}

/** A revision as the user typed it may not start with '-': git would read it as an option (`--output=FILE`). */
function revisionArgument(revision: string): string | undefined {
  return revision.startsWith('-') || revision.includes('\0') ? undefined : revision;
}

/** The commit checked out in `dir` and whether the tree has changes, or undefined outside a repository. */
export async function gitState(dir: string): Promise<{ commit: string; dirty: boolean } | undefined> {
  const commit = (await git(['rev-parse', 'HEAD'], dir))?.trim();
  if (!commit) return undefined;
  const status = await git(['status', '--porcelain', '--untracked-files=no', '--', '.'], dir);
  return { commit, dirty: Boolean(status && status.trim()) };
}

/** A file's content at a revision, or undefined when it did not exist there. */
export function gitShow(dir: string, revision: string, path: string): Promise<string | undefined> {
  const checked = revisionArgument(revision);
  return checked === undefined
    ? Promise.resolve(undefined)
    : git(['show', '--end-of-options', `${checked}:./${path}`], dir);
}

export async function gitResolve(dir: string, revision: string): Promise<string | undefined> {
  const checked = revisionArgument(revision);
  return checked === undefined
    ? undefined
    : (await git(['rev-parse', '--verify', '--end-of-options', `${checked}^{commit}`], dir))?.trim();
}
