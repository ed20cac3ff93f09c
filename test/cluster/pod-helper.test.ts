import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../support/files';

/*
 * The pod helper's own tests (pod-helper/main_test.go: a fake S3 in net/http/httptest, hostile
 * manifests and outputs), run with Go like the helper is built; the cluster tests run it for real.
 */

const go = ['/usr/local/go/bin/go', 'go'].find((candidate) => spawnSync(candidate, ['version']).status === 0);
if (!go && process.env.CI)
  throw new Error('Go is needed for the pod helper: install Go 1.22 or later (https://go.dev/dl)');

describe('the pod helper (mlpipe-pod)', { skip: go ? false : 'Go is not installed' }, () => {
  it('passes its Go tests: fetch and run against a fake S3, paths, links, bounds, no URL in any message', () => {
    const result = spawnSync(go!, ['test', '-count=1', './...'], {
      cwd: join(ROOT, 'pod-helper'),
      encoding: 'utf8',
      env: { ...process.env, GOFLAGS: '-mod=mod', GOWORK: 'off', CGO_ENABLED: '0' },
      timeout: 300_000,
    });
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /^ok\s+mlpipe\.dev\/pod-helper/m);
  });
});
