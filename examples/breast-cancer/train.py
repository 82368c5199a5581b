"""Training job for the breast-cancer example, following the temporal-mlops training job contract.

Reads the data snapshot from MLOPS_DATA_PATH (CSV), hyper-parameters from MLOPS_PARAMS (JSON), trains a
scikit-learn pipeline (standard scaling + gradient boosting or logistic regression), evaluates it on a
stratified holdout, and writes model.joblib, features.json and metrics.json into AIP_MODEL_DIR, with
predictions.jsonl: each holdout row as serve.py receives it and what the model predicts for it, in serve.py's
response format (the skew gate replays them through the serving container before any traffic moves).
The same script runs unchanged on Vertex AI, where AIP_MODEL_DIR is set by the platform. As a sweep trial
(MLOPS_TRIAL set) it reports its holdout AUC as the ensemble grows (one line per 10 trees in MLOPS_METRICS_FILE).
"""
import csv
import json
import os
import time

import joblib
import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

params = json.loads(os.environ.get("MLOPS_PARAMS", "{}"))
model_dir = os.environ["AIP_MODEL_DIR"]
target = params.get("target", "malignant")

with open(os.environ["MLOPS_DATA_PATH"], newline="") as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
features = [c for c in header if c != target]
X = np.array([[float(r[header.index(c)]) for c in features] for r in body])
y = np.array([int(r[header.index(target)]) for r in body])
print(f"loaded {X.shape[0]} rows x {X.shape[1]} features from {os.environ['MLOPS_DATA_URI']}")

row_ids = np.arange(len(body))
X_train, X_test, y_train, y_test, _, test_ids = train_test_split(
    X, y, row_ids, test_size=float(params.get("test_size", 0.25)), stratify=y, random_state=int(params.get("seed", 42))
)
if params.get("algorithm", "gradient_boosting") == "logistic_regression":
    estimator = LogisticRegression(C=float(params.get("C", 1.0)), max_iter=2000)
else:
    estimator = GradientBoostingClassifier(
        n_estimators=int(params.get("n_estimators", 150)),
        max_depth=int(params.get("max_depth", 3)),
        learning_rate=float(params.get("learning_rate", 0.1)),
        random_state=int(params.get("seed", 42)),
    )
model = make_pipeline(StandardScaler(), estimator)
started = time.time()
if os.environ.get("MLOPS_TRIAL") is not None and isinstance(estimator, GradientBoostingClassifier):
    # A sweep trial: grow the ensemble in chunks and report the holdout AUC after each one to MLOPS_METRICS_FILE
    # (step = trees so far), so that ASHA can stop a losing trial before it has grown all of them.
    estimator.set_params(warm_start=True)
    total, chunk = estimator.n_estimators, int(params.get("report_every", 10))
    for trees in list(range(chunk, total, chunk)) + [total]:
        estimator.set_params(n_estimators=trees)
        model.fit(X_train, y_train)
        auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
        with open(os.environ["MLOPS_METRICS_FILE"], "a") as f:
            f.write(json.dumps({"step": trees, "auc": auc}) + "\n")
else:
    model.fit(X_train, y_train)
print(f"trained {type(estimator).__name__} in {time.time() - started:.2f}s")

proba = model.predict_proba(X_test)[:, 1]
pred = (proba >= 0.5).astype(int)
metrics = {
    "auc": roc_auc_score(y_test, proba),
    "accuracy": accuracy_score(y_test, pred),
    "precision": precision_score(y_test, pred),
    "recall": recall_score(y_test, pred),
    "f1": f1_score(y_test, pred),
    "train_rows": float(len(y_train)),
    "test_rows": float(len(y_test)),
}
os.makedirs(model_dir, exist_ok=True)
joblib.dump(model, os.path.join(model_dir, "model.joblib"))
with open(os.path.join(model_dir, "features.json"), "w") as f:
    json.dump(features, f)
with open(os.path.join(model_dir, "metrics.json"), "w") as f:
    json.dump(metrics, f, indent=2)
with open(os.path.join(model_dir, "predictions.jsonl"), "w") as f:
    for row, p in zip(test_ids, proba):
        # The raw CSV values, as a caller sends them: the scaler inside the pipeline is the server's to apply.
        instance = {name: float(body[row][header.index(name)]) for name in features}
        prediction = {"malignant_probability": float(p), "label": int(p >= 0.5)}
        f.write(json.dumps({"key": int(row), "instance": instance, "prediction": prediction}) + "\n")
print("metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
