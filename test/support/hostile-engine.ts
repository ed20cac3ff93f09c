import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { pack, type Header } from 'tar-stream';

/**
 * A small, real Docker Engine API server that lies: it speaks enough of the API for mlpipe to run a
 * stage on it as a remote host (version, info, image, create, archive in, start, logs, wait,
 * archive out, remove, list), and answers what a hostile or broken engine could answer. It is a
 * mock only in the sense the developers' guide allows: a fault (a malicious engine) that cannot be
 * caused with the real dockerd, written as a real server on loopback.
 */
export interface HostileEngineOptions {
  /** What GET /containers/ID/archive answers for an output path. */
  archive: (path: string, response: ServerResponse) => void;
  /** Containers the engine lists (for orphan cleanup), with their labels. */
  containers?: { Id: string; Labels: Record<string, string> }[];
  /** Exit code the stage "ran" with. */
  exitCode?: number;
}

export interface HostileEngine {
  address: string;
  /** Every request as `METHOD path`, in order. */
  requests: string[];
  /** Container ids removed with DELETE. */
  removed: string[];
  /** Bodies of PUT /containers/ID/archive (what mlpipe sent into the container). */
  uploads: Buffer[];
  stop(): Promise<void>;
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json' });
  response.end(JSON.stringify(body));
}

/** One frame of Docker's multiplexed log stream (stdout = 1, stderr = 2). */
function frame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** A tar archive of the given entries (names, types and link targets exactly as given). */
export function craftTar(entries: (Partial<Header> & { name: string; body?: string | Buffer })[]): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (chunk: unknown) => void chunks.push(chunk as Buffer));
  const done = new Promise<Buffer>((resolve) => tar.on('end', () => resolve(Buffer.concat(chunks))));
  for (const { body, ...header } of entries) {
    if (body !== undefined) tar.entry({ ...header, size: Buffer.byteLength(body) }, body);
    else tar.entry(header);
  }
  tar.finalize();
  return done;
}

function drain(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', () => resolve(Buffer.concat(chunks)));
  });
}

export async function startHostileEngine(options: HostileEngineOptions): Promise<HostileEngine> {
  const requests: string[] = [];
  const removed: string[] = [];
  const uploads: Buffer[] = [];
  const server: Server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://engine');
      const path = url.pathname.replace(/^\/v[\d.]+/, '');
      requests.push(`${request.method} ${path}`);
      const body = await drain(request);
      if (path === '/_ping') return void response.end('OK');
      if (path === '/version')
        return json(response, 200, {
          Version: '20.10.0-hostile',
          ApiVersion: '1.41',
          Os: 'linux',
          Arch: 'amd64',
          Components: [{ Name: 'Engine' }],
        });
      if (path === '/info') return json(response, 200, { Runtimes: { runc: {} } });
      if (path.startsWith('/images/') && path.endsWith('/json'))
        return json(response, 200, { Id: `sha256:${'a'.repeat(64)}` });
      if (path === '/containers/json') return json(response, 200, options.containers ?? []);
      if (path === '/containers/create') return json(response, 201, { Id: 'hostile-container', Warnings: [] });
      const match = /^\/containers\/([^/]+)(?:\/(\w+))?$/.exec(path);
      if (!match) return json(response, 404, { message: `no route ${path}` });
      const [, id, action] = match;
      if (request.method === 'DELETE' && !action) {
        removed.push(id);
        response.writeHead(204);
        return void response.end();
      }
      switch (action) {
        case 'archive':
          if (request.method === 'PUT') {
            uploads.push(body);
            response.writeHead(200);
            return void response.end();
          }
          return options.archive(url.searchParams.get('path') ?? '', response);
        case 'start':
        case 'kill':
          response.writeHead(204);
          return void response.end();
        case 'logs':
          response.writeHead(200, { 'Content-Type': 'application/vnd.docker.raw-stream' });
          return void response.end(frame(1, 'training on a hostile engine\n'));
        case 'wait':
          return json(response, 200, { StatusCode: options.exitCode ?? 0 });
        default:
          return json(response, 404, { message: `no route ${path}` });
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    address: `tcp://127.0.0.1:${port}`,
    requests,
    removed,
    uploads,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
