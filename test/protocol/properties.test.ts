// Properties of protocol v2 cryptograms over random attempts: the unmasked sum decodes to the
// clipped FedAvg, anything short of the protocol's unmasking is noise, a cryptogram looks uniform.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  buildCryptogramV2,
  decodeAggregateOverU3,
  exactScale,
  fedAvgWeightsV2,
  generateRoundSecrets,
  selfMaskKey,
  unmaskAggregate,
  type AttemptV2,
} from '../../protocol/index.ts';
import { sumAndMask } from '../../protocol/masks.ts';

describe('protocol v2: properties', () => {
  it('for n in 3..20, the unmasked sum decodes to the clipped weighted sum within n/(2S); without one member, or without the self masks, it is noise', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 20 }),
        fc.integer({ min: 1, max: 64 }),
        fc.double({ min: 0.01, max: 4, noNaN: true }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (n, d, clip, seed) => {
          let s = seed;
          const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
          const members = Array.from({ length: n }, (_, i) => ({
            id: `m${i}`,
            secrets: generateRoundSecrets(),
            samples: 1 + Math.floor(rnd() * 5000),
            update: Float32Array.from({ length: d }, () => (rnd() - 0.5) * 4 * clip * n),
          }));
          const att: AttemptV2 = { consortium: 'p', round: seed, attempt: 0, clip, threshold: 3, u2: members.map((m) => ({ id: m.id, sPublic: m.secrets.sPublic, samples: m.samples })) };
          const cs = new Map(members.map((m) => [m.id, buildCryptogramV2(att, { id: m.id, ...m.secrets }, m.update)]));
          const ids = members.map((m) => m.id);
          const selfSeeds = new Map(members.map((m) => [m.id, m.secrets.selfSeed]));
          const decoded = decodeAggregateOverU3(att, ids, unmaskAggregate(att, ids, cs, selfSeeds, new Map()));
          const { weights: w } = fedAvgWeightsV2(members.map((m) => m.samples));
          const S = exactScale(n, clip);
          for (let k = 0; k < d; k++) {
            let exact = 0;
            members.forEach((m, j) => (exact += Math.min(clip, Math.max(-clip, w[j]! * m.update[k]!))));
            // float32 output adds its own rounding on top of the n/(2S) quantization bound
            assert.ok(Math.abs(decoded[k]! - exact) <= n / (2 * S) + Math.abs(exact) * 2 ** -23 + 1e-12);
          }
          // leftover masks make ~3/4 of coordinates exceed the clip; a real partial sum never does
          const implausible = (a: Uint32Array) => decodeAggregateOverU3(att, ids, a).filter((v) => Math.abs(v) > clip).length;
          const drop = ids[seed % n]!;
          const rest = ids.filter((id) => id !== drop);
          const selfKeys = (of: string[]) => of.map((id) => selfMaskKey(att, id, selfSeeds.get(id)!));
          // the other members' cryptograms with their self masks removed: the dropped member's pair masks remain
          const partial = sumAndMask(rest.map((id) => cs.get(id)!), selfKeys(rest), rest.map(() => -1));
          assert.ok(d < 8 || implausible(partial) >= d / 4, `dropping ${drop} left ${implausible(partial)}/${d} implausible coordinates`);
          // every cryptogram summed, self masks left in (what an aggregator holds before the reveal)
          const masked = sumAndMask(ids.map((id) => cs.get(id)!), [], []);
          assert.ok(d < 8 || implausible(masked) >= d / 4, `self masks left ${implausible(masked)}/${d} implausible coordinates`);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('a cryptogram of an all-zero update passes a chi-square uniformity test on its bytes', () => {
    const members = Array.from({ length: 3 }, (_, i) => ({ id: `z${i}`, secrets: generateRoundSecrets() }));
    const att: AttemptV2 = { consortium: 'chi', round: 1, attempt: 0, clip: 1, threshold: 3, u2: members.map((m) => ({ id: m.id, sPublic: m.secrets.sPublic, samples: 10 })) };
    const c = buildCryptogramV2(att, { id: 'z1', ...members[1]!.secrets }, new Float32Array(65536));
    const bytes = new Uint8Array(c.buffer);
    const counts = new Array(256).fill(0);
    for (const b of bytes) counts[b]++;
    const expected = bytes.length / 256;
    const chi2 = counts.reduce((s, o) => s + (o - expected) ** 2 / expected, 0);
    // 255 degrees of freedom: the 0.999 quantile is ≈ 330.5
    assert.ok(chi2 < 330.5, `chi-square ${chi2.toFixed(1)} rejects uniformity`);
  });
});
