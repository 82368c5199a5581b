/**
 * Model quality metrics of one window's labelled predictions, pure: classification (accuracy, precision, recall,
 * AUC, log loss, the positive class named by the spec) and regression (RMSE, MAE). AUC is the Mann-Whitney
 * statistic with ties counted half (as scikit-learn's roc_auc_score); log loss clips probabilities to
 * [1e-15, 1 - 1e-15] (as scikit-learn's log_loss). A metric that cannot be computed (AUC without scores or with one
 * class only) is left out, never NaN.
 */

/** One labelled classification prediction: the predicted and true class, and the positive class's score if any. */
export interface ClassifiedRow {
  predicted: string;
  actual: string;
  score?: number;
}

export function classificationMetrics(rows: ClassifiedRow[], positive: string): Record<string, number> {
  const n = rows.length;
  if (n === 0) return {};
  let correct = 0;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (const r of rows) {
    if (r.predicted === r.actual) correct++;
    if (r.predicted === positive && r.actual === positive) tp++;
    else if (r.predicted === positive) fp++;
    else if (r.actual === positive) fn++;
  }
  const out: Record<string, number> = { accuracy: correct / n };
  if (tp + fp > 0) out.precision = tp / (tp + fp);
  if (tp + fn > 0) out.recall = tp / (tp + fn);
  const scored = rows.filter(
    (r): r is Required<ClassifiedRow> => typeof r.score === 'number' && Number.isFinite(r.score),
  );
  if (scored.length === n) {
    const auc = rocAuc(
      scored.map((r) => r.score),
      scored.map((r) => r.actual === positive),
    );
    if (auc !== undefined) out.auc = auc;
    if (scored.every((r) => r.score >= 0 && r.score <= 1)) {
      const eps = 1e-15;
      let loss = 0;
      for (const r of scored) {
        const p = Math.min(Math.max(r.score, eps), 1 - eps);
        loss -= r.actual === positive ? Math.log(p) : Math.log(1 - p);
      }
      out.logLoss = loss / n;
    }
  }
  return out;
}

/** Area under the ROC curve; undefined when only one class is present. */
export function rocAuc(scores: number[], positives: boolean[]): number | undefined {
  const order = scores.map((s, i) => ({ s, p: positives[i]! })).sort((a, b) => a.s - b.s);
  const nPos = order.filter((o) => o.p).length;
  const nNeg = order.length - nPos;
  if (nPos === 0 || nNeg === 0) return undefined;
  // Average ranks over ties, then the Mann-Whitney U of the positives.
  let rankSum = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]!.s === order[i]!.s) j++;
    const rank = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) if (order[k]!.p) rankSum += rank;
    i = j + 1;
  }
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

export function regressionMetrics(rows: { predicted: number; actual: number }[]): Record<string, number> {
  if (rows.length === 0) return {};
  let se = 0;
  let ae = 0;
  for (const r of rows) {
    const d = r.predicted - r.actual;
    se += d * d;
    ae += Math.abs(d);
  }
  return { rmse: Math.sqrt(se / rows.length), mae: ae / rows.length };
}
