import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Frame } from 'playwright-core';
import { BUSYBOX_IMAGE, PYTHON_IMAGE, ensureImages } from '../../scripts/sample-image';
import { ROOT } from '../support/files';
import { enginesMissing, startDockerd, type RunningEngine } from '../support/engines';
import { Session, missingComponent } from './harness';

const missing = missingComponent() ?? enginesMissing();
if (missing && process.env.CI) throw new Error(`The graph scenario cannot run: ${missing}`);

/** The 1-based line of the sample pipeline holding `text`. */
function sampleLine(text: string): number {
  const lines = readFileSync(join(ROOT, 'sample-workspace/mlpipe.yaml'), 'utf8').split('\n');
  const index = lines.findIndex((line) => line.includes(text));
  if (index < 0) throw new Error(`sample-workspace/mlpipe.yaml has no line with ${text}`);
  return index + 1;
}

/**
 * The pipeline graph as a new user meets it: opened from the palette on the sample, live while
 * the pipeline runs from VS Code, a stage going stale when its param changes, and a click on a
 * node showing the stage in the editor.
 */
describe('the pipeline graph (code-server + Chromium + dockerd)', { skip: missing }, () => {
  const session = new Session('graph');
  let engine: RunningEngine;
  let graph: Frame;

  before(async () => {
    engine = await startDockerd();
    await ensureImages(engine.docker, [PYTHON_IMAGE, BUSYBOX_IMAGE]);
    await session.start({}, { DOCKER_HOST: engine.address });
  });

  after(async () => {
    await session.stop();
    await engine?.stop();
    if (session.screenshots.length > 0) console.log(`screenshots:\n  ${session.screenshots.join('\n  ')}`);
  });

  const node = (id: string) => graph.locator(`g.node[data-id="${id}"]`);
  const classesOf = async (id: string) => (await node(id).getAttribute('class')) ?? '';
  async function until(what: string, check: () => Promise<boolean>, timeout: number): Promise<void> {
    const deadline = Date.now() + timeout;
    while (!(await check().catch(() => false))) {
      if (Date.now() > deadline) {
        const shot = await session.screenshot(`timeout-${what.replace(/[^a-z0-9]+/gi, '-')}`);
        throw new Error(`Timed out after ${timeout} ms waiting for ${what}; last screenshot: ${shot}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  const stages = ['stage:prepare', 'stage:train', 'stage:evaluate@val', 'stage:evaluate@test'];

  it('opens from the palette with every stage, file, the model and its card, each stage never run', async () => {
    await session.open('mlpipe.yaml');
    await session.command('MLPipe: Show Pipeline Graph');
    graph = await session.webviewFrame('the graph', 'body[data-ready="true"] g.node[data-id="stage:train"]', 60_000);
    for (const id of [...stages, 'source:data/raw.csv', 'artifact:models/model.npz', 'card:modelcard.yaml'])
      assert.equal(await node(id).count(), 1, id);
    await until(
      'every stage never run',
      async () => (await Promise.all(stages.map(classesOf))).every((classes) => classes.includes('state-never-run')),
      30_000,
    );
    // prepare writes data/prepared, which train reads: an edge between them, drawn left to right.
    const box = async (id: string) => (await node(id).boundingBox()) as { x: number; width: number };
    assert.ok((await box('stage:prepare')).x < (await box('stage:train')).x);
    assert.ok((await box('stage:train')).x < (await box('stage:evaluate@test')).x);
    await session.screenshot('graph-never-run');
  });

  it('shows the run live: a stage running with its time, then every stage up to date', async () => {
    await session.command('MLPipe: Run Pipeline');
    await until(
      'a stage running in the graph',
      async () => (await Promise.all(stages.map(classesOf))).some((classes) => classes.includes('state-running')),
      120_000,
    );
    const running = graph.locator('g.node.state-running text.state').first();
    assert.match((await running.textContent()) ?? '', /^running \d+:\d\d$/);
    await session.screenshot('graph-running');
    await until(
      'every stage up to date after the run',
      async () => (await Promise.all(stages.map(classesOf))).every((classes) => classes.includes('state-up-to-date')),
      240_000,
    );
    await session.screenshot('graph-up-to-date');
  });

  it('marks the evaluate variants stale when their param changes in the editor, with the reason', async () => {
    // In the editor's group, not the graph's: a hidden webview is not drawn.
    await session.command('View: Focus First Editor Group');
    await session.open('params.yaml');
    const line = readFileSync(join(ROOT, 'sample-workspace/params.yaml'), 'utf8')
      .split('\n')
      .findIndex((text) => text.includes('threshold: 0.5'));
    assert.ok(line >= 0);
    await session.goTo(line + 1, 1);
    await session.page.keyboard.press('End');
    await session.page.keyboard.press('Backspace');
    await session.page.keyboard.type('6');
    await session.page.keyboard.press('Control+S');
    await until(
      'evaluate@val and evaluate@test stale',
      async () =>
        (await classesOf('stage:evaluate@val')).includes('state-stale') &&
        (await classesOf('stage:evaluate@test')).includes('state-stale'),
      30_000,
    );
    assert.ok((await classesOf('stage:train')).includes('state-up-to-date'), 'train does not read the threshold');
    // The tooltip is made when the pointer reaches the node.
    await node('stage:evaluate@test').hover();
    const title = await node('stage:evaluate@test').locator('title').textContent();
    assert.match(title ?? '', /param evaluate\.threshold: 0\.5 -> 0\.6/);
  });

  it('a click on a node shows its stage in the editor; the details light what reruns and open its log', async () => {
    await node('stage:train').click();
    const line = sampleLine('  train:');
    await session.waitFor(
      'the cursor on the train stage',
      session.page.locator('.statusbar-item', { hasText: `Ln ${line}, Col 3` }),
      30_000,
    );
    await graph.locator('#downstream').click();
    await until(
      'train and everything after it lit',
      async () =>
        (await classesOf('stage:evaluate@val')).includes('downstream') &&
        (await classesOf('stage:evaluate@test')).includes('downstream') &&
        (await classesOf('stage:prepare')).includes('dim'),
      10_000,
    );
    await session.screenshot('graph-downstream');
    // The node's menu opens the stage's log from the run.
    await graph.locator('#open-log').click();
    await session.waitFor('the train log in an editor', session.page.locator('.tab', { hasText: 'train.log' }), 30_000);
  });
});
