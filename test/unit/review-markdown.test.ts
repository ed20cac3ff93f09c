import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import MarkdownIt from 'markdown-it';
import { type ReviewReport } from '../../core/src/review/review';
import { COMMENT_LIMIT, formatReviewMarkdown, mdText } from '../../core/src/review/markdown';

function report(stages: number): ReviewReport {
  const names = Array.from({ length: stages }, (_, i) => `stage_${String(i).padStart(5, '0')}`);
  return {
    revision: 'main',
    commit: 'a'.repeat(40),
    pipeline: 'mlpipe.yaml',
    params: names.map((name, i) => ({ path: `${name}.lr`, before: i, after: i + 1 })),
    stages: names.map((name) => ({ name, change: 'changed' as const, details: [`param ${name}.lr changed`] })),
    rerun: names,
    graph: {
      nodes: names.map((name) => ({ id: `stage:${name}`, kind: 'stage' as const, label: name })),
      edges: names
        .slice(1)
        .map((name, i) => ({ from: `stage:${names[i]}`, to: `stage:${name}`, kind: 'dep' as const, via: ['x'] })),
    },
    runs: { notes: [] },
    metrics: [],
  };
}

describe('the review comment (review/markdown.ts)', () => {
  it('escapes what starts markup and leaves the rest readable', () => {
    assert.equal(
      mdText('a|b <img> `x` *y* [l](u) ~z~ $m$ #1 & @team evaluate@test'),
      'a\\|b &lt;img> \\`x\\` \\*y\\* \\[l\\](u) \\~z\\~ \\$m\\$ \\#\u200b1 &amp; @\u200bteam evaluate@test',
    );
    assert.equal(mdText('two\nlines'), 'two lines');
    assert.equal(mdText('a\u001b]0;x\u0007b\u202ec\u0000'), 'a\ufffd\\]0;x\ufffdb\ufffdc\ufffd');
    assert.equal(mdText('x'.repeat(300), 10), `${'x'.repeat(9)}…`);
    const html = new MarkdownIt().renderInline(mdText('<script>alert(1)</script> **b** [a](javascript:x)'));
    assert.equal(html, '&lt;script&gt;alert(1)&lt;/script&gt; **b** [a](javascript:x)');
  });

  it('leaves GitHub nothing to link, mention, reference or draw in a value (its own syntax works on the rendered text)', () => {
    // GitHub finds mentions, issue references and emoji in the rendered text, after the markdown
    // (a backslash does not stop them: github/markup#1168, github/cmark-gfm#181), and autolinks
    // URLs, www. and e-mail addresses; a link that swallows a backslash frees what it escaped.
    const md = new MarkdownIt({ linkify: true });
    md.linkify.set({ fuzzyLink: false });
    const hostile = [
      '@security-team',
      'x @org/team',
      'fixes #12',
      'GH-12',
      ':shipit: :white_check_mark:',
      'https://evil.example/login',
      'see www.evil.example',
      'mail x@evil.com, y@my_host.com, a.@b.co.uk',
      'mailto:x@evil.com xmpp:a@evil.org/r',
      'https://evil.example/\\<img src=https://evil.example/p.png>',
      'HTTPS://EVIL.example',
    ];
    for (const value of hostile) {
      const html = md.renderInline(mdText(value));
      assert.doesNotMatch(html, /<(?!\/?(?:p|br)\b)/, `${value}: ${html}`);
      const text = html.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
      assert.doesNotMatch(text, /(^|[^\w`])@[a-z0-9]/i, `a mention in ${value}: ${text}`);
      assert.doesNotMatch(text, /#\d|\bGH-\d/i, `an issue reference in ${value}: ${text}`);
      assert.doesNotMatch(text, /:[\w+-]+:/, `an emoji in ${value}: ${text}`);
      assert.doesNotMatch(text, /:\/\/|www\./i, `an autolink in ${value}: ${text}`);
      // What is shown reads the same, but for invisible breaks.
      assert.equal(text.replace(/\u200b/g, ''), value);
    }
    assert.equal(mdText('evaluate@test'), 'evaluate@test');
  });

  it('fits a comment for 5,000 changed stages: whole tables with a count of the rest, never a cut row', () => {
    const text = formatReviewMarkdown(report(5000));
    assert.ok(text.length <= COMMENT_LIMIT, `${text.length} characters`);
    assert.doesNotMatch(text, /```mermaid/, 'the graph goes first');
    assert.match(text, /… and 4900 more stages \(`mlpipe review --format json`\)\./);
    assert.match(text, /… and 4900 more params/);
    const html = new MarkdownIt().render(text);
    const rows = (html.match(/<tr>/g) ?? []).length;
    assert.equal(rows, 2 * 101, 'two tables of a header and 100 rows each');
    // A small change keeps everything, the graph included.
    const small = formatReviewMarkdown(report(3));
    assert.match(small, /```mermaid\nflowchart LR\n/);
    assert.doesNotMatch(small, /more stages/);
  });

  it('keeps the other tables when one stage changes thousands of things: its reasons are cut, not every row', () => {
    const one = report(3);
    one.stages[0].details = Array.from({ length: 3000 }, (_, i) => `param stage_00000.p${i}: ${i} -> ${i + 1}`);
    const text = formatReviewMarkdown(one);
    assert.ok(text.length <= COMMENT_LIMIT, `${text.length} characters`);
    const html = new MarkdownIt({ html: true }).render(text);
    assert.equal((html.match(/<tr>/g) ?? []).length, 2 * 4, 'both tables whole: a header and 3 rows each');
    assert.match(text, /param stage\\_00000\.p9: 9 -> 10<br>… and 2990 more \|/);
  });

  it('says so when even the summary does not fit', () => {
    const text = formatReviewMarkdown(report(10), 200);
    assert.match(text, /too long for a comment: `mlpipe review --format json` has all of it/);
  });
});
