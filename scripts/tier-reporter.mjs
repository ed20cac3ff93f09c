// A node:test reporter for scripts/test.mjs: one JSON line per test started, passed or failed
// (and per test file finished),
// appended synchronously to $MLPIPE_TEST_EVENTS, so that the lines are there even when the tier is
// killed for running over its budget (and say which tests were still running). It prints nothing:
// the spec reporter runs beside it for people.
import { appendFileSync } from 'node:fs';

const path = process.env.MLPIPE_TEST_EVENTS;

function firstLine(error) {
  const cause = error?.cause ?? error;
  const text = cause instanceof Error ? cause.message : String(cause ?? '');
  return text.split('\n')[0].slice(0, 300);
}

export default async function* tierReporter(source) {
  for await (const { type, data } of source) {
    if (!path) continue;
    // node:test reports each test file as a test named by its path, which passes without a
    // test:pass: its test:complete says the file is done.
    const file = data.file !== undefined && data.name === data.file;
    if (!['test:dequeue', 'test:pass', 'test:fail'].includes(type) && !(type === 'test:complete' && file)) continue;
    const line = { event: type.slice('test:'.length), name: data.name, nesting: data.nesting, file: data.file };
    if (type !== 'test:dequeue') {
      line.suite = data.details?.type === 'suite';
      if (data.skip !== undefined) line.skip = data.skip === true ? '' : String(data.skip);
      if (data.todo !== undefined) line.todo = data.todo === true ? '' : String(data.todo);
      line.ms = data.details?.duration_ms;
    }
    if (type === 'test:fail') {
      line.failureType = data.details?.error?.failureType;
      line.error = firstLine(data.details?.error);
    }
    appendFileSync(path, `${JSON.stringify(line)}\n`);
  }
}
