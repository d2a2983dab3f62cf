import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { VECTOR_DIR, VECTOR_INPUTS, vectorText } from '../../scripts/generate-vectors.ts';
import { verifyVector } from './independent-verifier.ts';

describe('protocol: test vectors', () => {
  it('has at least the four required vector files', () => {
    const files = readdirSync(VECTOR_DIR).filter((f) => f.endsWith('.json'));
    assert.ok(files.length >= 4, `only ${files.length} vector files`);
  });
  for (const input of VECTOR_INPUTS) {
    it(`${input.name}: regenerating from its inputs gives the committed file byte for byte`, () => {
      const committed = readFileSync(join(VECTOR_DIR, `${input.name}.json`), 'utf8');
      assert.ok(vectorText(input) === committed, `${input.name}.json differs from what the generator produces`);
    });
    it(`${input.name}: an independent node:crypto implementation agrees with every field`, () => {
      const v = JSON.parse(readFileSync(join(VECTOR_DIR, `${input.name}.json`), 'utf8'));
      assert.deepEqual(verifyVector(v), []);
    });
  }
  it('the independent verifier notices a tampered vector', () => {
    const v = JSON.parse(readFileSync(join(VECTOR_DIR, 'three-members.json'), 'utf8'));
    v.cryptograms.beta[5] = (v.cryptograms.beta[5] + 1) >>> 0;
    v.pairs[0].seed = '00' + v.pairs[0].seed.slice(2);
    const problems = verifyVector(v);
    assert.ok(problems.includes('cryptogram of beta') && problems.some((p) => p.startsWith('seed')), problems.join('; '));
  });
  it('the five-member vector exercises the clip and the dropout vector is a subset with fresh keys', () => {
    const v5 = JSON.parse(readFileSync(join(VECTOR_DIR, 'five-members-clipped.json'), 'utf8'));
    const v5b = JSON.parse(readFileSync(join(VECTOR_DIR, 'five-members-clipped-attempt-1.json'), 'utf8'));
    const clipped = v5.members.some((m: { weight: number; update: number[] }) => m.update.some((u) => Math.abs(m.weight * u) > v5.clip));
    assert.ok(clipped && v5.members[0].update.length >= 1000);
    assert.equal(v5b.round, v5.round);
    assert.equal(v5b.attempt, v5.attempt + 1);
    assert.equal(v5b.members.length, v5.members.length - 1);
    for (const m of v5b.members) {
      const before = v5.members.find((x: { id: string }) => x.id === m.id);
      assert.notEqual(m.x25519_public, before.x25519_public, 'a new attempt uses fresh keys');
      assert.deepEqual(m.update, before.update, 'the same update is re-masked');
    }
  });
});
