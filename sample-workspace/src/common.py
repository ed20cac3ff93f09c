"""Shared helpers for the churn stages: CSV loading and the feature matrix (numpy only)."""
import csv

import numpy as np

NUMERIC = ["tenure_months", "monthly_charges", "support_tickets", "usage_hours"]
CONTRACTS = ["month-to-month", "one-year", "two-year"]


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def features(rows, mean=None, std=None):
    """Standardised numeric columns plus one-hot contract type; returns X, y, mean, std."""
    numeric = np.array([[float(row[name]) for name in NUMERIC] for row in rows], dtype=float)
    if mean is None:
        mean, std = numeric.mean(axis=0), numeric.std(axis=0) + 1e-9
    onehot = np.array([[1.0 if row["contract"] == c else 0.0 for c in CONTRACTS] for row in rows])
    x = np.hstack([(numeric - mean) / std, onehot])
    y = np.array([int(row["churned"]) for row in rows], dtype=float)
    return x, y, mean, std


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
