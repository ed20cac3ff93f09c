// Runs as the host posts them to the experiments table, packed by column (`packRuns` in the
// contract says why), read back: the table reads cells from the columns and builds a run's object
// only for what asks for it (a visible row, a filter on params).
import type { PackedRuns, PerRunJson, RunRow, RunStatusText } from '../contract';

export { isPacked, packRuns, type PackedRuns } from '../contract';

/** Run `index`'s value of a PerRunJson, undefined when it has none. */
function perRun(column: PerRunJson, index: number): unknown {
  const start = index === 0 ? 0 : column.ends[index - 1];
  const end = column.ends[index];
  return end > start ? JSON.parse(column.text.slice(start, end)) : undefined;
}

/** A JSON array of texts, parsed when first read. */
class Texts {
  private values: (string | null)[] | undefined;
  constructor(private readonly json: string) {}
  at(index: number): string | undefined {
    this.values ??= JSON.parse(this.json) as (string | null)[];
    return this.values[index] ?? undefined;
  }
}

/** Packed runs read back (the webview side): each column parsed when first read, cells read by run index. */
export class UnpackedRuns {
  readonly count: number;
  readonly ids: string[];
  private readonly names: Texts;
  private readonly pipelines: Texts;
  private readonly statuses: Texts;
  private readonly started: Texts;
  private readonly ended: Texts;
  private readonly commits: Texts;
  private readonly notes: Texts;
  private readonly paramColumns = new Map<string, unknown[]>();
  readonly metricKeys: string[];
  readonly paramKeys: string[];
  private readonly metrics = new Map<string, Float64Array>();
  private other: Record<string, Record<string, unknown>> | undefined;

  constructor(private readonly packed: PackedRuns) {
    this.count = packed.count;
    this.ids = JSON.parse(packed.ids) as string[];
    this.names = new Texts(packed.names);
    this.pipelines = new Texts(packed.pipelines);
    this.statuses = new Texts(packed.statuses);
    this.started = new Texts(packed.started);
    this.ended = new Texts(packed.ended);
    this.commits = new Texts(packed.commits);
    this.notes = new Texts(packed.notes);
    this.metricKeys = packed.metricKeys;
    this.paramKeys = packed.paramKeys;
    packed.metricKeys.forEach((key, index) => this.metrics.set(key, packed.metricNumbers[index]));
  }

  /** A metric's value for run `index`, undefined when it has none. */
  metric(key: string, index: number): unknown {
    const numbers = this.metrics.get(key);
    if (!numbers) return undefined;
    const value = numbers[index];
    if (value === value) return value;
    this.other ??= JSON.parse(this.packed.metricOther) as Record<string, Record<string, unknown>>;
    const other = Object.hasOwn(this.other, key) ? this.other[key] : undefined;
    return other && Object.hasOwn(other, index) ? other[index] : undefined;
  }

  /** A flattened param's value for run `index`, undefined when it has none. */
  param(key: string, index: number): unknown {
    let column = this.paramColumns.get(key);
    if (!column) {
      const at = this.paramKeys.indexOf(key);
      column = at < 0 ? [] : (JSON.parse(this.packed.paramValues[at]) as unknown[]);
      this.paramColumns.set(key, column);
    }
    const entry = column[index];
    return Array.isArray(entry) ? (entry[0] as unknown) : undefined;
  }

  /** Run `index` as the contract's RunRow (its objects built now). */
  row(index: number): RunRow {
    const metrics: Record<string, number | string | boolean> = {};
    for (const key of this.metricKeys) {
      const value = this.metric(key, index);
      if (value !== undefined) metrics[key] = value as number | string | boolean;
    }
    const duration = this.packed.durations[index];
    const dirty = this.packed.dirty[index];
    return {
      id: this.ids[index],
      name: this.names.at(index) ?? '',
      pipeline: this.pipelines.at(index) ?? '',
      status: this.status(index),
      started: this.started.at(index) ?? '',
      ended: this.ended.at(index),
      durationMs: duration === duration ? duration : undefined,
      commit: this.commits.at(index),
      dirty: dirty === 0 ? undefined : dirty === 2,
      note: this.notes.at(index),
      params: (perRun(this.packed.params, index) as Record<string, unknown> | undefined) ?? {},
      metrics,
      tags: (perRun(this.packed.tags, index) as Record<string, string> | undefined) ?? {},
      stages: {
        done: this.packed.stagesDone[index],
        total: this.packed.stagesTotal[index],
        running: (perRun(this.packed.running, index) as string[] | undefined) ?? [],
      },
    };
  }

  /** Every tag key of the runs. */
  tagKeys(): string[] {
    return this.packed.tagKeys;
  }

  /** The fields the table shows without building the row. */
  name(index: number): string {
    return this.names.at(index) ?? '';
  }
  status(index: number): RunStatusText {
    return (this.statuses.at(index) ?? 'failed') as RunStatusText;
  }
  startedAt(index: number): string {
    return this.started.at(index) ?? '';
  }
  duration(index: number): number | undefined {
    const duration = this.packed.durations[index];
    return duration === duration ? duration : undefined;
  }
}
