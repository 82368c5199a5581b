"""Writes scikit-learn's bundled Breast Cancer Wisconsin (Diagnostic) dataset as a CSV file.

The data ships inside the scikit-learn package (569 rows, 30 numeric features, binary target), so the demo
runs offline. Column names are snake_case; the target column is `malignant` (1 = malignant, 0 = benign).
Usage: python export_dataset.py OUT.csv
"""
import csv
import sys

from sklearn.datasets import load_breast_cancer

out = sys.argv[1]
data = load_breast_cancer()
names = [n.replace(" ", "_") for n in data.feature_names]
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(names + ["malignant"])
    for row, target in zip(data.data, data.target):
        # sklearn encodes 0 = malignant, 1 = benign; flip so the positive class is the disease.
        w.writerow([repr(float(v)) for v in row] + [1 - int(target)])
print(f"wrote {len(data.target)} rows x {len(names)} features to {out}")
