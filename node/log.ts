// One logger factory for the daemon and the CLI. Logs are JSON lines on stderr (pino), so that
// stdout stays free for command results (`--json` prints its result as the last stdout line).
import { pino, type Logger } from 'pino';

export type { Logger };

const level = process.env.FLNODE_LOG_LEVEL ?? 'info';
const root = pino({ level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));

/** A child logger for one component, e.g. `createLogger('p2p')`. */
export function createLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return root.child({ component, ...bindings });
}
