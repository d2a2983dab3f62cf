// The simulation's invariants, checked after every event:
// - agreement: no two honest nodes ever hold different models for one version (a model a node
//   later replaces, e.g. by fork healing, still counts: it was committed);
// - FedAvg: the first commit of each version equals the previous version plus the FedAvg of the
//   committed participants' updates (from the trainers' ledger), within the quantization bound;
// - no engine step fails with an error other than a simulated crash;
// - privacy (sim-privacy.ts): no honest member's cryptogram unmaskable alone, no two aggregates
//   over different sets sharing an honest member;
// and, once faults stop, liveness: every honest node finishes the plan on one model.
import { dequantize } from '../../protocol/index.ts';
import { exactScale } from '../../protocol/v2/index.ts';
import { PrivacyCheck } from './sim-privacy.ts';
import type { SimWorld } from './sim-world.ts';
import { modelHash } from './sim-trainer.ts';

interface Committed {
  hash: string;
  /** The attempt it came from at the first committer (-1: reached by model sync). */
  attempt: number;
  weights: Float32Array;
  by: string;
  at: number;
}

export class Checker {
  readonly violations: string[] = [];
  /** Engine steps that threw (not a simulated crash): bugs, but the run goes on to see their effect. */
  readonly errors: string[] = [];
  /** The first commit of each model version. */
  readonly committed = new Map<number, Committed>();
  /** Commits checked against FedAvg (versions reached by model sync are only compared by hash). */
  fedAvgChecked = 0;
  private readonly seen = new Map<string, string>();

  private readonly privacy: PrivacyCheck;

  constructor(private readonly world: SimWorld) {
    this.privacy = new PrivacyCheck(world, (what) => this.violation(what));
  }

  violation(what: string): void {
    if (this.violations.length < 20) this.violations.push(`${what} [${this.world.describe()}]`);
  }

  afterEvent(): void {
    this.privacy.afterEvent();
    for (const n of this.world.honest) {
      const e = n.engine;
      if (!e?.global) continue;
      const g = e.global;
      const tag = `${g.version}/${g.hash}`;
      if (this.seen.get(n.id) === tag) continue;
      this.seen.set(n.id, tag);
      const s = e.summaries.find((x) => x.round === g.version);
      this.onModel(n.name, g.version, g.hash, e.currentWeights(), s?.attempt ?? -1);
      if (g.version > 0 && s && s.attempt >= 0 && this.committed.get(g.version)?.by === n.name) this.checkFedAvg(g.version, s.participants, s.masked ?? s.participants);
    }
  }

  /** A model error logged by an engine (anything but a simulated crash) is a violation. */
  engineError(node: string, line: string): void {
    if (line.includes('simulated crash')) return;
    let what = line;
    try {
      const j = JSON.parse(line) as { msg?: string; err?: string };
      what = `${j.msg}: ${(j.err ?? '').split("\n").slice(0, 7).map((l) => l.trim().replace(/\(.*\/(node|protocol|test)\//, '($1/')).join(' < ')}`;
    } catch {
      /* not JSON: keep the line */
    }
    if (this.errors.length < 20) this.errors.push(`engine error at ${node}: ${what.slice(0, 600)} [${this.world.describe()}]`);
  }

  private onModel(node: string, version: number, hash: string, weights: Float32Array, attempt: number): void {
    if (modelHash(weights) !== hash) this.violation(`${node} holds v${version} whose weights do not hash to ${hash.slice(0, 12)}`);
    const prior = this.committed.get(version);
    if (!prior) {
      this.committed.set(version, { hash, attempt, weights: weights.slice(), by: node, at: this.world.sched.now });
      return;
    }
    if (prior.hash !== hash) this.violation(`agreement: ${node} holds v${version} ${hash.slice(0, 12)} (attempt ${attempt}), ${prior.by} committed ${prior.hash.slice(0, 12)} (attempt ${prior.attempt})`);
  }

  /** v2 encoding: weights over U2 (`masked`), the sum over U3 (`participants`) rescaled by N2/N3. */
  private checkFedAvg(version: number, participants: string[], masked: string[]): void {
    const base = this.committed.get(version - 1);
    const got = this.committed.get(version)!;
    if (!base) return this.violation(`v${version} committed without a known v${version - 1}`);
    const { clip } = this.world.manifest.plan;
    const updates = participants.map((p) => ({ p, u: this.world.ledger.get(p, base.hash) }));
    const missing = updates.filter((x) => !x.u).map((x) => this.world.node(x.p)?.name ?? x.p);
    if (missing.length) return this.violation(`v${version} names participants that never trained on v${version - 1}: ${missing.join(', ')}`);
    // (a member of U2 \ U3 may never have finished training: its weight is its announced sample count)
    const n2 = masked.reduce((s, p) => s + this.world.node(p).samples, 0);
    const n3 = updates.reduce((s, x) => s + x.u!.samples, 0);
    const n = masked.length;
    const scale = exactScale(n, clip);
    // each participant's term is rounded to 1/S: |error| ≤ |U3|/(2S)·N2/N3; float32 storage adds |x|·2^-23
    const bound = (updates.length / (2 * scale)) * (n2 / n3);
    let worst = 0;
    for (let k = 0; k < got.weights.length; k++) {
      let delta = 0;
      for (const { u } of updates) delta += Math.max(-clip, Math.min(clip, (u!.samples / n2) * u!.delta[k]!));
      delta = (delta * n2) / n3;
      const expected = base.weights[k]! + delta;
      const err = Math.abs(got.weights[k]! - expected);
      const tol = bound + (Math.abs(expected) + Math.abs(delta) + 1e-30) * 2 ** -22;
      worst = Math.max(worst, err / tol);
      if (err > tol) return this.violation(`FedAvg: v${version} weight ${k} is ${got.weights[k]}, expected ${expected} ± ${tol.toExponential(2)} (participants ${participants.map((p) => this.world.node(p).name).join(', ')})`);
    }
    // (the bound is not vacuous: one quantum is 1/S, far below the update sizes)
    if (dequantize(Uint32Array.of(1), scale)[0]! > 1e-3) this.violation(`quantization scale ${scale} too coarse for a meaningful FedAvg check`);
    this.fedAvgChecked++;
  }

  /** Liveness once faults stopped: every honest node is up, finished, on one model. */
  checkConverged(): void {
    if (this.world.converged()) return;
    this.violation('liveness: the honest nodes did not all finish the plan on one model after faults stopped');
  }
}
