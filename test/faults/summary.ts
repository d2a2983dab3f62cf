// Shared tallies of the fault suite and the one summary line it ends with (a root `after` hook:
// this module is evaluated once, when the first test file imports it).
interface Tally {
  cases: number;
  rejected: number;
  /** Connection attempts of non-members refused by the members' connection gater (they never reach validation). */
  refusedConnections: number;
  crashes: number;
  faultsInjected: number;
  roundsCompleted: number;
  /** AND over every live scenario: honest nodes ended with one model hash. null: none ran. */
  identicalModels: boolean | null;
}

// One tally per process even if a loader evaluates this module more than once (seen with mocha +
// tsx: two instances printed two lines), so it lives on globalThis.
const g = globalThis as { __flnodeFaultTally?: Tally; __flnodeFaultHook?: boolean };
export const tally: Tally = (g.__flnodeFaultTally ??= {
  cases: 0,
  rejected: 0,
  refusedConnections: 0,
  crashes: 0,
  faultsInjected: 0,
  roundsCompleted: 0,
  identicalModels: null,
});

export function recordModels(identical: boolean): void {
  tally.identicalModels = (tally.identicalModels ?? true) && identical;
}

export function summaryLine(): string {
  const t = tally;
  return `faults: cases=${t.cases} rejected=${t.rejected} refused_connections=${t.refusedConnections} crashes=${t.crashes} faults_injected=${t.faultsInjected} rounds_completed=${t.roundsCompleted} identical_models=${t.identicalModels === true}`;
}

if (!g.__flnodeFaultHook) {
  g.__flnodeFaultHook = true;
  // Unhandled rejections or exceptions anywhere in the suite's process count as crashes.
  process.on('unhandledRejection', () => void tally.crashes++);
  process.on('uncaughtExceptionMonitor', () => void tally.crashes++);
  after(function () {
    process.stdout.write(summaryLine() + '\n');
  });
}
