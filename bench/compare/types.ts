// Shared types of the comparison benchmark: one protection mode = one way of turning each site's
// local update into the FedAvg aggregate Σ w_i·u_i.

/** One site's local update for this round. */
export interface SiteUpdate {
  id: string;
  delta: Float32Array;
  samples: number;
}

/**
 * Seconds for one round. `protect`, `communicate`, `unmask` and `unprotect` are per site (mean over
 * sites: sites work in parallel), `aggregate` is the aggregator's work (plus, for smpc, a site's
 * share summing). `unmask` is the cryptogram's share reconstruction and mask removal (0 for the
 * other modes), `unprotect` decryption (HE) or decoding. No network latency is modelled:
 * `communicate` = serialize + sign + deserialize + verify.
 */
export interface PhaseTimes {
  protect: number;
  communicate: number;
  aggregate: number;
  unmask: number;
  unprotect: number;
}

export interface RoundOutput {
  /** The decoded FedAvg delta Σ w_i·u_i that every site applies. */
  aggregate: Float32Array;
  times: PhaseTimes;
  /** Bytes one site sends in this round for aggregation. */
  bytesPerSite: number;
  /** True when times/bytes were measured on a slice and scaled to the full model. */
  extrapolated: boolean;
  note?: string;
}

export interface ProtectionMode {
  readonly name: string;
  /** One line for the report: parameters, accounting, what was measured. */
  describe(): string;
  aggregate(updates: readonly SiteUpdate[], round: number): Promise<RoundOutput>;
  dispose?(): void;
}

export const zeroTimes = (): PhaseTimes => ({ protect: 0, communicate: 0, aggregate: 0, unmask: 0, unprotect: 0 });

/** Seconds since `t0` (a performance.now() value). */
export const since = (t0: number): number => (performance.now() - t0) / 1000;

/** FedAvg weights n_i / Σ n_j in the order given. */
export function fedAvg(updates: readonly SiteUpdate[]): number[] {
  const total = updates.reduce((s, u) => s + u.samples, 0);
  return updates.map((u) => u.samples / total);
}
