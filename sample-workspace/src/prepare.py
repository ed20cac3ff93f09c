"""Drop incomplete rows and split data/raw.csv into train, validation and test sets."""
import argparse
import csv
import os
import random

from common import NUMERIC, read_rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--val-size", type=float, required=True)
    parser.add_argument("--test-size", type=float, required=True)
    args = parser.parse_args()

    rows = read_rows("data/raw.csv")
    complete = [row for row in rows if all(row[name] != "" for name in NUMERIC)]
    random.Random(args.seed).shuffle(complete)
    n_test = int(len(complete) * args.test_size)
    n_val = int(len(complete) * args.val_size)
    splits = {
        "test": complete[:n_test],
        "val": complete[n_test : n_test + n_val],
        "train": complete[n_test + n_val :],
    }
    os.makedirs("data/prepared", exist_ok=True)
    for name, split in splits.items():
        with open(f"data/prepared/{name}.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0].keys()))
            writer.writeheader()
            writer.writerows(split)
    print(f"kept {len(complete)} of {len(rows)} rows: " + ", ".join(f"{k}={len(v)}" for k, v in splits.items()))


if __name__ == "__main__":
    main()
