// Which call "fixes" a refused resource: rank every template seen in the windows of
// catalyst flips, and name each flip's catalyst after the best-ranked one in its window.
import type { FoundFlip } from "./flips.js";

export interface CatalystRank {
  template: string;
  /** Catalyst flips whose window held it. */
  flips: number;
  /** flips / catalyst flips. */
  support: number;
  /**
   * Stayed-failed windows (refusal → refusal, no success) that held it, counted for the
   * kinds of resource (templates) that flipped after a catalyst: negative evidence.
   */
  failWindows: number;
  /** Stayed-failed windows that held it, for any refused resource. */
  failWindowsAll: number;
  /** (flips + 1) / (flips + failWindows + 2): how often its presence came with a recovery. */
  precision: number;
  score: number;
  /** Catalyst flips attributed to it. */
  attributed: number;
  /** Statuses it answered with inside flip windows. */
  statuses: number[];
  /** Median seconds from its last call in a window to the success. */
  medianLeadSeconds: number;
}

// The score is support × precision, with precision smoothed by a Beta(1,1) prior
// (Laplace): precision = (f + 1) / (f + n + 2), where f = catalyst-flip windows that
// held the template and n = stayed-failed windows that held it. Support rewards a
// template present before every recovery; precision punishes one that is just as present
// when nothing recovers (GET /me, polled everywhere). The prior keeps one lucky
// co-occurrence (f=1, n=0 → 0.67) below a pattern seen three times (f=3, n=0 → 0.8).
// Only stayed-failed windows of the resource kinds that did flip count against a
// template: a call made while some unrelated resource stays forbidden for hours says
// nothing about whether it warms up a sharing link.
// Ties go to fewer failWindows, then more flips, then the call closer to the success.
const PRIOR_HIT = 1;
const PRIOR_MISS = 1;

export function rankCatalysts(
  flips: FoundFlip[],
  failWindowTemplates: ReadonlyMap<string, ReadonlyMap<string, number>>,
): CatalystRank[] {
  const catalystFlips = flips.filter((f) => f.explanation === "catalyst");
  const n = catalystFlips.length;
  const flipped = new Set(catalystFlips.map((f) => f.template));
  const failCount = (template: string, kinds: Iterable<string>): number => {
    let sum = 0;
    for (const k of kinds) sum += failWindowTemplates.get(k)?.get(template) ?? 0;
    return sum;
  };
  const byTemplate = new Map<string, { flips: number; statuses: Set<number>; leads: number[] }>();
  for (const f of catalystFlips) {
    for (const t of f.templates) {
      let e = byTemplate.get(t.template);
      if (!e) byTemplate.set(t.template, (e = { flips: 0, statuses: new Set(), leads: [] }));
      e.flips++;
      for (const s of t.statuses) e.statuses.add(s);
      e.leads.push((f.success.startedAt - t.last.time) / 1000);
    }
  }
  const ranks: CatalystRank[] = [];
  for (const [template, e] of byTemplate) {
    const failWindows = failCount(template, flipped);
    const precision = (e.flips + PRIOR_HIT) / (e.flips + failWindows + PRIOR_HIT + PRIOR_MISS);
    const support = n === 0 ? 0 : e.flips / n;
    ranks.push({
      template,
      flips: e.flips,
      support,
      failWindows,
      failWindowsAll: failCount(template, failWindowTemplates.keys()),
      precision,
      score: support * precision,
      attributed: 0,
      statuses: [...e.statuses].sort((a, b) => a - b),
      medianLeadSeconds: median(e.leads),
    });
  }
  ranks.sort(
    (a, b) =>
      b.score - a.score ||
      a.failWindows - b.failWindows ||
      b.flips - a.flips ||
      a.medianLeadSeconds - b.medianLeadSeconds ||
      (a.template < b.template ? -1 : a.template > b.template ? 1 : 0),
  );
  return ranks;
}

/** Sets each catalyst flip's catalyst to its best-ranked window template; returns flip → catalyst. */
export function attributeCatalysts(flips: FoundFlip[], ranks: CatalystRank[]): Map<FoundFlip, string | null> {
  const position = new Map(ranks.map((r, i) => [r.template, i]));
  const out = new Map<FoundFlip, string | null>();
  for (const f of flips) {
    if (f.explanation !== "catalyst") {
      out.set(f, null);
      continue;
    }
    let best: string | null = null;
    let bestPos = Infinity;
    for (const t of f.templates) {
      const p = position.get(t.template);
      if (p !== undefined && p < bestPos) {
        bestPos = p;
        best = t.template;
      }
    }
    out.set(f, best);
    if (best !== null) ranks[bestPos]!.attributed++;
  }
  return out;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
