import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Server as SshServer } from 'ssh2';
import { connect, HostError } from '../../core/src/runner/engine';
import { fingerprint, hostKeyProblem, hostVerifier, knownHostsFor } from '../../core/src/runner/known-hosts';

/*
 * known_hosts as OpenSSH writes and reads it: keys made by ssh-keygen, entries hashed by
 * `ssh-keygen -H`, and a real SSH handshake (an ssh2 server in this process, presenting a host key
 * made by ssh-keygen) through the engine's own wiring (`connect` over ssh://).
 */

const keygen = spawnSync('ssh-keygen', ['-?'], { encoding: 'utf8' });
const missing = keygen.error ? 'ssh-keygen is not installed: apt-get install -y openssh-client' : undefined;
if (missing && process.env.CI) throw new Error(missing);

interface Key {
  /** The private key file. */
  file: string;
  /** `ssh-ed25519 AAAA...` */
  line: string;
  blob: Buffer;
}

function makeKey(dir: string, name: string): Key {
  const file = join(dir, name);
  const made = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const [type, encoded] = readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/);
  return { file, line: `${type} ${encoded}`, blob: Buffer.from(encoded!, 'base64') };
}

describe('known_hosts read as OpenSSH reads it', { skip: missing }, () => {
  let dir: string;
  let a: Key;
  let b: Key;
  let c: Key;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mlpipe-known-hosts-'));
    [a, b, c] = ['a', 'b', 'c'].map((name) => makeKey(dir, name)) as [Key, Key, Key];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, lines: string[]) => {
    const path = join(dir, name);
    writeFileSync(path, `# written for the test\n\n${lines.join('\n')}\n`);
    return path;
  };
  const accepts = (path: string, host: string, port: number, key: Key) => hostVerifier(host, port, path)(key.blob);

  it('plain names, wildcards, [host]:port and !negation', () => {
    const path = file('patterns', [
      `gpu-box,10.0.0.5 ${a.line}`,
      `*.example.com,!bad.example.com ${b.line}`,
      `[gpu-box]:2222 ${c.line}`,
      `gpu-?.lab ${c.line}`,
      `Mixed-Case.Example ${a.line}`,
    ]);
    assert.equal(accepts(path, 'gpu-box', 22, a), true);
    assert.equal(accepts(path, '10.0.0.5', 22, a), true);
    assert.equal(accepts(path, 'gpu-box', 22, c), false, 'the port-2222 key is not the port-22 key');
    assert.equal(accepts(path, 'gpu-box', 2222, c), true);
    assert.equal(accepts(path, 'gpu-box', 2222, a), false, 'a non-standard port is looked up as [host]:port only');
    assert.equal(accepts(path, 'ok.example.com', 22, b), true);
    assert.equal(accepts(path, 'bad.example.com', 22, b), false, 'the negated pattern excludes the host');
    assert.match(
      hostKeyProblem(knownHostsFor('bad.example.com', 22, path), b.blob) ?? '',
      /bad\.example\.com is not in .*patterns; connect once with ssh/,
    );
    assert.equal(accepts(path, 'gpu-7.lab', 22, c), true);
    assert.equal(accepts(path, 'gpu-17.lab', 22, c), false, '? is one character');
    assert.equal(accepts(path, 'mixed-case.example', 22, a), true, 'host names match case-insensitively');
  });

  it('a @revoked key is refused even where another line lists it', () => {
    const path = file('revoked', [
      `gpu-box ${a.line}`,
      `gpu-box ${b.line}`,
      `@revoked * ${b.line}`,
      `@revoked other-host ${c.line}`,
      `ci-box ${c.line}`,
    ]);
    assert.equal(accepts(path, 'gpu-box', 22, a), true);
    let reason = '';
    assert.equal(hostVerifier('gpu-box', 22, path, (why) => (reason = why))(b.blob), false);
    assert.match(
      reason,
      new RegExp(
        `the host key of gpu-box \\(${fingerprint(b.blob).replace(/[+/]/g, '\\$&')}\\) is marked @revoked in .*revoked; it is refused whatever other lines say`,
      ),
    );
    // Stricter than OpenSSH: a revoked key is refused for every host, whatever the @revoked line's patterns.
    assert.equal(accepts(path, 'ci-box', 22, c), false);
    assert.deepEqual(knownHostsFor('ci-box', 22, path).keys, []);
  });

  it('entries hashed by ssh-keygen -H match as before; the negation stays', () => {
    const path = file('hashed', [
      `gpu-box ${a.line}`,
      `[gpu-box]:2222 ${c.line}`,
      `*.example.com,!bad.example.com ${b.line}`,
    ]);
    const hashed = spawnSync('ssh-keygen', ['-H', '-f', path], { encoding: 'utf8' });
    assert.equal(hashed.status, 0, hashed.stderr);
    const text = readFileSync(path, 'utf8');
    assert.ok(!text.includes('gpu-box'), 'host names are hashed');
    assert.equal(text.split('\n').filter((line) => line.startsWith('|1|')).length, 2, text);
    assert.equal(accepts(path, 'gpu-box', 22, a), true);
    assert.equal(accepts(path, 'GPU-BOX', 22, a), true);
    assert.equal(accepts(path, 'gpu-box', 2222, c), true);
    assert.equal(accepts(path, 'gpu-box', 2222, a), false);
    assert.equal(accepts(path, 'other-box', 22, a), false);
    assert.equal(accepts(path, 'bad.example.com', 22, b), false);
    assert.equal(accepts(path, 'ok.example.com', 22, b), true);
  });

  it('@cert-authority is refused with a message that says why', () => {
    const path = file('ca', [`@cert-authority *.corp ${a.line}`]);
    const problem = hostKeyProblem(knownHostsFor('gpu.corp', 22, path), c.blob) ?? '';
    assert.match(
      problem,
      /trusts gpu\.corp only through @cert-authority \(host certificates\), which mlpipe's SSH client does not check/,
    );
    assert.equal(accepts(path, 'gpu.corp', 22, a), false, 'the CA key itself is not a host key');
  });
});

/** An SSH server (ssh2) presenting `hostKey`; it lets anyone in and has no docker to run. */
async function sshServer(hostKey: string): Promise<{ port: number; close: () => Promise<void> }> {
  const server = new SshServer({ hostKeys: [readFileSync(hostKey)] }, (client) => {
    client.on('error', () => undefined);
    client.on('authentication', (context) => context.accept());
    client.on('ready', () => {
      client.on('session', (accept) => {
        const session = accept();
        session.on('exec', (acceptExec) => {
          const stream = acceptExec();
          stream.stderr.write('docker: command not found\n');
          stream.exit(127);
          stream.end();
        });
      });
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

describe(
  'ssh:// hosts: the engine refuses a revoked or changed host key in a real handshake',
  { skip: missing },
  () => {
    let dir: string;
    let home: string;
    let listed: Key;
    let revoked: Key;
    let stranger: Key;
    const saved = { HOME: process.env.HOME, SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK };
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'mlpipe-ssh-hosts-'));
      home = join(dir, 'home');
      mkdirSync(join(home, '.ssh'), { recursive: true });
      makeKey(join(home, '.ssh'), 'id_ed25519');
      [listed, revoked, stranger] = ['listed', 'revoked', 'stranger'].map((name) => makeKey(dir, name)) as [
        Key,
        Key,
        Key,
      ];
      process.env.HOME = home;
      delete process.env.SSH_AUTH_SOCK;
    });
    after(() => {
      process.env.HOME = saved.HOME;
      if (saved.SSH_AUTH_SOCK !== undefined) process.env.SSH_AUTH_SOCK = saved.SSH_AUTH_SOCK;
      rmSync(dir, { recursive: true, force: true });
    });

    const attempt = async (hostKey: Key, knownHosts: (port: number) => string[]): Promise<HostError> => {
      const server = await sshServer(hostKey.file);
      try {
        writeFileSync(join(home, '.ssh', 'known_hosts'), `${knownHosts(server.port).join('\n')}\n`);
        try {
          await connect({ name: 'gpu', address: `ssh://ml@127.0.0.1:${server.port}`, sharesFiles: false }, dir);
        } catch (error) {
          assert.ok(error instanceof HostError, String(error));
          return error;
        }
        return assert.fail('connected to an engine that is not there');
      } finally {
        await server.close();
      }
    };

    it(
      'a host presenting a key marked @revoked is refused, though another line lists it',
      { timeout: 60_000 },
      async () => {
        const error = await attempt(revoked, (port) => [
          `[127.0.0.1]:${port} ${revoked.line}`,
          `[127.0.0.1]:${port} ${listed.line}`,
          `@revoked * ${revoked.line}`,
        ]);
        assert.match(
          error.message,
          /cannot reach the Docker engine of host 'gpu' at ssh:\/\/ml@127\.0\.0\.1:\d+: the host key of \[127\.0\.0\.1\]:\d+ \(SHA256:\S+\) is marked @revoked/,
        );
      },
    );

    it('a host presenting a key other than the listed one is refused as changed', { timeout: 60_000 }, async () => {
      const error = await attempt(stranger, (port) => [`[127.0.0.1]:${port} ${listed.line}`]);
      assert.match(
        error.message,
        /the host key of \[127\.0\.0\.1\]:\d+ \(SHA256:\S+\) is not the one .*known_hosts lists for it: the key changed, or someone is in between/,
      );
    });

    it(
      'a host listed only through @cert-authority, or only negated, is refused before connecting',
      { timeout: 60_000 },
      async () => {
        const ca = await attempt(listed, () => [`@cert-authority [127.0.0.1]:* ${listed.line}`]);
        assert.match(ca.message, /only through @cert-authority/);
        const negated = await attempt(listed, (port) => [`[127.0.0.*]:${port},![127.0.0.1]:${port} ${listed.line}`]);
        assert.match(negated.message, /host 'gpu': 127\.0\.0\.1:\d+ is not in ~\/\.ssh\/known_hosts/);
      },
    );

    it(
      'the listed key passes the host check (what fails next is the missing docker, not the key)',
      { timeout: 60_000 },
      async () => {
        const error = await attempt(listed, (port) => [
          `[127.0.0.1]:${port} ${listed.line}`,
          `@revoked * ${revoked.line}`,
        ]);
        assert.ok(!/host key|known_hosts|revoked|cert-authority/.test(error.message), error.message);
      },
    );
  },
);
