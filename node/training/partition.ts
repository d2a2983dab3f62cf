// Splitting the training set across K sites: IID, or Dirichlet(α) label skew. Deterministic by seed.
//
// Dirichlet for multi-label data: each image is assigned to the class of its FIRST positive label,
// or to an extra "no finding" class when it has none; the Dirichlet split is done over those classes.

export type SplitScheme = { kind: 'iid' } | { kind: 'dirichlet'; alpha: number };

/** mulberry32: small, fast, seedable PRNG (uniform in [0, 1)). */
/** The seed of the data split: fixed so that every site (and the testbed's manifest) computes the same partitions. */
export const PARTITION_SEED = 20260101;

export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffleInPlace<T>(a: T[], rnd: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

function gamma(shape: number, rnd: () => number): number {
  // Marsaglia–Tsang; boost for shape < 1.
  if (shape < 1) return gamma(shape + 1, rnd) * Math.pow(rnd() || 1e-300, 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      const u1 = rnd() || 1e-300;
      const u2 = rnd();
      x = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rnd();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** The partition class of each sample (see the header comment for multi-label data). */
export function partitionClasses(labels: Uint8Array, columns: number, multiLabel: boolean): number[] {
  const n = labels.length / columns;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (!multiLabel) {
      out.push(labels[i * columns]!);
      continue;
    }
    let c = columns; // "no finding"
    for (let k = 0; k < columns; k++) {
      if (labels[i * columns + k]) {
        c = k;
        break;
      }
    }
    out.push(c);
  }
  return out;
}

export function partitionIndices(classes: readonly number[], opts: { sites: number; scheme: SplitScheme; seed: number }): number[][] {
  const { sites, scheme, seed } = opts;
  if (!Number.isInteger(sites) || sites < 1) throw new Error('sites must be a positive integer');
  const rnd = seededRandom(seed);
  const parts: number[][] = Array.from({ length: sites }, () => []);
  if (scheme.kind === 'iid') {
    const idx = shuffleInPlace(classes.map((_, i) => i), rnd);
    idx.forEach((v, i) => parts[i % sites]!.push(v));
  } else {
    if (!(scheme.alpha > 0)) throw new Error('dirichlet alpha must be > 0');
    const byClass = new Map<number, number[]>();
    classes.forEach((c, i) => (byClass.get(c) ?? byClass.set(c, []).get(c)!).push(i));
    for (const c of [...byClass.keys()].sort((a, b) => a - b)) {
      const idx = shuffleInPlace(byClass.get(c)!, rnd);
      const g = Array.from({ length: sites }, () => gamma(scheme.alpha, rnd));
      const total = g.reduce((a, b) => a + b, 0);
      let start = 0;
      let acc = 0;
      for (let s = 0; s < sites; s++) {
        acc += g[s]! / total;
        const end = s === sites - 1 ? idx.length : Math.round(acc * idx.length);
        parts[s]!.push(...idx.slice(start, end));
        start = end;
      }
    }
  }
  return parts.map((p) => p.sort((a, b) => a - b));
}

/**
 * Splits another set (a validation split) across the same sites in the per-class proportions of an
 * existing partition, so each site's held-out data has the label mix of its own training data.
 */
export function partitionLike(classes: readonly number[], parts: readonly number[][], otherClasses: readonly number[], seed: number): number[][] {
  const rnd = seededRandom(seed);
  const out: number[][] = parts.map(() => []);
  const byClass = new Map<number, number[]>();
  otherClasses.forEach((c, i) => (byClass.get(c) ?? byClass.set(c, []).get(c)!).push(i));
  for (const c of [...byClass.keys()].sort((a, b) => a - b)) {
    const idx = shuffleInPlace(byClass.get(c)!, rnd);
    const counts = parts.map((p) => p.filter((i) => classes[i] === c).length);
    const total = counts.reduce((a, b) => a + b, 0);
    let start = 0;
    let acc = 0;
    for (let s = 0; s < parts.length; s++) {
      acc += total > 0 ? counts[s]! / total : 1 / parts.length;
      const end = s === parts.length - 1 ? idx.length : Math.round(acc * idx.length);
      out[s]!.push(...idx.slice(start, end));
      start = end;
    }
  }
  return out.map((p) => p.sort((a, b) => a - b));
}

export function parseSplit(text: string): SplitScheme {
  if (text === 'iid') return { kind: 'iid' };
  const m = /^dirichlet:([0-9.]+)$/.exec(text);
  if (m && Number(m[1]) > 0) return { kind: 'dirichlet', alpha: Number(m[1]) };
  throw new Error(`--split must be "iid" or "dirichlet:<alpha>" (e.g. dirichlet:0.5), got "${text}"`);
}
