/**
 * Builds mlpipe-pod (pod-helper/main.go: the helper that fetches a stage's inputs into a
 * Kubernetes pod and uploads its outputs, through presigned S3 URLs) and an image holding only
 * it, offline: a static Go binary (stdlib only, no module download) and a one-layer image archive
 * that both `ctr -n k8s.io images import FILE` and `docker load -i FILE` accept.
 *
 * Both are cached in ~/.cache/mlpipe/pod-helper-<hash>/ (MLPIPE_CACHE_DIR moves it), where the
 * hash covers main.go, go.mod and the target architecture: an edit of the helper builds anew.
 *
 *   node --import tsx scripts/pod-helper.ts     # prints the image archive's path
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { acquireFileLock } from '../core/src/runs/file-lock';

/** The helper's protocol version: what `mlpipe-pod version` prints (`version` in main.go). */
export const POD_HELPER_VERSION = '1';

/** The helper image; its tag is the protocol version. */
export const POD_HELPER_IMAGE = `localhost/mlpipe-pod:${POD_HELPER_VERSION}` as const;

const SOURCE = resolve(__dirname, '..', 'pod-helper');

/** Go's name for this machine's architecture (the image is for the nodes of a local cluster). */
function goArch(): string {
  const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch];
  if (!arch) throw new Error(`mlpipe-pod is built for amd64 or arm64 nodes; this machine is ${process.arch}`);
  return arch;
}

/** `go` on the PATH, else the official tarball's place. */
function goCommand(): string {
  if (!spawnSync('go', ['version'], { stdio: 'ignore' }).error) return 'go';
  if (existsSync('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new Error('Go is needed to build mlpipe-pod (Go 1.22 or later; no module is downloaded): https://go.dev/dl');
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A ustar header: numeric owner 0:0, time 0, so that the archive is the same on every build. */
function tarHeader(name: string, size: number, mode: number, type: '0' | '5'): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name too long: ${name}`);
  const header = Buffer.alloc(512);
  const text = (offset: number, length: number, value: string) => header.write(value, offset, length, 'latin1');
  const octal = (offset: number, length: number, value: number) =>
    text(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
  text(0, 100, name);
  octal(100, 8, mode);
  octal(108, 8, 0); // uid
  octal(116, 8, 0); // gid
  octal(124, 12, size);
  octal(136, 12, 0); // mtime
  header.fill(0x20, 148, 156); // the checksum counts its own field as spaces
  text(156, 1, type);
  text(257, 6, 'ustar\0');
  text(263, 2, '00');
  let sum = 0;
  for (const byte of header) sum += byte;
  text(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return header;
}

interface TarEntry {
  name: string;
  /** A folder when absent. */
  data?: Buffer;
  mode: number;
}

function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const size = entry.data?.length ?? 0;
    parts.push(tarHeader(entry.name, size, entry.mode, entry.data ? '0' : '5'));
    if (entry.data) parts.push(entry.data, Buffer.alloc((512 - (size % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/**
 * An OCI image layout in a tar, with Docker's manifest.json beside it (as `docker save` writes
 * since Docker 25): one uncompressed layer holding /mlpipe-pod (0555, root's).
 */
export function imageArchive(binary: Buffer, arch: string): Buffer {
  const layer = tar([{ name: 'mlpipe-pod', data: binary, mode: 0o555 }]);
  const layerDigest = sha256(layer);
  const created = '1970-01-01T00:00:00Z';
  const config = Buffer.from(
    JSON.stringify({
      architecture: arch,
      ...(arch === 'arm64' ? { variant: 'v8' } : {}),
      os: 'linux',
      created,
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        Cmd: ['/mlpipe-pod', 'version'],
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
      history: [{ created, created_by: 'scripts/pod-helper.ts' }],
    }),
  );
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: `sha256:${configDigest}`,
        size: config.length,
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerDigest}`, size: layer.length },
      ],
    }),
  );
  const manifestDigest = sha256(manifest);
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: `sha256:${manifestDigest}`,
        size: manifest.length,
        platform: { architecture: arch, os: 'linux' },
        // containerd (ctr import, and Docker with the containerd image store) names the image by
        // the first; the OCI ref name is the tag, as `docker save` writes it.
        annotations: {
          'io.containerd.image.name': POD_HELPER_IMAGE,
          'org.opencontainers.image.ref.name': POD_HELPER_VERSION,
        },
      },
    ],
  };
  const dockerManifest = [
    {
      Config: `blobs/sha256/${configDigest}`,
      RepoTags: [POD_HELPER_IMAGE],
      Layers: [`blobs/sha256/${layerDigest}`],
    },
  ];
  return tar([
    { name: 'oci-layout', data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })), mode: 0o644 },
    { name: 'index.json', data: Buffer.from(JSON.stringify(index)), mode: 0o644 },
    { name: 'manifest.json', data: Buffer.from(JSON.stringify(dockerManifest)), mode: 0o644 },
    { name: 'blobs/', mode: 0o755 },
    { name: 'blobs/sha256/', mode: 0o755 },
    { name: `blobs/sha256/${layerDigest}`, data: layer, mode: 0o644 },
    { name: `blobs/sha256/${configDigest}`, data: config, mode: 0o644 },
    { name: `blobs/sha256/${manifestDigest}`, data: manifest, mode: 0o644 },
  ]);
}

export interface PodHelper {
  /** The static linux binary. */
  binary: string;
  /** The image archive, for `ctr -n k8s.io images import` or `docker load -i`. */
  archive: string;
  /** The image's name in the archive: POD_HELPER_IMAGE. */
  image: string;
}

/**
 * Builds the helper and its image archive unless cached (a few seconds with a warm Go build
 * cache); under a lock, so that parallel test processes build once, and renamed into place
 * when complete.
 */
export function ensurePodHelper(): PodHelper {
  const arch = goArch();
  const main = readFileSync(join(SOURCE, 'main.go'));
  const goMod = readFileSync(join(SOURCE, 'go.mod'));
  const declared = /^const version = "([^"]*)"$/m.exec(main.toString('utf8'))?.[1];
  if (declared !== POD_HELPER_VERSION)
    throw new Error(
      `pod-helper/main.go's version is ${declared ?? '(not found)'}, scripts/pod-helper.ts's POD_HELPER_VERSION is ${POD_HELPER_VERSION}: change both together`,
    );
  const hash = createHash('sha256')
    .update('main.go\0')
    .update(main)
    .update('\0go.mod\0')
    .update(goMod)
    .update(`\0${arch}`)
    .digest('hex')
    .slice(0, 16);
  const cache = resolve(process.env.MLPIPE_CACHE_DIR ?? join(homedir(), '.cache', 'mlpipe'));
  const dir = join(cache, `pod-helper-${hash}`);
  const result: PodHelper = {
    binary: join(dir, 'mlpipe-pod'),
    archive: join(dir, `mlpipe-pod-${POD_HELPER_VERSION}-image.tar`),
    image: POD_HELPER_IMAGE,
  };
  if (existsSync(result.binary) && existsSync(result.archive)) return result;
  mkdirSync(cache, { recursive: true });
  const release = acquireFileLock(`${dir}.lock`, 5 * 60_000, 10 * 60_000);
  let work: string | undefined;
  try {
    if (existsSync(result.binary) && existsSync(result.archive)) return result;
    // In the cache (on disk, where /tmp may be in memory), so that the rename is atomic.
    work = mkdtempSync(join(cache, '.pod-helper-build-'));
    chmodSync(work, 0o755);
    const binary = join(work, 'mlpipe-pod');
    const build = spawnSync(goCommand(), ['build', '-trimpath', '-ldflags', '-s -w', '-o', binary, '.'], {
      cwd: SOURCE,
      env: {
        ...process.env,
        CGO_ENABLED: '0',
        GOOS: 'linux',
        GOARCH: arch,
        GOWORK: 'off',
        GOFLAGS: '-mod=mod -buildvcs=false',
      },
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    });
    if (build.status !== 0)
      throw new Error(
        `building mlpipe-pod failed (exit ${build.status ?? build.signal}):\n${`${build.stdout ?? ''}${build.stderr ?? ''}${build.error?.message ?? ''}`.slice(-3000)}`,
      );
    if (process.platform === 'linux') {
      const version = spawnSync(binary, ['version'], { encoding: 'utf8' });
      if (version.status !== 0 || version.stdout.trim() !== POD_HELPER_VERSION)
        throw new Error(
          `the mlpipe-pod just built says version ${JSON.stringify(version.stdout?.trim())} (exit ${version.status ?? version.signal}), not ${POD_HELPER_VERSION}`,
        );
    }
    writeFileSync(join(work, basename(result.archive)), imageArchive(readFileSync(binary), arch));
    // A folder left without both files (by hand) is replaced whole.
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
    work = undefined;
    return result;
  } finally {
    if (work) rmSync(work, { recursive: true, force: true, maxRetries: 3 });
    release();
  }
}

if (require.main === module) {
  try {
    console.log(ensurePodHelper().archive);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
