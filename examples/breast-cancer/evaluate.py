"""Champion re-evaluation for the example's champion/challenger gate (`gate.champion.evaluate`).

Scores the champion's model (AIP_MODEL_DIR) on the candidate's snapshot (MLOPS_DATA_PATH) over the same stratified
holdout that train.py evaluates the candidate on (same test size and seed, passed as arguments), so both sides are
measured on the same rows, and writes the metrics object to MLOPS_EVAL_OUTPUT.
Usage: python evaluate.py [--test-size 0.25] [--seed 42] [--target malignant]
"""
import argparse
import csv
import json
import os

import joblib
import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--test-size", type=float, default=0.25)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--target", default="malignant")
args = parser.parse_args()

model_dir = os.environ["AIP_MODEL_DIR"]
model = joblib.load(os.path.join(model_dir, "model.joblib"))
with open(os.path.join(model_dir, "features.json")) as f:
    features = json.load(f)
with open(os.environ["MLOPS_DATA_PATH"], newline="") as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
X = np.array([[float(r[header.index(c)]) for c in features] for r in body])
y = np.array([int(r[header.index(args.target)]) for r in body])
_, X_test, _, y_test = train_test_split(X, y, test_size=args.test_size, stratify=y, random_state=args.seed)
proba = model.predict_proba(X_test)[:, 1]
pred = (proba >= 0.5).astype(int)
metrics = {
    "auc": roc_auc_score(y_test, proba),
    "accuracy": accuracy_score(y_test, pred),
    "precision": precision_score(y_test, pred, zero_division=0),
    "recall": recall_score(y_test, pred),
    "f1": f1_score(y_test, pred),
    "test_rows": float(len(y_test)),
}
with open(os.environ["MLOPS_EVAL_OUTPUT"], "w") as f:
    json.dump(metrics, f)
print("champion on the candidate's holdout: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
