import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { GENERATED, validatorSource } from '../../scripts/generate-validators';

describe('generated code', () => {
  it('the compiled validators match the schemas in schemas/ (else: npm run generate:validators)', () => {
    assert.ok(
      readFileSync(GENERATED, 'utf8') === validatorSource(),
      `${GENERATED} is out of date: run npm run generate:validators`,
    );
  });
});
