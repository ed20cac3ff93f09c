import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { type Diagnostic } from '../../core/src/diagnostics/diagnostic';
import { nodeFileHost } from '../../core/src/workspace/file-host';
import { Workspace } from '../../core/src/workspace/workspace';
import { tempWorkspace } from '../support/files';

/**
 * The card a Hugging Face model would get: its front matter's `license` (and `tags`,
 * `pipeline_tag`, `library_name`) under `model:`. `license_name` and `license_link` have no place
 * in an mlpipe card and are left out.
 */
function cardFrom(frontMatter: string): string {
  const meta = parse(frontMatter.replace(/^---\n|---\n$/g, '')) as Record<string, unknown>;
  const lines = ['model:', '  name: hub-model', '  version: 1.0.0', `  license: ${String(meta.license)}`];
  if (Array.isArray(meta.tags)) lines.push(`  tags: [${meta.tags.join(', ')}]`);
  if (typeof meta.pipeline_tag === 'string') lines.push(`  task: ${meta.pipeline_tag}`);
  if (typeof meta.library_name === 'string') lines.push(`  library: ${meta.library_name}`);
  return `${lines.join('\n')}\n`;
}

interface Finding {
  severity: Diagnostic['severity'];
  code: string;
  /** The text the finding underlines. */
  at: string;
  message: string;
  fixes: string[];
}

/** Every finding `mlpipe check` reports for a model card, with the text each one underlines. */
function check(card: string): { findings: Finding[]; fixed: string | undefined } {
  const { dir, cleanup } = tempWorkspace({ 'modelcard.yaml': card });
  try {
    const analysis = new Workspace(nodeFileHost).analyze(join(dir, 'modelcard.yaml'));
    const findings = analysis.diagnostics.map((d) => ({
      severity: d.severity,
      code: d.code,
      at: card.slice(d.start, d.end),
      message: d.message,
      fixes: (d.fixes ?? []).map((fix) => fix.title),
    }));
    const edits = analysis.diagnostics[0]?.fixes?.[0]?.edits ?? [];
    const fixed =
      edits.length === 0
        ? undefined
        : [...edits]
            .sort((a, b) => b.start - a.start)
            .reduce((text, e) => text.slice(0, e.start) + e.newText + text.slice(e.end), card);
    return { findings, fixed };
  } finally {
    cleanup();
  }
}

const licenseOf = (card: string) => /license: (.*)/.exec(card)?.[1];

const CONSUMERS = 'OCI and ModelPack consumers may not recognise it';

describe('model card licenses from Hugging Face', () => {
  it('apache-2.0 (google-bert/bert-base-uncased) is Apache-2.0: a hint with a fix, not an error', () => {
    const card = cardFrom(`---
language: en
tags:
- exbert
license: apache-2.0
datasets:
- bookcorpus
- wikipedia
---
`);
    const { findings, fixed } = check(card);
    assert.deepEqual(findings, [
      {
        severity: 'hint',
        code: 'bad-license',
        at: 'apache-2.0',
        message:
          "'apache-2.0' is the SPDX identifier 'Apache-2.0' in another case; SPDX matches identifiers case-insensitively, but tools that compare licenses as text expect 'Apache-2.0'.",
        fixes: ["Change to 'Apache-2.0'"],
      },
    ]);
    assert.ok(fixed);
    assert.equal(licenseOf(fixed), 'Apache-2.0');
    assert.deepEqual(check(fixed).findings, [], 'the fix leaves nothing to report');
  });

  it('mit (microsoft/phi-2) is MIT', () => {
    const card = cardFrom(`---
license: mit
license_link: https://huggingface.co/microsoft/phi-2/resolve/main/LICENSE
language:
- en
pipeline_tag: text-generation
tags:
- nlp
- code
---
`);
    const { findings, fixed } = check(card);
    assert.deepEqual(findings, [
      {
        severity: 'hint',
        code: 'bad-license',
        at: 'mit',
        message:
          "'mit' is the SPDX identifier 'MIT' in another case; SPDX matches identifiers case-insensitively, but tools that compare licenses as text expect 'MIT'.",
        fixes: ["Change to 'MIT'"],
      },
    ]);
    assert.equal(licenseOf(fixed ?? ''), 'MIT');
  });

  it('cc-by-nc-4.0 (facebook/nllb-200-distilled-600M) is CC-BY-NC-4.0', () => {
    const card = cardFrom(`---
language:
- ace
- en
tags:
- nllb
- translation
license: cc-by-nc-4.0
datasets:
- flores-200
metrics:
- bleu
- spbleu
- chrf++
inference: false
---
`);
    const { findings, fixed } = check(card);
    assert.deepEqual(findings, [
      {
        severity: 'hint',
        code: 'bad-license',
        at: 'cc-by-nc-4.0',
        message:
          "'cc-by-nc-4.0' is the SPDX identifier 'CC-BY-NC-4.0' in another case; SPDX matches identifiers case-insensitively, but tools that compare licenses as text expect 'CC-BY-NC-4.0'.",
        fixes: ["Change to 'CC-BY-NC-4.0'"],
      },
    ]);
    assert.equal(licenseOf(fixed ?? ''), 'CC-BY-NC-4.0');
  });

  it('llama3 (meta-llama/Meta-Llama-3-8B) is accepted, with a note that it is not SPDX', () => {
    const card = cardFrom(`---
language:
- en
pipeline_tag: text-generation
tags:
- facebook
- meta
- pytorch
- llama
- llama-3
license: llama3
---
`);
    assert.deepEqual(check(card).findings, [
      {
        severity: 'information',
        code: 'bad-license',
        at: 'llama3',
        message: `'llama3' is the Hugging Face license keyword for the Llama 3 Community License Agreement, not an SPDX identifier; ${CONSUMERS}.`,
        fixes: [],
      },
    ]);
  });

  it('openrail (lllyasviel/ControlNet) is a family of licenses, not one', () => {
    const card = cardFrom(`---
license: openrail
---
`);
    assert.deepEqual(check(card).findings, [
      {
        severity: 'information',
        code: 'bad-license',
        at: 'openrail',
        message: `'openrail' is the Hugging Face license keyword for the OpenRAIL license family, not one license, and not an SPDX identifier; ${CONSUMERS}.`,
        fixes: [],
      },
    ]);
  });

  it('other, with license_name and license_link (Qwen/Qwen-7B), says nothing about the terms', () => {
    const frontMatter = `---
language:
- zh
- en
tags:
- qwen
pipeline_tag: text-generation
inference: false
license: other
license_name: tongyi-qianwen-license-agreement
license_link: https://github.com/QwenLM/Qwen/blob/main/Tongyi%20Qianwen%20LICENSE%20AGREEMENT
---
`;
    const card = cardFrom(frontMatter);
    assert.deepEqual(check(card).findings, [
      {
        severity: 'information',
        code: 'bad-license',
        at: 'other',
        message: `'other' is the Hugging Face license keyword for a license it does not list; it says nothing about the terms and is not an SPDX identifier, so ${CONSUMERS}. Name the license by its SPDX identifier, or as LicenseRef-NAME.`,
        fixes: [],
      },
    ]);
    // What the note asks for: the license_name as a LicenseRef.
    const { license_name } = parse(frontMatter.replace(/^---\n|---\n$/g, '')) as { license_name: string };
    assert.deepEqual(check(card.replace('license: other', `license: LicenseRef-${license_name}`)).findings, []);
  });

  it('unknown is accepted, with the same note', () => {
    const { findings } = check(cardFrom('---\nlicense: unknown\n---\n'));
    assert.deepEqual(findings, [
      {
        severity: 'information',
        code: 'bad-license',
        at: 'unknown',
        message: `'unknown' is the Hugging Face license keyword for a license that is not known; it says nothing about the terms and is not an SPDX identifier, so ${CONSUMERS}. Name the license by its SPDX identifier, or as LicenseRef-NAME.`,
        fixes: [],
      },
    ]);
  });

  it('gpl-3.0 is the deprecated GPL-3.0, in any case', () => {
    const { findings, fixed } = check(cardFrom('---\nlicense: gpl-3.0\n---\n'));
    assert.deepEqual(findings, [
      {
        severity: 'warning',
        code: 'deprecated-license',
        at: 'gpl-3.0',
        message:
          "SPDX deprecated the identifier 'GPL-3.0'; use 'GPL-3.0-only' (or 'GPL-3.0-or-later' if later versions are allowed).",
        fixes: ["Change to 'GPL-3.0-only'"],
      },
    ]);
    assert.equal(licenseOf(fixed ?? ''), 'GPL-3.0-only');
    const inside = check(cardFrom('---\nlicense: MIT OR agpl-3.0\n---\n')).findings;
    assert.deepEqual(
      inside.map((f) => [f.severity, f.code, f.fixes]),
      [['warning', 'deprecated-license', []]],
      'inside an expression: the warning, without a fix',
    );
  });

  it('maps a keyword to SPDX only where the license is exactly the same', () => {
    const summary = (license: string) =>
      check(cardFrom(`---\nlicense: ${license}\n---\n`)).findings.map((f) => `${f.severity} ${f.fixes.join(', ')}`);
    // SPDX identifiers in lowercase.
    assert.deepEqual(summary('afl-3.0'), ["hint Change to 'AFL-3.0'"]);
    assert.deepEqual(summary('ecl-2.0'), ["hint Change to 'ECL-2.0'"]);
    assert.deepEqual(summary('etalab-2.0'), [], "SPDX's own identifier is lowercase");
    // The Lesser General Public License For Linguistic Resources, by another name.
    assert.deepEqual(summary('lgpl-lr'), ["information Change to 'LGPLLR'"]);
    // Open Data Commons licenses, by their Hub names.
    assert.deepEqual(summary('odbl'), ["information Change to 'ODbL-1.0'"]);
    assert.deepEqual(summary('odc-by'), ["information Change to 'ODC-By-1.0'"]);
    assert.deepEqual(summary('pddl'), ["information Change to 'PDDL-1.0'"]);
    assert.deepEqual(summary('bsd'), ['information ']);
    assert.deepEqual(summary('gpl'), ['information ']);
    // Families and versionless names: no SPDX identifier is the same license.
    assert.deepEqual(summary('gfdl'), ['information ']);
    assert.deepEqual(summary('cc'), ['information ']);
    assert.deepEqual(summary('c-uda'), ['information ']);
    assert.match(check(cardFrom('---\nlicense: c-uda\n---\n')).findings[0].message, /'C-UDA-1\.0'/);
  });

  it('accepts every Hugging Face keyword: no error, no warning', () => {
    const keywords = [
      'openrail',
      'openrail++',
      'bigscience-openrail-m',
      'creativeml-openrail-m',
      'bigscience-bloom-rail-1.0',
      'bigcode-openrail-m',
      'afl-3.0',
      'ecl-2.0',
      'etalab-2.0',
      'lgpl-lr',
      'deepfloyd-if-license',
      'llama2',
      'llama3',
      'llama3.1',
      'llama3.2',
      'llama3.3',
      'llama4',
      'gemma',
      'apple-ascl',
      'intel-research',
      'unknown',
      'other',
      'cc',
      'c-uda',
      'h-research',
      'gfdl',
      'bsd',
      'gpl',
      'lgpl',
      'odbl',
      'odc-by',
      'pddl',
    ];
    for (const keyword of keywords) {
      const findings = check(cardFrom(`---\nlicense: ${keyword}\n---\n`)).findings;
      assert.ok(
        findings.every((f) => f.severity === 'information' || f.severity === 'hint'),
        `${keyword}: ${JSON.stringify(findings)}`,
      );
      assert.ok(findings.length <= 1, keyword);
    }
  });

  it('offers the keyword in lowercase when a Hugging Face keyword is written in another case', () => {
    const { findings, fixed } = check(cardFrom('---\nlicense: Gemma\n---\n'));
    assert.deepEqual(
      findings.map((f) => [f.severity, f.fixes]),
      [['information', ["Change to 'gemma'"]]],
    );
    assert.equal(licenseOf(fixed ?? ''), 'gemma');
  });

  it('fixes the case inside quotes and across an expression', () => {
    const quoted = check('model:\n  name: m\n  version: 1.0.0\n  license: "mit OR apache-2.0"\n');
    assert.deepEqual(
      quoted.findings.map((f) => [f.severity, f.code, f.at, f.fixes]),
      [['hint', 'bad-license', '"mit OR apache-2.0"', ["Change to 'MIT OR Apache-2.0'"]]],
    );
    assert.equal(licenseOf(quoted.fixed ?? ''), '"MIT OR Apache-2.0"');
  });

  it('keeps a truly unknown id an error, with a did-you-mean', () => {
    const { findings, fixed } = check(cardFrom('---\nlicense: apache-2\n---\n'));
    assert.deepEqual(findings, [
      {
        severity: 'error',
        code: 'bad-license',
        at: 'apache-2',
        message: "Invalid license: 'apache-2' is not an SPDX license identifier; did you mean 'Apache-2.0'?",
        fixes: ["Change to 'Apache-2.0'"],
      },
    ]);
    assert.equal(licenseOf(fixed ?? ''), 'Apache-2.0');
  });

  it('fixes one identifier of an expression without dropping the rest', () => {
    const { findings, fixed } = check(cardFrom('---\nlicense: MIT OR Apche-2.0\n---\n'));
    assert.deepEqual(
      findings.map((f) => [f.severity, f.message, f.fixes]),
      [
        [
          'error',
          "Invalid license: 'Apche-2.0' is not an SPDX license identifier; did you mean 'MIT OR Apache-2.0'?",
          ["Change to 'MIT OR Apache-2.0'"],
        ],
      ],
    );
    assert.equal(licenseOf(fixed ?? ''), 'MIT OR Apache-2.0');
  });

  it('does not take a Hugging Face keyword inside an SPDX expression', () => {
    const { findings } = check(cardFrom('---\nlicense: llama3 OR MIT\n---\n'));
    assert.deepEqual(
      findings.map((f) => [f.severity, f.code, f.message, f.fixes]),
      [
        [
          'error',
          'bad-license',
          "Invalid license: 'llama3' is a Hugging Face license keyword, which can be the whole license but not part of an SPDX expression; inside an expression, name that license as LicenseRef-NAME.",
          [],
        ],
      ],
    );
  });
});
