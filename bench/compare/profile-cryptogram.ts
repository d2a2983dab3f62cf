// Where the v2 cryptogram's protect + aggregate + unmask time goes, per step, next to the raw
// AES-256-CTR keystream for the same bytes timed in the same process (median of R runs).
// npx tsx bench/compare/profile-cryptogram.ts [d ...]   (default: 55041 1200000 11173962)
import { createCipheriv } from 'node:crypto';
import { sumCryptograms, v2 } from '../../protocol/index.ts';
import { maskOnePass, unmaskOnePass } from './cryptogram.ts';

const RUNS = 5;
const sizes = process.argv.slice(2).map(Number);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (f: () => unknown) => {
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    f();
    out.push(performance.now() - t);
  }
  return median(out);
};

for (const d of sizes.length ? sizes : [55041, 1200000, 11173962]) {
  const ids = ['site-0', 'site-1', 'site-2'];
  const secrets = ids.map(() => v2.generateRoundSecrets());
  const att: v2.AttemptV2 = { consortium: 'K', round: 1, attempt: 0, clip: 1, threshold: 3, u2: ids.map((id, k) => ({ id, sPublic: secrets[k]!.sPublic, samples: 1570 - (k > 0 ? 1 : 0) })) };
  const update = Float32Array.from({ length: d }, (_, i) => Math.sin(i) * 0.01);
  const zeros = Buffer.alloc(4 * d);
  const aes = (keys: number) => () => {
    for (let k = 0; k < keys; k++) createCipheriv('aes-256-ctr', Buffer.alloc(32, k + 1), Buffer.alloc(16)).update(zeros);
  };
  const cs = ids.map((id, k) => maskOnePass(att, { id, ...secrets[k]! }, update));
  const sum = sumCryptograms(cs);
  const seeds = new Map(ids.map((id, k) => [id, secrets[k]!.selfSeed]));
  const unmasked = unmaskOnePass(att, sum, seeds);
  const rows: [string, number][] = [
    ['round secrets (2 X25519 pairs + seed)', ms(() => v2.generateRoundSecrets())],
    ['Shamir shares of s_sk and b for 3', ms(() => v2.computeShares(secrets[0]!, { s: v2.randomCoefficients(3), b: v2.randomCoefficients(3) }, v2.shareXs(ids), ids))],
    ['quantize (v2 weight, clip, round half even)', ms(() => v2.quantizeV2(att, 'site-0', update))],
    ['mask keys (self HKDF + 2 × X25519 + HKDF)', ms(() => [v2.selfMaskKey(att, 'site-0', secrets[0]!.selfSeed), v2.pairMaskSeed(att, 'site-0', secrets[0]!.sSecret, 'site-1', secrets[1]!.sPublic), v2.pairMaskSeed(att, 'site-0', secrets[0]!.sSecret, 'site-2', secrets[2]!.sPublic)])],
    ['maskOnePass (quantize + keys + 3 keystreams added)', ms(() => maskOnePass(att, { id: 'site-0', ...secrets[0]! }, update))],
    ['  raw AES-256-CTR, 3 keystreams of 4·d bytes', ms(aes(3))],
    ['aggregate: sum of 3 cryptograms', ms(() => sumCryptograms(cs))],
    ['unmaskOnePass (copy + 3 self keystreams subtracted)', ms(() => unmaskOnePass(att, sum, seeds))],
    ['decode (int32 → float32)', ms(() => v2.decodeAggregateOverU3(att, ids, unmasked))],
  ];
  process.stdout.write(`\nd = ${d.toLocaleString('en-US')} (median of ${RUNS}, ms)\n`);
  for (const [name, v] of rows) process.stdout.write(`${name.padEnd(54)} ${v.toFixed(3).padStart(10)}\n`);
}
