#!/usr/bin/env python3
"""Reference values for the drift engine's tests, computed with numpy/scipy the way Evidently does.

    python3 scripts/drift-reference.py          # writes test/fixtures/drift/*.csv and reference.json

The fixtures are generated deterministically (numpy's seeded RandomState), written as CSV, read back
with the csv module (so both sides see exactly the same decimal text), and every statistic is
computed by re-implementing Evidently's legacy stattests (0.7.x `calculations/stattests/*.py`) on
scipy: ks_2samp, chisquare, the two-proportion z-test, the normed Wasserstein distance, the
Jensen-Shannon distance, PSI and KL over Evidently's get_binned_data. Evidently itself is not needed.

When numpy/scipy are not importable, the script creates a virtual environment in
~/.cache/mlpipe/drift-venv (python3 -m venv + pip install numpy scipy) and runs itself there.
"""
import csv
import json
import math
import os
import subprocess
import sys
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "test", "fixtures", "drift")
VENV = os.path.join(os.path.expanduser("~"), ".cache", "mlpipe", "drift-venv")

try:
    import numpy as np
    from scipy import stats
    from scipy.spatial import distance
    from scipy import special
except ImportError:
    if os.environ.get("MLPIPE_DRIFT_VENV") == "1":
        raise
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        print(f"numpy/scipy not found: creating {VENV}", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([py, "-m", "pip", "install", "--quiet", "numpy", "scipy"])
    os.environ["MLPIPE_DRIFT_VENV"] = "1"
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])

MISSING = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
           "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}


# ---------------------------------------------------------------------------------------------
# Evidently's formulas (legacy calculations/stattests), on plain lists without missing values

def get_binned_data(ref, cur, ftype, feel_zeroes):
    n_vals = len(set(ref))
    if ftype == "num" and n_vals > 20:
        bins = np.histogram_bin_edges(np.concatenate([np.asarray(ref, float), np.asarray(cur, float)]), bins="sturges")
        r = np.histogram(np.asarray(ref, float), bins)[0] / len(ref)
        c = np.histogram(np.asarray(cur, float), bins)[0] / len(cur)
    else:
        keys = list(set(ref) | set(cur))
        rc, cc = Counter(ref), Counter(cur)
        r = np.array([rc[k] / len(ref) for k in keys])
        c = np.array([cc[k] / len(cur) for k in keys])
    if feel_zeroes:
        for arr in (r, c):
            m = min(arr[arr != 0])
            np.place(arr, arr == 0, m / 10**6 if m <= 0.0001 else 0.0001)
    return r, c


def ks(ref, cur):
    res = stats.ks_2samp(ref, cur)
    return {"statistic": float(res.statistic), "p_value": float(res.pvalue)}


def chisq(ref, cur):
    keys = list(set(ref) | set(cur))
    rc, cc = Counter(ref), Counter(cur)
    k_norm = len(cur) / len(ref)
    f_exp = [rc[k] * k_norm for k in keys]
    f_obs = [cc[k] for k in keys]
    with np.errstate(divide="ignore", invalid="ignore"):
        res = stats.chisquare(f_obs, f_exp)
    return {"statistic": float(res.statistic), "p_value": float(res.pvalue)}


def z(ref, cur):
    if len(set(ref)) == 1 and len(set(cur)) == 1 and ref[0] == cur[0]:
        return {"statistic": 0.0, "p_value": 1.0}
    keys = sorted(set(ref) | set(cur))
    a = [0 if x == keys[0] else 1 for x in ref]
    b = [0 if x == keys[0] else 1 for x in cur]
    n1, n2 = len(a), len(b)
    p1, p2 = float(sum(a)) / n1, float(sum(b)) / n2
    P = float(p1 * n1 + p2 * n2) / (n1 + n2)
    zs = (p1 - p2) / np.sqrt(P * (1 - P) * (1.0 / n1 + 1.0 / n2))
    return {"statistic": float(zs), "p_value": float(2 * (1 - stats.norm.cdf(np.abs(zs))))}


def wasserstein(ref, cur):
    norm = max(float(np.std(ref)), 0.001)
    return {"statistic": float(stats.wasserstein_distance(ref, cur) / norm)}


def js(ref, cur, ftype):
    r, c = get_binned_data(ref, cur, ftype, False)
    return {"statistic": float(distance.jensenshannon(r, c))}


def psi(ref, cur, ftype):
    r, c = get_binned_data(ref, cur, ftype, True)
    return {"statistic": float(sum((r[i] - c[i]) * np.log(r[i] / c[i]) for i in range(len(r))))}


def kl(ref, cur, ftype):
    r, c = get_binned_data(ref, cur, ftype, True)
    return {"statistic": float(stats.entropy(r, c))}


def default_method(ref, cur, ftype):
    """Evidently's _get_default_stattest."""
    n_values = len(set(ref) | set(cur))
    if len(ref) <= 1000:
        if ftype == "num":
            return ("chisquare" if n_values > 2 else "z") if n_values <= 5 else "ks"
        return "chisquare" if n_values > 2 else "z"
    if ftype == "num":
        return "jensenshannon" if n_values <= 5 else "wasserstein"
    return "jensenshannon"


# ---------------------------------------------------------------------------------------------
# Fixtures

def write_csv(name, header, rows):
    path = os.path.join(OUT, name)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def fmt(x, digits):
    return "" if x is None else f"{x:.{digits}f}"


def make_fixtures():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.RandomState(20240607)

    # small numeric: exact KS (n1 != n2), ties, a constant column, missing values
    def small(n, shift, scale):
        rows = []
        for i in range(n):
            a = rng.normal(10 + shift, 2 * scale)
            b = rng.exponential(3 + shift)
            t = round(rng.normal(0, 1 + shift), 1)
            e = None if rng.rand() < 0.08 else rng.normal(5, 1)
            miss = ["", "NA", "NaN", "null", "None"][i % 5] if e is None else fmt(e, 5)
            rows.append([fmt(a, 6), fmt(b, 4), fmt(t, 1), "5.0", miss])
        return rows
    header = ["a", "b", "ties", "constant", "gaps"]
    write_csv("small_ref.csv", header, small(200, 0.0, 1.0))
    write_csv("small_cur.csv", header, small(150, 0.6, 1.2))

    # equal sizes: exact KS through _compute_prob_outside_square
    write_csv("equal_ref.csv", ["x", "y"], [[fmt(rng.normal(0, 1), 5), fmt(rng.uniform(0, 1), 5)] for _ in range(120)])
    write_csv("equal_cur.csv", ["x", "y"], [[fmt(rng.normal(0.3, 1), 5), fmt(rng.uniform(0, 1), 5)] for _ in range(120)])

    # large numeric: asymptotic KS (kstwo), Wasserstein, histogram binning; ties in "steps"
    write_csv("large_ref.csv", ["v", "steps", "same"],
              [[fmt(rng.normal(50, 10), 3), str(int(rng.randint(0, 40))), fmt(rng.normal(0, 1), 3)] for _ in range(12000)])
    write_csv("large_cur.csv", ["v", "steps", "same"],
              [[fmt(rng.normal(50.4, 10.5), 3), str(int(rng.randint(2, 42))), fmt(rng.normal(0, 1), 3)] for _ in range(11000)])

    # lopsided: asymptotic KS with a small en (kstwo's n <= 140 branches)
    write_csv("lopsided_ref.csv", ["w"], [[fmt(rng.normal(0, 1), 4)] for _ in range(10500)])
    write_csv("lopsided_cur.csv", ["w"], [[fmt(rng.normal(0.35, 1), 4)] for _ in range(60)])

    # categorical: unseen categories, binary, integer codes with <= 5 values
    def cats(n, drift):
        rows = []
        colors = ["red", "green", "blue", "black"]
        for _ in range(n):
            weights = np.array([0.4, 0.3, 0.2, 0.1]) if not drift else np.array([0.3, 0.3, 0.2, 0.1])
            color = colors[rng.choice(4, p=weights / weights.sum())]
            if drift and rng.rand() < 0.1:
                color = "purple" if rng.rand() < 0.7 else "orange"
            flag = "yes" if rng.rand() < (0.3 if not drift else 0.45) else "no"
            code = str(int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2] if not drift else [0.45, 0.3, 0.25])))
            same = "only"
            rows.append([color, flag, code, same])
        return rows
    write_csv("cat_ref.csv", ["color", "flag", "code", "single"], cats(500, False))
    write_csv("cat_cur.csv", ["color", "flag", "code", "single"], cats(400, True))

    # quoted CSV: commas, line breaks and escaped quotes inside fields; NA tokens
    cities = ['New York, NY', 'Paris', 'Say "hi"', 'multi\nline', 'Austin, TX']
    def quoted(n, drift):
        rows = []
        for i in range(n):
            city = cities[rng.choice(5, p=[0.3, 0.3, 0.2, 0.1, 0.1] if not drift else [0.1, 0.3, 0.2, 0.1, 0.3])]
            amount = "N/A" if i % 17 == 0 else fmt(rng.gamma(2, 10 + 5 * drift), 2)
            rows.append([city, amount])
        return rows
    write_csv("quoted_ref.csv", ["city", "amount"], quoted(300, 0))
    write_csv("quoted_cur.csv", ["city", "amount"], quoted(250, 1))


FIXTURES = {
    "small": {"a": "num", "b": "num", "ties": "num", "constant": "num", "gaps": "num"},
    "equal": {"x": "num", "y": "num"},
    "large": {"v": "num", "steps": "num", "same": "num"},
    "lopsided": {"w": "num"},
    "cat": {"color": "cat", "flag": "cat", "code": "cat", "single": "cat"},
    "quoted": {"city": "cat", "amount": "num"},
}


def read_column(path, column, ftype):
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        out = []
        for row in reader:
            v = row[column]
            if v in MISSING:
                continue
            if ftype == "num" or (ftype == "cat" and v.lstrip("-").isdigit()):
                out.append(int(v) if v.lstrip("-").isdigit() and ftype == "cat" else float(v))
            else:
                out.append(v)
        return out


def jsonable(value):
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def special_values():
    out = {"chi2_sf": [], "ndtr": [], "erfc": [], "kstwo_sf": [], "smirnov": [], "ks_2samp_p": [], "gammaln": []}
    for df in [1, 2, 3, 5, 10, 30, 100, 999]:
        for x in [0.01, 0.5, 1, 2.5, 7, 15, 40, 120, 400, 1500]:
            out["chi2_sf"].append([x, df, float(stats.chi2.sf(x, df))])
    for x in [-38, -20, -8, -3, -1, -0.5, 0, 0.3, 0.7071, 1, 2, 5, 8, 9]:
        out["ndtr"].append([x, float(special.ndtr(x))])
    for x in [0, 0.1, 0.5, 1, 1.5, 2, 3, 5, 10, 20, 26]:
        out["erfc"].append([x, float(special.erfc(x))])
    for x in [0.5, 1, 1.5, 2.5, 3.7, 10, 50.5, 171.2, 1000, 123456.7]:
        out["gammaln"].append([x, float(special.gammaln(x))])
    for n in [5, 20, 60, 100, 140, 141, 500, 5000, 20000, 150000, 2000000]:
        for x in [0.001, 0.005, 0.01, 0.02, 0.05, 0.08, 0.1, 0.2, 0.35, 0.6, 0.9]:
            out["kstwo_sf"].append([n, x, float(stats.kstwo.sf(x, n))])
    for n in [2, 10, 100, 1000, 100000]:
        for x in [0.01, 0.05, 0.1, 0.3, 0.7]:
            out["smirnov"].append([n, x, float(special.smirnov(n, x))])
    for n1, n2, d in [(10, 10, 0.3), (50, 50, 0.2), (30, 45, 0.25), (200, 150, 0.12), (1000, 900, 0.05),
                      (7, 13, 0.5), (3000, 2000, 0.03), (10000, 9000, 0.02)]:
        g = math.gcd(n1, n2)
        lcm = n1 // g * n2
        h = round(d * lcm)
        # a statistic that a sample could produce: a multiple of 1/lcm
        from scipy.stats._stats_py import _attempt_exact_2kssamp
        ok, dd, p = _attempt_exact_2kssamp(n1, n2, g, h / lcm, "two-sided")
        out["ks_2samp_p"].append([n1, n2, h / lcm, float(p)])
    return out


def main():
    make_fixtures()
    result = {"scipy": __import__("scipy").__version__, "numpy": np.__version__, "fixtures": {}, "special": special_values()}
    for name, columns in FIXTURES.items():
        ref_path = os.path.join(OUT, f"{name}_ref.csv")
        cur_path = os.path.join(OUT, f"{name}_cur.csv")
        fixture = {}
        for column, ftype in columns.items():
            ref = read_column(ref_path, column, ftype)
            cur = read_column(cur_path, column, ftype)
            entry = {"type": ftype, "reference_rows": len(ref), "current_rows": len(cur),
                     "default": default_method(ref, cur, ftype)}
            if ftype == "num":
                entry["ks"] = ks(ref, cur)
                entry["wasserstein"] = wasserstein(ref, cur)
            entry["chisquare"] = chisq(ref, cur)
            entry["z"] = z(ref, cur)
            entry["jensenshannon"] = js(ref, cur, ftype)
            entry["psi"] = psi(ref, cur, ftype)
            entry["kl"] = kl(ref, cur, ftype)
            fixture[column] = jsonable(entry)
        result["fixtures"][name] = fixture
    with open(os.path.join(OUT, "reference.json"), "w") as handle:
        json.dump(result, handle, indent=1, sort_keys=True)
        handle.write("\n")
    print(f"wrote {os.path.relpath(os.path.join(OUT, 'reference.json'), ROOT)} (scipy {result['scipy']})")


if __name__ == "__main__":
    main()
