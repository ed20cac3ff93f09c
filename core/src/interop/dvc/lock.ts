import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { type Boundary } from '../../util/boundary';
import { type HashState, type ContentHash } from '../../runs/hash';
import { keyInputs, type PlannedStage } from '../../runner/plan';
import { type StageSeed } from '../../runner/seed';
import { isMapping, lookup, segments } from './template';
import { type InstanceMap } from './translate';

/** Files hashed for one folder of dvc.lock at most; a larger folder is not verified (its stage runs). */
const MAX_FOLDER_FILES = 100_000;

/** One path of a dvc.lock stage, as DVC recorded it. */
interface LockedPath {
  path: string;
  md5: string;
  /** DVC 3 writes `hash: md5`; DVC 2 entries have none and hashed text files with CRLF turned into LF. */
  legacy: boolean;
}

export interface LockedStage {
  cmd: string | string[];
  deps: LockedPath[];
  outs: LockedPath[];
  params: Record<string, Record<string, unknown>>;
}

/** dvc.lock (schema 2.0) by stage name; entries it cannot read are left out (those stages run). */
export function parseLock(data: unknown): Map<string, LockedStage> {
  const stages = new Map<string, LockedStage>();
  if (!isMapping(data) || !isMapping(data.stages)) return stages;
  const paths = (list: unknown): LockedPath[] | undefined => {
    if (list === undefined) return [];
    if (!Array.isArray(list)) return undefined;
    const result: LockedPath[] = [];
    for (const item of list) {
      if (!isMapping(item) || typeof item.path !== 'string' || typeof item.md5 !== 'string') return undefined;
      result.push({ path: item.path, md5: item.md5, legacy: item.hash !== 'md5' });
    }
    return result;
  };
  for (const [name, entry] of Object.entries(data.stages)) {
    if (!isMapping(entry)) continue;
    const deps = paths(entry.deps);
    const outs = paths(entry.outs);
    const cmd = entry.cmd;
    if (!deps || !outs || !(typeof cmd === 'string' || Array.isArray(cmd))) continue;
    const params: Record<string, Record<string, unknown>> = {};
    if (isMapping(entry.params))
      for (const [file, values] of Object.entries(entry.params)) if (isMapping(values)) params[file] = values;
    stages.set(name, { cmd: cmd as string | string[], deps, outs, params });
  }
  return stages;
}

/** DVC's text test (dvc_data istextblock): no NUL, at most 30% of bytes outside printable text. */
function isText(block: Buffer): boolean {
  if (block.length === 0) return true;
  if (block.includes(0)) return false;
  let nontext = 0;
  for (const byte of block) if (!(byte >= 32 && byte !== 127) && ![7, 8, 9, 10, 12, 13, 27].includes(byte)) nontext++;
  return nontext / block.length <= 0.3;
}

/** A file's md5 as DVC computes it; legacy (DVC 2) md5 turns CRLF into LF in text files first. */
async function md5File(boundary: Boundary, path: string, legacy: boolean): Promise<string> {
  const { fd } = boundary.openRead(path, 'follow-inside');
  const hash = createHash('md5');
  let first = true;
  let text = false;
  let pendingCR = false;
  await new Promise<void>((resolve, reject) => {
    createReadStream('', { fd, highWaterMark: 1024 * 1024, autoClose: true })
      .on('data', (data: string | Buffer) => {
        let chunk = data as Buffer;
        if (first) {
          text = legacy && isText(chunk.subarray(0, 8192));
          first = false;
        }
        if (!text) return void hash.update(chunk);
        if (pendingCR) chunk = Buffer.concat([Buffer.from([13]), chunk]);
        pendingCR = chunk.length > 0 && chunk[chunk.length - 1] === 13;
        if (pendingCR) chunk = chunk.subarray(0, chunk.length - 1);
        hash.update(Buffer.from(chunk.toString('latin1').replace(/\r\n/g, '\n'), 'latin1'));
      })
      .on('error', reject)
      .on('end', () => {
        if (pendingCR) hash.update(Buffer.from([13]));
        resolve();
      });
  });
  return hash.digest('hex');
}

/** A string as Python's json.dumps writes it (ASCII only), which DVC hashes for folders. */
function pythonJson(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (char === '"') out += '\\"';
    else if (char === '\\') out += '\\\\';
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (char === '\t') out += '\\t';
    else if (char === '\b') out += '\\b';
    else if (char === '\f') out += '\\f';
    else if (code < 0x20 || code > 0x7e)
      for (let i = 0; i < char.length; i++) out += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
    else out += char;
  }
  return `${out}"`;
}

/** Files below a folder (relative, `/`-separated), without following links; undefined past the limit. */
function folderFiles(root: string, folder: string): string[] | undefined {
  const files: string[] = [];
  const walk = (relative: string): boolean => {
    for (const name of readdirSync(join(root, folder, relative))) {
      const path = relative ? `${relative}/${name}` : name;
      const stat = lstatSync(join(root, folder, path));
      if (stat.isDirectory()) {
        if (!walk(path)) return false;
      } else files.push(path);
      if (files.length > MAX_FOLDER_FILES) return false;
    }
    return true;
  };
  return walk('') ? files : undefined;
}

/** The md5 DVC records for a path (`<md5>.dir` for a folder), or undefined when it is missing. */
export async function dvcMd5(
  boundary: Boundary,
  root: string,
  path: string,
  legacy: boolean,
): Promise<string | undefined> {
  let stat;
  try {
    stat = lstatSync(join(root, path));
  } catch {
    return undefined;
  }
  // A folder on the way that is a link would have a folder outside the project listed and hashed.
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++)
    if (!lstatSync(join(root, ...parts.slice(0, i))).isDirectory())
      throw new Error(`${parts.slice(0, i).join('/')} is not a folder of the project (a link?)`);
  if (!stat.isDirectory()) return md5File(boundary, join(root, path), legacy);
  const files = folderFiles(root, path);
  if (!files) return undefined;
  const entries: string[] = [];
  for (const file of files.sort())
    entries.push(
      `{"md5": "${await md5File(boundary, join(root, path, file), legacy)}", "relpath": ${pythonJson(file)}}`,
    );
  return `${createHash('md5')
    .update(`[${entries.join(', ')}]`)
    .digest('hex')}.dir`;
}

export interface SeedVerdict {
  stage: string;
  seed?: StageSeed;
  /** Why the stage is not seeded (it will run). */
  why?: string;
}

const inside = (path: string, folder: string) => path === folder || path.startsWith(`${folder}/`);

/**
 * Checks one stage instance against dvc.lock and the workspace: same command, same params values,
 * every dep and output on disk with the md5 DVC recorded. Only then a seed, with the stage's key
 * inputs and outputs as mlpipe hashes them. Never trusts the lock: any difference runs the stage.
 */
export async function verifyInstance(
  instance: InstanceMap,
  locked: LockedStage | undefined,
  planned: PlannedStage | undefined,
  context: {
    root: string;
    boundary: Boundary;
    state: HashState;
    params: (file: string) => unknown;
    wdir: string;
  },
): Promise<SeedVerdict> {
  const verdict = (why: string): SeedVerdict => ({ stage: instance.mlpipeName, why });
  if (!planned) return verdict('not in the plan');
  if (!locked) return verdict(`dvc.lock has no entry ${instance.dvcName}`);
  if (JSON.stringify(locked.cmd) !== JSON.stringify(instance.dvcCmd))
    return verdict('its command differs from the one dvc.lock recorded');
  const lockedParams = new Map(
    Object.entries(locked.params).map(([file, values]) => [
      posix.normalize(posix.join(context.wdir || '.', file)),
      values,
    ]),
  );
  // Every param the stage tracks must be in the lock (DVC reruns a stage whose lock lacks one).
  for (const [file, names] of Object.entries(instance.params)) {
    const values = lockedParams.get(posix.normalize(file));
    const missing = values ? names.find((name) => !Object.prototype.hasOwnProperty.call(values, name)) : names[0];
    if (!values || missing !== undefined)
      return verdict(`param ${missing ?? file} is not in dvc.lock's entry (dvc.yaml tracks it since)`);
  }
  for (const [file, values] of Object.entries(locked.params)) {
    const data = context.params(posix.normalize(posix.join(context.wdir || '.', file)));
    for (const [name, value] of Object.entries(values)) {
      const now = lookup(data, segments(name) ?? [name]);
      if (!now.found || JSON.stringify(now.value) !== JSON.stringify(value))
        return verdict(`param ${name} is not what dvc.lock recorded`);
    }
  }
  const lockPath = (path: string) => posix.normalize(posix.join(context.wdir || '.', path)).replace(/\/+$/, '');
  const depPaths = new Set(locked.deps.map((dep) => lockPath(dep.path)));
  if (depPaths.size !== planned.deps.length || !planned.deps.every((dep) => depPaths.has(dep)))
    return verdict('its deps differ from those dvc.lock recorded');
  const outPaths = locked.outs.map((out) => lockPath(out.path));
  const plannedOuts = planned.outputs.map((output) => output.path);
  if (
    !plannedOuts.every((path) => outPaths.some((out) => inside(path, out))) ||
    !outPaths.every((out) => plannedOuts.some((path) => inside(path, out)))
  )
    return verdict('its outputs differ from those dvc.lock recorded');
  for (const item of [...locked.deps, ...locked.outs]) {
    const path = lockPath(item.path);
    let md5: string | undefined;
    try {
      md5 = await dvcMd5(context.boundary, context.root, path, item.legacy);
    } catch (error) {
      return verdict(`${path} cannot be read (${(error as Error).message.split(';')[0]})`);
    }
    if (md5 === undefined) return verdict(`${path} is not in the workspace`);
    if (md5 !== item.md5) return verdict(`${path} is not the content dvc.lock recorded`);
  }
  const deps: Record<string, string> = {};
  const outputs: Record<string, ContentHash> = {};
  try {
    for (const dep of planned.deps) {
      const hashed = await context.state.hash(join(context.root, dep), 'follow-inside');
      if (!hashed) return verdict(`dep ${dep} is missing`);
      deps[dep] = hashed.hash;
    }
    for (const output of planned.outputs) {
      // As `mlpipe run` hashes outputs: a link there is refused (the stage runs, and says why).
      const hashed = await context.state.hash(join(context.root, output.path), 'refuse');
      if (!hashed) return verdict(`output ${output.path} is missing`);
      outputs[output.path] = hashed;
    }
  } catch (error) {
    return verdict((error as Error).message.split(';')[0]);
  }
  const { image: _image, ...inputs } = keyInputs(planned, deps, '');
  return { stage: instance.mlpipeName, seed: { version: 1, source: 'dvc.lock', stage: planned.name, inputs, outputs } };
}
