/**
 * The ModelPack config mlpipe pushes carries what the model card knows (issue 16): authors from
 * the owners, the description, the license as SPDX, the first web reference as docURL, the
 * datasets, and the languages as capabilities; pulled back from a real registry (CNCF
 * Distribution) and from the local layout, and valid against ModelPack's own config schema
 * (test/fixtures/modelpack, from modelpack/model-spec).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Ajv2020 from 'ajv/dist/2020';
import { pushToLayout } from '../../core/src/registry/layout';
import { buildArtifact, spdxLicense } from '../../core/src/registry/modelpack';
import { pushToOci } from '../../core/src/registry/oci';
import { ROOT } from '../support/files';
import { makePackage, registryGet, registryMissing, startRegistry, type RunningRegistry } from '../support/registry';

const missing = registryMissing();
if (missing && process.env.CI) throw new Error(`registry tests cannot run: ${missing}`);

const ajv = new Ajv2020({ allErrors: true, strict: false });
// RFC 3339 date-time, as the schema's "format": "date-time" means it.
ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i);
const validConfig = ajv.compile(
  JSON.parse(readFileSync(join(ROOT, 'test/fixtures/modelpack/config-schema.json'), 'utf8')) as object,
);

function assertValid(config: unknown): void {
  assert.ok(validConfig(config), JSON.stringify(validConfig.errors, null, 2));
}

/** The sample workspace's card, with the Hugging Face fields a card may also have. */
function sampleCard(): string {
  return readFileSync(join(ROOT, 'sample-workspace/modelcard.yaml'), 'utf8').replace(
    '  tags:',
    '  language: [en, de, multilingual]\n  datasets: [scikit-learn/churn-prediction]\n  references: [churn design doc, https://example.com/churn-design-doc]\n  tags:',
  );
}

const EXPECTED_FROM_CARD = {
  authors: ['ML Platform team <ml-platform@example.com>'],
  licenses: ['Apache-2.0'],
  docURL: 'https://example.com/churn-design-doc',
  datasetsURL: ['scikit-learn/churn-prediction'],
};

describe('the ModelPack config carries the model card', () => {
  const dirs: string[] = [];
  const temp = () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-modelpack-card-'));
    dirs.push(dir);
    return dir;
  };
  after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it('fills authors, description, licenses, docURL, datasetsURL and languages, valid for the ModelPack schema', async () => {
    const dir = temp();
    const pkg = makePackage(dir);
    writeFileSync(join(dir, 'modelcard.yaml'), sampleCard());
    const config = JSON.parse((await buildArtifact(pkg)).config.toString()) as {
      descriptor: Record<string, unknown>;
      config: { capabilities?: { languages?: string[] } };
    };
    assertValid(config);
    assert.deepEqual(
      { ...config.descriptor, description: undefined },
      {
        name: 'churn-classifier',
        version: '1.0.0',
        createdAt: '2026-01-03T10:00:00.000Z',
        revision: 'abc123',
        sourceURL: 'https://example.com/churn.git',
        description: undefined,
        ...EXPECTED_FROM_CARD,
      },
    );
    assert.match(String(config.descriptor.description), /^Logistic regression that scores how likely a customer/);
    // ModelPack's languages are ISO 639 two-letter codes: the Hub's `multilingual` is not one.
    assert.deepEqual(config.config.capabilities?.languages, ['en', 'de']);
  });

  it('writes licenses as SPDX: canonical case, Hub keywords by SPDX id or LicenseRef, nothing for other', async () => {
    assert.equal(spdxLicense('apache-2.0'), 'Apache-2.0');
    assert.equal(spdxLicense('mit OR apache-2.0'), 'MIT OR Apache-2.0');
    assert.equal(spdxLicense('lgpl-lr'), 'LGPLLR');
    assert.equal(spdxLicense('llama3'), 'LicenseRef-llama3');
    assert.equal(spdxLicense('other'), undefined);
    assert.equal(spdxLicense('unknown'), undefined);
    for (const license of ['llama3', 'other']) {
      const dir = temp();
      const pkg = makePackage(dir);
      writeFileSync(join(dir, 'modelcard.yaml'), sampleCard().replace('license: Apache-2.0', `license: ${license}`));
      const config = JSON.parse((await buildArtifact(pkg)).config.toString()) as {
        descriptor: { licenses?: string[] };
      };
      assertValid(config);
      assert.deepEqual(config.descriptor.licenses, license === 'other' ? undefined : ['LicenseRef-llama3']);
    }
  });

  it('stays valid for the ModelPack schema with hostile card values, taking only texts', async () => {
    const cards = [
      `model:\n  name: m\n  version: 1.0.0\n  license: "(MIT OR GPL-2.0+) WITH Classpath-exception-2.0 AND LicenseRef-x"\n  owners: [{name: "a\\u0000b", contact: c}, 3, null, {name: [x]}, "  "]\n  description: "${'x'.repeat(200_000)}"\n  references: [{a: 1}, "ftp://x", "https://example.com/doc"]\n  language: [en, EN, "e n", 1, {a: b}]\n  datasets: [{a: 1}, d, 2]\n`,
      `model:\n  name: m\n  version: 1.0.0\n  license: "DocumentRef-x:LicenseRef-y"\n  description: [x]\n  owners: x\n  language: en\n`,
      `model:\n  license: "${'a-'.repeat(100_000)}b"\n  description: "   "\n`,
      'model: [1]\n',
      'model: &a\n  description: *a\n',
    ];
    for (const card of cards) {
      const dir = temp();
      const pkg = makePackage(dir);
      writeFileSync(join(dir, 'modelcard.yaml'), card);
      const config = JSON.parse((await buildArtifact(pkg)).config.toString()) as {
        descriptor: Record<string, unknown>;
        config: { capabilities?: { languages?: string[] } };
      };
      assertValid(config);
      for (const key of ['authors', 'licenses', 'datasetsURL'])
        for (const item of (config.descriptor[key] as unknown[] | undefined) ?? [])
          assert.equal(typeof item, 'string', key);
      if (card.startsWith('model:\n  name: m\n  version: 1.0.0\n  license: "(MIT')) {
        assert.deepEqual(config.descriptor.authors, ['a\u0000b <c>']);
        assert.equal(config.descriptor.docURL, 'https://example.com/doc');
        assert.deepEqual(config.descriptor.datasetsURL, ['d']);
        assert.deepEqual(config.config.capabilities?.languages, ['en']);
        assert.equal(String(config.descriptor.description).length, 200_000);
      }
    }
  });

  it('leaves out what a card without a model section does not say', async () => {
    const dir = temp();
    const config = JSON.parse((await buildArtifact(makePackage(dir))).config.toString()) as {
      descriptor: Record<string, unknown>;
      config: object;
    };
    assertValid(config);
    assert.deepEqual(Object.keys(config.descriptor).sort(), ['createdAt', 'name', 'revision', 'sourceURL', 'version']);
    assert.deepEqual(config.config, {});
  });

  it('the local layout holds the same config', async () => {
    const dir = temp();
    const pkg = makePackage(dir);
    writeFileSync(join(dir, 'modelcard.yaml'), sampleCard());
    const layout = join(dir, 'layout');
    await pushToLayout(pkg, layout);
    const built = await buildArtifact(pkg);
    const stored = readFileSync(join(layout, 'blobs', 'sha256', built.manifestDescriptor.digest.slice(7)), 'utf8');
    const configDigest = (JSON.parse(stored) as { config: { digest: string } }).config.digest;
    const config = readFileSync(join(layout, 'blobs', 'sha256', configDigest.slice(7)));
    assert.ok(config.equals(built.config));
    assertValid(JSON.parse(config.toString()));
  });

  describe('pushed to a real registry', { skip: missing }, () => {
    let registry: RunningRegistry;
    before(async () => (registry = await startRegistry()));
    after(async () => registry?.stop());

    it('pulls back a config with the card fields, valid for the ModelPack schema', async () => {
      const dir = temp();
      const pkg = makePackage(dir);
      writeFileSync(join(dir, 'modelcard.yaml'), sampleCard());
      await pushToOci(pkg, registry.target('team/churn'));
      const manifest = await registryGet(`${registry.url}/v2/team/churn/manifests/1.0.0`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(manifest.status, 200);
      const digest = (JSON.parse(manifest.body.toString()) as { config: { digest: string } }).config.digest;
      const blob = await registryGet(`${registry.url}/v2/team/churn/blobs/${digest}`);
      assert.equal(blob.status, 200);
      const config = JSON.parse(blob.body.toString()) as { descriptor: Record<string, unknown> };
      assertValid(config);
      for (const [key, value] of Object.entries(EXPECTED_FROM_CARD))
        assert.deepEqual(config.descriptor[key], value, key);
      assert.match(String(config.descriptor.description), /^Logistic regression/);
    });
  });
});
