// flnode protocol v2 (PROTOCOL.md): secure aggregation with double masking and t-of-n shares.
export * from './gf256.ts';
export * from './shamir.ts';
export * from './threshold.ts';
export * from './secrets.ts';
export * from './shares.ts';
export * from './encoding.ts';
export * from './secagg.ts';
export * from './reveal.ts';
export * from './wire.ts';
export * from './void.ts';
export * from './chunks.ts';
