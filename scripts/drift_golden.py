"""Golden vectors for the TypeScript drift statistics, computed with numpy and scipy the way Evidently does.

Writes test/drift/golden.json. Re-run after changing a case:
    python -m venv /tmp/g && /tmp/g/bin/pip install numpy==2.3.4 scipy==1.16.3 && /tmp/g/bin/python scripts/drift_golden.py
"""
import json
import math
import os

import numpy as np
import scipy
from scipy import stats
from scipy.spatial import distance

rng = np.random.default_rng(20261122)
OUT = os.path.join(os.path.dirname(__file__), "..", "test", "drift", "golden.json")


def r4(a):
    return [float(round(v, 4)) for v in a]


def counts(ref, cur):
    """Counts per category over the union, reference values first (as the TypeScript does)."""
    keys = list(dict.fromkeys(list(ref) + list(cur)))
    rc = {k: 0 for k in keys}
    cc = {k: 0 for k in keys}
    for v in ref:
        rc[v] += 1
    for v in cur:
        cc[v] += 1
    return keys, rc, cc


def binned(ref, cur, kind):
    if kind == "numerical" and len(np.unique(ref)) > 20:
        bins = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        return np.histogram(ref, bins)[0] / len(ref), np.histogram(cur, bins)[0] / len(cur)
    keys, rc, cc = counts(ref, cur)
    return np.array([rc[k] for k in keys]) / len(ref), np.array([cc[k] for k in keys]) / len(cur)


def fill(p):
    p = p.astype(float).copy()
    nz = p[p != 0]
    m = nz.min()
    np.place(p, p == 0, m / 10**6 if m <= 0.0001 else 0.0001)
    return p


def psi(ref, cur, kind):
    r, c = binned(ref, cur, kind)
    r, c = fill(r), fill(c)
    return float(np.sum((r - c) * np.log(r / c)))


def kl(ref, cur, kind):
    r, c = binned(ref, cur, kind)
    return float(stats.entropy(fill(r), fill(c)))


def js(ref, cur, kind):
    r, c = binned(ref, cur, kind)
    return float(distance.jensenshannon(r, c))


def chi(ref, cur):
    keys, rc, cc = counts(ref, cur)
    if len(keys) == 1:
        return None  # scipy answers NaN (0 degrees of freedom); ours answers 1, documented
    k = len(cur) / len(ref)
    f_exp = [rc[x] * k for x in keys]
    f_obs = [cc[x] for x in keys]
    if any(e == 0 and o > 0 for e, o in zip(f_exp, f_obs)):
        return 0.0
    return float(stats.chisquare(f_obs, f_exp)[1])


def ztest(ref, cur):
    keys = list(dict.fromkeys(list(ref) + list(cur)))
    if len(keys) == 1:
        return 1.0
    key = keys[0]
    a = np.array([1 if x == key else 0 for x in ref])
    b = np.array([1 if x == key else 0 for x in cur])
    n1, n2 = len(a), len(b)
    p1, p2 = a.sum() / n1, b.sum() / n2
    P = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(P * (1 - P) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(np.abs(z))))


def wass(ref, cur):
    return float(stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001))


cases = {"ks": [], "kstwo": [], "numeric": [], "categorical": []}

# KS: exact (max n <= 10000) and asymptotic, ties, tiny samples, equal sizes.
ks_specs = [
    ("tiny-1x1", rng.normal(0, 1, 1), rng.normal(1, 1, 1)),
    ("tiny-3x5", rng.normal(0, 1, 3), rng.normal(1, 1, 5)),
    ("equal-n-40", rng.normal(0, 1, 40), rng.normal(0.3, 1, 40)),
    ("equal-n-ties", np.round(rng.normal(0, 1, 300), 1), np.round(rng.normal(0.1, 1, 300), 1)),
    ("unequal-97x211", rng.normal(0, 1, 97), rng.normal(0.2, 1.1, 211)),
    ("same-dist-500x700", rng.normal(0, 1, 500), rng.normal(0, 1, 700)),
    ("shift-1000x3000", rng.normal(0, 1, 1000), rng.normal(0.05, 1, 3000)),
    ("big-shift-800x900", rng.normal(0, 1, 800), rng.normal(1.5, 1, 900)),
    ("exact-limit-10000x2500", rng.normal(0, 1, 10000), rng.normal(0.03, 1, 2500)),
    ("all-equal", np.full(50, 3.0), np.full(60, 3.0)),
    ("asymp-12000x15000", rng.normal(0, 1, 12000), rng.normal(0.02, 1, 15000)),
    ("asymp-small-neff-40x20000", rng.normal(0, 1, 40), rng.normal(0.2, 1, 20000)),
    ("asymp-strong-11000x11000", rng.normal(0, 1, 11000), rng.normal(0.1, 1, 11000)),
]
for name, a, b in ks_specs:
    a, b = np.array(r4(a)), np.array(r4(b))
    res = stats.ks_2samp(a, b, method="auto")
    cases["ks"].append({"name": name, "a": list(a), "b": list(b), "statistic": float(res.statistic), "pvalue": float(res.pvalue)})

# The one-sample Kolmogorov tail used by the asymptotic branch, over every method region.
for n in [20, 100, 141, 500, 5000, 50000, 100001, 300000]:
    for t in [0.3, 0.55, 0.8, 1.0, 1.2, 1.4, 1.6, 2.0, 3.0]:
        d = t / math.sqrt(n)
        if d < 1:
            cases["kstwo"].append({"n": n, "d": d, "sf": float(stats.kstwo.sf(d, n))})

# Numerical columns: every default and optional test.
num_specs = [
    ("normal-shift", rng.normal(0, 1, 800), rng.normal(0.4, 1, 600)),
    ("normal-same", rng.normal(5, 2, 1500), rng.normal(5, 2, 1500)),
    ("skewed", rng.exponential(2, 2000), rng.exponential(2.6, 1800)),
    ("few-values", rng.integers(0, 4, 700).astype(float), rng.integers(0, 5, 500).astype(float)),
    ("empty-bins", np.concatenate([rng.normal(0, 1, 400), [25.0]]), rng.normal(0, 1, 300)),
    ("constant-reference", np.full(100, 7.0), rng.normal(7, 0.5, 80)),
    ("tiny", np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0, 5.0])),
]
for name, a, b in num_specs:
    a, b = np.array(r4(a)), np.array(r4(b))
    cases["numeric"].append({
        "name": name, "a": list(a), "b": list(b),
        "ks": float(stats.ks_2samp(a, b).pvalue), "wasserstein": wass(a, b),
        "psi": psi(a, b, "numerical"), "kl": kl(a, b, "numerical"), "jensenshannon": js(a, b, "numerical"),
        "chisquare": chi(list(a), list(b)) if len(set(a) | set(b)) <= 5 else None,
    })

# Categorical columns, unseen categories included.
cat_specs = [
    ("shifted", rng.choice(["a", "b", "c"], 900, p=[0.5, 0.3, 0.2]), rng.choice(["a", "b", "c"], 700, p=[0.4, 0.3, 0.3])),
    ("same", rng.choice(["x", "y", "z", "w"], 2000), rng.choice(["x", "y", "z", "w"], 2000)),
    ("unseen-category", rng.choice(["a", "b"], 300), rng.choice(["a", "b", "new"], 300)),
    ("binary", rng.choice(["yes", "no"], 500, p=[0.7, 0.3]), rng.choice(["yes", "no"], 400, p=[0.6, 0.4])),
    ("binary-all-equal", np.array(["on"] * 40), np.array(["on"] * 30)),
]
for name, a, b in cat_specs:
    a, b = [str(x) for x in a], [str(x) for x in b]
    cases["categorical"].append({
        "name": name, "a": a, "b": b, "chisquare": chi(a, b), "z": ztest(a, b) if len(set(a) | set(b)) <= 2 else None,
        "psi": psi(np.array(a), np.array(b), "categorical"), "kl": kl(np.array(a), np.array(b), "categorical"),
        "jensenshannon": js(np.array(a), np.array(b), "categorical"),
    })

with open(OUT, "w") as f:
    json.dump({"numpy": np.__version__, "scipy": scipy.__version__, "cases": cases}, f, separators=(",", ":"))
print(f"wrote {OUT}")
