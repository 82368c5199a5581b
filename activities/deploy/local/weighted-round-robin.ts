/**
 * Smooth weighted round-robin (nginx's): with weights summing to 100, every 100 picks give each key exactly its
 * weight, spread out rather than in runs, so a 10 % canary sees one request in ten from the start.
 */
export class SmoothWeightedRoundRobin<K> {
  private readonly current = new Map<K, number>();

  pick(weights: Iterable<readonly [K, number]>): K | undefined {
    let best: K | undefined;
    let total = 0;
    for (const [key, weight] of weights) {
      if (weight <= 0) continue;
      const value = (this.current.get(key) ?? 0) + weight;
      this.current.set(key, value);
      total += weight;
      if (best === undefined || value > this.current.get(best)!) best = key;
    }
    if (best !== undefined) this.current.set(best, this.current.get(best)! - total);
    return best;
  }

  /** Forgets the running credits (after the weights change). */
  reset(): void {
    this.current.clear();
  }
}
