// Component interfaces of the daemon (components injected, each replaceable in a test by an
// in-memory one). Implementations: node/p2p (libp2p), node/rounds (state machine),
// node/storage (level), node/training (tfjs).
import type { VoidRecordV2 } from '../protocol/v2/void.ts';

/** What a topic validator decides about one gossip message (gossipsub semantics). */
export type Verdict = 'accept' | 'reject' | 'ignore';

/** The network as the round logic sees it: signed envelopes in, signed envelopes out. */
export interface Network {
  /** This node's libp2p peer id (base58 string). */
  readonly selfId: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Gossip one already-signed envelope (protocol/wire bytes) to the consortium topic. */
  publish(envelope: Uint8Array): Promise<void>;
  /**
   * Called synchronously by the topic validator for every incoming message before it is
   * forwarded; only 'accept'ed messages reach `onMessage` handlers and are propagated.
   */
  setValidator(validate: (envelope: Uint8Array, from: string) => Verdict): void;
  onMessage(handler: (envelope: Uint8Array, from: string) => void): void;
  /**
   * Direct request/response with one member, outside gossip (model sync: PROTOCOL.md §5 sends a
   * ModelResponse on a direct stream, up to MAX_MODEL_ENVELOPE_BYTES). Sends `request` (one signed
   * envelope, ≤ MAX_ENVELOPE_BYTES) to `peer` and resolves with the peer's answer (one envelope of
   * at most `maxResponseBytes`), or null when the peer had none. Rejects when the peer cannot be
   * reached, the answer is larger than allowed, or nothing complete arrives within `timeoutMs`.
   * `from` in the handler below is the authenticated peer id of the connection.
   */
  request(peer: string, request: Uint8Array, opts: { maxResponseBytes: number; timeoutMs: number }): Promise<Uint8Array | null>;
  /** Serves other members' direct requests: the handler returns the answer envelope, or null for none. */
  onRequest(handler: (request: Uint8Array, from: string) => Promise<Uint8Array | null>): void;
  /** Peer ids this node has an open connection to. */
  connectedPeers(): string[];
  /** Multiaddrs this node listens on (with /p2p/<id>). */
  listenAddresses(): string[];
  /** This peer's gossipsub score as seen by this node (lower after rejected messages). */
  peerScore(peer: string): number;
}

/** Result of one local training pass. */
export interface LocalTrainResult {
  /** New local weights minus the starting global weights (flat, stable order). */
  delta: Float32Array;
  /** Training samples at this site (n_i for FedAvg weights). */
  samples: number;
  seconds: number;
  loss: number;
}

export interface EvalResult {
  auc: number;
  acc: number;
  loss: number;
}

/** Local training engine of one site (node/training implements it with tfjs). */
export interface Trainer {
  readonly dataset: string;
  readonly task: 'binary' | 'multi-label' | 'multi-class';
  readonly backend: string;
  /** Number of float32 parameters of the model. */
  readonly parameterCount: number;
  /** Samples in this site's training partition. */
  readonly trainSamples: number;
  getWeights(): Float32Array;
  setWeights(flat: Float32Array): void;
  /** Train from the current weights for the plan's local epochs; weights are restored to the
   * starting point afterwards unless `keep` is true. Deterministic for a given seed. */
  trainLocal(opts: { seed: number; keep?: boolean; onProgress?: (done: number, total: number) => void }): Promise<LocalTrainResult>;
  evaluate(split: 'val' | 'test'): Promise<EvalResult>;
  /** The current weights in the tfjs layers format: model.json text and the weights binary. */
  exportModel(): Promise<{ modelJson: string; weights: Uint8Array }>;
  dispose(): void;
}

/** Round phases, in order (node/rounds owns the state machine). */
export type RoundPhase =
  | 'keys' // announcing keys, waiting for the aggregator's U1 list
  | 'dealing' // sharing secrets, waiting for U2
  | 'training' // in U2, local update not ready yet
  | 'collecting' // cryptogram sent, waiting for U3
  | 'unmasking' // consents and revealed shares, until the aggregate can be unmasked
  | 'verifying' // evaluating the new model
  | 'done';

export interface PeerView {
  id: string;
  name: string;
  connected: boolean;
  live: boolean;
  /** Epoch ms of the last valid message from this member, or null. */
  lastSeen: number | null;
}

export interface ParticipantProgress {
  id: string;
  name: string;
  chunksReceived: number;
  chunksTotal: number | null;
}

export interface NodeStatus {
  site: string;
  peerId: string;
  consortium: string;
  manifestSignature: 'valid' | 'invalid';
  listen: string[];
  peers: PeerView[];
  round: {
    round: number;
    attempt: number;
    phase: RoundPhase;
    aggregator: string | null;
    participants: ParticipantProgress[];
    /** Epoch ms of the current phase's deadline, or null. */
    deadline: number | null;
  };
  /** `published`: the round whose model this node serves (best validation AUC, node/rounds/publication.ts), or null before any. */
  model: { version: number; hash: string | null; published: number | null };
  roundsPlanned: number;
  /** The node's most recent notable events (pause, refused attempt, rejected record, split, stall...), oldest first, at most 20. */
  events: { at: number; kind: string; detail: string }[];
}

export interface RoundSummary {
  round: number;
  attempt: number;
  /** U3: the sites whose updates the aggregate holds. */
  participants: string[];
  /** U2: the sites the attempt was masked over (the FedAvg weights' denominator); absent for a model fetched from a peer. */
  masked?: string[];
  aggregator: string;
  /** Seconds spent in each phase of the round at this node. */
  phaseSeconds: Partial<Record<RoundPhase, number>>;
  /** Bytes of this round's messages received (heartbeats aside; a message kept for the next round counts in that round). */
  bytesIn: number;
  /** Bytes this node sent in the round, re-sends and heartbeats included. */
  bytesOut: number;
  modelHash: string;
  testAuc: number | null;
  testAcc: number | null;
  testLoss: number | null;
  /** AUC of this round's global model on this site's validation split (model selection); absent in
   * summaries written before it was recorded. */
  valAuc?: number | null;
  completedAt: number;
  /** True when this site's contribution to the round was weights uploaded through the API. */
  uploaded?: boolean;
  /** True when the admin voided the round (PROTOCOL.md §8.10): the model is the previous version's
   * weights unchanged, no aggregate exists (attempt −1, no participants). */
  voided?: boolean;
  /** The reason the admin's void record states. */
  voidReason?: string;
}

/** What the HTTP status page/API reads from and writes to a running node (node/http uses it;
 * the daemon implements it). */
export interface NodeView {
  status(): NodeStatus;
  rounds(): RoundSummary[];
  /** The current global model, or null before the first one exists. */
  currentModel(): Promise<{ version: number; round: number; hash: string; modelJson: string; weights: Uint8Array } | null>;
  /** What the model is trained on (for the page's model card); absent in minimal views. */
  modelInfo?(): { dataset: string; task: string };
  /** Shapes of the model's weight tensors in flat order (for validating uploads). */
  weightShapes(): { name: string; shape: number[] }[];
  /** Use these locally-trained weights as this site's contribution to the next round. */
  submitWeights(flat: Float32Array): Promise<{ round: number }>;
  /** Apply and gossip the admin's void record of the current round (PROTOCOL.md §8.10); throws
   * VoidRefused (node/rounds/void.ts) when it does not void this node's round. */
  submitVoid?(record: VoidRecordV2): Promise<{ round: number }>;
  /** Subscribe to state changes (for server-sent events); returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
}
