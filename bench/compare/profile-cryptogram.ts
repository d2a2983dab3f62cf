// Where the v2 cryptogram's protect + aggregate + unmask time goes, per step, next to the raw
// AES-256-CTR keystreams for the same bytes timed in the same process (median of RUNS runs).
// npx tsx bench/compare/profile-cryptogram.ts [d ...]   (default: 55041 1200000 11173962)
import { createCipheriv } from 'node:crypto';
import { v2 } from '../../protocol/index.ts';
import { maskOnePass, rawKeystreamSeconds } from './cryptogram.ts';

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
  const aesWhole = (keys: number) => () => {
    for (let k = 0; k < keys; k++) createCipheriv('aes-256-ctr', Buffer.alloc(32, k + 1), Buffer.alloc(16)).update(zeros);
  };
  const cs = new Map(ids.map((id, k) => [id, v2.buildCryptogramV2(att, { id, ...secrets[k]! }, update)]));
  const seeds = new Map(ids.map((id, k) => [id, secrets[k]!.selfSeed]));
  const unmasked = v2.unmaskAggregate(att, ids, cs, seeds, new Map());
  const aes3 = ms(() => rawKeystreamSeconds(3, 4 * d));
  const build = ms(() => v2.buildCryptogramV2(att, { id: 'site-0', ...secrets[0]! }, update));
  const unmask = ms(() => v2.unmaskAggregate(att, ids, cs, seeds, new Map()));
  const decode = ms(() => v2.decodeAggregateOverU3(att, ids, unmasked));
  const rows: [string, number][] = [
    ['round secrets (2 X25519 pairs + seed)', ms(() => v2.generateRoundSecrets())],
    ['Shamir shares of s_sk and b for 3', ms(() => v2.computeShares(secrets[0]!, { s: v2.randomCoefficients(3), b: v2.randomCoefficients(3) }, v2.shareXs(ids), ids))],
    ['mask keys (self HKDF + 2 × X25519 + HKDF)', ms(() => v2.cryptogramMasksV2(att, { id: 'site-0', ...secrets[0]! }))],
    ['  quantizeV2 alone (JavaScript loop)', ms(() => v2.quantizeV2(att, 'site-0', update))],
    ['  quantize, then 3 addKeystreams passes (before)', ms(() => maskOnePass(att, { id: 'site-0', ...secrets[0]! }, update))],
    ['buildCryptogramV2 (keys + one blocked pass)', build],
    ['raw AES-256-CTR, 3 keystreams, 64 KiB blocks', aes3],
    ['  raw AES-256-CTR, 3 keystreams, one 4·d call each', ms(aesWhole(3))],
    ['unmaskAggregate (sum of 3 + 3 self masks, one pass)', unmask],
    ['decodeAggregateOverU3', decode],
  ];
  process.stdout.write(`\nd = ${d.toLocaleString('en-US')} (median of ${RUNS}, ms)\n`);
  for (const [name, v] of rows) process.stdout.write(`${name.padEnd(54)} ${v.toFixed(3).padStart(10)}\n`);
  process.stdout.write(`build / AES ${(build / aes3).toFixed(2)}, unmask / AES ${(unmask / aes3).toFixed(2)}, (build + unmask + decode) / 2·AES ${((build + unmask + decode) / (2 * aes3)).toFixed(2)}\n`);
}
