"""Evaluate models/model.onnx on a raw data split, without onnxruntime.

Loads the ONNX model with the onnx package and runs its graph in NumPy (a tiny interpreter
for the Sub, Div, Gemm and Softmax nodes that train.py emits, reading the initializers) on
data/split/<split>.csv. Writes metrics/eval.json:
  {"accuracy": ..., "macro_f1": ..., "recall": {"setosa": ..., ...}, "n": ...}

Usage: python3 src/evaluate.py --split test
"""
import argparse
import csv
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

MODEL_PATH = "models/model.onnx"
SPLIT_DIR = "data/split"
METRICS_PATH = "metrics/eval.json"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CLASSES = ["setosa", "versicolor", "virginica"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["train", "test"], required=True, help="which split to score")
    return parser.parse_args()


def load_split(path):
    """Return (X float32 [n,4], species list) from a raw split CSV."""
    if not os.path.isfile(path):
        sys.exit(f"error: {path} not found (run src/prepare.py first)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"error: {path} has no rows")
    try:
        X = np.array([[float(row[name]) for name in FEATURES] for row in rows], dtype=np.float32)
        species = [row["species"] for row in rows]
    except (KeyError, TypeError, ValueError) as exc:
        sys.exit(f"error: {path}: bad row ({exc})")
    return X, species


def load_model(path):
    if not os.path.isfile(path):
        sys.exit(f"error: {path} not found (run src/train.py first)")
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model)
    except Exception as exc:
        sys.exit(f"error: {path} is not a valid ONNX model: {exc}")
    return model


def gemm(a, b, c=None, alpha=1.0, beta=1.0, transA=0, transB=0):
    y = alpha * ((a.T if transA else a) @ (b.T if transB else b))
    return y if c is None else y + beta * c


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


OPS = {"Sub": np.subtract, "Div": np.divide, "Gemm": gemm, "Softmax": softmax}


def run(model, X):
    """Run the model's graph in NumPy on X; return its first output."""
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    values[model.graph.input[0].name] = X
    for node in model.graph.node:
        if node.op_type not in OPS:
            sys.exit(f"error: unsupported ONNX operator {node.op_type!r} in node {node.name!r}")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        values[node.output[0]] = OPS[node.op_type](*(values[i] for i in node.input if i), **attrs)
    return values[model.graph.output[0].name]


def scores(y_true, y_pred, labels):
    """Return accuracy, macro F1 and per-class recall."""
    recall, f1s = {}, []
    for k, label in enumerate(labels):
        tp = int(np.sum((y_pred == k) & (y_true == k)))
        actual, predicted = int(np.sum(y_true == k)), int(np.sum(y_pred == k))
        r = tp / actual if actual else 0.0
        p = tp / predicted if predicted else 0.0
        recall[label] = r
        f1s.append(2 * p * r / (p + r) if p + r else 0.0)
    return float(np.mean(y_true == y_pred)), float(np.mean(f1s)), recall


def main():
    args = parse_args()
    model = load_model(MODEL_PATH)
    props = {p.key: p.value for p in model.metadata_props}
    labels = props["labels"].split(",") if "labels" in props else CLASSES
    X, species = load_split(os.path.join(SPLIT_DIR, f"{args.split}.csv"))
    unknown = sorted(set(species) - set(labels))
    if unknown:
        sys.exit(f"error: species not known to the model: {', '.join(unknown)}")
    y_true = np.array([labels.index(s) for s in species])
    probabilities = run(model, X)
    if probabilities.shape != (len(X), len(labels)):
        sys.exit(f"error: model output has shape {probabilities.shape}, expected ({len(X)}, {len(labels)})")
    accuracy, macro_f1, recall = scores(y_true, probabilities.argmax(axis=1), labels)
    os.makedirs(os.path.dirname(METRICS_PATH), exist_ok=True)
    with open(METRICS_PATH, "w") as f:
        json.dump({"accuracy": accuracy, "macro_f1": macro_f1, "recall": recall, "n": len(X)}, f, indent=2)
    print(f"evaluate ({args.split}, n={len(X)}): accuracy {accuracy:.4f}, macro F1 {macro_f1:.4f}, "
          "recall " + ", ".join(f"{k} {v:.2f}" for k, v in recall.items()))


if __name__ == "__main__":
    main()
