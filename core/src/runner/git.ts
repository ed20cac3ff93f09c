import { execFile } from 'node:child_process';

function git(args: string[], cwd: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('git', args, { cwd, timeout: 10_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout) => resolve(error ? undefined : stdout));
  });
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
  return git(['show', `${revision}:./${path}`], dir);
}

export async function gitResolve(dir: string, revision: string): Promise<string | undefined> {
  return (await git(['rev-parse', '--verify', `${revision}^{commit}`], dir))?.trim();
}
