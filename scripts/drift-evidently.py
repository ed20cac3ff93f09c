#!/usr/bin/env python3
"""Reference values for integer columns, computed by Evidently 0.7.23 itself and by scipy.

    python3 scripts/drift-evidently.py      # writes test/fixtures/drift/integers/*.csv and evidently.json

The fixtures are real data shipped inside scikit-learn (offline: the CSV files in
sklearn/datasets/data, copied value by value as those files write them): the handwritten digits
(8x8 pixel counts 0-16), the raw diabetes data (age, sex, cholesterol counts), the wine data
(magnesium, proline, class) and Linnerud's exercise data. Each is split into a reference and a
current file (and a shifted current file, to get drift), and a few are also written as Parquet by
pandas; see test/fixtures/drift/integers/README.md.

For every comparison the script records, per column:
- "evidently": what Evidently 0.7.23 reports for `Report([DataDriftPreset()]).run(current,
  reference)` on the files as pandas.read_csv (read_parquet) reads them: the column type of its data definition,
  the method it chose, its drift score, threshold and verdict (its ValueDrift test);
- "scipy": the same computed with scipy directly (scripts/drift-reference.py's formulas, typed by
  the rule of Evidently 0.7.23's infer_column_type), with the test statistic too;
- "legacy": the type, method and verdict of the rule mlpipe used before (integers with at most 5
  distinct reference values are categorical), to show what the change moved.
The script stops when Evidently and scipy disagree on a type, a method, a verdict or a score (1e-9).

It needs evidently==0.7.23 (with pandas < 3: Evidently 0.7.23 does not import with pandas 3),
scikit-learn and pyarrow; when they are not importable it creates ~/.cache/mlpipe/drift-evidently-0.7.23
(python3 -m venv + pip install from PyPI) and runs itself there.
"""
import csv
import gzip
import importlib.util
import json
import math
import os
import subprocess
import sys
import warnings

EVIDENTLY = "0.7.23"
REQUIREMENTS = [f"evidently=={EVIDENTLY}", "pandas<3", "scikit-learn", "pyarrow"]
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "test", "fixtures", "drift", "integers")
VENV = os.path.join(os.path.expanduser("~"), ".cache", "mlpipe", f"drift-evidently-{EVIDENTLY}")

try:
    import evidently
    import pandas as pd
    import pyarrow
    import sklearn

    if evidently.__version__ != EVIDENTLY:
        raise ImportError(f"evidently {evidently.__version__} is not {EVIDENTLY}")
except ImportError:
    if os.environ.get("MLPIPE_DRIFT_EVIDENTLY_VENV") == "1":
        raise
    py = os.path.join(VENV, "bin", "python")
    marker = os.path.join(VENV, "mlpipe-requirements.txt")
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if not os.path.exists(py) or not os.path.exists(marker) or open(marker).read() != wanted:
        print(f"evidently {EVIDENTLY} not found: installing it in {VENV}", file=sys.stderr)
        if not os.path.exists(py):
            subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([py, "-m", "pip", "install", "--quiet", *REQUIREMENTS])
        with open(marker, "w") as handle:
            handle.write(wanted)
    os.environ["MLPIPE_DRIFT_EVIDENTLY_VENV"] = "1"
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])

import numpy as np
import scipy
from evidently import Report
from evidently.core.datasets import INTEGER_CARDINALITY_LIMIT
from evidently.legacy.calculations.stattests.registry import _impls
from evidently.presets import DataDriftPreset

# scripts/drift-reference.py's formulas (Evidently's stattests on scipy), one implementation of them
_spec = importlib.util.spec_from_file_location("drift_reference", os.path.join(HERE, "drift-reference.py"))
ref_formulas = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref_formulas)

SKLEARN_DATA = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "data")
METHOD_IDS = {stattest.display_name: stattest.name for stattest in _impls}
TESTS = {"ks", "chisquare", "z"}


# ---------------------------------------------------------------------------------------------
# Fixtures: the values exactly as scikit-learn's data files write them

def read_rows(name, delimiter=","):
    path = os.path.join(SKLEARN_DATA, name)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", newline="") as handle:
        if delimiter == " ":
            return [line.split() for line in handle if line.strip()]
        return list(csv.reader(handle, delimiter=delimiter))


def write_csv(name, header, rows):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def make_fixtures():
    # digits: 1,797 rows of 64 pixel counts (0-16) and the digit
    digits = read_rows("digits.csv.gz")
    header = [f"pixel_{i}" for i in range(64)] + ["digit"]
    reference, current = digits[:1100], digits[1100:]
    write_csv("digits_ref.csv", header, reference)
    write_csv("digits_cur.csv", header, current)
    # shifted: the current rows of three digits only, with one value left out (empty) in the first
    # three pixel columns that hold 6 to 10 distinct values there: pandas then reads those as float64
    shifted = [list(row) for row in current if row[64] in ("1", "4", "7")]
    gaps = []
    for k in range(64):
        values = {row[k] for row in shifted}
        union = values | {row[k] for row in reference}
        if 6 <= len(values) <= INTEGER_CARDINALITY_LIMIT and len(union) > 5 and len(gaps) < 3:
            gaps.append(k)
    for n, k in enumerate(gaps):
        shifted[5 + n][k] = ""
    write_csv("digits_shift.csv", header, shifted)

    # diabetes, raw (Efron et al.): age, sex, bmi, bp, s1-s6 as the source writes them
    diabetes = read_rows("diabetes_data_raw.csv.gz", " ")
    header = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    write_csv("diabetes_ref.csv", header, diabetes[:221])
    write_csv("diabetes_cur.csv", header, diabetes[221:])

    # wine: 13 measurements and the class (first line of the file: counts and class names)
    wine = read_rows("wine_data.csv")[1:]
    header = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
              "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue", "od280_od315", "proline", "class"]
    write_csv("wine_ref.csv", header, wine[0::2])
    write_csv("wine_cur.csv", header, wine[1::2])
    write_csv("wine_class0.csv", header, [row for row in wine if row[13] == "0"])
    write_csv("wine_class1.csv", header, [row for row in wine if row[13] == "1"])

    # Linnerud: 20 men, exercise and physiological measurements
    exercise = read_rows("linnerud_exercise.csv", " ")
    physiological = read_rows("linnerud_physiological.csv", " ")
    header = exercise[0] + physiological[0]
    rows = [a + b for a, b in zip(exercise[1:], physiological[1:])]
    write_csv("linnerud_ref.csv", header, rows[:10])
    write_csv("linnerud_cur.csv", header, rows[10:])

    # Parquet, as pandas writes what it read from the CSV files (int64 -> INT64, float64 -> DOUBLE)
    for name in PARQUET:
        frame = pd.read_csv(os.path.join(OUT, f"{name}.csv"))
        frame.to_parquet(os.path.join(OUT, f"{name}.parquet"), index=False, engine="pyarrow", compression="snappy")
    return gaps


PARQUET = ["digits_cur", "digits_shift", "wine_ref", "wine_cur"]


COMPARISONS = [
    # name, reference file, current file
    ("digits", "digits_ref.csv", "digits_cur.csv"),
    ("digits_shift", "digits_ref.csv", "digits_shift.csv"),
    ("digits_small", "digits_cur.csv", "digits_shift.csv"),
    ("digits_back", "digits_shift.csv", "digits_cur.csv"),
    ("diabetes", "diabetes_ref.csv", "diabetes_cur.csv"),
    ("diabetes_back", "diabetes_cur.csv", "diabetes_ref.csv"),
    ("wine", "wine_ref.csv", "wine_cur.csv"),
    ("wine_classes", "wine_class0.csv", "wine_class1.csv"),
    ("linnerud", "linnerud_ref.csv", "linnerud_cur.csv"),
    # the same data as Parquet files written by pandas (scipy reads the CSV files: the same values)
    ("digits_small_parquet", "digits_cur.parquet", "digits_shift.parquet"),
    ("wine_parquet", "wine_ref.parquet", "wine_cur.parquet"),
]


# ---------------------------------------------------------------------------------------------
# Evidently itself

def read_frame(path):
    return pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)


def evidently_columns(reference_path, current_path):
    reference = read_frame(reference_path)
    current = read_frame(current_path)
    with warnings.catch_warnings():
        # scipy's chisquare divides by an expected count of 0 for a category new in the current data
        warnings.simplefilter("ignore", RuntimeWarning)
        snapshot = Report([DataDriftPreset()], include_tests=True).run(current, reference)
    definition = snapshot._context.data_definition
    categorical = set(definition.get_categorical_columns())
    numerical = set(definition.get_numerical_columns())
    out = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"] != "evidently:metric_v2:ValueDrift":
            continue
        column = config["column"]
        out[column] = {
            "type": "cat" if column in categorical else "num" if column in numerical else "other",
            "method": METHOD_IDS[config["method"]],
            "score": float(metric["value"]),
            "threshold": float(config["threshold"]),
            "drifted": None,
            "pandas_dtype": str(current[column].dtype),
        }
    for test in snapshot.dict()["tests"]:
        params = test["metric_config"]["params"]
        if params["type"] == "evidently:metric_v2:ValueDrift":
            out[params["column"]]["drifted"] = test["status"] == "FAIL"
    return out


# ---------------------------------------------------------------------------------------------
# scipy, typed by Evidently 0.7.23's infer_column_type

def read_texts(path):
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        columns = {name: [] for name in header}
        for row in reader:
            for name, text in zip(header, row):
                columns[name].append(text)
    return columns


def is_integer_text(text):
    return text.lstrip("+-").isdigit()


def values(texts):
    return [int(t) if is_integer_text(t) else float(t) for t in texts if t not in ref_formulas.MISSING]


def new_type(current_texts):
    """infer_column_type on the current column: int64 (every value an integer, none missing) with at
    most INTEGER_CARDINALITY_LIMIT distinct values is categorical; everything else here numeric."""
    integers = all(t not in ref_formulas.MISSING and is_integer_text(t) for t in current_texts)
    return "cat" if integers and len(set(values(current_texts))) <= INTEGER_CARDINALITY_LIMIT else "num"


def legacy_type(reference_texts, current_texts):
    """The rule mlpipe had: integers on both sides, at most 5 distinct reference values."""
    present = [t for t in reference_texts + current_texts if t not in ref_formulas.MISSING]
    integers = all(is_integer_text(t) for t in present)
    return "cat" if integers and len(set(values(reference_texts))) <= 5 else "num"


def scipy_column(ref, cur, ftype):
    method = ref_formulas.default_method(ref, cur, ftype)
    if method == "ks":
        result = ref_formulas.ks(ref, cur)
    elif method == "chisquare":
        result = ref_formulas.chisq(ref, cur)
    elif method == "z":
        result = ref_formulas.z(ref, cur)
    elif method == "wasserstein":
        result = ref_formulas.wasserstein(ref, cur)
    else:
        result = ref_formulas.js(ref, cur, ftype)
    p_value = result.get("p_value")
    score = p_value if p_value is not None else result["statistic"]
    threshold = 0.05 if method in TESTS else 0.1
    if method == "ks":
        drifted = p_value <= threshold
    elif method in TESTS:
        drifted = p_value < threshold
    else:
        drifted = score >= threshold
    return {"type": ftype, "method": method, "statistic": result["statistic"], "p_value": p_value, "score": score,
            "threshold": threshold, "drifted": bool(drifted), "reference_rows": len(ref), "current_rows": len(cur)}


def jsonable(value):
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def dump(result):
    """JSON with one line per column (a readable diff at about half the size of indented JSON)."""
    lines = ["{"]
    head = {k: v for k, v in result.items() if k != "comparisons"}
    for key, value in sorted(head.items()):
        lines.append(f" {json.dumps(key)}: {json.dumps(value)},")
    lines.append(' "comparisons": {')
    for n, (name, comparison) in enumerate(result["comparisons"].items()):
        lines.append(f"  {json.dumps(name)}: {{")
        lines.append(f'   "reference": {json.dumps(comparison["reference"])}, "current": {json.dumps(comparison["current"])},')
        lines.append('   "columns": {')
        columns = list(comparison["columns"].items())
        for k, (column, entry) in enumerate(columns):
            comma = "," if k + 1 < len(columns) else ""
            lines.append(f"    {json.dumps(column)}: {json.dumps(entry, sort_keys=True)}{comma}")
        lines.append("   }")
        lines.append("  }" + ("," if n + 1 < len(result["comparisons"]) else ""))
    lines.append(" }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def same_score(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= 1e-9 or abs(a - b) <= 1e-9 * abs(b)


def main():
    gaps = make_fixtures()
    result = {"evidently": evidently.__version__, "pandas": pd.__version__, "scipy": scipy.__version__,
              "numpy": np.__version__, "scikit_learn": sklearn.__version__,
              "integer_cardinality_limit": INTEGER_CARDINALITY_LIMIT,
              "digits_shift_gaps": [f"pixel_{k}" for k in gaps], "comparisons": {}}
    changed = 0
    total = 0
    for name, reference_file, current_file in COMPARISONS:
        reference_path = os.path.join(OUT, reference_file)
        current_path = os.path.join(OUT, current_file)
        by_evidently = evidently_columns(reference_path, current_path)
        reference_texts = read_texts(reference_path.replace(".parquet", ".csv"))
        current_texts = read_texts(current_path.replace(".parquet", ".csv"))
        columns = {}
        for column in current_texts:
            ref = values(reference_texts[column])
            cur = values(current_texts[column])
            ftype = new_type(current_texts[column])
            by_scipy = scipy_column(ref, cur, ftype)
            old_type = legacy_type(reference_texts[column], current_texts[column])
            old = scipy_column(ref, cur, old_type)
            ev = by_evidently[column]
            for key in ("type", "method", "threshold", "drifted"):
                if ev[key] != by_scipy[key]:
                    sys.exit(f"{name}.{column}: Evidently's {key} {ev[key]} is not scipy's {by_scipy[key]}")
            if not same_score(ev["score"], by_scipy["score"]):
                sys.exit(f"{name}.{column}: Evidently's score {ev['score']} is not scipy's {by_scipy['score']}")
            legacy = {"type": old["type"], "method": old["method"], "drifted": old["drifted"]}
            total += 1
            if legacy != {"type": ev["type"], "method": ev["method"], "drifted": ev["drifted"]}:
                changed += 1
            # type, method, threshold and verdict are Evidently's (checked above): scipy adds the numbers
            numbers = {k: by_scipy[k] for k in ("statistic", "p_value", "score", "reference_rows", "current_rows")}
            columns[column] = jsonable({"evidently": ev, "scipy": numbers, "legacy": legacy})
        result["comparisons"][name] = {"reference": reference_file, "current": current_file, "columns": columns}
    result["columns_compared"] = total
    result["columns_the_legacy_rule_got_wrong"] = changed
    with open(os.path.join(OUT, "evidently.json"), "w") as handle:
        handle.write(dump(result))
    print(f"wrote {os.path.relpath(os.path.join(OUT, 'evidently.json'), ROOT)}: {total} columns, "
          f"Evidently {evidently.__version__} and scipy {scipy.__version__} agree; the legacy rule differed in {changed}")


if __name__ == "__main__":
    main()
