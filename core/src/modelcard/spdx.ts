import deprecatedIds from 'spdx-license-ids/deprecated.json';
import licenseIds from 'spdx-license-ids/index.json';
import { didYouMean } from '../util/did-you-mean';

const IDS = new Set<string>(licenseIds as string[]);
const DEPRECATED = new Set<string>(deprecatedIds as string[]);
const BY_LOWER = new Map<string, string>([...IDS].map((id) => [id.toLowerCase(), id]));
/** Names people write for the licences models most often carry. */
const COMMON_NAMES: Record<string, string> = {
  apache: 'Apache-2.0',
  apache2: 'Apache-2.0',
  'apache 2': 'Apache-2.0',
  'apache 2.0': 'Apache-2.0',
  'apache license 2.0': 'Apache-2.0',
  'mit license': 'MIT',
  gpl3: 'GPL-3.0-only',
  gplv3: 'GPL-3.0-only',
  gpl2: 'GPL-2.0-only',
  bsd: 'BSD-3-Clause',
  'bsd-3': 'BSD-3-Clause',
  'cc-by-4.0': 'CC-BY-4.0',
  'cc by 4.0': 'CC-BY-4.0',
};

/** Current identifiers for the deprecated ones people still write. */
const REPLACEMENTS: Record<string, string> = {
  'GPL-1.0': 'GPL-1.0-only',
  'GPL-2.0': 'GPL-2.0-only',
  'GPL-3.0': 'GPL-3.0-only',
  'LGPL-2.0': 'LGPL-2.0-only',
  'LGPL-2.1': 'LGPL-2.1-only',
  'LGPL-3.0': 'LGPL-3.0-only',
  'AGPL-1.0': 'AGPL-1.0-only',
  'AGPL-3.0': 'AGPL-3.0-only',
  'GFDL-1.1': 'GFDL-1.1-only',
  'GFDL-1.2': 'GFDL-1.2-only',
  'GFDL-1.3': 'GFDL-1.3-only',
};

export type LicenseCheck =
  { ok: true; deprecated?: string; replacement?: string } | { ok: false; reason: string; suggestion?: string };

/** The current form of a deprecated id; `GPL-2.0+` ("or later") becomes `GPL-2.0-or-later`. */
function replacementFor(token: string): string | undefined {
  const orLater = token.endsWith('+');
  const base = orLater ? token.slice(0, -1) : token;
  const only = REPLACEMENTS[base];
  return only && orLater ? only.replace(/-only$/, '-or-later') : only;
}

/**
 * Checks an SPDX license expression (`MIT`, `MIT OR Apache-2.0`, `GPL-2.0-only WITH Classpath-exception-2.0`,
 * `LicenseRef-acme`), and Hugging Face's `other` for a custom licence.
 */
export function checkLicense(expression: string): LicenseCheck {
  const text = expression.trim();
  if (text === '') return { ok: false, reason: 'the license is empty' };
  if (text === 'other') return { ok: true };
  const common = COMMON_NAMES[text.toLowerCase()];
  if (common && common !== text)
    return { ok: false, reason: `'${text}' is not an SPDX identifier`, suggestion: common };
  const tokens = text.split(/(\s+|\(|\))/).filter((token) => token.trim() !== '' && token !== '(' && token !== ')');
  let expectLicense = true;
  let afterWith = false;
  let deprecated: string | undefined;
  let replacement: string | undefined;
  for (const token of tokens) {
    if (!expectLicense) {
      if (token === 'AND' || token === 'OR') {
        expectLicense = true;
        continue;
      }
      if (token === 'WITH') {
        expectLicense = true;
        afterWith = true;
        continue;
      }
      if (/^(and|or|with)$/i.test(token)) {
        // Operators are whole words between spaces; ids such as GPL-2.0-or-later keep their case.
        const fixed = text.replace(
          /(^|\s)(and|or|with)(?=\s|$)/gi,
          (_, space: string, word: string) => `${space}${word.toUpperCase()}`,
        );
        return { ok: false, reason: `SPDX operators are uppercase: write '${token.toUpperCase()}'`, suggestion: fixed };
      }
      const joined = didYouMean(text.replace(/\s+/g, '-'), IDS);
      return { ok: false, reason: `'${text}' is not an SPDX license expression`, suggestion: joined };
    }
    expectLicense = false;
    if (afterWith) {
      afterWith = false; // exception identifiers are a separate list; accept any
      continue;
    }
    const id = token.endsWith('+') ? token.slice(0, -1) : token;
    if (IDS.has(id)) continue;
    if (DEPRECATED.has(id)) {
      deprecated = token;
      replacement = replacementFor(token);
      continue;
    }
    // A deprecated id in the wrong case: point straight at its current form.
    const deprecatedCase = [...DEPRECATED].find((candidate) => candidate.toLowerCase() === id.toLowerCase());
    if (deprecatedCase) {
      const current = replacementFor(token.endsWith('+') ? `${deprecatedCase}+` : deprecatedCase);
      return {
        ok: false,
        reason: `'${token}' is not an SPDX license identifier`,
        suggestion: current ?? deprecatedCase,
      };
    }
    if (/^(DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+$/.test(id)) continue;
    const exactCase = BY_LOWER.get(id.toLowerCase());
    const suggestion =
      exactCase ?? didYouMean(id, IDS) ?? (tokens.length > 1 ? didYouMean(text.replace(/\s+/g, '-'), IDS) : undefined);
    return { ok: false, reason: `'${id}' is not an SPDX license identifier`, suggestion };
  }
  if (expectLicense) return { ok: false, reason: `the expression '${text}' ends with an operator` };
  return deprecated ? { ok: true, deprecated, replacement } : { ok: true };
}
