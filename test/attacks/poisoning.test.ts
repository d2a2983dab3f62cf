import assert from 'node:assert/strict';
import { protect, plainFedAvg } from '../../bench/attacks/federation.ts';
import { backdoorSplit, contributionBounds, signFlip, stampPatch } from '../../bench/attacks/poisoning.ts';
import { attemptScaleV2, buildCryptogramV2, cryptogramMasksV2, decodeAggregateOverU3, generateRoundSecrets, unmaskAggregate, type AttemptV2 } from '../../protocol/index.ts';
import { quantizeAndMask } from '../../protocol/masks.ts';
import { seededRandom } from '../../node/training/partition.ts';

const rnd = seededRandom(21);
const vec = (n: number, s: number) => Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * s);

describe('attacks: poisoning core', () => {
  it('the clip bounds a scaled sign-flipped update: its share of the aggregate is within C per coordinate', () => {
    const d = 1000;
    const honest = [vec(d, 0.01), vec(d, 0.01)];
    const evil = signFlip(vec(d, 0.01), 1e4);
    const samples = [100, 100, 100];
    for (const clip of [0.001, 0.01, 0.1]) {
      const { aggregate } = protect([honest[0]!, honest[1]!, evil], samples, clip, 1);
      const honestPart = plainFedAvg([...honest, new Float32Array(d)], samples, clip);
      let maxShare = 0;
      for (let i = 0; i < d; i++) maxShare = Math.max(maxShare, Math.abs(aggregate[i]! - honestPart[i]!));
      assert.ok(maxShare <= clip * (1 + 1e-6), `C ${clip}: share ${maxShare}`);
      assert.ok(maxShare >= clip * 0.99, 'the boosted update saturates the clip');
      // the plain FedAvg with the same clip gives the same aggregate (to the quantization step)
      const plain = plainFedAvg([honest[0]!, honest[1]!, evil], samples, clip);
      for (let i = 0; i < d; i++) assert.ok(Math.abs(plain[i]! - aggregate[i]!) < 1e-6);
    }
  });

  it('a site that skips the encoder reaches the int32 bound, beyond C, and stays within it', () => {
    const d = 200;
    const clip = 0.03;
    const ids = ['s0', 's1', 's2'];
    const secrets = ids.map(() => generateRoundSecrets());
    const att: AttemptV2 = { consortium: 'c', round: 1, attempt: 0, clip, threshold: 3, u2: ids.map((id, i) => ({ id, sPublic: secrets[i]!.sPublic, samples: 10 })) };
    const honest = [vec(d, 0.05), vec(d, 0.05)];
    const cs = honest.map((u, i) => buildCryptogramV2(att, { id: ids[i]!, ...secrets[i]! }, u));
    const bound = contributionBounds(3, clip);
    assert.ok(bound.bypass > clip && bound.bypass < 4 * clip, `bypass bound ${bound.bypass}`);
    // the malicious words: −bound on every coordinate, written without the encoder's weight and clamp, then masked as usual
    const { keys, signs } = cryptogramMasksV2(att, { id: 's2', ...secrets[2]! });
    cs.push(quantizeAndMask(new Float32Array(d).fill(-bound.bypass), 1, bound.bypass, attemptScaleV2(att), keys, signs));
    const unmasked = unmaskAggregate(att, ids, new Map(ids.map((id, i) => [id, cs[i]!])), new Map(ids.map((id, i) => [id, secrets[i]!.selfSeed])), new Map());
    const agg = decodeAggregateOverU3(att, ids, unmasked);
    const honestPart = plainFedAvg([...honest, new Float32Array(d)], [10, 10, 10], clip);
    for (let i = 0; i < d; i++) {
      const share = agg[i]! - honestPart[i]!;
      assert.ok(share < -clip * 1.5 && Math.abs(share + bound.bypass) < 1e-6, `coordinate ${i}: share ${share}`);
    }
  });

  it('the backdoor split adds patched pneumonia copies labelled normal', () => {
    const n = 6;
    const images = new Uint8Array(n * 784).fill(10);
    const labels = Uint8Array.from([1, 0, 1, 1, 0, 0]);
    const out = backdoorSplit({ images, labels, n }, 2);
    assert.equal(out.n, 8);
    assert.deepEqual(Array.from(out.labels.subarray(6)), [0, 0]);
    const patched = out.images.subarray(6 * 784, 7 * 784);
    assert.equal(patched[26 * 28 + 26], 255);
    assert.equal(patched[0], 10);
    assert.equal(stampPatch(new Uint8Array(784)).reduce((a, v) => a + (v ? 1 : 0), 0), 9);
  });
});
