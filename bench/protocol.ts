// Protocol benchmark: building a v2 cryptogram against the raw AES-256-CTR keystream time for the
// same bytes, unmasking throughput and peak memory, for n members and d parameters.
// `npm run bench:protocol -- [--json] [--quick] [--runs 5] [--write]`
//
// Every cell is the median of --runs runs; in each run the masking is timed, then its AES reference,
// then the masking again (their mean is the run's masking time), and a ratio is the median of the
// per-run ratios, so it compares like with like even on a loaded machine (the CPU-time ratio, from process.cpuUsage, is
// printed beside the wall-clock one).
//   build: buildCryptogramV2 (its mask keys: self HKDF, n − 1 X25519 + HKDF; quantize; n keystreams
//       added in one blocked pass) / AES of n keystreams of 4·d bytes.
//   unmask: unmaskAndDecodeOverU3 with no dropout, the node's call (sum of the n cryptograms, removal of the n self masks and decoding in one blocked pass) /
//       AES of n keystreams; GB/s = n·4·d cryptogram bytes / time.
// The AES reference runs node:crypto's cipher.update over 64 KiB and over 1 MiB blocks of zeros
// and takes the faster of the two medians: the raw keystream cost, allocation included.
import { execFileSync, execSync } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Worker } from 'node:worker_threads';
import { attemptScaleV2, buildCryptogramV2, defaultThreshold, generateRoundSecrets, quantize, unmaskAndDecodeOverU3, weightOverU2, type AttemptV2 } from '../protocol/index.ts';
import { arg, flag, say } from './args.ts';

const json = flag('--json');
const write = flag('--write');
const quick = flag('--quick');
const runs = Math.max(1, Number(arg('--runs', '5')));
const ns = quick ? [3, 10] : [3, 10, 50];
const ds = quick ? [1e5, 1e6] : [1e5, 1e6, 1e7];
const ZERO_IV = Buffer.alloc(16);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void; // before each timed step and each memory baseline

interface Timing {
  wall: number;
  cpu: number;
}
function timed(f: () => void): Timing {
  gc(); // every step starts on a collected heap: earlier steps' garbage is not charged to it
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  f();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}
const mean = (a: Timing, b: Timing): Timing => ({ wall: (a.wall + b.wall) / 2, cpu: (a.cpu + b.cpu) / 2 });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const med = (ts: Timing[], k: keyof Timing) => median(ts.map((t) => t[k]));

const zeros = Buffer.alloc(1 << 20);
function rawKeystreams(keys: readonly Uint8Array[], bytes: number, block: number): void {
  for (const key of keys) {
    const c = createCipheriv('aes-256-ctr', key, ZERO_IV);
    for (let o = 0; o < bytes; o += block) c.update(zeros.subarray(0, Math.min(block, bytes - o)));
  }
}

// Peak RSS: a worker samples the process's RSS every millisecond while the main thread runs a
// synchronous step (a timer on the main thread would never fire during it). The build includes
// its new 4·d-byte cryptogram; aggregation its 4·d-byte sum.
const peak = new Int32Array(new SharedArrayBuffer(8)); // [peak KiB, sampling on]
const sampler = new Worker(
  `const { workerData } = require('node:worker_threads'); const a = new Int32Array(workerData);
   setInterval(() => { if (Atomics.load(a, 1) !== 1) return; const v = Math.round(process.memoryUsage.rss() / 1024); if (v > Atomics.load(a, 0)) Atomics.store(a, 0, v); }, 1);`,
  { eval: true, workerData: peak.buffer },
);
function peakAboveBaselineMiB(f: () => void): number {
  gc();
  const base = Math.round(process.memoryUsage.rss() / 1024);
  Atomics.store(peak, 0, base);
  Atomics.store(peak, 1, 1);
  f();
  Atomics.store(peak, 1, 0);
  return (Math.max(Atomics.load(peak, 0), Math.round(process.memoryUsage.rss() / 1024)) - base) / 1024;
}

const keysOf = (count: number) => Array.from({ length: count }, () => new Uint8Array(randomBytes(32)));
const round = (x: number, digits = 2) => +x.toFixed(digits);

function cell(n: number, d: number): Record<string, number | string> {
  const load0 = os.loadavg()[0]!;
  const update = Float32Array.from({ length: d }, (_, i) => Math.sin(i) * 0.01);
  const bytes = 4 * d;
  const v2At = v2Attempt(n);
  const weight = weightOverU2(v2At.att, v2At.ids[0]!);
  const scale = attemptScaleV2(v2At.att);
  // n cryptograms to unmask: distinct arrays, at most 8 of them (cycled) so that n = 50 at
  // d = 1e7 does not hold 2 GB; each is 40 MB there, far beyond any cache, so reuse gains nothing.
  const v2Pool = Array.from({ length: Math.min(n, 8) }, (_, j) => v2At.build(j, update));
  const v2Cryptograms = new Map(v2At.ids.map((id, j) => [id, v2Pool[j % v2Pool.length]!]));
  // warm-up of every timed path
  quantize(update.subarray(0, 5000), weight, 1, scale);
  v2At.build(0, update.subarray(0, 5000));
  v2At.unmask(new Map(v2At.ids.map((id) => [id, v2Pool[0]!.subarray(0, 5000)])));
  rawKeystreams(keysOf(2), 20000, 1 << 16);

  const t = { quantize: [] as Timing[], v2: [] as Timing[], aesN64: [] as Timing[], aesN1m: [] as Timing[], unmask: [] as Timing[] };
  for (let r = 0; r < runs; r++) {
    t.quantize.push(timed(() => quantize(update, weight, v2At.att.clip, scale)));
    // build, AES references, build again: the two builds' mean sits at the references' time (drift
    // of the machine's load cancels to first order)
    const b1 = timed(() => v2At.build(0, update));
    t.aesN64.push(timed(() => rawKeystreams(keysOf(n), bytes, 1 << 16)));
    t.aesN1m.push(timed(() => rawKeystreams(keysOf(n), bytes, 1 << 20)));
    t.v2.push(mean(b1, timed(() => v2At.build(0, update))));
    t.unmask.push(timed(() => v2At.unmask(v2Cryptograms)));
  }
  const aesN = Math.min(med(t.aesN64, 'wall'), med(t.aesN1m, 'wall'));
  // a ratio is taken within each run (masking and its reference timed back to back), then the median
  const ratio = (num: Timing[], den64: Timing[], den1m: Timing[], k: keyof Timing) =>
    median(num.map((x, r) => x[k] / Math.min(den64[r]![k], den1m[r]![k])));
  const unmask = med(t.unmask, 'wall');
  const cryptogramBytes = n * bytes;
  const memory = memoryInChild(n, d);
  return {
    n,
    d,
    runs,
    quantize_ms: round(med(t.quantize, 'wall')),
    v2_mask_ms: round(med(t.v2, 'wall')),
    aes_n_ms: round(aesN),
    ratio_v2: round(ratio(t.v2, t.aesN64, t.aesN1m, 'wall'), 3),
    ratio_v2_cpu: round(ratio(t.v2, t.aesN64, t.aesN1m, 'cpu'), 3),
    unmask_v2_ms: round(unmask),
    ratio_unmask_v2: round(ratio(t.unmask, t.aesN64, t.aesN1m, 'wall'), 3),
    unmask_v2_gbps: round(cryptogramBytes / unmask / 1e6, 2),
    unmask_v2_gbps_cpu: round(cryptogramBytes / med(t.unmask, 'cpu') / 1e6, 2),
    peak_build_mib: memory.build,
    peak_aggregate_mib: memory.aggregate,
    cryptogram_mib: round(bytes / 2 ** 20, 1),
    load1: round((load0 + os.loadavg()[0]!) / 2, 2),
  };
}

/** n v2 members (U2 = everyone, t = defaultThreshold(n)): member j's cryptogram, and unmasking with U3 = U2. */
function v2Attempt(n: number) {
  const ids = Array.from({ length: n }, (_, i) => `site-${String(i).padStart(3, '0')}`);
  const secrets = ids.map(() => generateRoundSecrets());
  const att: AttemptV2 = { consortium: 'bench', round: 1, attempt: 0, clip: 1, threshold: defaultThreshold(n), u2: ids.map((id, j) => ({ id, sPublic: secrets[j]!.sPublic, samples: 1000 })) };
  const seeds = new Map(ids.map((id, j) => [id, secrets[j]!.selfSeed]));
  return {
    ids,
    att,
    build: (j: number, update: Float32Array) => buildCryptogramV2(att, { id: ids[j]!, ...secrets[j]! }, update),
    unmask: (cryptograms: ReadonlyMap<string, Uint32Array>) => unmaskAndDecodeOverU3(att, ids, cryptograms, seeds, new Map()),
  };
}

/** Peak RSS of the first v2 build and unmasking in a fresh process (a warm heap would reuse memory). */
function memoryInChild(n: number, d: number): { build: number; aggregate: number } {
  const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--memory-child', String(n), String(d)], { encoding: 'utf8' });
  return JSON.parse(out) as { build: number; aggregate: number };
}

function memoryChild(n: number, d: number): void {
  const at = v2Attempt(n);
  const update = Float32Array.from({ length: d }, (_, i) => Math.sin(i) * 0.01);
  let built: Uint32Array = new Uint32Array(0);
  const buildMiB = peakAboveBaselineMiB(() => (built = at.build(0, update))); // the process's first cryptogram
  const pool = [built, ...Array.from({ length: Math.min(n, 8) - 1 }, (_, j) => at.build(j + 1, update))];
  const cryptograms = new Map(at.ids.map((id, j) => [id, pool[j % pool.length]!]));
  const aggregateMiB = peakAboveBaselineMiB(() => at.unmask(cryptograms));
  console.log(JSON.stringify({ build: round(buildMiB, 1), aggregate: round(aggregateMiB, 1) }));
}

if (flag('--memory-child')) {
  const i = process.argv.indexOf('--memory-child');
  memoryChild(Number(process.argv[i + 1]), Number(process.argv[i + 2]));
  await sampler.terminate();
  process.exit(0);
}

const started = new Date().toISOString();
const uptimeBefore = execSync('uptime').toString().trim();
const rows: Record<string, number | string>[] = [];
for (const d of ds) {
  for (const n of ns) {
    const row = cell(n, d);
    rows.push(row);
    if (json) console.log(JSON.stringify(row));
    say(
      `n=${n} d=${d}: quantize ${row.quantize_ms} ms; ` +
        `v2 buildCryptogramV2 (n keystreams) ${row.v2_mask_ms} vs ${row.aes_n_ms} ms: ratio ${row.ratio_v2} (cpu ${row.ratio_v2_cpu}); ` +
        `v2 unmaskAndDecodeOverU3 ${row.unmask_v2_ms} ms = ${row.unmask_v2_gbps} GB/s (cpu ${row.unmask_v2_gbps_cpu}), ratio to AES of n ${row.ratio_unmask_v2}; ` +
        `peak +${row.peak_build_mib} MiB v2 build, +${row.peak_aggregate_mib} MiB v2 unmask (4·d = ${row.cryptogram_mib} MiB); load ${row.load1}`,
    );
  }
}
await sampler.terminate();

if (write) {
  const commit = execSync('git rev-parse --short HEAD').toString().trim();
  const dirty = execSync('git status --porcelain -- protocol bench ":(exclude)bench/results"').toString().trim() !== '' ? ' (with uncommitted changes)' : '';
  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, OpenSSL ${process.versions.openssl}`;
  writeFileSync('bench/results/protocol-latest.jsonl', rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const line = (r: Record<string, number | string>) =>
    `| ${r.n} | ${Number(r.d).toExponential(0).replace('+', '')} | ${r.quantize_ms} | ${r.v2_mask_ms} | ${r.aes_n_ms} | **${r.ratio_v2}** (${r.ratio_v2_cpu}) | ${r.unmask_v2_ms} | **${r.ratio_unmask_v2}** | ${r.unmask_v2_gbps} (${r.unmask_v2_gbps_cpu}) | ${r.peak_build_mib} / ${r.peak_aggregate_mib} | ${r.load1} |`;
  const md = [
    '# Protocol benchmark (`npm run bench:protocol -- --write`)',
    '',
    `Commit ${commit}${dirty}, ${started}. Machine: ${machine}; shared with other work, load before the run: \`${uptimeBefore}\`, after: \`${execSync('uptime').toString().trim()}\`.`,
    `Each cell is the median of ${runs} runs; in each run the build is timed, then the AES-256-CTR reference (the faster of 64 KiB and 1 MiB blocks), then the build again (the two builds' mean is the run's figure), and a ratio is the median of the ${runs} per-run ratios.`,
    'Ratios and GB/s are wall-clock, with the CPU-time figure in parentheses (less sensitive to other load on the machine).',
    '',
    '- **v2 build**: `buildCryptogramV2` (mask keys, quantize, self mask + n − 1 pairwise masks in one blocked pass) over AES of n keystreams of 4·d bytes. The quantize column is the JavaScript `quantize` alone.',
    '- **v2 unmask**: `unmaskAndDecodeOverU3`, the node\'s call, with no dropout (the n cryptograms summed, the n self masks removed and the FedAvg delta decoded in one blocked pass), its ratio to AES of n keystreams, and n·4·d bytes over its time.',
    '- **peak**: RSS above the baseline, in a fresh process, while building one v2 cryptogram (its own 4·d bytes included) / while unmasking n of them (the n inputs already held; the 4·d-byte result included).',
    '',
    '| n | d | quantize ms | v2 build ms | AES n ms | v2 build/AES (cpu) | v2 unmask ms | v2 unmask/AES | v2 unmask GB/s | peak MiB build / unmask | load |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(line),
    '',
  ].join('\n');
  writeFileSync('bench/results/protocol.md', md);
  say('wrote bench/results/protocol-latest.jsonl and bench/results/protocol.md');
}
