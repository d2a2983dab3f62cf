// The Network over libp2p 3: TCP + noise + yamux + identify + gossipsub, one topic per consortium.
// Only manifest members connect (gater.ts). Every message is validated synchronously in gossipsub's
// topic validator; rejected messages are not forwarded and count against the sender's peer score
// (invalid-message penalty, P4).
import { createHash, randomBytes } from 'node:crypto';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { gossipsub, TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import { peerIdFromString } from '@libp2p/peer-id';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import type { Stream } from '@libp2p/interface';
import { createLibp2p, type Libp2p } from 'libp2p';
import { MAX_ENVELOPE_BYTES_V2 as MAX_ENVELOPE_BYTES } from '../../protocol/index.ts';
import type { SiteIdentity } from '../identity.ts';
import { createLogger, type Logger } from '../log.ts';
import type { Network, Verdict } from '../types.ts';
import { membershipGater, onlyDialGater } from './gater.ts';
import { TrafficCounter } from './traffic.ts';

export { onlyDialGater };

export interface Libp2pNetworkOptions {
  identity: SiteIdentity;
  consortium: string;
  listen: string[];
  peers: string[];
  /**
   * Peer ids of the signed manifest's members (this node included): the only peers this node
   * connects to, in either direction, and the only gossip authors and relays it accepts.
   */
  members: readonly string[];
  log?: Logger;
  /**
   * A configured peer that stays connected but from which no message arrives for this long is
   * hung up on and redialled (a gossip stream can die while its connection survives). Default 10 s.
   */
  silenceMs?: number;
  /**
   * Dial only the host:port of the --peers addresses, never an address learned through identify
   * (the WAN testbed: every connection must cross its relays). Default: FLNODE_ONLY_DIAL_PEERS=1.
   */
  onlyDialPeers?: boolean;
  /** Write per-connection byte counts (TCP level) to this JSON file every second and at stop. Default: FLNODE_TRAFFIC_FILE. */
  trafficFile?: string;
}

// Each gossip message is an 8-byte random nonce followed by one signed envelope. Gossip dedupes
// byte-identical messages, so the nonce lets a node deliberately re-send an envelope (a key
// announcement or a cryptogram a late peer missed); the envelope itself is what is validated.
const NONCE_BYTES = 8;

// Direct requests (model sync) run on their own protocol, one request and one answer per stream,
// each framed as u32be(length) || bytes; length 0 answers "nothing". Requests are at most one
// gossip-sized envelope; the answer's limit is the requester's.
const REQUEST_PROTOCOL = '/flnode/v1/request/1.0.0';
/** Bytes per send() of a large answer, so the muxer's backpressure is honoured. */
const SEND_SLICE = 1 << 20;

/** Reads one frame from the stream; rejects a frame announcing more than `max` bytes before reading it. */
async function readFrame(stream: Stream, max: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let have = 0;
  let need = -1;
  for await (const chunk of stream) {
    const b = chunk instanceof Uint8Array ? chunk : chunk.subarray();
    parts.push(b);
    have += b.length;
    if (need < 0 && have >= 4) {
      const head = Buffer.concat(parts);
      need = head.readUInt32BE(0);
      if (need > max) throw new Error(`answer of ${need} bytes exceeds ${max}`);
      parts.splice(0, parts.length, head);
    }
    if (need >= 0 && have >= 4 + need) break;
  }
  if (need < 0 || have < 4 + need) throw new Error('stream ended before the whole frame arrived');
  if (have > 4 + need) throw new Error('trailing bytes after the frame');
  return new Uint8Array(Buffer.concat(parts).subarray(4, 4 + need));
}

async function writeFrame(stream: Stream, data: Uint8Array): Promise<void> {
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, data.length);
  if (!stream.send(head)) await stream.onDrain();
  for (let o = 0; o < data.length; o += SEND_SLICE) {
    if (!stream.send(data.subarray(o, o + SEND_SLICE))) await stream.onDrain();
  }
  await stream.close();
}

const verdicts: Record<Verdict, TopicValidatorResult> = { accept: TopicValidatorResult.Accept, reject: TopicValidatorResult.Reject, ignore: TopicValidatorResult.Ignore };

export async function createLibp2pNetwork(opts: Libp2pNetworkOptions): Promise<Network> {
  const log = opts.log ?? createLogger('p2p');
  const topic = `flnode/v1/${opts.consortium}`;
  let validator: (envelope: Uint8Array, from: string) => Verdict = () => 'reject';
  const handlers: ((envelope: Uint8Array, from: string) => void)[] = [];
  let serve: ((request: Uint8Array, from: string) => Promise<Uint8Array | null>) | null = null;
  const peerAddrs = opts.peers.map((p) => multiaddr(p));
  for (const a of peerAddrs) {
    if (!a.getComponents().some((c) => c.name === 'p2p')) throw new Error(`--peers ${a.toString()} must end with /p2p/<peer id>`);
  }

  const members = new Set(opts.members);
  if (!members.has(opts.identity.peerId)) throw new Error(`this site (${opts.identity.peerId}) is not among the members it admits`);
  const onlyDial = opts.onlyDialPeers ?? process.env.FLNODE_ONLY_DIAL_PEERS === '1';
  const trafficFile = opts.trafficFile ?? process.env.FLNODE_TRAFFIC_FILE;
  const traffic = trafficFile ? new TrafficCounter() : null;
  const gater = membershipGater({ members: opts.members, log, ...(onlyDial ? { onlyDial: opts.peers } : {}) });
  const node: Libp2p<{ pubsub: GossipSub; identify: unknown }> = await createLibp2p({
    privateKey: opts.identity.privateKey,
    addresses: { listen: opts.listen },
    connectionGater: gater,
    ...(traffic ? { metrics: () => traffic.metrics() } : {}),
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        // subscriptions and messages for any other topic are dropped before they cost memory
        allowedTopics: [topic],
        emitSelf: false,
        floodPublish: true,
        globalSignaturePolicy: 'StrictSign',
        maxInboundDataLength: MAX_ENVELOPE_BYTES + NONCE_BYTES + 64 * 1024,
        msgIdFn: (msg) => createHash('sha256').update(msg.data).digest(),
        D: 3,
        Dlo: 1,
        Dhi: 6,
        Dout: 1,
        scoreParams: {
          // Membership is closed (a signed manifest), so gossipsub's Sybil guard against many peers
          // on one IP only hurts: with its default weight, 11+ members behind one address (a
          // loopback testbed, sites behind one NAT) score each other below the graylist and stop
          // hearing each other at all (measured: a 20-node testbed never finished round 1).
          IPColocationFactorWeight: 0,
          topics: {
            [topic]: {
              topicWeight: 1,
              timeInMeshWeight: 0.01,
              timeInMeshQuantum: 1000,
              timeInMeshCap: 10,
              firstMessageDeliveriesWeight: 0.1,
              firstMessageDeliveriesDecay: 0.9,
              firstMessageDeliveriesCap: 10,
              meshMessageDeliveriesWeight: 0,
              meshMessageDeliveriesDecay: 0.9,
              meshMessageDeliveriesCap: 10,
              meshMessageDeliveriesThreshold: 1,
              meshMessageDeliveriesWindow: 100,
              meshMessageDeliveriesActivation: 5000,
              meshFailurePenaltyWeight: 0,
              meshFailurePenaltyDecay: 0.9,
              invalidMessageDeliveriesWeight: -10,
              invalidMessageDeliveriesDecay: 0.9,
            },
          },
        },
      }),
    },
  });
  const pubsub = node.services.pubsub;
  const lastHeard = new Map<string, number>();
  node.addEventListener('peer:connect', (evt) => void lastHeard.set(evt.detail.toString(), Date.now()));
  // The gater admits members only; should a connection from anyone else ever exist (a transport
  // that bypassed the upgrader), it is closed before gossipsub can take its subscription or GRAFT.
  node.addEventListener('connection:open', (evt) => {
    const peer = evt.detail.remotePeer.toString();
    if (members.has(peer)) return;
    gater.refusals.note(peer, evt.detail.direction);
    void evt.detail.close().catch(() => evt.detail.abort(new Error('not a member')));
  });
  pubsub.topicValidators.set(topic, (peer, msg) => {
    if (msg.type === 'signed') lastHeard.set(msg.from.toString(), Date.now());
    // a gossip message authored or relayed by a non-member cannot be here (see the gater): reject
    const author = msg.type === 'signed' ? msg.from.toString() : null;
    if (!members.has(peer.toString()) || (author !== null && !members.has(author))) {
      log.warn({ from: author ?? peer.toString(), relay: peer.toString() }, 'gossip message from a non-member rejected');
      return TopicValidatorResult.Reject;
    }
    let v: Verdict;
    try {
      v = msg.data.length <= NONCE_BYTES ? 'reject' : validator(msg.data.subarray(NONCE_BYTES), msg.type === 'signed' ? msg.from.toString() : peer.toString());
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'validator threw; message rejected');
      v = 'reject';
    }
    return verdicts[v];
  });
  pubsub.addEventListener('message', (evt) => {
    const msg = evt.detail;
    if (msg.topic !== topic) return;
    const from = msg.type === 'signed' ? msg.from.toString() : 'unknown';
    for (const h of handlers) {
      try {
        h(msg.data.subarray(NONCE_BYTES), from);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'message handler failed');
      }
    }
  });

  let stopped = false;
  const configured = new Set(peerAddrs.map((a) => a.getComponents().find((c) => c.name === 'p2p')!.value!));
  const backoff = new Map<string, number>();
  let redial: NodeJS.Timeout | null = null;
  const silenceMs = opts.silenceMs ?? 10_000;
  const dialMissing = async () => {
    if (stopped) return;
    const now = Date.now();
    // Reconnect a silent peer only while others are heard (else the trouble is on this side, and
    // hanging up everyone would only churn), or after a much longer silence.
    const othersHeard = (id: string) => [...lastHeard].some(([p, t]) => p !== id && configured.has(p) && now - t < silenceMs);
    for (const p of node.getPeers()) {
      const id = p.toString();
      const quiet = now - (lastHeard.get(id) ?? now);
      if (!configured.has(id) || quiet < silenceMs || (!othersHeard(id) && quiet < 3 * silenceMs)) continue;
      lastHeard.set(id, now); // once per silence period
      log.warn({ peer: id, silentMs: silenceMs }, 'peer connected but silent; reconnecting');
      await node.hangUp(p).catch(() => undefined);
    }
    const connected = new Set(node.getPeers().map((p) => p.toString()));
    for (const addr of peerAddrs) {
      const id = addr.getComponents().find((c) => c.name === 'p2p')!.value!;
      if (connected.has(id) || id === opts.identity.peerId || !members.has(id)) continue;
      const b = backoff.get(id) ?? 0;
      if (b > Date.now()) continue;
      try {
        await node.dial(addr, { signal: AbortSignal.timeout(5000) });
        backoff.delete(id);
        log.info({ peer: id }, 'connected');
      } catch (err) {
        const prev = backoff.has(id) ? Math.min(10000, 2 * ((backoff.get(id)! - Date.now()) || 250)) : 250;
        backoff.set(id, Date.now() + Math.max(250, prev));
        log.debug({ peer: id, err: (err as Error).message }, 'dial failed; retrying');
      }
    }
  };

  return {
    selfId: opts.identity.peerId,
    async start() {
      await node.start();
      await node.handle(REQUEST_PROTOCOL, async (stream, connection) => {
        const from = connection.remotePeer.toString();
        if (!members.has(from)) return stream.abort(new Error('not a member'));
        const timer = setTimeout(() => stream.abort(new Error('request timed out')), 60_000);
        try {
          const req = await readFrame(stream, MAX_ENVELOPE_BYTES);
          const answer = serve ? await serve(req, from) : null;
          await writeFrame(stream, answer ?? new Uint8Array(0));
        } catch (err) {
          log.warn({ peer: from, err: (err as Error).message }, 'direct request failed');
          stream.abort(err as Error);
        } finally {
          clearTimeout(timer);
        }
      }, { maxInboundStreams: 8 });
      pubsub.subscribe(topic);
      // a --peers entry outside the manifest is refused once here and never dialled
      for (const id of configured) if (!members.has(id)) gater.refusals.note(id, 'dial');
      void dialMissing();
      redial = setInterval(() => {
        void dialMissing();
        if (traffic) traffic.write(trafficFile!);
      }, 1000);
      log.info({ listen: node.getMultiaddrs().map((a) => a.toString()), topic }, 'p2p started');
    },
    async stop() {
      stopped = true;
      if (redial) clearInterval(redial);
      await node.stop();
      if (traffic) traffic.write(trafficFile!);
    },
    async publish(envelope: Uint8Array) {
      try {
        const data = new Uint8Array(NONCE_BYTES + envelope.length);
        data.set(randomBytes(NONCE_BYTES), 0);
        data.set(envelope, NONCE_BYTES);
        await pubsub.publish(topic, data);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'publish failed');
      }
    },
    async request(peer, request, { maxResponseBytes, timeoutMs }) {
      const signal = AbortSignal.timeout(timeoutMs);
      const stream = await node.dialProtocol(peerIdFromString(peer), REQUEST_PROTOCOL, { signal });
      stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, maxResponseBytes + 4);
      const timer = setTimeout(() => stream.abort(new Error(`no complete answer within ${timeoutMs} ms`)), timeoutMs);
      try {
        await writeFrame(stream, request);
        const answer = await readFrame(stream, maxResponseBytes);
        return answer.length ? answer : null;
      } catch (err) {
        stream.abort(err as Error);
        throw err;
      } finally {
        clearTimeout(timer);
      }
    },
    onRequest(h) {
      serve = h;
    },
    setValidator(v) {
      validator = v;
    },
    onMessage(h) {
      handlers.push(h);
    },
    connectedPeers() {
      return node.getPeers().map((p) => p.toString());
    },
    listenAddresses() {
      return node.getMultiaddrs().map((a) => a.toString());
    },
    peerScore(peer: string) {
      try {
        return (pubsub as unknown as { getScore(id: string): number }).getScore(peerIdFromString(peer).toString());
      } catch {
        return 0;
      }
    },
  };
}
