"""Score the trained model on one split: AUC, accuracy, precision, recall and F1."""
import argparse
import json
import os

import numpy as np

from common import features, read_rows, sigmoid


def auc(y, score):
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula, ties averaged."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    i = 0
    while i < len(score):
        j = i
        while j + 1 < len(score) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    positives = y == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=["val", "test"], required=True)
    parser.add_argument("--threshold", type=float, required=True)
    args = parser.parse_args()

    model = np.load("models/model.npz")
    x, y, _, _ = features(read_rows(f"data/prepared/{args.split}.csv"), model["mean"], model["std"])
    score = sigmoid(x @ model["weights"] + float(model["bias"]))
    predicted = score >= args.threshold
    tp = float(np.sum(predicted & (y == 1)))
    precision = tp / max(1.0, float(np.sum(predicted)))
    recall = tp / max(1.0, float(np.sum(y == 1)))
    result = {
        "auc": auc(y, score),
        "accuracy": float(np.mean(predicted == (y == 1))),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / max(1e-12, precision + recall),
        "rows": int(len(y)),
    }
    os.makedirs("metrics", exist_ok=True)
    with open(f"metrics/eval-{args.split}.json", "w") as handle:
        json.dump(result, handle, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
