// A separate process that writes runs into an experiment store: the crash and concurrency tests
// start several and kill some mid-write. Usage: store-writer.ts ROOT PREFIX COUNT [--tag] [--snapshot]
// (--snapshot: write the index's snapshot from 10 runs on and whenever 20 lines are past it).
import { ExperimentStore } from '../../core/src/store/store';
import { fakeSummary } from './store-fixtures';

const [root, prefix, countText, ...flags] = process.argv.slice(2);
const store = ExperimentStore.open(
  root,
  flags.includes('--snapshot') ? { snapshotMinRuns: 10, snapshotStaleLines: 20 } : {},
);
for (let i = 0; i < Number(countText); i++) {
  const id = `${prefix}-${String(i).padStart(5, '0')}`;
  store.record(fakeSummary(id, i));
  if (flags.includes('--tag')) store.tag(id, { writer: prefix, index: String(i) });
}
process.stdout.write('done\n');
