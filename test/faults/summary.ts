// Shared tallies of the fault suite and the one summary line it ends with (a root `after` hook:
// this module is evaluated once, when the first test file imports it).
export const tally = {
  cases: 0,
  rejected: 0,
  crashes: 0,
  faultsInjected: 0,
  roundsCompleted: 0,
  /** AND over every live scenario: honest nodes ended with one model hash. null: none ran. */
  identicalModels: null as boolean | null,
};

export function recordModels(identical: boolean): void {
  tally.identicalModels = (tally.identicalModels ?? true) && identical;
}

export function summaryLine(): string {
  const t = tally;
  return `faults: cases=${t.cases} rejected=${t.rejected} crashes=${t.crashes} faults_injected=${t.faultsInjected} rounds_completed=${t.roundsCompleted} identical_models=${t.identicalModels === true}`;
}

// Unhandled rejections or exceptions anywhere in the suite's process count as crashes.
process.on('unhandledRejection', () => void tally.crashes++);
process.on('uncaughtExceptionMonitor', () => void tally.crashes++);

after(function () {
  process.stdout.write(summaryLine() + '\n');
});
