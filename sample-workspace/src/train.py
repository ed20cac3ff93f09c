"""Fit L2-regularised logistic regression by full-batch gradient descent; log loss per epoch."""
import argparse
import json
import os

import numpy as np

from common import features, read_rows, sigmoid


def log_loss(y, p):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--l2", type=float, required=True)
    args = parser.parse_args()

    x, y, mean, std = features(read_rows("data/prepared/train.csv"))
    weights = np.zeros(x.shape[1])
    bias = 0.0
    os.makedirs("metrics", exist_ok=True)
    os.makedirs("models", exist_ok=True)
    with open("metrics/loss.csv", "w") as curve:
        curve.write("epoch,loss\n")
        for epoch in range(1, args.epochs + 1):
            p = sigmoid(x @ weights + bias)
            grad = x.T @ (p - y) / len(y) + args.l2 * weights
            weights -= args.lr * grad
            bias -= args.lr * float(np.mean(p - y))
            curve.write(f"{epoch},{log_loss(y, p):.6f}\n")
            curve.flush()  # lets mlpipe plot the curve while the stage runs

    p = sigmoid(x @ weights + bias)
    np.savez("models/model.npz", weights=weights, bias=bias, mean=mean, std=std)
    with open("metrics/train.json", "w") as handle:
        json.dump({"loss": log_loss(y, p), "accuracy": float(np.mean((p >= 0.5) == y)), "rows": int(len(y))}, handle, indent=2)


if __name__ == "__main__":
    main()
