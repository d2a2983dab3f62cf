// flnode cryptogram protocol: pure functions over bytes and typed arrays (spec: PROTOCOL.md).
// Protocol v2 (PROTOCOL.md) is exported as the namespace `v2` until the engine moves to it.
export { ProtocolError, type ProtocolErrorCode } from './errors.ts';
export { compareIds, toHex, fromHex, equalBytes, utf8, concat } from './bytes.ts';
export { generateEphemeralKeyPair, x25519PublicKey, signingPublicKey, sharedSecret, sharedSecrets, sign, verifySignature } from './keys.ts';
export { consortiumSalt, maskSeed, maskSeeds, maskWords, keystream, addKeystream, addKeystreams, hkdfSha256 } from './masks.ts';
export { fedAvgWeights, quantizationScale, quantize, dequantize, roundHalfEven } from './encoding.ts';
export {
  type Participant,
  type AttemptParams,
  buildCryptogram,
  maskQuantized,
  sumCryptograms,
  decodeAggregate,
  cryptogramHash,
  participantWeight,
  attemptScale,
  sortedParticipants,
} from './cryptogram.ts';
export * from './wire.ts';
export { chunkCryptogram, CryptogramAssembler } from './chunks.ts';
export * as v2 from './v2/index.ts';
export { applyAggregate, modelBytes, modelHash } from './aggregate.ts';
