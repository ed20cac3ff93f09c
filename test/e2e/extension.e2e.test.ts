import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readExpectations } from '../support/expectations';
import { ROOT } from '../support/files';
import { Session, missingComponent } from './harness';

/** The 1-based line of the sample pipeline holding `text` (so an edit above it moves no test). */
function sampleLine(text: string): number {
  const lines = readFileSync(join(ROOT, 'sample-workspace/mlpipe.yaml'), 'utf8').split('\n');
  const index = lines.findIndex((line) => line.includes(text));
  if (index < 0) throw new Error(`sample-workspace/mlpipe.yaml has no line with ${text}`);
  return index + 1;
}

const missing = missingComponent();
if (missing && process.env.CI) throw new Error(`End-to-end tests cannot run: ${missing}`);

const BROKEN = join(ROOT, 'test/fixtures/broken/stages/mlpipe.yaml');

describe('the extension in a real VS Code (code-server + Chromium)', { skip: missing }, () => {
  const session = new Session('editor');

  before(async () => {
    await session.start({ 'broken.pipeline.yaml': BROKEN });
  });

  after(async () => {
    await session.stop();
    if (session.screenshots.length > 0) console.log(`screenshots:\n  ${session.screenshots.join('\n  ')}`);
  });

  it('activates on the sample workspace: the pipeline gets its language and Run lenses', async () => {
    await session.open('mlpipe.yaml');
    await session.waitFor('language mode', session.page.locator('.statusbar-item', { hasText: 'MLPipe Pipeline' }));
    await session.waitFor(
      'Run pipeline lens',
      session.page.locator('.codelens-decoration', { hasText: 'Run pipeline' }),
      60_000,
    );
    await session.screenshot('activated');
  });

  it("shows a broken pipeline's findings in the Problems panel, each on its line", async () => {
    await session.open('broken.pipeline.yaml');
    await session.command('Problems: Focus on Problems View');
    const rows = session.page.locator('.markers-panel .monaco-list-row');
    await session.waitFor('a problem row', rows.filter({ hasText: "Unknown stage 'prepar'" }), 60_000);
    const expected = readExpectations(BROKEN, 'broken.pipeline.yaml');
    // The panel lists the file, then one row per finding: wait until all are there.
    await session.waitFor('the last problem row', rows.nth(expected.length));
    await session.screenshot('problems');
    const texts = await rows.allInnerTexts();
    const found = texts
      .map((text) => /\nmlpipe\s*\(?\s*([a-z-]+)\s*\)?\s*\[Ln (\d+), Col \d+\]/.exec(text))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => `${match[2]} ${match[1]}`)
      .sort();
    assert.deepEqual(found, expected.map((e) => `${e.line} ${e.code}`).sort(), `rows:\n${texts.join('\n---\n')}`);
    assert.ok(texts.some((text) => text.includes("did you mean 'prepare'?")));
    assert.ok(texts.some((text) => text.includes('Dependency cycle: loop-a -> loop-c -> loop-b -> loop-a.')));
  });

  it('completes stage names inside needs', async () => {
    await session.open('mlpipe.yaml');
    const line = sampleLine('description: Score the model'); // evaluate's description; a needs line goes under it
    await session.goTo(line, 1);
    await session.page.keyboard.press('End');
    await session.page.keyboard.press('Enter');
    await session.page.keyboard.type('needs: [');
    await session.page.keyboard.press('Control+Space');
    const suggest = session.page.locator('.suggest-widget .monaco-list-row');
    await session.waitFor('suggestion prepare', suggest.filter({ hasText: 'prepare' }));
    await session.waitFor('suggestion train', suggest.filter({ hasText: 'train' }));
    await session.screenshot('completion-needs');
    const labels = await session.page.locator('.suggest-widget .monaco-list-row .label-name').allInnerTexts();
    assert.ok(!labels.includes('evaluate'), `a stage does not need itself: ${labels.join(', ')}`);
    await session.page.keyboard.press('Escape');
    await session.command('File: Revert File');
  });

  it('shows documentation on hover, and the resolved value of a param', async () => {
    await session.open('mlpipe.yaml');
    await session.goTo(sampleLine('timeout: 30m'), 6); // `timeout: 30m`
    await session.command('Show or Focus Hover');
    await session.waitFor(
      'hover with the timeout documentation',
      session.page.locator('.monaco-hover', { hasText: 'duration' }),
    );
    await session.screenshot('hover-key');
    await session.page.keyboard.press('Escape');
    await session.goTo(sampleLine('src/train.py --lr'), 52); // on `lr` in ${params.train.lr}
    await session.command('Show or Focus Hover');
    await session.waitFor(
      'hover with the param value',
      session.page.locator('.monaco-hover', { hasText: 'params.train.lr = 0.1' }),
    );
    await session.screenshot('hover-param');
    await session.page.keyboard.press('Escape');
  });

  it('lists the stages in the outline', async () => {
    await session.open('mlpipe.yaml');
    // Give the outline the whole side bar: collapse the folder section above it.
    await session.page.locator('.pane-header', { hasText: 'MLPIPE-E2E' }).click();
    await session.command('Explorer: Focus on Outline View');
    const outline = session.page.locator('.outline-pane .monaco-list-row');
    await session.waitFor('stages in the outline', outline.filter({ hasText: 'stages' }));
    const names = session.page.locator('.outline-pane .monaco-list-row .label-name');
    for (const stage of ['prepare', 'train', 'evaluate'])
      await session.waitFor(`outline entry ${stage}`, names.filter({ hasText: new RegExp(`^${stage}$`) }).first());
    // Stages are functions in the outline, with their command as detail.
    const train = outline.filter({ has: session.page.locator('.label-name', { hasText: /^train$/ }) }).first();
    assert.match(await train.innerText(), /python3 src\/train\.py/);
    await session.screenshot('outline');
  });

  it('puts Run lenses above the pipeline and every stage', async () => {
    await session.open('mlpipe.yaml');
    const lenses = session.page.locator('.codelens-decoration');
    await session.waitFor('Run stage lens', lenses.filter({ hasText: 'Run stage' }).first());
    const texts = await lenses.allInnerTexts();
    assert.ok(texts.filter((text) => text.includes('Run stage')).length >= 2, texts.join(' | '));
    assert.ok(texts.some((text) => text.includes('Run stage (2 variants)')));
    assert.ok(texts.some((text) => text.includes('Run pipeline')));
    assert.ok(
      texts.some((text) => text.includes('Run on cluster')),
      'the sample declares a cluster host',
    );
    await session.screenshot('code-lens');
  });

  it('offers the MLPipe commands in the command palette', async () => {
    await session.page.keyboard.press('F1');
    const input = await session.waitFor('command palette', session.page.locator('.quick-input-widget input'));
    const rows = session.page.locator('.quick-input-list .monaco-list-row');
    // The list is virtualised and MLPipe has more commands than fit: each is looked up by name.
    for (const label of [
      'MLPipe: Run Pipeline',
      'MLPipe: Run Stage...',
      'MLPipe: Run Stage and Upstream...',
      'MLPipe: Cancel Run',
      'MLPipe: Show Status',
      'MLPipe: Open Experiments Table',
      'MLPipe: Compare Runs...',
      'MLPipe: Check Drift...',
      'MLPipe: Approve Model Version...',
      'MLPipe: Push Approved Version...',
      'MLPipe: Restart Language Server',
      'MLPipe: Show Output',
    ]) {
      await input.fill(`>${label}`);
      await session.waitFor(`command ${label}`, rows.filter({ hasText: label }).first());
    }
    await input.fill('>MLPipe');
    await session.screenshot('command-palette');
    await session.page.keyboard.press('Escape');
  });
});
