"""Standardize the split data and record the scaler.

Reads data/split/{train,test}.csv and the `featurize.standardize` flag from params.yaml
(default true). Writes data/features/{train,test}.csv (scaled features plus species) and
data/features/scaler.json with the per-feature means and stds, fitted on the train split only.
With standardize false the scaler is the identity (means 0, stds 1).

Usage: python3 src/featurize.py
"""
import csv
import json
import os
import sys

import numpy as np

IN_DIR = "data/split"
OUT_DIR = "data/features"
PARAMS = "params.yaml"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def read_standardize_flag(path):
    """Read featurize.standardize from a simple two-level YAML file (no YAML library needed)."""
    if not os.path.isfile(path):
        return True
    in_block = False
    with open(path) as f:
        for raw in f:
            line = raw.split("#", 1)[0].rstrip()
            if not line.strip():
                continue
            if not line[0].isspace():
                in_block = line.strip() == "featurize:"
            elif in_block and line.strip().startswith("standardize:"):
                value = line.split(":", 1)[1].strip().strip("'\"").lower()
                if value in ("true", "yes", "on"):
                    return True
                if value in ("false", "no", "off"):
                    return False
                sys.exit(f"error: {path}: featurize.standardize must be true or false, got {value!r}")
    return True


def read_split(path):
    """Return (X float64 [n,4], species list) from a split CSV."""
    if not os.path.isfile(path):
        sys.exit(f"error: {path} not found (run src/prepare.py first)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"error: {path} has no rows")
    try:
        X = np.array([[float(row[name]) for name in FEATURES] for row in rows])
    except (KeyError, TypeError, ValueError) as exc:
        sys.exit(f"error: {path}: bad feature value ({exc})")
    return X, [row["species"] for row in rows]


def write_features(path, X, species):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(FEATURES + ["species"])
        for values, label in zip(X, species):
            writer.writerow([f"{v:.6f}" for v in values] + [label])


def main():
    standardize = read_standardize_flag(PARAMS)
    X_train, y_train = read_split(os.path.join(IN_DIR, "train.csv"))
    X_test, y_test = read_split(os.path.join(IN_DIR, "test.csv"))
    if standardize:
        mean = X_train.mean(axis=0)
        std = X_train.std(axis=0)
        std[std == 0] = 1.0
    else:
        mean, std = np.zeros(len(FEATURES)), np.ones(len(FEATURES))
    os.makedirs(OUT_DIR, exist_ok=True)
    write_features(os.path.join(OUT_DIR, "train.csv"), (X_train - mean) / std, y_train)
    write_features(os.path.join(OUT_DIR, "test.csv"), (X_test - mean) / std, y_test)
    scaler = {"features": FEATURES, "standardize": standardize,
              "mean": mean.tolist(), "std": std.tolist()}
    with open(os.path.join(OUT_DIR, "scaler.json"), "w") as f:
        json.dump(scaler, f, indent=2)
    print(f"featurize: standardize={str(standardize).lower()}, "
          f"{len(y_train)} train / {len(y_test)} test rows -> {OUT_DIR}/")


if __name__ == "__main__":
    main()
