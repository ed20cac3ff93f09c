"""Evidently's DataDriftPreset on two CSV files, for `npm run bench:drift` (the peer).

Usage: python evidently_drift.py REFERENCE.csv CURRENT.csv
Prints one JSON object: read and compute times, peak RSS, and per column the method Evidently
chose, its drift score and threshold.
"""
import json
import resource
import sys
import time

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


def main():
    reference_path, current_path = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    reference = pd.read_csv(reference_path)
    current = pd.read_csv(current_path)
    read = time.perf_counter() - started
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    compute = time.perf_counter() - started
    columns = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type") == "evidently:metric_v2:ValueDrift":
            columns[config["column"]] = {"method": config["method"], "score": metric["value"], "threshold": config["threshold"]}
    print(json.dumps({
        "read_s": read,
        "compute_s": compute,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "columns": columns,
    }))


if __name__ == "__main__":
    main()
