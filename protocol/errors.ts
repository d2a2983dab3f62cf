/** The protocol's error catalogue: every failed check throws one of these, never returns false. */
export type ProtocolErrorCode =
  | 'MALFORMED'
  | 'OVERSIZED'
  | 'BAD_VERSION'
  | 'BAD_KIND'
  | 'BAD_SIGNATURE'
  | 'WRONG_CONSORTIUM'
  | 'UNKNOWN_SENDER'
  | 'BAD_PARAMS'
  | 'BAD_KEY'
  // protocol v2 (PROTOCOL.md)
  | 'BAD_THRESHOLD'
  | 'OVER_MAX_SAMPLES'
  | 'BAD_SHARE'
  | 'BAD_COMPLAINT'
  | 'UNRECOVERABLE';

export class ProtocolError extends Error {
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'ProtocolError';
  }
}

export function fail(code: ProtocolErrorCode, message: string): never {
  throw new ProtocolError(code, message);
}
