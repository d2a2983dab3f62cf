// Fault injection for the fault suite and the simulation, as an injected object instead of
// process.env reads inside the round logic. Production passes `noHooks`.

/** Named points in a round where a crash can be injected (a phase name or a step). */
export type CrashPoint = string;

/** How a faulty aggregator misbehaves (fault suite only). */
// equivocate: two different cryptograms as a member; false-dropout: U3 leaves out a member whose
// cryptogram it holds; split-u3: a second, different U3 list for the same attempt.
export type AggregatorFault = 'equivocate' | 'false-dropout' | 'split-u3';

export interface EngineHooks {
  /** Called on reaching `point` of `round`; a test implementation may kill the process or, in the
   * simulation, throw a crash that the harness catches. */
  reached(round: number, point: CrashPoint): void;
  /** Extra delay before local training starts (a slow site), in ms. */
  readonly trainDelayMs: number;
  /** Misbehave as aggregator in this way, or null. */
  readonly aggregatorFault: AggregatorFault | null;
}

export const noHooks: EngineHooks = { reached: () => {}, trainDelayMs: 0, aggregatorFault: null };
