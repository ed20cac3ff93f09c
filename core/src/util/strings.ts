/**
 * A copy of `text` that shares no memory with a larger string. V8 makes `slice()` a view into its
 * parent, so anything cached across edits that was sliced out of a document would keep that whole
 * version of the document alive (a 400 KB pipeline, once per cached piece).
 */
export function detached(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}
