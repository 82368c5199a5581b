"""GPU variant of the breast-cancer training job (PyTorch), following the temporal-mlops training job contract.

Reads MLOPS_DATA_PATH (CSV) and MLOPS_PARAMS (JSON), trains a small MLP full-batch on CUDA when a GPU is
present (else CPU), resumes from AIP_CHECKPOINT_DIR/state.pt when an earlier (preempted) attempt left one, and
writes model.pt, features.json and metrics.json into AIP_MODEL_DIR. Needs torch and numpy only.
"""
import csv
import json
import os
import time

import numpy as np
import torch

params = json.loads(os.environ.get("MLOPS_PARAMS", "{}"))
model_dir = os.environ["AIP_MODEL_DIR"]
checkpoint_dir = os.environ.get("AIP_CHECKPOINT_DIR", "")
target = params.get("target", "malignant")
epochs = int(params.get("epochs", 2000))
seed = int(params.get("seed", 42))

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
print(f"device: {torch.cuda.get_device_name(0) if device.type == 'cuda' else 'cpu'} (torch {torch.__version__})")

with open(os.environ["MLOPS_DATA_PATH"], newline="") as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
features = [c for c in header if c != target]
X = np.array([[float(r[header.index(c)]) for c in features] for r in body], dtype=np.float32)
y = np.array([float(r[header.index(target)]) for r in body], dtype=np.float32)

# Stratified holdout (25 %), deterministic.
rng = np.random.default_rng(seed)
test = np.zeros(len(y), dtype=bool)
for label in (0.0, 1.0):
    idx = np.flatnonzero(y == label)
    test[rng.choice(idx, size=round(len(idx) * 0.25), replace=False)] = True
mean, std = X[~test].mean(0), X[~test].std(0) + 1e-6
Xt = torch.tensor((X - mean) / std, device=device)
yt = torch.tensor(y, device=device)

torch.manual_seed(seed)
model = torch.nn.Sequential(
    torch.nn.Linear(len(features), 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)
).to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
start_epoch = 0
state_file = os.path.join(checkpoint_dir, "state.pt") if checkpoint_dir else ""
if state_file and os.path.exists(state_file):
    state = torch.load(state_file, map_location=device)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    start_epoch = state["epoch"]
    print(f"resumed from {state_file} at epoch {start_epoch}")

train_mask = torch.tensor(~test, device=device)
loss_fn = torch.nn.BCEWithLogitsLoss()
started = time.time()
for epoch in range(start_epoch, epochs):
    optimizer.zero_grad()
    loss = loss_fn(model(Xt[train_mask]).squeeze(1), yt[train_mask])
    loss.backward()
    optimizer.step()
    if checkpoint_dir and (epoch + 1) % 500 == 0:
        os.makedirs(checkpoint_dir, exist_ok=True)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1}, state_file)
if device.type == "cuda":
    torch.cuda.synchronize()
print(f"trained {epochs - start_epoch} epochs in {time.time() - started:.2f}s, final loss {loss.item():.4f}")

with torch.no_grad():
    proba = torch.sigmoid(model(Xt[~train_mask]).squeeze(1)).cpu().numpy()
y_test = y[test]
pred = (proba >= 0.5).astype(np.float32)
# AUC by the rank statistic (Mann-Whitney U), no scikit-learn needed.
order = proba.argsort()
ranks = np.empty(len(proba))
ranks[order] = np.arange(1, len(proba) + 1)
pos, neg = y_test == 1, y_test == 0
auc = (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * neg.sum())
tp = float(((pred == 1) & pos).sum())
metrics = {
    "auc": float(auc),
    "accuracy": float((pred == y_test).mean()),
    "recall": tp / float(pos.sum()),
    "precision": tp / max(float(pred.sum()), 1.0),
    "train_rows": float((~test).sum()),
    "test_rows": float(test.sum()),
    "gpu": 1.0 if device.type == "cuda" else 0.0,
}
os.makedirs(model_dir, exist_ok=True)
torch.save(model.state_dict(), os.path.join(model_dir, "model.pt"))
with open(os.path.join(model_dir, "features.json"), "w") as f:
    json.dump({"features": features, "mean": mean.tolist(), "std": std.tolist()}, f)
with open(os.path.join(model_dir, "metrics.json"), "w") as f:
    json.dump(metrics, f, indent=2)
print("metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
