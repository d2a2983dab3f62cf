// The outcome of a protocol call in a test: the typed ProtocolError code it threw, or 'accepted'.
// An untyped error fails the test (the library must throw its own catalogue, never a bare Error).
import assert from 'node:assert/strict';
import { ProtocolError } from '../../protocol/index.ts';

export function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ProtocolError, `untyped error: ${String(e)}`);
    return e.code;
  }
  return 'accepted';
}
