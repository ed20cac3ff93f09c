/** Optimal string alignment distance (Damerau-Levenshtein with adjacent transpositions), capped. */
export function editDistance(a: string, b: string, cap = Infinity): number {
  if (a === b) return 0;
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  const rows = a.length + 1;
  const cols = b.length + 1;
  let previous2 = new Array<number>(cols).fill(0);
  let previous = Array.from({ length: cols }, (_, j) => j);
  let current = new Array<number>(cols).fill(0);
  for (let i = 1; i < rows; i++) {
    current[0] = i;
    let rowMin = i;
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        value = Math.min(value, previous2[j - 2] + 1);
      current[j] = value;
      if (value < rowMin) rowMin = value;
    }
    if (rowMin > cap) return cap + 1;
    [previous2, previous, current] = [previous, current, previous2];
  }
  return previous[cols - 1];
}

/**
 * The candidate a misspelling most likely meant: within a third of the word's length in edits
 * (at least one), or equal ignoring case, separators, or as a prefix of a much longer word is not
 * enough. Returns undefined when nothing is close, so messages never suggest nonsense.
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  const squashed = lower.replace(/[-_.\s]/g, '');
  const cap = Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const candidateLower = candidate.toLowerCase();
    let score: number;
    if (candidateLower === lower || candidateLower.replace(/[-_.\s]/g, '') === squashed) score = 0.5;
    else score = editDistance(lower, candidateLower, cap);
    if (score <= cap && score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}

export function quoteList(items: readonly string[], limit = 8): string {
  const shown = items.slice(0, limit).map((item) => `'${item}'`);
  const more = items.length > limit ? `, and ${items.length - limit} more` : '';
  return shown.join(', ') + more;
}
