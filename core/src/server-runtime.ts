/**
 * V8 flags the language server runs with, wherever it is started from (the extension, the
 * `mlpipe-language-server` bin's shebang, the tests and the benchmark). Each keystroke makes a
 * few hundred kilobytes of short-lived objects; a 1 MB young generation collects them cheaply and
 * keeps peak memory near the live set instead of letting it grow by tens of megabytes
 * (docs/performance.md has the measurements).
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];
