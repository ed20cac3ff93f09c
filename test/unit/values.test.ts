import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkLicense } from '../../core/src/modelcard/spdx';
import { parseImageRef } from '../../core/src/pipeline/image-ref';
import { findInterpolations, substitute } from '../../core/src/pipeline/interpolation';
import { normalizePath } from '../../core/src/pipeline/model';
import { parseDuration, parseSize } from '../../core/src/pipeline/units';
import { didYouMean, editDistance } from '../../core/src/util/did-you-mean';

describe('image references (distribution/reference grammar)', () => {
  it('accepts the forms registries use', () => {
    for (const ref of [
      'python',
      'python:3.11',
      'library/python:3.11-slim',
      'localhost/mlpipe-python:3.11',
      'localhost:5000/team/train:v2',
      'ghcr.io/org/sub/train@sha256:' + 'a'.repeat(64),
      'registry.example.com:443/a/b:c@sha256:' + '0'.repeat(64),
      '[::1]:5000/img',
      'a__b/c--d',
    ]) {
      assert.ok(parseImageRef(ref).ok, ref);
    }
  });

  it('explains what is wrong and suggests the fix', () => {
    const cases: [string, RegExp, string | undefined][] = [
      ['Localhost/Train:2', /lowercase/, 'Localhost/train:2'],
      ['https://ghcr.io/a/b', /no scheme/, 'ghcr.io/a/b'],
      ['python:', /tag after ':' is empty/, 'python'],
      ['img:-bad', /not a valid tag/, undefined],
      ['img@sha256:abc', /not a digest/, undefined],
      ['a//b', /empty path component/, undefined],
      ['my image', /spaces/, undefined],
      ['', /empty/, undefined],
    ];
    for (const [input, reason, suggestion] of cases) {
      const result = parseImageRef(input);
      assert.equal(result.ok, false, input);
      if (!result.ok) {
        assert.match(result.reason, reason, input);
        assert.equal(result.suggestion, suggestion, input);
      }
    }
  });
});

describe('sizes and durations', () => {
  it('reads Docker-style sizes in binary units', () => {
    assert.equal(parseSize('512m'), 512 * 1024 ** 2);
    assert.equal(parseSize('32g'), 32 * 1024 ** 3);
    assert.equal(parseSize('1.5GiB'), 1.5 * 1024 ** 3);
    assert.equal(parseSize('8G'), 8 * 1024 ** 3);
    assert.equal(parseSize(1024), 1024);
    for (const bad of ['32 gigs', 'lots', '-1g', '', '1.g']) assert.equal(parseSize(bad), undefined, bad);
  });

  it('reads durations as Go writes them, or seconds', () => {
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration(90), 90_000);
    for (const bad of ['2 hours', 'h', '', '1x']) assert.equal(parseDuration(bad), undefined, bad);
  });
});

describe('interpolation', () => {
  it('finds ${params...} and ${matrix...} with exact offsets, leaving shell variables and escapes alone', () => {
    const text = 'cmd: run --lr ${params.train.lr} --s ${ matrix.split } $HOME ${HOME} $${params.literal} ${run.id}';
    const found = findInterpolations(text, { start: 0, end: text.length });
    assert.deepEqual(
      found.map((item) => [item.namespace, item.path, text.slice(item.pathStart, item.pathStart + item.path.length)]),
      [
        ['params', 'train.lr', 'train.lr'],
        ['matrix', 'split', 'split'],
        ['run', 'id', 'id'],
      ],
    );
  });

  it('substitutes known references and keeps unknown ones as written', () => {
    const lookup = (namespace: string, path: string) => (namespace === 'params' && path === 'a' ? '1' : undefined);
    assert.equal(substitute('x-${params.a}-${params.b}-$${params.a}', lookup), 'x-1-${params.b}-$${params.a}');
  });

  it('normalises paths', () => {
    assert.equal(normalizePath('./data//raw/'), 'data/raw');
    assert.equal(normalizePath('a/../b'), 'b');
    assert.equal(normalizePath('.'), '');
  });
});

describe('SPDX licenses', () => {
  it('accepts identifiers, expressions, LicenseRef and Hugging Face\'s "other"', () => {
    for (const license of [
      'MIT',
      'Apache-2.0',
      'MIT OR Apache-2.0',
      '(MIT AND BSD-3-Clause)',
      'GPL-2.0-only WITH Classpath-exception-2.0',
      'LicenseRef-acme-1',
      'other',
      'GPL-2.0+',
    ])
      assert.ok(checkLicense(license).ok, license);
  });

  it('suggests the identifier people meant', () => {
    const cases: [string, string | undefined][] = [
      ['Apache 2.0', 'Apache-2.0'],
      ['mit', 'MIT'],
      ['MIT or Apache-2.0', 'MIT OR Apache-2.0'],
      ['apache-2.0', 'Apache-2.0'],
      ['Proprietary', undefined],
    ];
    for (const [input, suggestion] of cases) {
      const result = checkLicense(input);
      assert.equal(result.ok, false, input);
      if (!result.ok) assert.equal(result.suggestion, suggestion, input);
    }
    const deprecated = checkLicense('GPL-3.0');
    assert.ok(
      deprecated.ok && deprecated.deprecated === 'GPL-3.0' && deprecated.replacement === 'GPL-3.0-only',
      'a deprecated id is accepted, with its current form',
    );
    const other = checkLicense('eCos-2.0');
    assert.ok(other.ok && other.deprecated === 'eCos-2.0' && other.replacement === undefined);
    assert.equal(checkLicense('unknown').ok, false, 'a card must name its license');
    const lower = checkLicense('gpl-3.0');
    assert.ok(
      !lower.ok && lower.suggestion === 'GPL-3.0-only',
      'a deprecated id in the wrong case points at its current form',
    );
    const orLater = checkLicense('GPL-2.0+');
    assert.ok(orLater.ok && orLater.replacement === 'GPL-2.0-or-later');
  });
});

describe('did you mean', () => {
  it('suggests close words and nothing for unrelated ones', () => {
    assert.equal(didYouMean('prepar', ['prepare', 'train']), 'prepare');
    assert.equal(didYouMean('trian', ['prepare', 'train']), 'train');
    assert.equal(didYouMean('Train', ['train']), 'train');
    assert.equal(didYouMean('x', ['prepare', 'train']), undefined);
    assert.equal(didYouMean('evaluation', ['prepare', 'train']), undefined);
    assert.equal(editDistance('ab', 'ba'), 1, 'a transposition is one edit');
  });
});
