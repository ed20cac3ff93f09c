import deprecatedIds from 'spdx-license-ids/deprecated.json';
import licenseIds from 'spdx-license-ids/index.json';
import { didYouMean } from '../util/did-you-mean';

const IDS = new Set<string>(licenseIds as string[]);
const DEPRECATED = new Set<string>(deprecatedIds as string[]);
const BY_LOWER = new Map<string, string>([...IDS].map((id) => [id.toLowerCase(), id]));
const DEPRECATED_BY_LOWER = new Map<string, string>([...DEPRECATED].map((id) => [id.toLowerCase(), id]));
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
  | {
      ok: true;
      /** The deprecated identifier the expression uses, in SPDX's case, with its `+` if it has one. */
      deprecated?: string;
      replacement?: string;
      /** With `ignoreCase`: the expression with every identifier in SPDX's case, when that differs from the text. */
      canonical?: string;
    }
  | {
      ok: false;
      reason: string;
      /** The whole license to write instead. */
      suggestion?: string;
      /** The identifier that is not on the SPDX list, when that is the problem. */
      token?: string;
    };

export interface LicenseCheckOptions {
  /**
   * Match identifiers case-insensitively, as the SPDX specification does (`apache-2.0` is
   * `Apache-2.0`); `canonical` then gives the expression in SPDX's case. Operators stay uppercase.
   */
  ignoreCase?: boolean;
}

/** The current form of a deprecated id; `GPL-2.0+` ("or later") becomes `GPL-2.0-or-later`. */
function replacementFor(token: string): string | undefined {
  const orLater = token.endsWith('+');
  const base = orLater ? token.slice(0, -1) : token;
  const only = REPLACEMENTS[base];
  return only && orLater ? only.replace(/-only$/, '-or-later') : only;
}

/**
 * Checks an SPDX license expression (`MIT`, `MIT OR Apache-2.0`, `GPL-2.0-only WITH Classpath-exception-2.0`,
 * `LicenseRef-acme`), and Hugging Face's `other` for a custom licence. Identifiers must have SPDX's
 * exact case unless `ignoreCase` is set.
 */
export function checkLicense(expression: string, options: LicenseCheckOptions = {}): LicenseCheck {
  return check(expression.trim(), options.ignoreCase === true, true);
}

function check(text: string, ignoreCase: boolean, suggest: boolean): LicenseCheck {
  if (text === '') return { ok: false, reason: 'the license is empty' };
  if (text === 'other') return { ok: true };
  const common = COMMON_NAMES[text.toLowerCase()];
  if (common && (ignoreCase ? common.toLowerCase() !== text.toLowerCase() : common !== text))
    return { ok: false, reason: `'${text}' is not an SPDX identifier`, suggestion: suggest ? common : undefined };
  // Separators stay in `parts`, so the text can be rebuilt with one token changed.
  const parts = text.split(/(\s+|\(|\))/);
  const tokenCount = parts.filter(isToken).length;
  const withPart = (index: number, replacement: string) =>
    parts.map((part, i) => (i === index ? replacement : part)).join('');
  /** The first candidate that makes the whole expression valid, in SPDX's case. */
  const firstValid = (candidates: (string | undefined)[]): string | undefined => {
    if (!suggest) return undefined;
    for (const candidate of candidates) {
      const result = candidate === undefined ? undefined : check(candidate, ignoreCase, false);
      if (result?.ok) return result.canonical ?? candidate;
    }
    return undefined;
  };
  let expectLicense = true;
  let afterWith = false;
  let deprecated: string | undefined;
  let replacement: string | undefined;
  for (const [index, token] of parts.entries()) {
    if (!isToken(token)) continue;
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
        const fixed = parts
          .join('')
          .replace(
            /(^|\s)(and|or|with)(?=\s|$)/gi,
            (_, space: string, word: string) => `${space}${word.toUpperCase()}`,
          );
        return {
          ok: false,
          reason: `SPDX operators are uppercase: write '${token.toUpperCase()}'`,
          suggestion: firstValid([fixed]) ?? (suggest ? fixed : undefined),
        };
      }
      return {
        ok: false,
        reason: `'${text}' is not an SPDX license expression`,
        suggestion: suggest ? joined(text) : undefined,
      };
    }
    expectLicense = false;
    if (afterWith) {
      afterWith = false; // exception identifiers are a separate list; accept any
      continue;
    }
    const plus = token.endsWith('+') ? '+' : '';
    const id = plus ? token.slice(0, -1) : token;
    const current = ignoreCase ? BY_LOWER.get(id.toLowerCase()) : IDS.has(id) ? id : undefined;
    if (current) {
      parts[index] = current + plus;
      continue;
    }
    const old = ignoreCase ? DEPRECATED_BY_LOWER.get(id.toLowerCase()) : DEPRECATED.has(id) ? id : undefined;
    if (old) {
      parts[index] = old + plus;
      deprecated = old + plus;
      replacement = replacementFor(deprecated);
      continue;
    }
    // A deprecated id in the wrong case: point straight at its current form.
    const deprecatedCase = DEPRECATED_BY_LOWER.get(id.toLowerCase());
    if (deprecatedCase) {
      const current = replacementFor(deprecatedCase + plus);
      return {
        ok: false,
        reason: `'${token}' is not an SPDX license identifier`,
        suggestion: suggest ? withPart(index, current ?? deprecatedCase + plus) : undefined,
      };
    }
    if (/^(DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+$/.test(id)) continue;
    const close = suggest ? (BY_LOWER.get(id.toLowerCase()) ?? didYouMean(id, IDS)) : undefined;
    const suggestion = firstValid([close && withPart(index, close + plus), tokenCount > 1 ? joined(text) : undefined]);
    return { ok: false, reason: `'${id}' is not an SPDX license identifier`, suggestion, token: id };
  }
  if (expectLicense) return { ok: false, reason: `the expression '${text}' ends with an operator` };
  const canonical = parts.join('');
  return {
    ok: true,
    ...(deprecated ? { deprecated, replacement } : {}),
    ...(canonical !== text ? { canonical } : {}),
  };
}

/** The identifier a license written with spaces for dashes (`BSD 3 Clause`) is, or is closest to. */
function joined(text: string): string | undefined {
  const dashed = text.replace(/\s+/g, '-');
  return BY_LOWER.get(dashed.toLowerCase()) ?? didYouMean(dashed, IDS);
}

function isToken(part: string): boolean {
  return part.trim() !== '' && part !== '(' && part !== ')';
}
