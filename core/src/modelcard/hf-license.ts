import { huggingFaceLicense } from './licenses';
import { checkLicense } from './spdx';

/**
 * Licenses between a model card (SPDX, or one of Hugging Face's keywords) and a Hub card's
 * `license` (Hugging Face's list of ids: lowercase SPDX ids and its own keywords; anything else is
 * `other` with `license_name` and `license_link`). The list is docs/hub/repositories-licenses.md
 * of huggingface/hub-docs (commit 242f4a1e).
 */
const HUB_IDS = new Set(
  (
    'apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 bigcode-openrail-m ' +
    'afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 ' +
    'cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 ' +
    'cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 ' +
    'cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl ' +
    'gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr ' +
    'mpl-2.0 odc-by odbl openmdw-1.0 openmdw-1.1 openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr ' +
    'deepfloyd-if-license fair-noncommercial-research-license llama2 llama3 llama3.1 llama3.2 llama3.3 llama4 ' +
    'grok2-community gemma unknown other'
  ).split(' '),
);

/** The Hub writes the GNU licenses by their deprecated SPDX ids; these are the current ones it means. */
const HUB_GNU: Record<string, string> = {
  'GPL-2.0-only': 'gpl-2.0',
  'GPL-3.0-only': 'gpl-3.0',
  'LGPL-2.1-only': 'lgpl-2.1',
  'LGPL-3.0-only': 'lgpl-3.0',
  'AGPL-3.0-only': 'agpl-3.0',
};

/** SPDX ids the Hub lists under a keyword of its own. */
const HUB_KEYWORD_FOR_SPDX: Record<string, string> = {
  'ODbL-1.0': 'odbl',
  'ODC-By-1.0': 'odc-by',
  'PDDL-1.0': 'pddl',
  LGPLLR: 'lgpl-lr',
};

export interface HubLicense {
  license: string;
  license_name?: string;
  license_link?: string;
  /** What the mapping could not say exactly, for the export report. */
  note?: string;
}

/** A Hub `license_name`: lowercase letters, digits, `.` and `-`. */
function hubName(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** The Hub license fields for a card's license. */
export function toHubLicense(license: string): HubLicense {
  const text = license.trim();
  const keyword = huggingFaceLicense(text);
  if (keyword) return { license: keyword.keyword };
  const checked = checkLicense(text, { ignoreCase: true });
  if (!checked.ok)
    return { license: 'other', license_name: hubName(text), note: `'${text}' is not an SPDX expression` };
  const spdx = checked.canonical ?? text;
  if (HUB_GNU[spdx]) return { license: HUB_GNU[spdx] };
  if (HUB_KEYWORD_FOR_SPDX[spdx]) return { license: HUB_KEYWORD_FOR_SPDX[spdx] };
  if (HUB_IDS.has(spdx.toLowerCase())) return { license: spdx.toLowerCase() };
  const ref = /^LicenseRef-(.+)$/.exec(spdx);
  if (ref)
    return {
      license: 'other',
      license_name: hubName(ref[1]),
      note: `${spdx} is a license of your own: add license_link (a LICENSE file in the repository, or a URL) to the exported front matter`,
    };
  if (/\s/.test(spdx))
    return {
      license: 'other',
      license_name: hubName(spdx),
      note: `the Hub has no id for the expression '${spdx}'; it is written as license: other with license_name ${hubName(spdx)}`,
    };
  return { license: 'other', license_name: hubName(spdx), license_link: `https://spdx.org/licenses/${spdx}.html` };
}

export interface CardLicense {
  /** The card's `model.license`; undefined when the Hub card names none. */
  license?: string;
  /** A URL or path the Hub card links its license to (`license_link`): it goes into `model.references`. */
  link?: string;
  note?: string;
}

/** The card license for a Hub card's `license` (a string or a list), `license_name` and `license_link`. */
export function fromHubLicense(license: unknown, name: unknown, link: unknown): CardLicense {
  const linkText = typeof link === 'string' && link.trim() ? link.trim() : undefined;
  const ids = (Array.isArray(license) ? license : license === undefined || license === null ? [] : [license]).map(
    (item) => String(item).trim(),
  );
  if (ids.length === 0) return { link: linkText };
  const one = (id: string): { spdx: string; note?: string } => {
    const lower = id.toLowerCase();
    if (lower === 'other' && typeof name === 'string' && name.trim())
      return {
        spdx: `LicenseRef-${name.trim().replace(/[^A-Za-z0-9.-]+/g, '-')}`,
        note: `license: other with license_name ${name.trim()} becomes LicenseRef-${name.trim().replace(/[^A-Za-z0-9.-]+/g, '-')}`,
      };
    const keyword = huggingFaceLicense(lower);
    if (keyword?.spdx) return { spdx: keyword.spdx, note: `the Hub's '${id}' is SPDX's ${keyword.spdx}` };
    if (keyword) return { spdx: keyword.keyword };
    const checked = checkLicense(id, { ignoreCase: true });
    if (checked.ok && checked.replacement)
      return {
        spdx: checked.replacement,
        note: `the Hub's '${id}' is SPDX's deprecated ${checked.deprecated}, written as ${checked.replacement}; use ${checked.replacement.replace(/-only$/, '-or-later')} if the model allows later versions`,
      };
    if (checked.ok) return { spdx: checked.canonical ?? id };
    // A Hub keyword mlpipe does not know yet, or a license of the card's own.
    const ref = `LicenseRef-${id.replace(/[^A-Za-z0-9.-]+/g, '-')}`;
    return { spdx: ref, note: `'${id}' is neither an SPDX id nor a Hub keyword mlpipe knows; written as ${ref}` };
  };
  const mapped = ids.map(one);
  const notes = mapped.flatMap((item) => (item.note ? [item.note] : []));
  if (mapped.length > 1) {
    if (mapped.some((item) => !/^[A-Za-z0-9.+-]+$/.test(item.spdx) || huggingFaceLicense(item.spdx)))
      return {
        license: 'other',
        link: linkText,
        note: `the card lists several licenses (${ids.join(', ')}), not all SPDX ids; license is 'other': name them in model.license`,
      };
    notes.push(
      `the card lists several licenses (${ids.join(', ')}); written as '${mapped.map((item) => item.spdx).join(' AND ')}': use OR if any one of them applies`,
    );
    return { license: mapped.map((item) => item.spdx).join(' AND '), link: linkText, note: notes.join('; ') };
  }
  return { license: mapped[0].spdx, link: linkText, note: notes.length > 0 ? notes.join('; ') : undefined };
}
