// Component interfaces of the daemon (see STYLE.md: components injected, each replaceable in a
// test by an in-memory one). Implementations: node/p2p (libp2p), node/rounds (state machine),
// node/storage (level), node/training (tfjs).

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
  /** Peer ids this node has an open connection to. */
  connectedPeers(): string[];
  /** Multiaddrs this node listens on (with /p2p/<id>). */
  listenAddresses(): string[];
  /**
   * Direct request to one peer on the model-sync protocol (`/flnode/model/1`):
   * returns the raw bytes the peer's provider returned, or throws.
   */
  request(peer: string, request: Uint8Array): Promise<Uint8Array>;
  /** Serve model-sync requests from members. */
  setRequestHandler(handler: (request: Uint8Array, from: string) => Promise<Uint8Array>): void;
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
