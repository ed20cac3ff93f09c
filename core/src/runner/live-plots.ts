import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type OutputSpec } from './plan';
import { readPlotSeries, type Series } from '../store/series';

/**
 * Follows a running stage's plot files (a loss curve written line by line) and reports their
 * series as they grow: file-system events, coalesced to one read per file every `intervalMs`.
 * Only for hosts that share the workspace (local); remote stages report their series at the end.
 */
export function watchPlots(
  workspace: string,
  stage: string,
  outputs: OutputSpec[],
  onSeries: (series: Series[]) => void,
  intervalMs = 250,
): { close(): void } {
  const plots = outputs.filter((output) => output.role === 'plot');
  const watchers: FSWatcher[] = [];
  const latest = new Map<string, Series[]>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const dirty = new Set<OutputSpec>();
  const flush = () => {
    timer = undefined;
    let changed = false;
    for (const output of dirty) {
      try {
        const series = readPlotSeries(join(workspace, output.path), output.path, stage, output.plot);
        if (series.some((one) => one.steps.length > 0)) {
          latest.set(output.path, series);
          changed = true;
        }
      } catch {
        // half a line or a file being replaced: the next event reads it again
      }
    }
    dirty.clear();
    if (changed) onSeries([...latest.values()].flat());
  };
  const byFolder = new Map<string, OutputSpec[]>();
  for (const output of plots) {
    const folder = dirname(join(workspace, output.path));
    byFolder.set(folder, [...(byFolder.get(folder) ?? []), output]);
  }
  for (const [folder, watched] of byFolder) {
    try {
      const watcher = watch(folder, (_event, name) => {
        const hit = watched.filter((output) => !name || basename(output.path) === name.toString());
        if (hit.length === 0) return;
        for (const output of hit) dirty.add(output);
        timer ??= setTimeout(flush, intervalMs);
      });
      watcher.on('error', () => watcher.close());
      watchers.push(watcher);
    } catch {
      // a folder that cannot be watched: the series arrive when the stage ends
    }
  }
  return {
    close() {
      for (const watcher of watchers) watcher.close();
      if (timer) clearTimeout(timer);
    },
  };
}
