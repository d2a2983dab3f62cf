// Option parsers shared by the CLI commands: a bad value is one clear line, never a stack trace.
import { UserError } from './errors.ts';

/** `--name <n>`: an integer ≥ min. */
export const intOption = (name: string, min = 0) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UserError(`${name} must be an integer ≥ ${min}, got "${v}"`);
  return n;
};

/** `--name <x>`: a positive finite number. */
export const positiveOption = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UserError(`${name} must be a positive number, got "${v}"`);
  return n;
};
