import { closeSync, fstatSync, lstatSync, mkdirSync, openSync, readlinkSync, realpathSync, rmSync, constants, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/**
 * The workspace boundary: proof that a path mlpipe is about to read, write or delete lies inside
 * the workspace once symbolic links are resolved. Everything a repository, a stage's container or
 * a `.mlpipe/` file names goes through here before it is used (docs/architecture/0011).
 *
 * Reads may follow a link whose target stays inside; writes and deletes never pass through a link.
 * Files are opened first and then checked where they really are (`/proc/self/fd`), so a link
 * swapped in between the check and the use is still caught; a folder that is swapped between the
 * check of a write path and the write itself is the one window left (documented in the ADR).
 */
export class BoundaryError extends Error {
  constructor(
    /** The path as the user knows it (relative to the workspace where it is inside). */
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/** Whether `path` is `root` or below it (both absolute and normalised). */
export function within(root: string, path: string): boolean {
  if (path === root) return true;
  const prefix = root.endsWith(sep) ? root : root + sep;
  return path.startsWith(prefix);
}

const PROC_FD = process.platform === 'linux' ? '/proc/self/fd' : undefined;

/** Where an open file descriptor really is; undefined where the system cannot say. */
function fdPath(fd: number): string | undefined {
  if (!PROC_FD) return undefined;
  try {
    const target = readlinkSync(`${PROC_FD}/${fd}`);
    return target.endsWith(' (deleted)') ? undefined : target;
  } catch {
    return undefined;
  }
}

export class Boundary {
  /** The workspace as given (absolute, normalised). */
  readonly root: string;
  private realRoot: string | undefined;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** The workspace's own real path (its parents may be links: a home on another disk). */
  get real(): string {
    if (this.realRoot === undefined) {
      try {
        this.realRoot = realpathSync.native(this.root);
      } catch {
        return this.root;
      }
    }
    return this.realRoot;
  }

  /** A path as the user reads it: relative to the workspace when inside. */
  show(path: string): string {
    const rel = relative(this.root, resolve(this.root, path));
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : path;
  }

  /** Lexically inside the workspace (before links are looked at). */
  contains(path: string): boolean {
    return within(this.root, resolve(this.root, path));
  }

  private outside(path: string, what: string): BoundaryError {
    return new BoundaryError(this.show(path), `${this.show(path)} ${what}; mlpipe reads and writes only inside ${this.root}. Replace the link with the file itself.`);
  }

  /**
   * The real path of something to read, proven inside. A path named outside the workspace
   * (lexically: a path the user typed) is the caller's to allow or refuse; what a path inside the
   * workspace leads to through links must stay inside. Undefined when the path does not exist.
   */
  resolveRead(path: string): string | undefined {
    const absolute = resolve(this.root, path);
    let real: string;
    try {
      real = realpathSync.native(absolute);
    } catch {
      return undefined;
    }
    if (within(this.real, real) || !this.contains(absolute)) return real;
    throw this.outside(absolute, 'is a symbolic link (or lies under one) that leads outside the workspace');
  }

  /**
   * Opens a file to read it and proves that what was opened is inside (see `resolveRead`), even
   * when a link was swapped in after the check. `links: 'refuse'` also refuses a link at the path
   * itself or anywhere below the workspace. Returns the descriptor and its stats; the caller closes it.
   */
  openRead(path: string, links: 'follow-inside' | 'refuse' = 'follow-inside'): { fd: number; stat: Stats } {
    const absolute = resolve(this.root, path);
    // Where /proc tells what was opened, that proof covers every folder on the way; elsewhere look first.
    if (links === 'refuse' && !PROC_FD) this.assertNoLinks(absolute, true);
    else if (links === 'follow-inside') this.resolveRead(absolute);
    // O_NONBLOCK: a FIFO planted where a file was expected must not hang the open.
    let fd: number;
    try {
      fd = openSync(absolute, constants.O_RDONLY | constants.O_NONBLOCK | (links === 'refuse' ? constants.O_NOFOLLOW : 0));
    } catch (error) {
      // O_NOFOLLOW meeting a link answers ELOOP: say what it is.
      if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw this.outside(absolute, 'is a symbolic link');
      throw error;
    }
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile() && !stat.isDirectory()) throw new BoundaryError(this.show(absolute), `${this.show(absolute)} is not a regular file`);
      const really = fdPath(fd);
      if (really !== undefined) {
        const inside = within(this.real, really);
        if (!inside && this.contains(absolute)) throw this.outside(absolute, 'leads outside the workspace (a symbolic link)');
        if (links === 'refuse' && this.contains(absolute) && really !== join(this.real, relative(this.root, absolute))) throw this.outside(absolute, 'was reached through a symbolic link');
      }
      return { fd, stat };
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /**
   * Refuses a path when any folder between the workspace and it is a symbolic link (and, with
   * `self`, when the path itself is one): the test before anything is written or removed there.
   * Returns the path's own lstat, or undefined when it (or a folder above it) does not exist.
   */
  assertNoLinks(path: string, self = false): Stats | undefined {
    const absolute = resolve(this.root, path);
    if (!within(this.root, absolute)) throw new BoundaryError(path, `${path} is not inside the workspace ${this.root}; refusing to touch it`);
    const parts = relative(this.root, absolute).split(sep).filter(Boolean);
    let current = this.root;
    let stat: Stats | undefined;
    for (let i = 0; i < parts.length; i++) {
      current = join(current, parts[i]);
      const last = i === parts.length - 1;
      try {
        stat = lstatSync(current);
      } catch {
        return undefined; // nothing further exists yet: nothing to pass through
      }
      if (stat.isSymbolicLink() && (!last || self)) throw this.outside(current, last ? 'is a symbolic link' : 'is a symbolic link on the way to a path mlpipe writes');
      if (!last && !stat.isDirectory()) throw new BoundaryError(this.show(current), `${this.show(current)} is not a folder, but ${this.show(absolute)} needs it to be one`);
    }
    return stat;
  }

  /** `mkdir -p` inside the workspace that never passes through a link. */
  makeDirs(path: string): void {
    const absolute = resolve(this.root, path);
    this.assertNoLinks(absolute, true);
    mkdirSync(absolute, { recursive: true });
    // Made by us a moment ago; one more look catches a link raced in meanwhile.
    this.assertNoLinks(absolute, true);
  }

  /**
   * `rm -rf` of a path inside the workspace. Its folders on the way must be real folders; a link at
   * the path itself is removed as a link (its target is left alone), and links inside a removed
   * folder are unlinked, never followed.
   */
  remove(path: string): void {
    const absolute = resolve(this.root, path);
    if (absolute === this.root) throw new BoundaryError(path, `refusing to remove the workspace itself (${this.root})`);
    this.assertNoLinks(absolute);
    rmSync(absolute, { recursive: true, force: true });
  }

  /** The folder that will hold `path`, made safely; returns `path` made absolute. */
  prepareWrite(path: string): string {
    const absolute = resolve(this.root, path);
    this.makeDirs(dirname(absolute));
    this.assertNoLinks(absolute);
    return absolute;
  }
}
