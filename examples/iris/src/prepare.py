"""Split data/iris.csv into data/split/train.csv and data/split/test.csv.

The split is stratified by species and deterministic for a given seed.

Usage: python3 src/prepare.py --test-size 0.3 --seed 42
"""
import argparse
import csv
import os
import sys

import numpy as np

SOURCE = "data/iris.csv"
OUT_DIR = "data/split"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SPECIES = ["setosa", "versicolor", "virginica"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-size", type=float, required=True, help="fraction held out, 0 < F < 1")
    parser.add_argument("--seed", type=int, required=True, help="random seed for the shuffle")
    args = parser.parse_args()
    if not 0 < args.test_size < 1:
        parser.error(f"--test-size must be between 0 and 1 (exclusive), got {args.test_size}")
    return args


def read_rows(path):
    """Read and validate the source CSV; return its rows as dicts."""
    if not os.path.isfile(path):
        sys.exit(f"error: {path} not found (run from the examples/iris folder)")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = set(FEATURES + ["species"]) - set(reader.fieldnames or [])
        if missing:
            sys.exit(f"error: {path} lacks column(s): {', '.join(sorted(missing))}")
        rows = list(reader)
    for line, row in enumerate(rows, start=2):
        if row["species"] not in SPECIES:
            sys.exit(f"error: {path}:{line}: unknown species {row['species']!r}")
        for name in FEATURES:
            try:
                float(row[name])
            except (TypeError, ValueError):
                sys.exit(f"error: {path}:{line}: {name} is not a number: {row[name]!r}")
    return rows


def stratified_split(rows, test_size, seed):
    """Return (train_rows, test_rows), holding out test_size of each species."""
    rng = np.random.default_rng(seed)
    test_idx = []
    for species in SPECIES:
        idx = np.array([i for i, row in enumerate(rows) if row["species"] == species])
        n_test = int(round(len(idx) * test_size))
        if len(idx) and not 0 < n_test < len(idx):
            sys.exit(f"error: test size {test_size} leaves no train or test rows for {species}")
        test_idx.extend(rng.permutation(idx)[:n_test].tolist())
    test_set = set(test_idx)
    train = [row for i, row in enumerate(rows) if i not in test_set]
    test = [row for i, row in enumerate(rows) if i in test_set]
    return train, test


def write_rows(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FEATURES + ["species"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def main():
    args = parse_args()
    rows = read_rows(SOURCE)
    train, test = stratified_split(rows, args.test_size, args.seed)
    os.makedirs(OUT_DIR, exist_ok=True)
    write_rows(os.path.join(OUT_DIR, "train.csv"), train)
    write_rows(os.path.join(OUT_DIR, "test.csv"), test)
    print(f"prepare: {len(rows)} rows -> {len(train)} train, {len(test)} test "
          f"(test size {args.test_size}, seed {args.seed}) in {OUT_DIR}/")


if __name__ == "__main__":
    main()
