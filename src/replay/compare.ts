// Recorded vs replayed, per step: status, Graph error code, and for a $batch the parts.
import type { Exchange } from "../exchange/types.js";
import { expandBatch } from "../graph/batch.js";
import { graphFieldsOf } from "../graph/fields.js";
import type { Step } from "./plan.js";
import type { Outcome } from "./send.js";

export interface PartResult {
  id: string;
  method: string;
  url: string;
  recorded: number | null;
  replayed: number | null;
  diverged: boolean;
}

/** One line of the report; the first six keys are the interface contract. */
export interface StepResult {
  source: string;
  method: string;
  url: string;
  recorded: number | null;
  replayed: number | null;
  diverged: boolean;
  step: number;
  template: string;
  identity: string;
  tokenSource: string | null;
  recordedError: string | null;
  replayedError: string | null;
  /** A transport failure (ECONNRESET…) instead of an answer. */
  error: string | null;
  attempts: number;
  throttled: number;
  waitedMs: number;
  tokenRefreshed: boolean;
  /** The replayed exchange's id in the output capture. */
  replayId: string;
  sentTo: string;
  durationMs: number;
  parts?: PartResult[];
}

export function compareStep(step: Step, outcome: Outcome): StepResult {
  const src = step.source;
  const ex = outcome.exchange;
  const recorded = src.status ?? null;
  const replayed = ex.status ?? null;
  const out: StepResult = {
    source: src.id,
    method: step.method,
    url: step.url,
    recorded,
    replayed,
    diverged: recorded !== replayed,
    step: step.index,
    template: step.template,
    identity: step.upn ?? step.identityKey,
    tokenSource: step.token?.description ?? null,
    recordedError: errorCodeOf(src),
    replayedError: errorCodeOf(ex),
    error: ex.error ? ex.error.code : null,
    attempts: outcome.attempts,
    throttled: outcome.throttled,
    waitedMs: outcome.waitedMs,
    tokenRefreshed: outcome.tokenRefreshed,
    replayId: ex.id,
    sentTo: step.sendUrl,
    durationMs: Math.round(ex.durationMs),
  };
  if (step.batch) {
    const parts = compareParts(src, ex);
    if (parts) {
      out.parts = parts;
      if (parts.some((p) => p.diverged)) out.diverged = true;
    }
  }
  return out;
}

function errorCodeOf(ex: Exchange): string | null {
  if (ex.status === undefined) return ex.error?.code ?? null;
  if (ex.status < 400) return null;
  return graphFieldsOf(ex).errorCode ?? null;
}

function compareParts(recorded: Exchange, replayed: Exchange): PartResult[] | undefined {
  const a = expandBatch(recorded);
  const b = expandBatch(replayed);
  if (!a) return undefined;
  const byId = new Map((b ?? []).map((p) => [p.partId, p]));
  return a.map((p) => {
    const q = byId.get(p.partId);
    const r = p.status ?? null;
    const s = q?.status ?? null;
    return { id: p.partId ?? "", method: p.method, url: q?.url ?? p.url, recorded: r, replayed: s, diverged: r !== s };
  });
}
