import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { packRuns, type RunRow } from '../../webviews/src/contract';
import {
  cellText,
  cellValue,
  discoverColumns,
  preparePacked,
  prepareRow,
} from '../../webviews/src/experiments/columns';
import { filterRows, parseFilter, sortRows } from '../../webviews/src/experiments/table-model';
import { UnpackedRuns } from '../../webviews/src/shared/packed-runs';

/** Runs of every shape the host sends: missing fields, text and boolean metrics, nested params, tags, running stages. */
function runs(): RunRow[] {
  return Array.from({ length: 40 }, (_, i): RunRow => ({
    id: `r${String(i).padStart(3, '0')}`,
    name: i % 5 === 0 ? '' : `run-${i} <b>`,
    pipeline: 'mlpipe.yaml',
    status: (['succeeded', 'failed', 'running', 'interrupted'] as const)[i % 4],
    started: new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString(),
    ...(i % 3 ? { ended: new Date(Date.UTC(2025, 0, 2)).toISOString(), durationMs: i * 1000 } : {}),
    ...(i % 2 ? { commit: 'abc', dirty: i % 4 === 1 } : {}),
    ...(i % 7 === 0 ? { note: `note ${i}` } : {}),
    params:
      i % 6 === 0
        ? ({} as Record<string, unknown>)
        : { lr: 10 ** -(i % 4), model: { depth: i % 5, name: 'x' }, tag: i % 2 ? 'a' : null },
    metrics: {
      ...(i % 9 === 0 ? {} : { auc: i / 40, loss: -0 }),
      ...(i % 4 === 0 ? { text: `t${i}` } : {}),
      ...(i % 5 === 0 ? { flag: i % 10 === 0 } : {}),
    },
    tags: i % 3 === 0 ? { team: i % 2 ? 'nlp' : 'vision' } : ({} as Record<string, string>),
    stages: { done: i % 4, total: 4, running: i % 4 === 2 ? ['train'] : [] },
  }));
}

describe('runs packed by column for the experiments table', () => {
  it('reads back every run, cell, column, filter and sort as the runs themselves give them', () => {
    const original = runs();
    // Through a structured clone, as postMessage copies it.
    const unpacked = new UnpackedRuns(structuredClone(packRuns(original)));
    const packed = preparePacked(unpacked);
    const plain = original.map(prepareRow);
    const columns = discoverColumns(plain);
    assert.deepEqual(
      discoverColumns(packed)
        .map((column) => column.id)
        .sort(),
      columns.map((column) => column.id).sort(),
    );
    for (let i = 0; i < original.length; i++) {
      assert.equal(packed[i].id, original[i].id);
      for (const column of columns) {
        assert.deepEqual(cellValue(packed[i], column), cellValue(plain[i], column), `${column.id} of ${i}`);
        assert.equal(cellText(packed[i], column), cellText(plain[i], column), `${column.id} of ${i}`);
      }
      assert.deepEqual(JSON.parse(JSON.stringify(packed[i].row)), JSON.parse(JSON.stringify(original[i])));
    }
    for (const text of ['metrics.auc > 0.3 and params.lr < 0.05', "tags.team = 'nlp' or status = 'running'", 'run-1'])
      assert.deepEqual(
        filterRows(preparePacked(unpacked), parseFilter(text), columns).map((row) => row.id),
        filterRows(plain, parseFilter(text), columns).map((row) => row.id),
        text,
      );
    for (const column of columns)
      for (const descending of [false, true])
        assert.deepEqual(
          sortRows(preparePacked(unpacked), column, descending).map((row) => row.id),
          sortRows(plain, column, descending).map((row) => row.id),
          column.id,
        );
  });
});
