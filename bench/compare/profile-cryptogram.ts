// Where the v2 cryptogram's protect + aggregate + unmask time goes, per step, next to the raw
// AES-256-CTR keystreams for the same bytes timed in the same process (median of RUNS interleaved runs).
// npx tsx bench/compare/profile-cryptogram.ts [d ...]   (default: 55041 1200000 11173962)
import { createCipheriv } from 'node:crypto';
import { AttemptV2, buildCryptogramV2, computeShares, cryptogramMasksV2, decodeAggregateOverU3, generateRoundSecrets, quantizeV2, randomCoefficients, shareXs, unmaskAggregate, unmaskAndDecodeOverU3 } from '../../protocol/index.ts';
import { maskOnePass, rawKeystreamSeconds } from './cryptogram.ts';

const RUNS = 9;
const sizes = process.argv.slice(2).map(Number);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Median ms of each step over RUNS rounds; every round times every step once, in order, so a change of the machine's load hits all steps alike. */
function interleaved(steps: readonly (readonly [string, () => unknown])[]): Map<string, number> {
  const times = new Map<string, number[]>(steps.map(([name]) => [name, []]));
  for (const [, f] of steps) f(); // warm-up
  for (let r = 0; r < RUNS; r++) {
    for (const [name, f] of steps) {
      const t = performance.now();
      f();
      times.get(name)!.push(performance.now() - t);
    }
  }
  return new Map([...times].map(([name, xs]) => [name, median(xs)]));
}

for (const d of sizes.length ? sizes : [55041, 1200000, 11173962]) {
  const ids = ['site-0', 'site-1', 'site-2'];
  const secrets = ids.map(() => generateRoundSecrets());
  const att: AttemptV2 = { consortium: 'K', round: 1, attempt: 0, clip: 1, threshold: 3, u2: ids.map((id, k) => ({ id, sPublic: secrets[k]!.sPublic, samples: 1570 - (k > 0 ? 1 : 0) })) };
  const update = Float32Array.from({ length: d }, (_, i) => Math.sin(i) * 0.01);
  const zeros = Buffer.alloc(4 * d);
  const aesWhole = (keys: number) => () => {
    for (let k = 0; k < keys; k++) createCipheriv('aes-256-ctr', Buffer.alloc(32, k + 1), Buffer.alloc(16)).update(zeros);
  };
  const cs = new Map(ids.map((id, k) => [id, buildCryptogramV2(att, { id, ...secrets[k]! }, update)]));
  const seeds = new Map(ids.map((id, k) => [id, secrets[k]!.selfSeed]));
  const unmasked = unmaskAggregate(att, ids, cs, seeds, new Map());
  const BUILD = 'buildCryptogramV2 (keys + one blocked pass)';
  const AES = 'raw AES-256-CTR, 3 keystreams, 64 KiB blocks';
  const UNMASK = 'unmaskAggregate (sum of 3 + 3 self masks, one pass)';
  const DECODE = 'decodeAggregateOverU3';
  const FUSED = 'unmaskAndDecodeOverU3 (the node\'s: both in one pass)';
  const m = interleaved([
    ['round secrets (2 X25519 pairs + seed)', () => generateRoundSecrets()],
    ['Shamir shares of s_sk and b for 3', () => computeShares(secrets[0]!, { s: randomCoefficients(3), b: randomCoefficients(3) }, shareXs(ids), ids)],
    ['mask keys (self HKDF + 2 × X25519 + HKDF)', () => cryptogramMasksV2(att, { id: 'site-0', ...secrets[0]! })],
    ['  quantizeV2 alone (JavaScript loop)', () => quantizeV2(att, 'site-0', update)],
    ['  quantize, then 3 addKeystreams passes (before)', () => maskOnePass(att, { id: 'site-0', ...secrets[0]! }, update)],
    [BUILD, () => buildCryptogramV2(att, { id: 'site-0', ...secrets[0]! }, update)],
    [AES, () => rawKeystreamSeconds(3, 4 * d)],
    ['  raw AES-256-CTR, 3 keystreams, one 4·d call each', aesWhole(3)],
    [UNMASK, () => unmaskAggregate(att, ids, cs, seeds, new Map())],
    [DECODE, () => decodeAggregateOverU3(att, ids, unmasked)],
    [FUSED, () => unmaskAndDecodeOverU3(att, ids, cs, seeds, new Map())],
  ]);
  const rows = [...m];
  const [build, aes3, unmask, decode, fused] = [m.get(BUILD)!, m.get(AES)!, m.get(UNMASK)!, m.get(DECODE)!, m.get(FUSED)!];
  process.stdout.write(`\nd = ${d.toLocaleString('en-US')} (median of ${RUNS} interleaved runs, ms)\n`);
  for (const [name, v] of rows) process.stdout.write(`${name.padEnd(54)} ${v.toFixed(3).padStart(10)}\n`);
  process.stdout.write(`build / AES ${(build / aes3).toFixed(2)}, unmask / AES ${(unmask / aes3).toFixed(2)}, (build + unmask + decode) / 2·AES ${((build + unmask + decode) / (2 * aes3)).toFixed(2)}, (build + fused) / 2·AES ${((build + fused) / (2 * aes3)).toFixed(2)}\n`);
}
