// Which committed model a node publishes (GET /api/model, the page's model card, `flnode model
// export`): the round whose global model scored the best AUC on this site's own validation share,
// ties to the earlier round. The test split is never looked at. Before any round has a validation
// AUC (summaries written before it was recorded), the latest round is published.
import type { RoundSummary } from '../types.ts';

export function publishedRound(summaries: readonly RoundSummary[]): number | null {
  let best: RoundSummary | null = null;
  for (const s of summaries) {
    if (typeof s.valAuc !== 'number' || !Number.isFinite(s.valAuc)) continue;
    if (!best || s.valAuc > best.valAuc! || (s.valAuc === best.valAuc && s.round < best.round)) best = s;
  }
  if (best) return best.round;
  return summaries.length ? Math.max(...summaries.map((s) => s.round)) : null;
}
