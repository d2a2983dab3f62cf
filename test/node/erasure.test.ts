// Erasure at commit (PROTOCOL.md, issue 16 item 6): once a node has committed round r, nothing of
// round r that is secret or private is left in its store: no key under `round/<r>/`, and none of the
// round's X25519 secret keys, self-mask seeds, Shamir shares (dealt, or revealed by anyone),
// plaintext updates or cryptograms (own or received) appears in any stored value, raw or as hex.
// The model and the round summary stay. A three-node in-memory federation (SimWorld, virtual time):
// round data is harvested from every store after every event, before the commit erases it.
import assert from 'node:assert/strict';
import { fromHex, toHex } from '../../protocol/index.ts';
import { decodeEnvelopeV2, KindV2 } from '../../protocol/v2/index.ts';
import { SimWorld, type SimNode } from '../helpers/sim-world.ts';

const pad = (n: number, w: number) => String(n).padStart(w, '0');

interface Needle {
  what: string;
  raw: Buffer;
  hex: Buffer;
}

describe('node: round secrets, shares, updates and cryptograms are erased at commit', function () {
  this.timeout(120_000);

  it('a 3-node federation over 2 rounds: after each commit, no store holds anything of the committed round but its model and summary', async () => {
    const w = await SimWorld.create({ seed: 11, nodes: 3, rounds: 2 });
    const needles = new Map<number, Map<string, Needle>>(); // round → distinct needles by raw hex
    const kinds = new Map<number, Set<string>>(); // round → categories harvested
    const sources = new Map<number, Set<string>>(); // round → `${node} ${key}` harvested (a received cryptogram is the sender's bytes: one needle, two sources)
    const publicKeyOf = (id: string) => w.nodes.find((x) => x.id === id)?.identity.signingPublic;
    const add = (r: number, what: string, raw: Uint8Array) => {
      const key = toHex(raw);
      const m = needles.get(r) ?? needles.set(r, new Map()).get(r)!;
      if (!m.has(key)) m.set(key, { what, raw: Buffer.from(raw), hex: Buffer.from(key, 'ascii') });
      (kinds.get(r) ?? kinds.set(r, new Set()).get(r)!).add(what.split(' ')[0]!);
    };
    const revealShares = (r: number, bytes: Uint8Array, from: string) => {
      try {
        const env = decodeEnvelopeV2(bytes, { consortium: w.manifest.consortium, publicKeyOf });
        if (env.kind === KindV2.Reveal) for (const s of env.body.shares) add(r, `revealed-share ${s.kind} of ${w.names([s.owner])} by ${from}`, s.share);
      } catch {
        /* not an envelope we can read: skip */
      }
    };
    const harvest = () => {
      for (const n of w.nodes) {
        for (const [k, v] of n.store.data) {
          const m = /^round\/(\d{8})\/(.+)$/.exec(k);
          if (!m) continue;
          const r = Number(m[1]);
          const rest = m[2]!;
          (sources.get(r) ?? sources.set(r, new Set()).get(r)!).add(`${n.name} ${rest.replace(/\/\d{2}\/.*$/, '')}`);
          const json = () => JSON.parse(Buffer.from(v).toString('utf8')) as Record<string, string>;
          if (rest.startsWith('secrets/')) {
            const s = json();
            add(r, `secret c_sk of ${n.name} (${rest})`, fromHex(s.cSecret!));
            add(r, `secret s_sk of ${n.name} (${rest})`, fromHex(s.sSecret!));
            add(r, `secret self-seed of ${n.name} (${rest})`, fromHex(s.selfSeed!));
          } else if (rest.startsWith('dealing/')) {
            const d = json();
            add(r, `share own s of ${n.name} (${rest})`, fromHex(d.ownS!));
            add(r, `share own b of ${n.name} (${rest})`, fromHex(d.ownB!));
          } else if (rest === 'update') add(r, `update of ${n.name}`, v);
          else if (rest.startsWith('crypt/')) add(r, `cryptogram own of ${n.name} (${rest})`, v);
          else if (rest.startsWith('recv/')) add(r, `cryptogram received by ${n.name} (${rest})`, v);
          else if (/^env\/\d{4}\/09\//.test(rest)) revealShares(r, v, n.name);
        }
        // reveals this node published (its own reveal may be stored and erased within one event)
        for (const d of n.decisions) if (d.bytes[1] === KindV2.Reveal) revealShares(Number(Buffer.from(d.bytes).readBigUInt64BE(2 + 2 + Buffer.from(d.bytes).readUInt16BE(2))), d.bytes, n.name);
      }
    };
    const failures: string[] = [];
    const scan = (n: SimNode, r: number) => {
      const prefix = `round/${pad(r, 8)}/`;
      for (const k of n.store.data.keys()) if (k.startsWith(prefix)) failures.push(`${n.name} committed round ${r} and still stores ${k}`);
      for (const [k, v] of n.store.data) {
        const hay = Buffer.from(v.buffer, v.byteOffset, v.length);
        for (const x of needles.get(r)?.values() ?? []) {
          if (hay.includes(x.raw)) failures.push(`${n.name}: ${k} holds ${x.what} of round ${r}`);
          else if (hay.includes(x.hex)) failures.push(`${n.name}: ${k} holds ${x.what} of round ${r} (hex)`);
        }
      }
      if (!n.store.data.has(`model/${pad(r, 8)}`)) failures.push(`${n.name}: model ${r} is gone`);
      if (!n.store.data.has(`summary/${pad(r, 8)}`)) failures.push(`${n.name}: summary of round ${r} is gone`);
    };
    const scanned = new Set<string>();
    const step = () => {
      harvest();
      for (const n of w.nodes) {
        const v = n.engine?.global?.version ?? 0;
        for (let r = 1; r <= v; r++) {
          if (scanned.has(`${n.name}/${r}`)) continue;
          scanned.add(`${n.name}/${r}`);
          scan(n, r);
        }
      }
      return w.nodes.every((n) => n.engine?.completed) && scanned.size === 2 * w.nodes.length;
    };
    await w.start();
    const done = await w.run(120_000, step);
    assert.ok(done, w.describe());
    assert.deepEqual(w.checker.violations, []);
    assert.deepEqual(w.checker.errors, []);
    // what was looked for (so the scan cannot pass by finding nothing to look for)
    for (const r of [1, 2]) {
      assert.deepEqual([...(kinds.get(r) ?? [])].sort(), ['cryptogram', 'revealed-share', 'secret', 'share', 'update'], `round ${r}: categories harvested`);
      const count = (p: string) => [...needles.get(r)!.values()].filter((x) => x.what.startsWith(p)).length;
      // per node: c_sk, s_sk, self-seed, its two own shares, its update and cryptogram; each reveals the others' b shares
      assert.ok(count('secret') === 9 && count('share own') === 6 && count('update') === 3 && count('cryptogram') === 3 && count('revealed-share') >= 6, `round ${r}: ${[...needles.get(r)!.values()].map((x) => x.what).join('; ')}`);
      const src = [...sources.get(r)!];
      assert.equal(src.filter((x) => x.includes(' recv/')).length, 6, `round ${r}: every node stored the two other cryptograms (${src.join(', ')})`);
    }
    // and once more at the end, every store against every round
    for (const n of w.nodes) for (const r of [1, 2]) scan(n, r);
    assert.deepEqual(failures, []);
    // the byte search itself: a secret copied (as hex, inside JSON) under an unrelated key is found
    const planted = [...needles.get(1)!.values()].find((x) => x.what.startsWith('secret s_sk'))!;
    const n0 = w.nodes[0]!;
    n0.store.data.set('zz-planted', Buffer.concat([Buffer.from('{"x":"'), planted.hex, Buffer.from('"}')]));
    scan(n0, 1);
    assert.deepEqual(failures, [`${n0.name}: zz-planted holds ${planted.what} of round 1 (hex)`]);
  });
});
