// PROTOCOL.md §3/§5: applying a decoded aggregate to the global model and the model hash, checked
// against the committed vector and an independent node:crypto implementation.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyAggregate, modelHash, toHex } from '../../protocol/index.ts';
import { buildModelUpdateVector, MODEL_UPDATE_VECTOR, VECTOR_DIR } from '../../scripts/generate-vectors.ts';
import { verifyModelUpdateVector } from './independent-verifier.ts';

const committed = () => JSON.parse(readFileSync(join(VECTOR_DIR, MODEL_UPDATE_VECTOR), 'utf8'));

describe('protocol: applying an aggregate to the model (model-update vector)', () => {
  it('regenerating the vector gives the committed file byte for byte', () => {
    assert.ok(JSON.stringify(buildModelUpdateVector(), null, 1) + '\n' === readFileSync(join(VECTOR_DIR, MODEL_UPDATE_VECTOR), 'utf8'));
  });
  it('an independent implementation agrees with the model and both hashes', () => {
    assert.deepEqual(verifyModelUpdateVector(committed()), []);
  });
  it('the independent verifier notices a one-ulp change of one coordinate and a wrong hash', () => {
    const v = committed();
    const f = new Float32Array([v.model[3]]);
    new Uint32Array(f.buffer)[0]! += 1;
    v.model[3] = f[0];
    v.base_hash = '00' + v.base_hash.slice(2);
    assert.deepEqual(verifyModelUpdateVector(v), ['base hash', 'model[3]', 'model hash']);
  });
  it('applyAggregate sums in float32 and refuses a length mismatch; modelHash is SHA-256 of the float32 LE bytes', () => {
    const v = committed();
    const next = applyAggregate(Float32Array.from(v.base), Float32Array.from(v.decoded));
    assert.deepEqual(Array.from(next), v.model);
    assert.equal(toHex(modelHash(next)), createHash('sha256').update(new Uint8Array(next.buffer)).digest('hex'));
    assert.throws(() => applyAggregate(new Float32Array(3), new Float32Array(4)), /BAD_PARAMS|aggregate of 4/);
  });
});
