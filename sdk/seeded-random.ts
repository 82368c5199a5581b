/**
 * mulberry32: a small seeded generator of uniform numbers in [0, 1). The same seed gives the same sequence on
 * every worker and in every replay, so it is safe inside workflow code (sweep trials) as well as in activities
 * (the skew gate's row sample). Written here because it is a few lines and no dependency is worth the bundle.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
