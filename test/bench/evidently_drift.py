"""The peer for `npm run bench:drift` (Evidently's DataDriftPreset), and the wide tables' data.

Usage:
  python evidently_drift.py REFERENCE CURRENT [--rows N]
      Evidently's DataDriftPreset on two CSV or Parquet files (the first N rows when given). Prints
      one JSON object: read and compute times, peak RSS, and per column the method Evidently chose,
      its drift score and threshold.
  python evidently_drift.py generate PATH ROWS COLUMNS SEED SHIFT
      Writes a table of ROWS x COLUMNS numbers (.csv or .parquet by PATH's extension) in chunks of
      rows, so a table of any size takes little memory to make: columns cycle through normal,
      exponential and uniform, written with 4 decimals, as test/support/drift-data.ts does; SHIFT
      moves the current side (0: the same distributions). Parquet: row groups of 100,000 rows.
"""
import json
import resource
import sys
import time


def generate(path, rows, columns, seed, shift):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    names = [f"num_{i}" for i in range(columns)]
    chunk = max(1, min(rows, 100_000, 20_000_000 // columns))
    writer = None
    done = 0
    try:
        while done < rows:
            n = min(chunk, rows - done)
            arrays = []
            for i in range(columns):
                if i % 3 == 0:
                    v = 50 + 10 * rng.standard_normal(n) + 3.3 * shift * (i % 2)
                elif i % 3 == 1:
                    v = rng.exponential(5 + shift * (i % 4 == 1), n)
                else:
                    v = rng.random(n) * 100 + 3 * shift * (i % 2)
                arrays.append(pa.array(np.round(v, 4)))
            table = pa.table(arrays, names=names)
            if path.endswith(".parquet"):
                import pyarrow.parquet as pq

                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema, compression="snappy")
                writer.write_table(table, row_group_size=100_000)
            else:
                import pyarrow.csv as pc

                if writer is None:
                    writer = pc.CSVWriter(path, table.schema)
                writer.write_table(table)
            done += n
    finally:
        if writer is not None:
            writer.close()


def main():
    if sys.argv[1] == "generate":
        path, rows, columns, seed, shift = sys.argv[2:7]
        generate(path, int(rows), int(columns), int(seed), float(shift))
        return
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference_path, current_path = sys.argv[1], sys.argv[2]
    rows = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else None

    def read(path):
        if path.endswith(".parquet"):
            import pyarrow.parquet as pq

            if rows is None:
                return pd.read_parquet(path)
            parquet = pq.ParquetFile(path)
            batch = next(parquet.iter_batches(batch_size=rows))
            return batch.to_pandas()
        return pd.read_csv(path, nrows=rows)

    started = time.perf_counter()
    reference = read(reference_path)
    current = read(current_path)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    compute = time.perf_counter() - started
    columns = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type") == "evidently:metric_v2:ValueDrift":
            columns[config["column"]] = {"method": config["method"], "score": metric["value"], "threshold": config["threshold"]}
    print(json.dumps({
        "rows": len(reference),
        "read_s": read_s,
        "compute_s": compute,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "columns": columns,
    }))


if __name__ == "__main__":
    main()
