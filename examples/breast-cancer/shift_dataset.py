"""Writes the demo's "newer data": the Breast Cancer Wisconsin rows as a recalibrated scanner would report them.

The documented, seeded shift: every size and texture measure (radius, perimeter, texture: mean, error and
worst) reads 20 % larger and every area 44 % larger (1.2²), each value with 2 % seeded noise (numpy
default_rng(seed)). Diagnoses (the `malignant` labels) are unchanged. 12 of the 30 features move, which is why the
demo's monitor uses `driftShare: 0.25`.
Usage: python shift_dataset.py IN.csv OUT.csv [--seed 1] [--scale 1.2]
"""
import argparse
import csv

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("source")
parser.add_argument("out")
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--scale", type=float, default=1.2)
args = parser.parse_args()

with open(args.source, newline="") as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
rng = np.random.default_rng(args.seed)
moved = []
for i, name in enumerate(header):
    if any(k in name for k in ("radius", "perimeter", "texture")):
        factor = args.scale
    elif "area" in name:
        factor = args.scale**2
    else:
        continue
    moved.append(name)
    noise = 1 + rng.normal(0, 0.02, len(body))
    for row, n in zip(body, noise):
        row[i] = repr(float(row[i]) * factor * float(n))
with open(args.out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(header)
    w.writerows(body)
print(f"wrote {len(body)} rows to {args.out}: {len(moved)} features shifted (x{args.scale}, areas x{args.scale**2:.2f})")
