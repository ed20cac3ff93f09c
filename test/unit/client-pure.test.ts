import assert from 'node:assert/strict';
import Module from 'node:module';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { CloseHandlerResult, ErrorHandlerResult } from 'vscode-languageclient/node';
import { Throttle } from '../../client/src/webviews/throttle';
import { ROOT } from '../support/files';

// The client's pure parts, loaded in plain Node. Two things stand in the way of a plain import:
// - vscode-languageclient requires `vscode`, which only the extension host provides: `vscode` is
//   answered here by a stand-in whose every member is an empty class (the library extends a few
//   at load time and uses none in the code under test);
// - so restart-policy.ts is required by path after the stand-in is in place (an import would be
//   hoisted above it); Throttle needs no editor and is imported as it is.
const loader = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
const resolve = loader._resolveFilename;
const member: ProxyHandler<object> = {
  get: (target: Record<string | symbol, unknown>, key) =>
    key === '__esModule' ? true : (target[key] ??= new Proxy(class {}, member)),
};
require.cache.vscode = {
  id: 'vscode',
  filename: 'vscode',
  loaded: true,
  exports: new Proxy({}, member),
} as NodeJS.Module;
loader._resolveFilename = function (request, ...rest) {
  return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
};
const { CloseAction, ErrorAction } =
  require('vscode-languageclient/node') as typeof import('vscode-languageclient/node');
const { BoundedRestarts } = require(join(ROOT, 'client/src/restart-policy')) as {
  BoundedRestarts: new (
    onGiveUp: (message: string) => void,
    limit?: number,
    windowMs?: number,
    now?: () => number,
  ) => {
    error(error: Error, message: undefined, count: number | undefined): ErrorHandlerResult;
    closed(): CloseHandlerResult;
  };
};
loader._resolveFilename = resolve;

describe('BoundedRestarts: the language server restart policy', () => {
  let clock = 0;
  const now = () => clock;

  beforeEach(() => {
    clock = 0;
  });

  it('restarts up to the limit of crashes in the window, then stops once, saying so', () => {
    const givenUp: string[] = [];
    const policy = new BoundedRestarts((message) => givenUp.push(message), 3, 60_000, now);
    for (let crash = 1; crash <= 3; crash++) {
      clock += 1000;
      assert.deepEqual(policy.closed(), { action: CloseAction.Restart, handled: true }, `crash ${crash}`);
    }
    assert.deepEqual(givenUp, []);
    clock += 1000;
    const result = policy.closed();
    assert.equal(result.action, CloseAction.DoNotRestart);
    assert.equal(result.handled, true);
    assert.equal(
      result.message,
      'The MLPipe language server crashed 4 times in 1 minutes and will not be restarted. See the MLPipe output for the reason, then run "MLPipe: Restart Language Server".',
    );
    assert.deepEqual(givenUp, [result.message]);
  });

  it('forgets crashes older than the window', () => {
    const givenUp: string[] = [];
    const policy = new BoundedRestarts((message) => givenUp.push(message), 2, 10_000, now);
    // Crashes at 0 and 5 s; at 10 s the first is exactly the window old and still counts.
    assert.equal(policy.closed().action, CloseAction.Restart);
    clock = 5_000;
    assert.equal(policy.closed().action, CloseAction.Restart);
    clock = 10_000;
    assert.equal(policy.closed().action, CloseAction.DoNotRestart, 'three crashes within 10 s');
    // At 15.001 s the crashes at 0 and 5 s are more than 10 s old: two in the window again.
    clock = 15_001;
    assert.equal(policy.closed().action, CloseAction.Restart);
    assert.equal(givenUp.length, 1);
  });

  it('restarts a server that crashes now and then, however often in total', () => {
    const policy = new BoundedRestarts(() => assert.fail('gave up'), 5, 3 * 60_000, now);
    for (let crash = 0; crash < 50; crash++) {
      clock += 60_000;
      assert.equal(policy.closed().action, CloseAction.Restart, `crash ${crash} at ${clock} ms`);
    }
  });

  it('defaults to 5 restarts in 3 minutes', () => {
    const givenUp: string[] = [];
    const policy = new BoundedRestarts((message) => givenUp.push(message), undefined, undefined, now);
    for (let crash = 0; crash < 5; crash++) {
      clock += 30_000;
      assert.equal(policy.closed().action, CloseAction.Restart);
    }
    clock += 29_000;
    assert.equal(policy.closed().action, CloseAction.DoNotRestart);
    assert.match(givenUp[0] ?? '', /crashed 6 times in 3 minutes/);
  });

  it('keeps the connection through the first three errors, then shuts it down', () => {
    const policy = new BoundedRestarts(() => undefined, 5, 1000, now);
    const error = new Error('write EPIPE');
    assert.deepEqual(
      [1, 2, 3].map((count) => policy.error(error, undefined, count).action),
      [ErrorAction.Continue, ErrorAction.Continue, ErrorAction.Continue],
    );
    assert.equal(policy.error(error, undefined, 4).action, ErrorAction.Shutdown);
    assert.equal(policy.error(error, undefined, undefined).action, ErrorAction.Shutdown, 'an error without a count');
  });
});

describe('Throttle: webview updates at most once per interval', () => {
  let flushes: number[];
  let throttle: InstanceType<typeof Throttle>;

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
    flushes = [];
    throttle = new Throttle(100, () => flushes.push(Date.now()));
  });

  afterEach(() => {
    throttle.dispose();
    mock.timers.reset();
  });

  it('serves the first request at once (on the next turn of the event loop)', () => {
    throttle.request();
    assert.deepEqual(flushes, [], 'not inside request()');
    mock.timers.tick(0);
    assert.deepEqual(flushes, [0]);
  });

  it('folds the requests made during the wait into one run at the end of the interval', () => {
    throttle.request();
    mock.timers.tick(0);
    for (const at of [10, 20, 50, 99]) {
      mock.timers.tick(at - Date.now());
      throttle.request();
    }
    assert.deepEqual(flushes, [0]);
    mock.timers.tick(100 - Date.now());
    assert.deepEqual(flushes, [0, 100]);
    mock.timers.tick(1000);
    assert.deepEqual(flushes, [0, 100], 'nothing more without a request');
  });

  it('serves a request after a quiet spell at once', () => {
    throttle.request();
    mock.timers.tick(0);
    mock.timers.tick(250);
    throttle.request();
    mock.timers.tick(0);
    assert.deepEqual(flushes, [0, 250]);
  });

  it('spaces a steady stream of requests one interval apart', () => {
    for (let at = 0; at <= 1000; at += 10) {
      throttle.request();
      // The mock clock shows a tick's end to the timers it runs: tick(0) first, so that a run
      // due now sees now.
      mock.timers.tick(0);
      mock.timers.tick(10);
    }
    assert.deepEqual(flushes, [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
  });

  it('takes a request made by the flush itself as the next run', () => {
    let again = true;
    throttle = new Throttle(100, () => {
      flushes.push(Date.now());
      if (again) throttle.request();
      again = false;
    });
    throttle.request();
    mock.timers.tick(0);
    mock.timers.tick(99);
    assert.deepEqual(flushes, [0]);
    mock.timers.tick(1);
    assert.deepEqual(flushes, [0, 100]);
  });

  it('drops a pending run when disposed', () => {
    throttle.request();
    mock.timers.tick(0);
    throttle.request();
    throttle.dispose();
    mock.timers.tick(1000);
    assert.deepEqual(flushes, [0]);
  });
});
