"""Generate the sample workspace's synthetic churn data (deterministic; standard library only).

    python3 data/make_data.py            # writes data/raw.csv and data/current.csv

raw.csv is the training export; current.csv is "this month's" data, with longer tenure, higher
charges and more month-to-month contracts, so `mlpipe drift` has real drift to find.
"""
import csv
import math
import os
import random

CONTRACTS = ["month-to-month", "one-year", "two-year"]
FIELDS = ["customer_id", "tenure_months", "monthly_charges", "support_tickets", "usage_hours", "contract", "churned"]


def customer(rng, index, drift):
    contract = rng.choices(CONTRACTS, weights=[0.45 + 0.2 * drift, 0.3, 0.25 - 0.2 * drift])[0]
    tenure = max(1, int(rng.expovariate(1 / (24 + 10 * drift))))
    charges = round(rng.gauss(65 + 12 * drift, 18), 2)
    tickets = min(10, int(rng.expovariate(1 / 1.5)))
    usage = round(max(0.0, rng.gauss(40 - 8 * drift, 12)), 1)
    score = -1.6 + 1.5 * (contract == "month-to-month") - 0.05 * tenure + 0.03 * (charges - 65) + 0.5 * tickets - 0.05 * (usage - 40)
    churned = int(rng.random() < 1 / (1 + math.exp(-score)))
    row = {
        "customer_id": f"C{index:05d}",
        "tenure_months": tenure,
        "monthly_charges": charges,
        "support_tickets": tickets,
        "usage_hours": usage,
        "contract": contract,
        "churned": churned,
    }
    if rng.random() < 0.01:  # real exports have gaps
        row[rng.choice(["monthly_charges", "usage_hours"])] = ""
    return row


def write(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    rng = random.Random(7)
    write(os.path.join(here, "raw.csv"), [customer(rng, i, 0.0) for i in range(3000)])
    write(os.path.join(here, "current.csv"), [customer(rng, 100000 + i, 1.0) for i in range(1000)])


if __name__ == "__main__":
    main()
