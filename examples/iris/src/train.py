"""Train a softmax-regression classifier and export it to ONNX.

Reads data/features/train.csv (standardized features) and data/features/scaler.json, fits a
multinomial logistic regression by full-batch gradient descent (deterministic: zero init),
and writes:
  models/model.onnx   input "input" float32 [batch,4] raw measurements -> Sub(mean) -> Div(std)
                      -> Gemm(W, b) -> Softmax -> output "probabilities" float32 [batch,3]
  metrics/train.json  {"loss": ..., "accuracy": ...} on the train split
If CAIRN_METRICS_FILE is set, one JSON line {"step", "loss", "accuracy"} is appended to it
every 10 epochs.

Usage: python3 src/train.py --lr 0.05 --epochs 300 --l2 0.001
"""
import argparse
import csv
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FEATURE_DIR = "data/features"
MODEL_PATH = "models/model.onnx"
METRICS_PATH = "metrics/train.json"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CLASSES = ["setosa", "versicolor", "virginica"]
OPSET = 13
LOG_EVERY = 10


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, required=True, help="learning rate (> 0)")
    parser.add_argument("--epochs", type=int, required=True, help="number of full-batch steps (>= 1)")
    parser.add_argument("--l2", type=float, required=True, help="L2 penalty on the weights (>= 0)")
    args = parser.parse_args()
    if not args.lr > 0:
        parser.error(f"--lr must be positive, got {args.lr}")
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    if args.l2 < 0:
        parser.error(f"--l2 must be non-negative, got {args.l2}")
    return args


def load_features(path):
    """Return (X float64 [n,4], y int [n]) from a features CSV."""
    if not os.path.isfile(path):
        sys.exit(f"error: {path} not found (run src/featurize.py first)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"error: {path} has no rows")
    try:
        X = np.array([[float(row[name]) for name in FEATURES] for row in rows])
        y = np.array([CLASSES.index(row["species"]) for row in rows])
    except (KeyError, TypeError, ValueError) as exc:
        sys.exit(f"error: {path}: bad row ({exc})")
    return X, y


def load_scaler(path):
    if not os.path.isfile(path):
        sys.exit(f"error: {path} not found (run src/featurize.py first)")
    with open(path) as f:
        scaler = json.load(f)
    mean, std = np.array(scaler["mean"], float), np.array(scaler["std"], float)
    if mean.shape != (len(FEATURES),) or std.shape != (len(FEATURES),) or np.any(std == 0):
        sys.exit(f"error: {path}: expected {len(FEATURES)} means and non-zero stds")
    return mean, std


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def evaluate(W, b, X, y, l2):
    """Return (loss, accuracy): mean cross-entropy plus L2 penalty, and accuracy."""
    p = softmax(X @ W + b)
    loss = -np.mean(np.log(p[np.arange(len(y)), y] + 1e-12)) + 0.5 * l2 * np.sum(W * W)
    return float(loss), float(np.mean(p.argmax(axis=1) == y))


def fit(X, y, lr, epochs, l2, log_path=None):
    """Full-batch gradient descent on the softmax cross-entropy; returns (W [4,3], b [3])."""
    n, k = len(y), len(CLASSES)
    Y = np.eye(k)[y]
    W, b = np.zeros((X.shape[1], k)), np.zeros(k)
    for epoch in range(1, epochs + 1):
        grad = (softmax(X @ W + b) - Y) / n
        W -= lr * (X.T @ grad + l2 * W)
        b -= lr * grad.sum(axis=0)
        if log_path and epoch % LOG_EVERY == 0:
            loss, acc = evaluate(W, b, X, y, l2)
            with open(log_path, "a") as f:
                f.write(json.dumps({"step": epoch, "loss": loss, "accuracy": acc}) + "\n")
    return W, b


def build_model(mean, std, W, b):
    """Build the ONNX graph: (input - mean) / std, then Gemm, then Softmax."""
    f32 = lambda a: np.asarray(a, dtype=np.float32)
    initializers = [numpy_helper.from_array(f32(mean), "scaler_mean"),
                    numpy_helper.from_array(f32(std), "scaler_std"),
                    numpy_helper.from_array(f32(W), "weights"),
                    numpy_helper.from_array(f32(b), "bias")]
    nodes = [helper.make_node("Sub", ["input", "scaler_mean"], ["centered"], name="center"),
             helper.make_node("Div", ["centered", "scaler_std"], ["scaled"], name="scale"),
             helper.make_node("Gemm", ["scaled", "weights", "bias"], ["logits"], name="linear"),
             helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1)]
    graph = helper.make_graph(
        nodes, "iris_softmax_regression",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", len(FEATURES)])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(CLASSES)])],
        initializer=initializers)
    model = helper.make_model(graph, producer_name="cairn-iris-example",
                              opset_imports=[helper.make_opsetid("", OPSET)],
                              doc_string="Iris species classifier; input columns: " + ",".join(FEATURES))
    helper.set_model_props(model, {"features": ",".join(FEATURES), "labels": ",".join(CLASSES)})
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    args = parse_args()
    X, y = load_features(os.path.join(FEATURE_DIR, "train.csv"))
    mean, std = load_scaler(os.path.join(FEATURE_DIR, "scaler.json"))
    W, b = fit(X, y, args.lr, args.epochs, args.l2, os.environ.get("CAIRN_METRICS_FILE"))
    loss, acc = evaluate(W, b, X, y, args.l2)
    if not np.isfinite(loss):
        sys.exit(f"error: training diverged (loss {loss}); try a smaller --lr")
    os.makedirs(os.path.dirname(MODEL_PATH), exist_ok=True)
    onnx.save(build_model(mean, std, W, b), MODEL_PATH)
    os.makedirs(os.path.dirname(METRICS_PATH), exist_ok=True)
    with open(METRICS_PATH, "w") as f:
        json.dump({"loss": loss, "accuracy": acc}, f, indent=2)
    print(f"train: {len(y)} rows, {args.epochs} epochs (lr {args.lr}, l2 {args.l2}): "
          f"loss {loss:.4f}, accuracy {acc:.4f} -> {MODEL_PATH}")


if __name__ == "__main__":
    main()
