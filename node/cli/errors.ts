// UserError lives in node/errors.ts (imported by the daemon, manifest and identity code below the CLI).
export { UserError } from '../errors.ts';
