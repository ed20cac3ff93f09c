/**
 * Builds the images the sample workspace and the tests use, offline: no registry is contacted.
 *
 * - localhost/mlpipe-python:3.11: Debian bookworm (minbase) with python3 and python3-numpy, made
 *   with debootstrap from Debian's package mirror and imported as a rootfs tarball.
 * - localhost/mlpipe-busybox:1: busybox-static from the host, for fast test stages.
 *
 * Root file systems are cached in ~/.cache/mlpipe/images (MLPIPE_CACHE_DIR moves it), so the
 * slow part happens once per machine.
 *
 *   npm run sample:image             # into the engine DOCKER_HOST (or the Docker context) names
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';

export const PYTHON_IMAGE = 'localhost/mlpipe-python:3.11';
export const BUSYBOX_IMAGE = 'localhost/mlpipe-busybox:1';
const BUSYBOX_APPLETS = [
  'sh',
  'ls',
  'cat',
  'echo',
  'sleep',
  'mkdir',
  'cp',
  'mv',
  'rm',
  'sha256sum',
  'true',
  'false',
  'env',
  'id',
  'wc',
  'head',
  'tail',
  'printf',
  'find',
  'test',
  '[',
  'seq',
  'date',
  'touch',
  'grep',
  'sed',
  'tr',
  'dd',
  'kill',
  'chmod',
];

function cache(): string {
  const dir = resolve(process.env.MLPIPE_CACHE_DIR ?? join(homedir(), '.cache', 'mlpipe'), 'images');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function run(command: string, args: string[], hint: string): void {
  const result = spawnSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (result.status !== 0)
    throw new Error(
      `\`${command} ${args.join(' ')}\` failed (${result.status ?? result.error?.message}):\n${(result.stderr ?? '').split('\n').slice(-15).join('\n')}\n${hint}`,
    );
}

/** A tarball of a root file system for the image, built once and cached. */
export function rootfsTarball(image: typeof PYTHON_IMAGE | typeof BUSYBOX_IMAGE): string {
  const name = image === PYTHON_IMAGE ? 'mlpipe-python-3.11-bookworm.tar' : 'mlpipe-busybox-1.tar';
  const tarball = join(cache(), name);
  if (existsSync(tarball)) return tarball;
  const work = mkdtempSync(join(tmpdir(), 'mlpipe-rootfs-'));
  const root = join(work, 'rootfs');
  try {
    if (image === BUSYBOX_IMAGE) {
      if (!existsSync('/bin/busybox'))
        throw new Error('busybox-static is needed for the test image: apt-get install -y busybox-static');
      mkdirSync(join(root, 'bin'), { recursive: true });
      for (const dir of ['tmp', 'workspace', 'etc']) mkdirSync(join(root, dir), { recursive: true });
      copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
      for (const applet of BUSYBOX_APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
    } else {
      console.error(`[sample-image] debootstrap of Debian bookworm with python3-numpy (once, about a minute)`);
      run(
        'debootstrap',
        [
          '--variant=minbase',
          '--include=python3-minimal,python3-numpy',
          'bookworm',
          root,
          'http://deb.debian.org/debian',
        ],
        'The Python image is built with debootstrap as root: apt-get install -y debootstrap, and run as root (or build it from a Dockerfile: FROM python:3.11-slim, RUN pip install numpy).',
      );
      for (const dir of [
        'usr/share/doc',
        'usr/share/man',
        'usr/share/locale',
        'usr/share/info',
        'var/cache/apt',
        'var/lib/apt/lists',
      ]) {
        const full = join(root, dir);
        if (existsSync(full))
          for (const entry of readdirSync(full)) rmSync(join(full, entry), { recursive: true, force: true });
      }
      mkdirSync(join(root, 'workspace'), { recursive: true });
    }
    run('tar', ['-C', root, '-cf', `${tarball}.tmp`, '.'], 'tar failed');
    renameSync(`${tarball}.tmp`, tarball);
    return tarball;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Loads the images into an engine unless they are there already; returns their ids. */
export async function ensureImages(
  docker: Docker,
  images: string[] = [PYTHON_IMAGE, BUSYBOX_IMAGE],
): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  for (const image of images) {
    const existing = await docker
      .getImage(image)
      .inspect()
      .catch(() => undefined);
    if (existing) {
      ids[image] = existing.Id;
      continue;
    }
    const [repo, tag] = [image.slice(0, image.lastIndexOf(':')), image.slice(image.lastIndexOf(':') + 1)];
    const tarball = rootfsTarball(image as typeof PYTHON_IMAGE);
    // dockerode's typings declare importImage's promise form as void; it resolves to the progress stream.
    const importImage = docker.importImage.bind(docker) as unknown as (
      file: NodeJS.ReadableStream,
      options: object,
    ) => Promise<NodeJS.ReadableStream>;
    const stream = await importImage(createReadStream(tarball), {
      repo,
      tag,
      changes: ['WORKDIR /workspace', 'ENV PYTHONDONTWRITEBYTECODE=1'],
    });
    await new Promise<void>((done, reject) =>
      docker.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : done())),
    );
    // Podman's compat import ignores the tag and names the image repo:latest; tag it as asked.
    const imported = await docker
      .getImage(image)
      .inspect()
      .catch(async () => {
        await docker.getImage(`${repo}:latest`).tag({ repo, tag });
        return docker.getImage(image).inspect();
      });
    ids[image] = imported.Id;
  }
  return ids;
}

async function main(): Promise<void> {
  const docker = process.env.DOCKER_HOST ? new Docker() : new Docker({ socketPath: '/var/run/docker.sock' });
  const ids = await ensureImages(docker);
  for (const [image, id] of Object.entries(ids)) console.log(`${image}  ${id}`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
