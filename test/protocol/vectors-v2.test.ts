import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLIPPED_CLIP, SCALE_EDGE_CLIP, V2_VECTOR_INPUTS, VECTOR_DIR, vectorTextV2 } from '../../scripts/generate-vectors.ts';
import { exactScale } from '../../protocol/v2/index.ts';
import { verifyVectorV2, type VectorV2 } from './independent-verifier.ts';

const load = (name: string): VectorV2 => JSON.parse(readFileSync(join(VECTOR_DIR, `${name}.json`), 'utf8'));

describe('protocol v2: test vectors', () => {
  for (const input of V2_VECTOR_INPUTS) {
    it(`${input.name}: regenerating from its inputs gives the committed file byte for byte`, () => {
      const committed = readFileSync(join(VECTOR_DIR, `${input.name}.json`), 'utf8');
      assert.ok(vectorTextV2(input) === committed, `${input.name}.json differs from what the generator produces`);
    });
    it(`${input.name}: an independent node:crypto implementation agrees with every field`, () => {
      assert.deepEqual(verifyVectorV2(load(input.name)), []);
    });
  }

  it('the independent verifier notices tampering in each part', () => {
    const v = load('v2-five-members-dropout');
    v.shamir[3]!.shares['site-2'] = '00'.repeat(32);
    v.share_ciphertexts[0]!.ciphertext = 'ff' + v.share_ciphertexts[0]!.ciphertext.slice(2);
    v.self_masks['site-1']!.mask_prefix[0] ^= 1;
    v.cryptograms['site-4']![7] = (v.cryptograms['site-4']![7]! + 1) >>> 0;
    v.decoded[3] = -v.decoded[3]!;
    const p = verifyVectorV2(v);
    for (const want of ['share b of site-2 for site-2', 'share ciphertext site-1→site-2', 'self mask of site-1', 'cryptogram of site-4', 'aggregate']) {
      assert.ok(p.some((x) => x.startsWith(want)), `missed "${want}" in ${p.join('; ')}`);
    }
  });

  it('five-members-dropout: U2 = 5, U3 = 4, t = 4, the missing cryptogram is listed but not summed', () => {
    const v = load('v2-five-members-dropout');
    assert.equal(v.threshold, 4);
    assert.equal(v.u2.length, 5);
    assert.deepEqual(v.u2.filter((id) => !v.u3.includes(id)), ['site-3']);
    assert.ok(v.cryptograms['site-3']);
  });

  it('five-members-clipped: clipped values are rounding ties at C·S, ids cover upper case, non-ASCII and non-BMP', () => {
    const v = load('v2-five-members-clipped');
    assert.equal(v.clip * v.scale, 300000000.5);
    const n2 = v.members.reduce((s, m) => s + m.samples, 0);
    const clipped = v.members.flatMap((m) => m.update.filter((u) => Math.abs((m.samples / n2) * u) > v.clip));
    assert.ok(clipped.length > 100, `${clipped.length} clipped values`);
    const ids = v.members.map((m) => m.id);
    assert.ok(ids.some((id) => /[A-Z]/.test(id)) && ids.some((id) => /[^\x00-\x7f]/.test(id)) && ids.some((id) => [...id].some((ch) => ch.codePointAt(0)! > 0xffff)));
    assert.equal(CLIPPED_CLIP, v.clip);
  });

  it('scale-edge: float64 Math.log2 gives S = 2^30 where the inequality allows only 2^29', () => {
    const v = load('v2-scale-edge');
    const n = v.u2.length;
    const limit = 2 ** 31 - 1 - n;
    const quotient = limit / (n * v.clip);
    assert.ok(quotient < 2 ** 30, 'the quotient is below 2^30 …');
    assert.equal(Math.log2(quotient), 30, '… yet Math.log2 rounds it to exactly 30');
    assert.equal(v.clip, SCALE_EDGE_CLIP);
    assert.equal(v.scale, 2 ** 29);
    assert.equal(exactScale(n, v.clip), 2 ** 29);
    // exactly (BigInt): n·C·2^30 > limit, n·C·2^29 ≤ limit
    const f = BigInt(v.clip * 2 ** 53); // C·2^53 is an integer (C ∈ [0.5, 1) has 53 significant bits)
    assert.ok(BigInt(n) * f * 2n ** 30n > BigInt(limit) * 2n ** 53n);
    assert.ok(BigInt(n) * f * 2n ** 29n <= BigInt(limit) * 2n ** 53n);
  });
});
