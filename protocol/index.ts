// flnode cryptogram protocol (PROTOCOL.md): pure functions over bytes and typed arrays. The shared
// primitives (bytes, keys, keystreams, quantization) and protocol v2 (secure aggregation with
// double masking and t-of-n shares, its wire formats and chunks).
export { ProtocolError, type ProtocolErrorCode } from './errors.ts';
export { compareIds, toHex, fromHex, equalBytes, utf8, concat } from './bytes.ts';
export { generateEphemeralKeyPair, x25519PublicKey, signingPublicKey, sharedSecret, sharedSecrets, sign, verifySignature } from './keys.ts';
export { keystream, addKeystream, addKeystreams, hkdfSha256 } from './masks.ts';
export { quantize, dequantize, roundHalfEven } from './encoding.ts';
export * from './v2/index.ts';
export { applyAggregate, modelBytes, modelHash } from './aggregate.ts';
