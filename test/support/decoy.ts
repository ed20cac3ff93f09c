import { createHash } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

/**
 * A tree of files outside the workspace that hostile input tries to reach: secrets to read, files
 * to overwrite, folders to delete. `fingerprint()` hashes every entry (type, mode, content, link
 * target), so a test asserts that nothing outside the workspace changed, byte for byte.
 */
export interface Decoy {
  dir: string;
  /** A file holding a secret that must never appear in mlpipe's output, cache or records. */
  secretFile: string;
  secret: string;
  /** A folder with files, to be deleted or written into. */
  folder: string;
  fingerprint(): string;
  cleanup(): void;
}

export function makeDecoy(): Decoy {
  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-decoy-'));
  const secret = `decoy-secret-${Math.random().toString(36).slice(2)}-do-not-print`;
  const secretFile = join(dir, 'id_rsa');
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { 'registry.example': { auth: secret } } }));
  writeFileSync(join(dir, '.env'), `TOKEN=${secret}\n`);
  const folder = join(dir, 'precious');
  mkdirSync(join(folder, 'nested'), { recursive: true });
  writeFileSync(join(folder, 'a.txt'), 'keep me\n');
  writeFileSync(join(folder, 'nested', 'b.txt'), 'keep me too\n');
  return {
    dir,
    secretFile,
    secret,
    folder,
    fingerprint: () => fingerprint(dir),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A hash of a tree: every path with its type, mode, content or link target, in sorted order. */
export function fingerprint(root: string): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const stat = lstatSync(path);
      hash.update(`${relative(root, path)}\0${stat.mode}\0`);
      if (stat.isSymbolicLink()) hash.update(`link:${readlinkSync(path)}\0`);
      else if (stat.isDirectory()) walk(path);
      else hash.update(readFileSync(path));
    }
  };
  walk(root);
  return hash.digest('hex');
}
