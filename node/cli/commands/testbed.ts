// `flnode testbed`: a local N-node federation on loopback (the README's main command).
import type { Command } from 'commander';
import { DEFAULT_PLAN } from '../../manifest.ts';
import { startTestbed } from '../../testbed/testbed.ts';
import { parseWanSpec, type WanSpec } from '../../testbed/wan.ts';
import { UserError } from '../errors.ts';
import { intOption } from '../options.ts';

const int = intOption;

export function register(program: Command): void {
  program
    .command('testbed')
    .description('run N local nodes as one consortium on loopback, each with its own partition of the data')
    .option('--nodes <n>', 'number of nodes', int('--nodes', 2), 3)
    .option('--rounds <r>', 'federated rounds', int('--rounds', 1), 3)
    .option('--data <path>', 'MedMNIST .npz', 'data/pneumoniamnist.npz')
    .option('--dir <dir>', 'working directory (default: a new temporary directory)')
    .option('--http-base-port <p>', 'status page of node i on 127.0.0.1:(p+i); 0 for none', int('--http-base-port', 0), 8600)
    .option('--max-train-samples <n>', "cap each site's training samples", int('--max-train-samples', 1))
    .option('--epochs <e>', 'local epochs per round', int('--epochs', 1), DEFAULT_PLAN.localEpochs)
    .option('--split <scheme>', 'iid or dirichlet:<alpha>', 'iid')
    .option('--timeout <s>', 'give up after this many seconds', int('--timeout', 10), 1800)
    .option('--keep', 'keep the nodes running after the last round (stop with Ctrl-C)')
    .option('--wan <spec>', 'route every connection between two sites through a relay on loopback emulating a WAN link: rtt=40ms,rate=100mbit[,stall=3s@10s][,cut=5s@20s][,site=k] (faults hit the links of site k, default the last)')
    .option('--json', 'print a JSON summary as the last line')
    .action(async (o) => {
      let wan: WanSpec | undefined;
      try {
        wan = o.wan ? parseWanSpec(o.wan) : undefined;
      } catch (err) {
        throw new UserError((err as Error).message);
      }
      const tb = await startTestbed({ nodes: o.nodes, rounds: o.rounds, data: o.data, dir: o.dir, httpBasePort: o.httpBasePort || null, maxTrainSamples: o.maxTrainSamples, epochs: o.epochs, split: o.split, wan });
      const say = (s: string) => process.stderr.write(s + '\n');
      say(`testbed: ${o.nodes} nodes, ${o.rounds} rounds on ${o.data}; working directory ${tb.dir}`);
      if (wan) say(`  every link through a relay: rtt ${wan.rttMs} ms, ${wan.rateBps / 1e6} Mbit/s each way${wan.stall ? `, stall ${wan.stall.forMs} ms at ${wan.stall.atMs} ms` : ''}${wan.cut ? `, cut ${wan.cut.forMs} ms at ${wan.cut.atMs} ms` : ''}`);
      for (const n of tb.nodes) say(`  ${n.name}  ${n.peerId}  ${n.httpUrl ?? ''}`);
      const onSignal = () => void tb.stop().then(() => process.exit(130));
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      tb.start();
      const t0 = Date.now();
      const roundS: number[] = [];
      let reported = 0;
      let last = t0;
      try {
        while (reported < o.rounds) {
          await tb.waitFor((n, s) => (s?.model.version ?? 0) > reported || !n.process, o.timeout * 1000 - (Date.now() - t0));
          const dead = tb.nodes.filter((n) => !n.process);
          if (dead.length) throw new UserError(`node ${dead.map((n) => n.name).join(', ')} exited; see ${dead[0]!.dir}/node.log`);
          await tb.waitFor((_n, s) => !!s?.rounds.some((r) => r.round === reported + 1), o.timeout * 1000 - (Date.now() - t0));
          reported++;
          const now = Date.now();
          roundS.push((now - last) / 1000);
          last = now;
          const aucs = tb.nodes.map((n) => n.status()!.rounds.find((r) => r.round === reported)?.testAuc ?? NaN);
          await tb.waitFor((_n, s) => (s?.model.version ?? 0) >= reported, 30_000).catch(() => undefined);
          const r0 = tb.nodes[0]!.status()!.rounds.find((r) => r.round === reported);
          say(`round ${reported}/${o.rounds}: test AUC ${aucs.map((a) => a.toFixed(4)).join(' / ')} (PneumoniaMNIST test split per node), attempt ${r0?.attempt}, ${r0?.participants.length} participants, ${roundS.at(-1)!.toFixed(1)} s`);
        }
        await tb.waitFor(() => new Set(tb.nodes.map((n) => n.status()?.model.hash)).size === 1, 30_000).catch(() => undefined);
        const statuses = tb.nodes.map((n) => n.status()!);
        const hashes = Object.fromEntries(statuses.map((s) => [s.peerId, s.model.hash]));
        const identical = new Set(Object.values(hashes)).size === 1;
        const auc = statuses[0]!.rounds.at(-1)?.testAuc ?? null;
        say(identical ? `all ${o.nodes} nodes hold the same global model ${statuses[0]!.model.hash.slice(0, 16)}…; final test AUC ${auc?.toFixed(4)}` : 'MODEL HASHES DIFFER');
        if (o.keep) {
          say('nodes keep running; Ctrl-C to stop');
          await new Promise(() => undefined);
        }
        await tb.stop();
        const audit = tb.wanAudit();
        if (audit) {
          say(`relays carried ${(audit.relaysDelivered / 1e6).toFixed(2)} MB; the nodes wrote ${(audit.nodesSent / 1e6).toFixed(2)} MB and read ${(audit.nodesReceived / 1e6).toFixed(2)} MB; smallest one-way delay ${audit.minOneWayMs.toFixed(1)} ms`);
          if (audit.bypass.length) say(`${audit.bypass.length} CONNECTIONS BYPASSED THE RELAYS: ${JSON.stringify(audit.bypass)}`);
        }
        if (o.json) console.log(JSON.stringify({ nodes: o.nodes, rounds: o.rounds, model_hashes: hashes, test_auc: auc, round_s: roundS.map((s) => +s.toFixed(2)), ...(audit ? { wan: { spec: wan, bypass: audit.bypass.length, relays_delivered: audit.relaysDelivered, nodes_sent: audit.nodesSent, nodes_received: audit.nodesReceived, min_one_way_ms: +audit.minOneWayMs.toFixed(2) } } : {}) }));
        if (!identical || audit?.bypass.length) process.exitCode = 1;
      } catch (err) {
        await tb.stop();
        throw err instanceof UserError ? err : new UserError((err as Error).message);
      }
    });
}
