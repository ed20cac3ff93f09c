import {
  closeSync,
  existsSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  constants,
  type Stats,
} from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { UserError } from '../errors';

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
export class BoundaryError extends UserError {
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

/** A path below a folder held open by descriptor (see Boundary.openParent). */
export interface AnchoredPath {
  /** The folder, as `/proc/self/fd/N` (Linux) or its plain path elsewhere. */
  folder: string;
  name: string;
  /** `folder/name`. */
  path: string;
  close(): void;
}

export class Boundary {
  /** The workspace as given (absolute, normalised). */
  readonly root: string;
  private realRoot: string | undefined;

  constructor(
    root: string,
    private readonly options: { trash?: string } = {},
  ) {
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
    return new BoundaryError(
      this.show(path),
      `${this.show(path)} ${what}; mlpipe reads and writes only inside ${this.root}. Replace the link with the file itself.`,
    );
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
      fd = openSync(
        absolute,
        constants.O_RDONLY | constants.O_NONBLOCK | (links === 'refuse' ? constants.O_NOFOLLOW : 0),
      );
    } catch (error) {
      // O_NOFOLLOW meeting a link answers ELOOP: say what it is.
      if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw this.outside(absolute, 'is a symbolic link');
      throw error;
    }
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile() && !stat.isDirectory())
        throw new BoundaryError(this.show(absolute), `${this.show(absolute)} is not a regular file`);
      const really = fdPath(fd);
      if (really !== undefined) {
        const inside = within(this.real, really);
        if (!inside && this.contains(absolute))
          throw this.outside(absolute, 'leads outside the workspace (a symbolic link)');
        if (links === 'refuse' && this.contains(absolute) && really !== join(this.real, relative(this.root, absolute)))
          throw this.outside(absolute, 'was reached through a symbolic link');
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
    if (!within(this.root, absolute))
      throw new BoundaryError(path, `${path} is not inside the workspace ${this.root}; refusing to touch it`);
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
      if (stat.isSymbolicLink() && (!last || self))
        throw this.outside(
          current,
          last ? 'is a symbolic link' : 'is a symbolic link on the way to a path mlpipe writes',
        );
      if (!last && !stat.isDirectory())
        throw new BoundaryError(
          this.show(current),
          `${this.show(current)} is not a folder, but ${this.show(absolute)} needs it to be one`,
        );
    }
    return stat;
  }

  /**
   * Opens the folder that holds `path` by descriptor, each folder from the workspace down opened
   * with O_NOFOLLOW through the one above it (`/proc/self/fd/N/name`: openat on Linux), made when
   * `create`; returns a path prefix anchored on that descriptor, valid until `close()`. Whatever
   * a process swaps for a link meanwhile, an operation through the prefix stays in the folder that
   * was opened. Undefined when a folder on the way does not exist (and `create` is false).
   */
  openParent(path: string, create: boolean): AnchoredPath | undefined {
    const absolute = resolve(this.root, path);
    if (absolute === this.root || !within(this.root, absolute))
      throw new BoundaryError(path, `${path} is not inside the workspace ${this.root}; refusing to touch it`);
    const parts = relative(this.root, absolute).split(sep).filter(Boolean);
    const name = parts.pop()!;
    if (!PROC_FD) {
      // No openat here: check every folder, then act (the window is documented in ADR 0011).
      if (create) this.makeDirsChecked(dirname(absolute));
      this.assertNoLinks(absolute);
      if (!create && !existsSync(dirname(absolute))) return undefined;
      return { folder: dirname(absolute), name, path: absolute, close: () => undefined };
    }
    if (create) mkdirSync(this.root, { recursive: true });
    let fd = openSync(this.root, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      let shown = '';
      for (const part of parts) {
        shown = shown ? `${shown}/${part}` : part;
        const next = `${PROC_FD}/${fd}/${part}`;
        if (create) {
          try {
            mkdirSync(next);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
          }
        }
        let opened: number;
        try {
          opened = openSync(next, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          // O_NOFOLLOW with O_DIRECTORY answers a link with ELOOP or ENOTDIR, depending on the kernel.
          let link = code === 'ELOOP';
          if (code === 'ENOTDIR') {
            try {
              link = lstatSync(next).isSymbolicLink();
            } catch {
              link = false;
            }
          }
          if (link) throw this.outside(join(this.root, shown), 'is a symbolic link on the way to a path mlpipe writes');
          if (code === 'ENOTDIR')
            throw new BoundaryError(shown, `${shown} is not a folder, but ${this.show(absolute)} needs it to be one`);
          if (code === 'ENOENT' && !create) {
            closeSync(fd);
            return undefined;
          }
          throw error;
        }
        closeSync(fd);
        fd = opened;
      }
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    const folder = `${PROC_FD}/${fd}`;
    let open = true;
    return {
      folder,
      name,
      path: `${folder}/${name}`,
      close: () => {
        if (open) closeSync(fd);
        open = false;
      },
    };
  }

  /** Runs `act` on a path anchored in its opened folder (see openParent), closing it afterwards. */
  private anchored<T>(path: string, create: boolean, act: (anchored: AnchoredPath) => T): T | undefined {
    const anchored = this.openParent(path, create);
    if (!anchored) return undefined;
    try {
      return act(anchored);
    } finally {
      anchored.close();
    }
  }

  private makeDirsChecked(absolute: string): void {
    this.assertNoLinks(absolute, true);
    mkdirSync(absolute, { recursive: true });
    this.assertNoLinks(absolute, true);
  }

  /** `mkdir -p` inside the workspace that never passes through a link. */
  makeDirs(path: string): void {
    const absolute = resolve(this.root, path);
    // The workspace itself is trusted as given (a layout folder the user names may not exist yet).
    if (absolute === this.root) return void mkdirSync(this.root, { recursive: true });
    if (!PROC_FD) return this.makeDirsChecked(absolute);
    this.anchored(absolute, true, (anchored) => {
      try {
        mkdirSync(anchored.path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      // It must be a real folder, not a link that was already there.
      const stat = lstatSync(anchored.path);
      if (stat.isSymbolicLink()) throw this.outside(absolute, 'is a symbolic link');
      if (!stat.isDirectory()) throw new BoundaryError(this.show(absolute), `${this.show(absolute)} is not a folder`);
    });
  }

  /**
   * `rm -rf` of a path inside the workspace. Its folders on the way are opened by descriptor (see
   * openParent), so none can be swapped for a link; a link at the path itself is removed as a
   * link. With a trash folder (the workspace's `.mlpipe/trash`, which no stage can see), the path
   * is first moved there in one rename, so a process that swaps folders inside it while it is
   * being removed works on a tree nobody can reach by name anymore.
   */
  remove(path: string): void {
    const absolute = resolve(this.root, path);
    if (absolute === this.root) throw new BoundaryError(path, `refusing to remove the workspace itself (${this.root})`);
    const trash = this.options.trash;
    if (!PROC_FD || !trash || within(trash, absolute)) {
      this.anchored(absolute, false, (anchored) => rmSync(anchored.path, { recursive: true, force: true }));
      return;
    }
    this.anchored(absolute, false, (anchored) => {
      try {
        lstatSync(anchored.path);
      } catch {
        return; // nothing there
      }
      const entry = join(trash, `${Date.now().toString(36)}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
      const moved = this.anchored(entry, true, (bin) => {
        try {
          renameSync(anchored.path, bin.path);
          return true;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EXDEV') return false; // another file system: removed in place
          throw error;
        }
      });
      if (moved) this.anchored(entry, false, (bin) => rmSync(bin.path, { recursive: true, force: true }));
      else rmSync(anchored.path, { recursive: true, force: true });
    });
  }

  /**
   * Creates a file exclusively (never through a link, never over one) in a folder made safely:
   * `write` gets the path to create, anchored in its opened folder (see openParent).
   */
  createFile<T>(path: string, write: (anchoredPath: string) => T): T {
    return this.anchored(resolve(this.root, path), true, (anchored) => write(anchored.path)) as T;
  }

  /** The folder that will hold `path`, made safely; returns `path` made absolute. */
  prepareWrite(path: string): string {
    const absolute = resolve(this.root, path);
    this.makeDirs(dirname(absolute));
    this.assertNoLinks(absolute);
    return absolute;
  }
}
