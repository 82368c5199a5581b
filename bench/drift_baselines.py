"""Baselines for bench/drift.ts on the same data: Evidently's DataDriftPreset and a plain scipy loop.

Reads ref.f64 / cur.f64 (column-major float64, ROWS x COLS) from the directory given, prints one JSON line:
{"evidently_s": ..., "scipy_s": ..., "evidently_drifted": [...], "scipy_scores": [...]}.
"""
import json
import sys
import time

import numpy as np
import pandas as pd
from scipy import stats

directory, rows, cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ref = np.fromfile(f"{directory}/ref.f64").reshape(cols, rows).T
cur = np.fromfile(f"{directory}/cur.f64").reshape(cols, rows).T
names = [f"f{i}" for i in range(cols)]
ref_df = pd.DataFrame(ref, columns=names)
cur_df = pd.DataFrame(cur, columns=names)

started = time.perf_counter()
scores = [float(stats.wasserstein_distance(ref[:, i], cur[:, i]) / max(np.std(ref[:, i]), 0.001)) for i in range(cols)]
scipy_s = time.perf_counter() - started

drifted = None
started = time.perf_counter()
try:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset()]).run(current_data=cur_df, reference_data=ref_df)
    evidently_s = time.perf_counter() - started
    result = snapshot.dict()
    drifted = []
    for metric in result.get("metrics", []):
        value = metric.get("value")
        name = str(metric.get("metric_id", ""))
        if "ValueDrift" in name and isinstance(value, (int, float)):
            drifted.append([name, value])
except ImportError:
    from evidently.legacy.metric_preset import DataDriftPreset
    from evidently.legacy.report import Report

    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=ref_df, current_data=cur_df)
    evidently_s = time.perf_counter() - started
print(json.dumps({"evidently_s": evidently_s, "scipy_s": scipy_s, "scipy_scores": scores, "evidently_values": drifted}))
