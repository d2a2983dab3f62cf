// Protocol benchmark: cryptogram build time vs raw AES-256-CTR keystream time, aggregation time and
// peak memory, for n members and d parameters. `npm run bench:protocol -- [--json] [--quick]`.
import { createCipheriv } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { attemptScale, generateEphemeralKeyPair, maskQuantized, participantWeight, quantize, sumCryptograms, type AttemptParams } from '../protocol/index.ts';
import { flag } from './args.ts';

const json = flag('--json');
const quick = flag('--quick');
const ns = quick ? [3, 10] : [3, 10, 50];
const ds = quick ? [1e5, 1e6] : [1e5, 1e6, 1e7];

function rawKeystreamMs(bytes: number, times: number): number {
  // The same block size the protocol uses, so the ratio isolates the masking arithmetic.
  const block = Buffer.alloc(Math.min(1 << 20, bytes));
  const t0 = performance.now();
  for (let k = 0; k < times; k++) {
    const c = createCipheriv('aes-256-ctr', Buffer.alloc(32, k + 1), Buffer.alloc(16));
    for (let o = 0; o < bytes; o += block.length) c.update(o + block.length <= bytes ? block : block.subarray(0, bytes - o));
  }
  return performance.now() - t0;
}

const rows: Record<string, number>[] = [];
for (const d of ds) {
  for (const n of ns) {
    const members = Array.from({ length: n }, (_, i) => ({ id: `site-${String(i).padStart(3, '0')}`, keys: generateEphemeralKeyPair() }));
    const params: AttemptParams = { consortium: 'bench', round: 1, attempt: 0, clip: 1, participants: members.map((m) => ({ id: m.id, publicKey: m.keys.publicKey, samples: 1000 })) };
    const update = Float32Array.from({ length: d }, (_, i) => Math.sin(i) * 0.01);
    globalThis.gc?.();
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const self = { id: members[0]!.id, secretKey: members[0]!.keys.secretKey };
    maskQuantized(params, self, quantize(update.subarray(0, 1000), 0.5, 1, attemptScale(params))); // warm-up
    const t0 = performance.now();
    const q = quantize(update, participantWeight(params, self.id), params.clip, attemptScale(params));
    const tq = performance.now();
    const c = maskQuantized(params, self, q);
    const t2 = performance.now();
    const quantizeMs = tq - t0;
    const maskMs = t2 - tq;
    peak = Math.max(peak, process.memoryUsage().rss);
    clearInterval(timer);
    const aesMs = rawKeystreamMs(4 * d, n - 1);
    // aggregation of n cryptograms (copies of one: the arithmetic is identical)
    const cs = Array.from({ length: n }, () => c);
    const t1 = performance.now();
    sumCryptograms(cs);
    const aggMs = performance.now() - t1;
    const row = { n, d, quantize_ms: +quantizeMs.toFixed(2), mask_ms: +maskMs.toFixed(2), build_ms: +(quantizeMs + maskMs).toFixed(2), aggregate_ms: +aggMs.toFixed(2), ratio_to_aes: +(maskMs / aesMs).toFixed(3), peak_rss_mb: +((peak - rss0) / 2 ** 20).toFixed(1), aes_ms: +aesMs.toFixed(2) };
    rows.push(row);
    if (json) console.log(JSON.stringify(row));
    else console.error(`n=${n} d=${d}: quantize ${row.quantize_ms} ms + mask ${row.mask_ms} ms, raw AES ${row.aes_ms} ms, ratio ${row.ratio_to_aes}, aggregate ${row.aggregate_ms} ms, peak +${row.peak_rss_mb} MiB (4·d = ${((4 * d) / 2 ** 20).toFixed(1)} MiB)`);
  }
}
