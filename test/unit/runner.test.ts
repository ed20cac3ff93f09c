import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { byPathSegments, pathsInside } from '../../core/src/pipeline/graph';
import { buildCommand, type Lookup } from '../../core/src/pipeline/command';
import { newRunId } from '../../core/src/runs/records';
import { seeded } from '../support/random';

/** Values chosen to break a command built by pasting text into a shell. */
const HOSTILE = ['a b', "it's", '$(touch /tmp/mlpipe-pwned)', '`id`', '"; exit 3; "', '*', 'x\ny', '$HOME', '\\'];

describe('the runner, piece by piece', () => {
  it('passes hostile param values as data in exec form: one argument each, unchanged', () => {
    for (const value of HOSTILE) {
      const lookup: Lookup = (namespace, path) => (namespace === 'params' && path === 'name' ? value : undefined);
      const command = buildCommand(['python3 train.py --name ${params.name} --fixed'], lookup);
      assert.deepEqual(command.argv, ['python3', 'train.py', '--name', value, '--fixed']);
    }
  });

  it('passes hostile values to a shell-form command through variables: sh prints them back verbatim', () => {
    for (const value of HOSTILE) {
      const lookup: Lookup = (namespace, path) =>
        namespace === 'params' && path === 'model.name'
          ? value
          : namespace === 'matrix' && path === 'split'
            ? `${value}!`
            : undefined;
      const command = buildCommand(['printf "%s|" ${params.model.name} && printf "%s" "${matrix.split}"'], lookup);
      assert.deepEqual(command.argv.slice(0, 2), ['sh', '-c']);
      assert.ok(
        !command.argv[2].includes(value) || value === '*',
        `the value is not in the script: ${command.argv[2]}`,
      );
      // The real shell, as the container runs it.
      const result = spawnSync('sh', ['-c', command.argv[2]], {
        env: { PATH: process.env.PATH, ...command.env },
        encoding: 'utf8',
      });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, `${value}|${value}!`);
    }
  });

  it('runs a list of commands in order and stops at the first failure', () => {
    const command = buildCommand(['echo one', 'false', 'echo three'], () => undefined);
    const result = spawnSync(command.argv[0], command.argv.slice(1), { encoding: 'utf8' });
    assert.equal(result.stdout, 'one\n');
    assert.notEqual(result.status, 0);
  });

  it('gives run ids that sort by start time, to the millisecond', () => {
    const start = Date.UTC(2026, 10, 23, 16, 59, 56, 998);
    const ids = [0, 1, 2, 1000, 61_000].map((offset) => newRunId(new Date(start + offset)));
    assert.deepEqual([...ids].sort(), ids);
    assert.match(ids[0], /^20261123-165956-998-[0-9a-f]{4}$/);
  });

  it('orders paths with a folder followed by its contents, as the reference definition does', () => {
    const random = seeded(7);
    const parts = ['data', 'data-v2', 'out', 'a', 'a.b', 'model', 'm', 'é', 'Z'];
    const paths = Array.from({ length: 400 }, () =>
      Array.from({ length: 1 + Math.floor(random() * 3) }, () => parts[Math.floor(random() * parts.length)]).join('/'),
    );
    const reference = (a: string, b: string) => {
      const x = a.replace(/\//g, '\u0000');
      const y = b.replace(/\//g, '\u0000');
      return x < y ? -1 : x > y ? 1 : 0;
    };
    const sorted = [...new Set(paths)].sort(byPathSegments);
    assert.deepEqual(sorted, [...sorted].sort(reference));
    for (const folder of ['data', 'a', 'data/out', 'nothing']) {
      assert.deepEqual(
        pathsInside(sorted, folder),
        sorted.filter((path) => path.startsWith(`${folder}/`)),
        folder,
      );
    }
  });
});
