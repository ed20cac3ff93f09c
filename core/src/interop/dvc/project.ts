import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { type Boundary } from '../../util/boundary';
import { readStateFile } from '../../runs/files';
import { redactUri } from '../../util/redact';
import { type ImportNote } from './translate';

/** dvc.yaml and dvc.lock larger than this are not read. */
export const MAX_DVC_FILE_BYTES = 1024 * 1024;
/** Params and vars files, as `mlpipe check` reads params (its default --max-file-size). */
export const MAX_PARAMS_BYTES = 4 * 1024 * 1024;
/** Entries looked at when searching the project for `.dvc` files and listing a folder output. */
const MAX_WALK_ENTRIES = 20_000;
const MAX_WALK_DEPTH = 16;
const SKIPPED = new Set(['.git', '.dvc', '.mlpipe', 'node_modules', '.venv', 'venv', '__pycache__']);

/** Reads a YAML (or JSON) file of the project: inside it, bounded, its data or why not. */
export function readProjectData(
  boundary: Boundary,
  path: string,
  maxBytes: number,
): { data?: unknown; error?: string; missing?: boolean } {
  let text: string | undefined;
  try {
    text = readStateFile(boundary, path, maxBytes, 'follow-inside');
  } catch (error) {
    return { error: (error as Error).message };
  }
  if (text === undefined) return { missing: true };
  try {
    return { data: parse(text, { maxAliasCount: 1_000, uniqueKeys: false }) as unknown };
  } catch (error) {
    return { error: `not valid YAML: ${(error as Error).message.split('\n')[0]}` };
  }
}

/** Files below a folder of the project (root-relative), links not followed; undefined when it is not a folder. */
export function listFolder(root: string, folder: string): string[] | undefined {
  const files: string[] = [];
  const walk = (relative: string, depth: number) => {
    if (depth > MAX_WALK_DEPTH || files.length > MAX_WALK_ENTRIES) return;
    for (const name of readdirSync(join(root, relative))) {
      const path = `${relative}/${name}`;
      if (lstatSync(join(root, path)).isDirectory()) walk(path, depth + 1);
      else files.push(path);
    }
  };
  try {
    // Every folder on the way must be a real one: a link would list a folder outside the project.
    let current = root;
    for (const part of folder.split('/')) {
      current = join(current, part);
      if (!lstatSync(current).isDirectory()) return undefined;
    }
    walk(folder, 0);
  } catch {
    return undefined;
  }
  return files;
}

/**
 * What of the DVC project an import cannot carry over beyond dvc.yaml: remotes in `.dvc/config`,
 * data tracked by `.dvc` files (`dvc add`, `dvc import`, `dvc import-url`), `.dvcignore`.
 */
export function projectNotes(boundary: Boundary, root: string): ImportNote[] {
  const notes: ImportNote[] = [];
  let config: string | undefined;
  try {
    config = readStateFile(boundary, join(root, '.dvc', 'config'), MAX_DVC_FILE_BYTES, 'follow-inside');
  } catch {
    config = undefined;
  }
  if (config !== undefined) {
    let remote: string | undefined;
    for (const line of config.split('\n')) {
      const section = /^\s*\[\s*'?remote\s+"([^"]+)"'?\s*\]/.exec(line);
      if (section) remote = section[1];
      else if (/^\s*\[/.test(line)) remote = undefined;
      const url = /^\s*url\s*=\s*(\S+)/.exec(line);
      if (remote && url)
        notes.push({
          where: '.dvc/config',
          message: `DVC remote '${remote}' (${redactUri(url[1]).slice(0, 200)}) is not carried over: mlpipe's remotes (S3, OCI, folder) lay out their cache differently, so DVC's data there cannot be read as mlpipe's; declare an mlpipe remote under \`remotes:\` for sharing, and run \`dvc pull\` for data the pipeline needs`,
        });
    }
  }
  let seen = 0;
  const walk = (relative: string, depth: number) => {
    if (depth > MAX_WALK_DEPTH || seen > MAX_WALK_ENTRIES) return;
    let names: string[];
    try {
      names = readdirSync(join(root, relative));
    } catch {
      return;
    }
    for (const name of names.sort()) {
      if (++seen > MAX_WALK_ENTRIES) return;
      const path = relative ? `${relative}/${name}` : name;
      let stat;
      try {
        stat = lstatSync(join(root, path));
      } catch {
        continue;
      }
      if (stat.isDirectory()) {
        if (!SKIPPED.has(name)) walk(path, depth + 1);
      } else if (name === '.dvcignore') {
        // `dvc init` writes one of comments only; a pattern in it changes what DVC hashes.
        let ignore = '';
        try {
          ignore = readStateFile(boundary, join(root, path), MAX_DVC_FILE_BYTES, 'follow-inside') ?? '';
        } catch {
          ignore = '';
        }
        if (ignore.split('\n').some((entry) => entry.trim() !== '' && !entry.trim().startsWith('#')))
          notes.push({
            where: path,
            message: '.dvcignore patterns are not carried over: mlpipe hashes every file of a folder dep or output',
          });
      } else if (name.endsWith('.dvc') && stat.isFile() && stat.size < MAX_DVC_FILE_BYTES) {
        const read = readProjectData(boundary, join(root, path), MAX_DVC_FILE_BYTES);
        const data = read.data as {
          deps?: { repo?: { url?: unknown }; path?: unknown }[];
          outs?: { path?: unknown }[];
        };
        const out = typeof data?.outs?.[0]?.path === 'string' ? data.outs[0].path : name.slice(0, -4);
        const target = relative ? `${relative}/${out}` : out;
        const source = data?.deps?.[0];
        const from =
          typeof source?.repo?.url === 'string'
            ? `imported (dvc import) from ${redactUri(source.repo.url).slice(0, 200)}${typeof source.path === 'string' ? ` ${source.path.slice(0, 200)}` : ''}`
            : typeof source?.path === 'string'
              ? `imported (dvc import-url) from ${redactUri(source.path).slice(0, 200)}`
              : 'tracked by dvc add';
        notes.push({
          where: path,
          message: `${target} is ${from}: mlpipe does not fetch DVC-tracked data; run \`dvc pull\`${from.startsWith('imported') ? ' (or `dvc update`)' : ''} before \`mlpipe run\`, or write a stage that fetches it`,
        });
      }
    }
  };
  walk('', 0);
  if (seen > MAX_WALK_ENTRIES)
    notes.push({
      message: `the project has more than ${MAX_WALK_ENTRIES} files; .dvc files past them were not looked at`,
    });
  return notes;
}
