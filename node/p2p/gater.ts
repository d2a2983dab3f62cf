// Connection gating: only members of the signed manifest connect (PROTOCOL.md §1), and with
// only-dial-peers (the WAN testbed) only the --peers transport addresses are dialled.
import type { ConnectionGater, PeerId } from '@libp2p/interface';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import type { Logger } from '../log.ts';

/** "ip4/127.0.0.1/tcp/4001" of a multiaddr, without its /p2p part. */
const hostPort = (a: Multiaddr): string => a.getComponents().filter((c) => c.name !== 'p2p').map((c) => `${c.name}/${c.value ?? ''}`).join('/');
const peerOf = (a: Multiaddr): string | undefined => a.getComponents().findLast((c) => c.name === 'p2p')?.value;

/** A connection gater that lets libp2p dial only the transport addresses of `peers`. */
export function onlyDialGater(peers: string[]): { denyDialMultiaddr: (a: Multiaddr) => boolean } {
  const dialable = new Set(peers.map((p) => hostPort(multiaddr(p))));
  return { denyDialMultiaddr: (a) => !dialable.has(hostPort(a)) };
}

/** Distinct refused peers named in the log; beyond this many, one line says further ones go unnamed. */
const MAX_NAMED = 1000;

/**
 * Says once per peer why it was refused: an outsider that keeps redialling (or a member whose
 * --peers lists it) must not flood the log, nor grow memory without bound with fresh peer ids.
 */
export class RefusalLog {
  private readonly named = new Set<string>();
  private full = false;
  /** Refusals so far, including the ones not logged. */
  count = 0;
  constructor(private readonly log: Logger) {}
  note(peer: string, direction: 'inbound' | 'outbound' | 'dial'): void {
    this.count++;
    if (this.named.has(peer)) return;
    if (this.named.size >= MAX_NAMED) {
      if (!this.full) this.log.warn({ peers: MAX_NAMED }, 'connections refused from more distinct non-members; further ones are not named');
      this.full = true;
      return;
    }
    this.named.add(peer);
    this.log.warn({ peer, direction }, 'connection refused: peer is not a member of the consortium manifest (logged once per peer)');
  }
}

export interface MembershipGaterOptions {
  /** Peer ids of the manifest's members (this node included). */
  members: readonly string[];
  log: Logger;
  /** Only-dial-peers: the --peers addresses, the only transport addresses dialled. */
  onlyDial?: string[];
}

/**
 * Admits only manifest members, in both directions, at the earliest point libp2p 3 knows the
 * remote peer id: before dialling a known peer id (`denyDialPeer`, `denyDialMultiaddr` with /p2p),
 * and right after the noise handshake has authenticated the remote key, before any muxer, identify
 * or gossipsub stream exists (`deny{In,Out}boundEncryptedConnection`). The upgraded-connection hooks
 * repeat the check for transports that bring their own encryption.
 */
export function membershipGater(o: MembershipGaterOptions): ConnectionGater & { denyDialMultiaddr: (a: Multiaddr) => boolean; refusals: RefusalLog } {
  const members = new Set(o.members);
  const refusals = new RefusalLog(o.log);
  const only = o.onlyDial ? onlyDialGater(o.onlyDial) : null;
  const refuse = (peer: string, direction: 'inbound' | 'outbound' | 'dial'): boolean => {
    if (members.has(peer)) return false;
    refusals.note(peer, direction);
    return true;
  };
  const check = (direction: 'inbound' | 'outbound') => (peer: PeerId) => refuse(peer.toString(), direction);
  return {
    refusals,
    denyDialPeer: check('outbound'),
    denyDialMultiaddr: (a) => {
      if (only?.denyDialMultiaddr(a)) return true;
      const peer = peerOf(a);
      return peer !== undefined && refuse(peer, 'dial');
    },
    denyInboundEncryptedConnection: check('inbound'),
    denyOutboundEncryptedConnection: check('outbound'),
    denyInboundUpgradedConnection: check('inbound'),
    denyOutboundUpgradedConnection: check('outbound'),
  };
}
