import { type Severity } from '../diagnostics/diagnostic';
import { checkLicense } from './spdx';

/** A license keyword of the Hugging Face Hub that is not an SPDX identifier in any case. */
export interface HuggingFaceLicense {
  keyword: string;
  /** The license (or family, or kind of answer) the keyword stands for. */
  name: string;
  /** `family`: several licenses; `none`: says nothing about the terms. */
  kind?: 'family' | 'none';
  /** The SPDX identifier for exactly this license, when there is one. */
  spdx?: string;
  /** Related SPDX identifiers that are not exactly the keyword's license. */
  note?: string;
}

/**
 * Hugging Face's license keywords (huggingface.co/docs/hub/repositories-licenses) that are not
 * SPDX identifiers. The rest of its list (`apache-2.0`, `mit`, `cc-by-nc-4.0`, `afl-3.0`,
 * `ecl-2.0`, `etalab-2.0`, ...) are SPDX identifiers in lowercase, and SPDX matches identifiers
 * case-insensitively.
 */
const HUGGING_FACE: readonly HuggingFaceLicense[] = [
  { keyword: 'openrail', name: 'the OpenRAIL license family', kind: 'family' },
  { keyword: 'openrail++', name: 'the Open RAIL++-M License' },
  { keyword: 'bigscience-openrail-m', name: 'the BigScience OpenRAIL-M license' },
  { keyword: 'creativeml-openrail-m', name: 'the CreativeML OpenRAIL-M license' },
  { keyword: 'bigscience-bloom-rail-1.0', name: 'the BigScience BLOOM RAIL 1.0 license' },
  { keyword: 'bigcode-openrail-m', name: 'the BigCode Open RAIL-M v1 license' },
  {
    keyword: 'lgpl-lr',
    name: 'the Lesser General Public License For Linguistic Resources',
    spdx: 'LGPLLR',
  },
  { keyword: 'deepfloyd-if-license', name: 'the DeepFloyd IF Research License Agreement' },
  { keyword: 'llama2', name: 'the Llama 2 Community License Agreement' },
  { keyword: 'llama3', name: 'the Llama 3 Community License Agreement' },
  { keyword: 'llama3.1', name: 'the Llama 3.1 Community License Agreement' },
  { keyword: 'llama3.2', name: 'the Llama 3.2 Community License Agreement' },
  { keyword: 'llama3.3', name: 'the Llama 3.3 Community License Agreement' },
  { keyword: 'llama4', name: 'the Llama 4 Community License Agreement' },
  { keyword: 'gemma', name: 'the Gemma Terms of Use' },
  { keyword: 'apple-ascl', name: 'the Apple Sample Code License' },
  { keyword: 'intel-research', name: 'the Intel Research Use License Agreement' },
  { keyword: 'h-research', name: 'the H Research License' },
  {
    keyword: 'c-uda',
    name: 'the Computational Use of Data Agreement',
    note: "SPDX lists its version 1.0 as 'C-UDA-1.0'",
  },
  {
    keyword: 'cc',
    name: 'the Creative Commons license family',
    kind: 'family',
    note: "SPDX names each license, such as 'CC-BY-4.0' or 'CC-BY-NC-4.0'",
  },
  {
    keyword: 'gfdl',
    name: 'the GNU Free Documentation License family',
    kind: 'family',
    note: "SPDX names each version, such as 'GFDL-1.3-only' or 'GFDL-1.3-or-later'",
  },
  {
    keyword: 'bsd',
    name: 'the BSD license family',
    kind: 'family',
    note: "SPDX names each variant, such as 'BSD-3-Clause' or 'BSD-2-Clause'",
  },
  {
    keyword: 'gpl',
    name: 'the GNU General Public License family',
    kind: 'family',
    note: "SPDX names each version, such as 'GPL-3.0-only' or 'GPL-3.0-or-later'",
  },
  {
    keyword: 'lgpl',
    name: 'the GNU Lesser General Public License family',
    kind: 'family',
    note: "SPDX names each version, such as 'LGPL-3.0-only' or 'LGPL-2.1-or-later'",
  },
  { keyword: 'odbl', name: 'the Open Data Commons Open Database License', spdx: 'ODbL-1.0' },
  { keyword: 'odc-by', name: 'the Open Data Commons Attribution License', spdx: 'ODC-By-1.0' },
  { keyword: 'pddl', name: 'the Open Data Commons Public Domain Dedication and License', spdx: 'PDDL-1.0' },
  { keyword: 'unknown', name: 'a license that is not known', kind: 'none' },
  { keyword: 'other', name: 'a license it does not list', kind: 'none' },
];

const BY_KEYWORD = new Map(HUGGING_FACE.map((entry) => [entry.keyword, entry]));

/** The Hugging Face keyword a license is, in any case; undefined for SPDX identifiers and everything else. */
export function huggingFaceLicense(license: string): HuggingFaceLicense | undefined {
  return BY_KEYWORD.get(license.trim().toLowerCase());
}

/** What is wrong with, or worth knowing about, a model card's license; the card check places it. */
export interface LicenseFinding {
  severity: Severity;
  code: 'bad-license' | 'deprecated-license';
  message: string;
  /** The whole license to write instead (a quick fix "Change to '...'"). */
  fix?: string;
  tags?: 'deprecated'[];
}

const CONSUMERS = 'OCI and ModelPack consumers may not recognise';

/**
 * Checks `model.license`: an SPDX expression, matched case-insensitively as SPDX specifies, or one
 * of Hugging Face's license keywords. Undefined when there is nothing to say.
 */
export function licenseFinding(value: string): LicenseFinding | undefined {
  const text = value.trim();
  const keyword = huggingFaceLicense(text);
  if (keyword) return huggingFaceFinding(text, keyword);

  const result = checkLicense(text, { ignoreCase: true });
  if (!result.ok) {
    const inside = result.token === undefined ? undefined : huggingFaceLicense(result.token);
    if (inside)
      return {
        severity: 'error',
        code: 'bad-license',
        message: `Invalid license: '${result.token}' is a Hugging Face license keyword, which can be the whole license but not part of an SPDX expression; inside an expression, name that license as LicenseRef-NAME.`,
      };
    return {
      severity: 'error',
      code: 'bad-license',
      message: `Invalid license: ${result.reason}${result.suggestion ? `; did you mean '${result.suggestion}'?` : '. Use an SPDX identifier such as Apache-2.0 or MIT, or `other`.'}`,
      fix: result.suggestion,
    };
  }
  if (result.deprecated) {
    const replacement = result.replacement;
    return {
      severity: 'warning',
      code: 'deprecated-license',
      message: `SPDX deprecated the identifier '${result.deprecated}'${
        replacement
          ? `; use '${replacement}'${replacement.endsWith('-only') ? ` (or '${replacement.replace(/-only$/, '-or-later')}' if later versions are allowed)` : ''}`
          : '; use its current identifier from spdx.org/licenses'
      }.`,
      tags: ['deprecated'],
      fix: replacement && text.toLowerCase() === result.deprecated.toLowerCase() ? replacement : undefined,
    };
  }
  if (result.canonical) {
    const what = /\s/.test(result.canonical) ? 'expression' : 'identifier';
    return {
      severity: 'hint',
      code: 'bad-license',
      message: `'${text}' is the SPDX ${what} '${result.canonical}' in another case; SPDX matches identifiers case-insensitively, but tools that compare licenses as text expect '${result.canonical}'.`,
      fix: result.canonical,
    };
  }
  return undefined;
}

function huggingFaceFinding(text: string, keyword: HuggingFaceLicense): LicenseFinding {
  const what = `'${text}' is the Hugging Face license keyword for ${keyword.name}`;
  const note = keyword.note ? ` (${keyword.note})` : '';
  if (keyword.spdx)
    return {
      severity: 'information',
      code: 'bad-license',
      message: `${what}, whose SPDX identifier is '${keyword.spdx}'; ${CONSUMERS} the keyword.`,
      fix: keyword.spdx,
    };
  const fix = text === keyword.keyword ? undefined : keyword.keyword;
  if (keyword.kind === 'none')
    return {
      severity: 'information',
      code: 'bad-license',
      message: `${what}; it says nothing about the terms and is not an SPDX identifier, so ${CONSUMERS} it. Name the license by its SPDX identifier, or as LicenseRef-NAME.`,
      fix,
    };
  return {
    severity: 'information',
    code: 'bad-license',
    message: `${what}, ${keyword.kind === 'family' ? 'not one license, and ' : ''}not an SPDX identifier${note}; ${CONSUMERS} it.`,
    fix,
  };
}
