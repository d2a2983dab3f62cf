// The attack benchmark's outputs: JSON, a Markdown report (one table per attack, plain vs
// cryptogram, mean ± sd over seeds), the reconstruction grid (PNG) and the poisoning chart (SVG).
import { encode } from 'fast-png';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { InversionImages, InversionRow, LabelRow, MemberRow, PoisonRow } from './phases.ts';
import { contributionBounds } from './poisoning.ts';
import { mean, meanSd, type MeanSd } from './stats.ts';

const fmt = (m: MeanSd, d = 3) => (Number.isFinite(m.mean) ? `${m.mean.toFixed(d)} ± ${m.sd.toFixed(d)}` : 'n/a');
const bySeed = <T extends { seed: number }>(rows: readonly T[], f: (r: T[]) => number): MeanSd => {
  const seeds = [...new Set(rows.map((r) => r.seed))];
  return meanSd(seeds.map((s) => f(rows.filter((r) => r.seed === s))).filter((v) => Number.isFinite(v)));
};

/** Rows of images: per batch size, true | plain | cryptogram | aggregate (best match per true image). */
export function renderGrid(blocks: readonly InversionImages[], scale = 3, gap = 4): Uint8Array {
  const tile = 28 * scale;
  const cols = Math.max(...blocks.map((b) => b.batch));
  const width = gap + cols * (tile + gap);
  const rowsPerBlock = 4;
  const height = gap + blocks.length * (rowsPerBlock * (tile + gap) + 3 * gap);
  const px = new Uint8Array(width * height).fill(96);
  let y0 = gap;
  for (const b of blocks) {
    for (const [r, imgs] of [b.truth, b.plain, b.cryptogram, b.aggregate].entries()) {
      if (!imgs) continue; // not run: the row stays background grey
      for (let i = 0; i < b.batch; i++) {
        const x0 = gap + i * (tile + gap);
        const yy = y0 + r * (tile + gap);
        for (let y = 0; y < tile; y++) {
          for (let x = 0; x < tile; x++) {
            const v = imgs[i * 784 + Math.floor(y / scale) * 28 + Math.floor(x / scale)] ?? 0;
            px[(yy + y) * width + x0 + x] = Math.round(255 * Math.min(1, Math.max(0, v)));
          }
        }
      }
    }
    y0 += rowsPerBlock * (tile + gap) + 3 * gap;
  }
  return encode({ width, height, data: px, channels: 1, depth: 8 });
}

const finalRound = (rows: readonly PoisonRow[]) => {
  const last = Math.max(...rows.map((r) => r.round));
  return rows.filter((r) => r.round === last);
};

function poisonSummary(poison: readonly PoisonRow[]) {
  const out: { mode: string; attack: string; clip: number; auc: MeanSd; backdoor: MeanSd; auc_drop: MeanSd; auc_per_round: number[]; backdoor_per_round: number[] }[] = [];
  const last = finalRound(poison);
  const rounds = [...new Set(poison.map((r) => r.round))].sort((a, b) => a - b);
  for (const mode of ['plain', 'cryptogram']) {
    const base = last.filter((r) => r.mode === mode && r.attack === 'none'); // matched by seed and C below
    const keys = [...new Map(poison.filter((r) => r.mode === mode).map((r) => [`${r.attack}@${r.clip}`, r])).values()];
    for (const k of keys) {
      const rows = poison.filter((r) => r.mode === mode && r.attack === k.attack && r.clip === k.clip);
      const fin = finalRound(rows);
      out.push({
        mode,
        attack: k.attack,
        clip: k.clip,
        auc: bySeed(fin, (r) => mean(r.map((x) => x.auc))),
        backdoor: bySeed(fin, (r) => mean(r.map((x) => x.backdoor))),
        auc_drop: bySeed(fin, (r) => mean(base.filter((b) => b.seed === r[0]!.seed && b.clip === k.clip).map((b) => b.auc)) - mean(r.map((x) => x.auc))),
        auc_per_round: rounds.map((q) => mean(rows.filter((r) => r.round === q).map((r) => r.auc))),
        backdoor_per_round: rounds.map((q) => mean(rows.filter((r) => r.round === q).map((r) => r.backdoor))),
      });
    }
  }
  return out;
}

export async function renderDamageChart(poison: readonly PoisonRow[]): Promise<string> {
  const s = poisonSummary(poison).filter((r) => r.attack !== 'none');
  const values = s.map((r) => ({ C: r.clip, mode: r.mode, attack: r.attack, auc_drop: r.auc_drop.mean, backdoor: 100 * r.backdoor.mean }));
  const panel = (attack: string, field: string, title: string) => ({
    title: `${attack}: ${title}`,
    data: { values: values.filter((v) => v.attack === attack) },
    mark: { type: 'line' as const, point: true },
    width: 300,
    height: 220,
    encoding: {
      x: { field: 'C', type: 'quantitative' as const, scale: { type: 'log' as const }, title: 'clip C (log)' },
      y: { field, type: 'quantitative' as const, title },
      color: { field: 'mode', type: 'nominal' as const },
      strokeDash: { field: 'mode', type: 'nominal' as const },
    },
  });
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'PneumoniaMNIST, one malicious site of 3: damage after the last round against the clip C (mean of seeds; the plain and cryptogram lines coincide)',
    hconcat: [panel('sign-flip', 'auc_drop', 'test AUC drop'), panel('backdoor', 'backdoor', 'backdoor success (%)')],
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

export interface ReportInput {
  setup: Record<string, unknown> & { dataset: string; commit: string; command: string; seeds: number[] };
  label: LabelRow[];
  member: MemberRow[];
  memberLong?: MemberRow[];
  inversion: InversionRow[];
  poison: PoisonRow[];
  files: { grid: string | null; chart: string | null };
}

export function writeReport(r: ReportInput): { json: string; md: string } {
  const ds = r.setup.dataset;
  const L: string[] = [];
  const summary: Record<string, unknown> = {};
  L.push(`# Inference and poisoning attacks on ${ds}: plain FedAvg updates vs flnode cryptograms`, '');
  const cmds = (r.setup.commands ?? {}) as Record<string, string>;
  L.push(Object.keys(cmds).length > 1 ? `Commands (one phase per run, merged): ${Object.entries(cmds).map(([k, v]) => `${k}: \`${v}\``).join('; ')}.` : `Command: \`${r.setup.command}\` at commit \`${r.setup.commit}\`.`);
  L.push(`Seeds ${r.setup.seeds.join(', ')}; figures are mean ± sd over seeds.`);
  const secs = (r.setup.seconds ?? {}) as Record<string, number>;
  L.push(`Wall time per phase (s): ${Object.entries(secs).filter(([k]) => k !== 'total').map(([k, v]) => `${k} ${v}`).join(', ')} (wasm backend, one thread each, on a shared 2-core machine).`);
  L.push('');
  L.push(
    `Data: ${ds} (data/pneumoniamnist.npz), 3 sites by Dirichlet α = 0.5 over labels (the split flnode's trainer makes). To bound compute, each site keeps its first ${String(r.setup.site_cap)} training images for attacks 1–3 and its first ${String((r.setup.poisoning as { cap_per_site?: number } | undefined)?.cap_per_site)} for attack 4 (the label mix of each site is kept; the fractions below are of the capped sets). The attacker's own images are the val split (half to train shadow updates, half as probe); non-members are test images. Training: flnode's default plan (1 local epoch, Adam, lr 0.001, batch 64, clip C = 1), wasm backend.`,
  );
  L.push('', 'The aggregator here is an observer that contributes no update. In flnode the round\'s aggregator is also a member: with 3 sites it can subtract its own update from the aggregate and so sees the sum of the other two — still an aggregate, never one site\'s update.', '');
  L.push('<details><summary>setup (JSON)</summary>', '', '```json', JSON.stringify(r.setup, null, 1), '```', '', '</details>', '');
  const crit: string[] = [];

  if (r.label.length) {
    const mae = (f: (x: LabelRow) => number) => bySeed(r.label, (rows) => mean(rows.map((x) => Math.abs(f(x) - x.truth))));
    const t = {
      plain: mae((x) => x.plain),
      cryptogram: mae((x) => x.cryptogram),
      aggregate: mae((x) => x.aggregate),
      pooled_bound: mae((x) => x.pooled),
      // the lowest MAE of any guess that gives the 3 sites one common value (the median of the truths)
      best_constant_bound: bySeed(r.label, (rows) => {
        const keys = [...new Set(rows.map((x) => x.round))];
        return mean(keys.map((k) => {
          const t = rows.filter((x) => x.round === k).map((x) => x.truth).sort((a, b) => a - b);
          const med = t[Math.floor(t.length / 2)]!;
          return mean(t.map((v) => Math.abs(v - med)));
        }));
      }),
    };
    summary.label = t;
    L.push(`## 1. Label-distribution inference (${ds}, pneumonia fraction of each site)`, '');
    const truths = [...new Map(r.label.map((x) => [x.site, x.truth])).values()];
    L.push(`Shadow updates (Shokri et al. 2017) for property inference (Ateniese et al. 2015; Melis et al. 2019): per round, the attacker trains updates from the global model on its own images mixed at pneumonia fractions ${String((r.setup.shadows as number[] | undefined)?.join(', '))} with the site's announced sample count; the feature of an update is the rebuilt model's mean predicted probability on the attacker's probe images, mapped to a fraction by the piecewise-linear curve through the shadow points. True fractions of the sites: ${truths.map((t) => t.toFixed(3)).join(', ')}. MAE over 3 sites × rounds.`, '');
    L.push('| what the aggregator sees | estimate from | MAE of the fraction |', '|---|---|---|');
    L.push(`| plain updates | the site's update | ${fmt(t.plain)} |`);
    L.push(`| flnode | the site's cryptogram, read as an update | ${fmt(t.cryptogram)} |`);
    L.push(`| flnode | the aggregate (same regressor) | ${fmt(t.aggregate)} |`);
    L.push(`| flnode, reference | the exact pooled fraction of all sites, given to every site | ${fmt(t.pooled_bound)} |`);
    L.push(`| flnode, floor | the best single value for all sites (the median of the true fractions, an oracle) | ${fmt(t.best_constant_bound)} |`, '');
    L.push('The sites announce (nearly) equal sample counts here, so an aggregate-only attacker has nothing that tells the sites apart: whatever it computes from the aggregate, it gives all three one value, and no single value does better than the floor.', '');
    const floor = t.best_constant_bound.mean;
    crit.push(`label MAE on plain updates ${t.plain.mean.toFixed(3)} (criterion ≤ 0.05: ${t.plain.mean <= 0.05 ? 'met' : 'MISSED'}); on cryptograms ${t.cryptogram.mean.toFixed(3)} and from the aggregate ${t.aggregate.mean.toFixed(3)}, against the aggregate-only floor ${floor.toFixed(3)} (${Math.min(t.cryptogram.mean, t.aggregate.mean) >= floor - 1e-9 ? 'no better than the aggregate allows' : 'BETTER than the floor'})`);
  }

  const memberTable = (rows: readonly MemberRow[], title: string) => {
    L.push(title, '');
    L.push('Loss threshold (Yeom et al. 2018) and difficulty-calibrated loss (Watson et al. 2022, reference = the round\'s global model) on the rebuilt model. Mean over sites × rounds.', '');
    L.push('| model the attacker rebuilds | attack | AUC | TPR at 1 % FPR |', '|---|---|---|---|');
    const m: Record<string, { auc: MeanSd; tpr1: MeanSd }> = {};
    for (const view of ['plain', 'cryptogram', 'aggregate'] as const) {
      for (const attack of ['yeom', 'calibrated'] as const) {
        const sel = rows.filter((x) => x.view === view && x.attack === attack);
        const auc = bySeed(sel, (q) => mean(q.map((x) => x.auc)));
        const tpr1 = bySeed(sel, (q) => mean(q.map((x) => x.tpr1)));
        m[`${view}/${attack}`] = { auc, tpr1 };
        const what = view === 'plain' ? 'global + site update (plain)' : view === 'cryptogram' ? 'global + cryptogram read as update (flnode)' : 'next global model = global + aggregate (flnode)';
        L.push(`| ${what} | ${attack} | ${fmt(auc)} | ${fmt(tpr1)} |`);
      }
    }
    L.push('');
    const top = (v: string) => (m[`${v}/yeom`]!.auc.mean >= m[`${v}/calibrated`]!.auc.mean ? m[`${v}/yeom`]! : m[`${v}/calibrated`]!);
    const epochs = rows[0]?.epochs ?? 1;
    const clear = top('plain').auc.mean - 2 * top('plain').auc.sd > 0.5;
    crit.push(`membership (${epochs} local epoch${epochs > 1 ? 's' : ''}) AUC on plain updates ${top('plain').auc.mean.toFixed(3)} ± ${top('plain').auc.sd.toFixed(3)} (best of the two attacks; "clearly above 0.5", read as mean − 2 sd over seeds > 0.5: ${clear ? 'met' : 'MISSED'}); on the cryptogram ${top('cryptogram').auc.mean.toFixed(3)}, from the aggregate ${top('aggregate').auc.mean.toFixed(3)} (${top('cryptogram').auc.mean <= top('aggregate').auc.mean + 0.01 ? 'no better than the aggregate allows' : 'BETTER than the aggregate'})`);
    return m;
  };
  if (r.member.length) {
    summary.membership = memberTable(r.member, `## 2. Membership inference (${ds}: each site's training images vs label-matched test images; flnode's plan, 1 local epoch)`);
  }
  if (r.memberLong?.length) {
    const e = r.memberLong[0]!.epochs;
    summary.membership_long_training = memberTable(r.memberLong, `### 2b. The same with sites that train ${e} local epochs per round (${ds}; same seeds and rounds)`);
  }

  if (r.inversion.length) {
    L.push(`## 3. Gradient inversion (${ds}, one SGD step on a batch of the attacked site's images)`, '');
    L.push('Cosine matching + total variation (Geiping et al. 2020); single-image label from the output-bias sign (Zhao et al. 2020, iDLG), true labels given for batches > 1. SSIM / PSNR of each true image to its best-matching reconstruction.', '');
    L.push('| batch | source | SSIM | PSNR (dB) |', '|---|---|---|---|');
    const inv: Record<string, { ssim: MeanSd; psnr: MeanSd }> = {};
    for (const batch of [...new Set(r.inversion.map((x) => x.batch))]) {
      for (const view of ['plain', 'cryptogram', 'aggregate'] as const) {
        const rows = r.inversion.filter((x) => x.batch === batch && x.view === view);
        const s = bySeed(rows, (q) => mean(q.map((x) => x.ssim)));
        const p = bySeed(rows, (q) => mean(q.map((x) => x.psnr)));
        inv[`${batch}/${view}`] = { ssim: s, psnr: p };
        const what = view === 'plain' ? 'plain update' : view === 'cryptogram' ? 'cryptogram (flnode)' : `aggregate of 3 sites (flnode; ${3 * batch} images fitted)`;
        L.push(rows.length ? `| ${batch} | ${what} | ${fmt(s)} | ${fmt(p, 1)} |` : `| ${batch} | ${what} | not run (compute bound, --inv-agg-max) | – |`);
      }
    }
    summary.inversion = inv;
    const labelled = r.inversion.filter((x) => x.labelInferred !== undefined);
    const acc = (v: string) => mean(labelled.filter((x) => x.view === v).map((x) => (x.labelInferred ? 1 : 0)));
    const prior = r.setup.inversion_mean_image_reference as { ssim: number; psnr: number } | undefined;
    if (prior) L.push('', `Reference without any update: the mean image of the attacker's own data (val split) scores SSIM ${prior.ssim.toFixed(3)}, PSNR ${prior.psnr.toFixed(1)} dB against the test images; a reconstruction near that shows little of the particular image (a smooth, average-looking chest scores well on SSIM).`);
    L.push('', `Single-image label inferred correctly: plain ${(100 * acc('plain')).toFixed(0)} %, cryptogram ${(100 * acc('cryptogram')).toFixed(0)} % of seeds (a binary label: a coin has 50 %).`);
    if (r.files.grid) L.push('', `![reconstructions](${r.files.grid})`, '', `\`${r.files.grid}\` (first seed): per batch size 1, 4, 8, four rows: true images | from the plain update | from the cryptogram | from the aggregate (best match per true image; grey where not run).`);
    L.push('');
    const s1 = inv['1/plain']?.ssim.mean ?? NaN;
    const c1 = inv['1/cryptogram']?.ssim.mean ?? NaN;
    const a1 = inv['1/aggregate']?.ssim.mean ?? NaN;
    const p1 = inv['1/plain']?.psnr.mean ?? NaN;
    const ref = prior ? `; the mean-image reference scores SSIM ${prior.ssim.toFixed(3)}, PSNR ${prior.psnr.toFixed(1)} dB, so SSIM ≥ 0.5 alone is a weak bar on this dataset` : '';
    crit.push(`single-image reconstruction from plain updates SSIM ${s1.toFixed(3)}, PSNR ${p1.toFixed(1)} dB (criterion SSIM ≥ 0.5: ${s1 >= 0.5 ? 'met' : 'MISSED'}${ref}); from the cryptogram SSIM ${c1.toFixed(3)}, from the aggregate ${a1.toFixed(3)} (${c1 <= a1 ? 'no better than the aggregate allows' : 'BETTER than the aggregate'}${prior ? (a1 < prior.ssim ? '; the aggregate reconstructions score below the mean-image reference on average' : '; the aggregate of 3 one-image steps is itself a small-batch update and leaks') : ''})`);
  }

  if (r.poison.length) {
    const s = poisonSummary(r.poison);
    summary.poisoning = s;
    L.push(`## 4. Poisoning by one site of 3 (${ds}; site 0 malicious)`, '');
    L.push('(a) sign-flipped update boosted ×B/w (w = the site’s FedAvg weight; Blanchard et al. 2017; boosting: Bhagoji et al. 2019); (b) backdoor: 3×3 white patch on copies of the site’s pneumonia images relabelled normal, trained for more local epochs than the plan, update boosted ×B/w (model replacement, Bagdasaryan et al. 2020); B in the setup line. The clip C bounds each coordinate of w·u in flnode\'s encoder; the plain run applies the same clip server-side. Backdoor success: share of the pneumonia test images the global model detects that it calls normal once patched.', '');
    L.push(`Attack rounds start from the global model after ${String((r.setup.poisoning as { honest_warmup_rounds?: number }).honest_warmup_rounds)} honest rounds (test AUC ${((r.setup.poisoning_test_auc_after_warmup ?? []) as number[]).map((a) => a.toFixed(3)).join(', ')} by seed); the no-attack rows run the same rounds at the same C.`, '');
    L.push('| aggregator sees | attack | C | test AUC, last round | AUC drop vs no attack at this C | backdoor success | AUC per round |', '|---|---|---|---|---|---|---|');
    for (const x of s) L.push(`| ${x.mode} | ${x.attack} | ${x.clip} | ${fmt(x.auc, 4)} | ${x.attack === 'none' ? '–' : fmt(x.auc_drop, 4)} | ${x.attack === 'sign-flip' ? '–' : `${fmt({ ...x.backdoor, mean: 100 * x.backdoor.mean, sd: 100 * x.backdoor.sd }, 1)} %`} | ${x.auc_per_round.map((a) => a.toFixed(3)).join(' / ')} |`);
    L.push('', 'Largest per-coordinate contribution of one site (3 sites): through the honest encoder it is C; a site that writes its masked words itself is bounded only by the int32 range of the decoded sum less what the honest sites may add, and the aggregator cannot tell:', '');
    L.push('| C | via the encoder | encoder bypassed |', '|---|---|---|');
    const clips = [...new Set(r.poison.map((x) => x.clip))].sort((a, b) => a - b);
    for (const c of clips) {
      const b = contributionBounds(3, c);
      L.push(`| ${c} | ${b.encoder} | ${b.bypass.toPrecision(3)} (${(b.bypass / c).toFixed(2)} C) |`);
    }
    if (r.files.chart) L.push('', `![poisoning damage against C](${r.files.chart})`);
    L.push('');
    let gap = 0;
    for (const x of s.filter((q) => q.mode === 'plain')) {
      const y = s.find((q) => q.mode === 'cryptogram' && q.attack === x.attack && q.clip === x.clip);
      if (y) gap = Math.max(gap, Math.abs(x.auc.mean - y.auc.mean));
    }
    const byC = (attack: string, f: (q: (typeof s)[number]) => string) =>
      s.filter((q) => q.mode === 'cryptogram' && q.attack === attack).map((q) => `C = ${q.clip}: ${f(q)}`).join(', ');
    summary.poisoning_plain_vs_cryptogram_max_auc_gap = gap;
    L.push(`Masking does not stop poisoning: the cryptogram runs give the same global model as plain FedAvg with the same clip (largest test-AUC difference between matching rows: ${gap.toExponential(1)}, from the fixed-point rounding). The clip bounds the damage, and only the clip: test-AUC drop of the sign-flip by C (cryptogram rows) ${byC('sign-flip', (q) => q.auc_drop.mean.toFixed(3))} (a negative drop: that run's AUC rose); backdoor success ${byC('backdoor', (q) => `${(100 * q.backdoor.mean).toFixed(1)} %`)} — once C exceeds the boosted backdoor update, a larger C changes nothing. flnode's default C = 1 bounds almost nothing (honest weighted updates are far below 1 per coordinate), and the aggregator cannot check that a site used the encoder at all (second table). These figures are the baseline for a defence (e.g. a norm bound proved inside the cryptogram, or robust aggregation over threshold-revealed partial sums).`, '');
    crit.push(`poisoning: cryptograms do not stop it (largest plain-vs-cryptogram test-AUC difference ${gap.toExponential(1)}); the clip bounds it`);
  }

  L.push('## Success criteria', '', ...crit.map((c) => `- ${c}`), '');
  return { json: JSON.stringify({ setup: r.setup, summary, rows: { label: r.label, membership: r.member, membership_long_training: r.memberLong ?? [], inversion: r.inversion, poisoning: r.poison } }, null, 1), md: L.join('\n') };
}
