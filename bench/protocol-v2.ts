// Protocol v2 per-member costs at the model's size (d = 55,041, the flnode CNN): building one
// cryptogram (quantize + self mask + n − 1 pairwise masks), dealing shares (Shamir + n − 1
// AES-GCM encryptions), and unmasking + decoding with and without one dropout (reconstruct and
// verify every needed secret from t shares, strip the masks). Medians (and minima) over repeated
// runs in one process. `npx tsx bench/protocol-v2.ts [--d N]`.
import { performance } from 'node:perf_hooks';
import {
  buildCryptogramV2,
  computeShares,
  dealShares,
  decodeAggregateOverU3,
  defaultThreshold,
  generateRoundSecrets,
  randomCoefficients,
  recoverMaskSecret,
  recoverSelfSeed,
  selfCommit,
  shareCommitment,
  shareXs,
  unmaskAggregate,
  type AttemptV2,
} from '../protocol/v2/index.ts';

const dArg = process.argv.indexOf('--d');
const d = dArg > 0 ? Number(process.argv[dArg + 1]) : 55_041;

function time(fn: () => void, reps = 41): string {
  for (let i = 0; i < 10; i++) fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    fn();
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  return `${t[Math.floor(t.length / 2)]!.toFixed(2)} ms (min ${t[0]!.toFixed(2)})`;
}

for (const n of [3, 5]) {
  const t = defaultThreshold(n);
  const ids = Array.from({ length: n }, (_, i) => `site-${i}`);
  const xs = shareXs(ids);
  const ref = { consortium: 'bench', round: 1, attempt: 0 };
  const sec = new Map(ids.map((id) => [id, generateRoundSecrets()]));
  const att: AttemptV2 = { ...ref, clip: 1, threshold: t, u2: ids.map((id) => ({ id, sPublic: sec.get(id)!.sPublic, samples: 1000 })) };
  const update = Float32Array.from({ length: d }, (_, k) => Math.sin(k) * 0.01);
  const held = new Map(ids.map((id) => [id, new Map<string, { s: Uint8Array; b: Uint8Array }>()]));
  for (const o of ids) for (const [h, v] of computeShares(sec.get(o)!, { s: randomCoefficients(t), b: randomCoefficients(t) }, xs, ids)) held.get(h)!.set(o, v);
  const me = ids[0]!;
  const build = time(() => void buildCryptogramV2(att, { id: me, ...sec.get(me)! }, update));
  const deal = time(() => {
    const sh = computeShares(sec.get(me)!, { s: randomCoefficients(t), b: randomCoefficients(t) }, xs, ids);
    dealShares(ref, { id: me, cSecret: sec.get(me)!.cSecret }, sh, (id) => sec.get(id)!.cPublic);
  });
  const cryptograms = new Map(ids.map((id) => [id, buildCryptogramV2(att, { id, ...sec.get(id)! }, update)]));
  const revealed = (owner: string, kind: 's' | 'b', holders: string[]) =>
    holders.map((h) => {
      const share = held.get(h)!.get(owner)![kind];
      return { holder: h, x: xs.get(h)!, share, commitment: shareCommitment(ref, owner, h, kind, share) };
    });
  const unmask = (u3: string[]) => () => {
    const seeds = new Map(u3.map((id) => [id, recoverSelfSeed(ref, id, selfCommit(sec.get(id)!.selfSeed), revealed(id, 'b', u3), t)]));
    const dropped = new Map(ids.filter((id) => !u3.includes(id)).map((id) => [id, recoverMaskSecret(ref, id, sec.get(id)!.sPublic, revealed(id, 's', u3), t)]));
    decodeAggregateOverU3(att, u3, unmaskAggregate(att, u3, cryptograms, seeds, dropped));
  };
  const parts = [`n=${n} t=${t} d=${d}: build cryptogram ${build}`, `deal shares ${deal}`, `unmask+decode, no dropout ${time(unmask(ids))}`];
  if (n - 1 >= t) parts.push(`unmask+decode, 1 dropout ${time(unmask(ids.slice(1)))}`);
  console.log(parts.join('; '));
}
