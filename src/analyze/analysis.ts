// The whole analysis: stream the inputs through the flip finder, rank catalysts, then
// look up the few whole exchanges the evidence needs. The result is the `--json`
// document (interface.md) plus extras; the text and HTML reports render it.
import type { Exchange } from "../exchange/types.js";
import { header } from "../exchange/types.js";
import { graphFieldsOf } from "../graph/fields.js";
import { describeTokenChange } from "../graph/identity.js";
import { attributeCatalysts, median, rankCatalysts, type CatalystRank } from "./catalysts.js";
import { FlipFinder, type Explanation, type FoundFlip, type WindowCall } from "./flips.js";
import { openInputs, type Call, type InputFilter, type Inputs } from "./inputs.js";

export interface IdentityDoc {
  key: string;
  tenantId: string | null;
  objectId: string | null;
  upn: string | null;
  guest: boolean;
  kind: string;
  appId: string | null;
  homeTenantId: string | null;
}

export interface CallDoc {
  exchangeId: string;
  status: number | null;
  errorCode: string | null;
  requestId: string | null;
  time: string;
  clientRequestId: string | null;
  errorMessage: string | null;
  innerErrorCode: string | null;
  dataCenter: string | null;
  scaleUnit: string | null;
  slice: string | null;
  roleInstance: string | null;
  /** The response's Date header, as the server wrote it. */
  serverDate: string | null;
  tokenHash: string | null;
  file: string;
}

export interface BetweenDoc {
  exchangeId: string;
  template: string;
  status: number | null;
  errorCode: string | null;
  requestId: string | null;
  time: string;
}

export interface FlipDoc {
  identity: IdentityDoc;
  template: string;
  resource: string;
  failure: CallDoc & { refusals: number; failingSince: string; firstFailureExchangeId: string };
  success: CallDoc;
  explanation: Explanation;
  catalyst: string | null;
  /** The last call of the catalyst template before the success. */
  catalystCall: (BetweenDoc & { leadSeconds: number }) | null;
  between: BetweenDoc[];
  /** Calls in the window in all; `between` keeps the last ones (closest to the success). */
  betweenCount: number;
  betweenOmitted: number;
  windowTruncated: boolean;
  waitSeconds: number;
  /** Claims that differ between the failing and the succeeding token (token-refresh). */
  tokenChange: Array<{ claim: string; before: unknown; after: unknown }> | null;
  warmFor: number | null;
  warmEndedBy: "failure" | "end-of-capture";
  warmEndedAt: BetweenDoc | null;
  warmCalls: number;
}

/** A resource an identity was refused and never given afterwards (still refused at the end). */
export interface NeverRecoveredDoc {
  identity: IdentityDoc;
  template: string;
  resource: string;
  /** Status and error code of the last refusal. */
  status: number | null;
  errorCode: string | null;
  refusals: number;
  firstAt: string;
  lastAt: string;
  lastRequestId: string | null;
  lastExchangeId: string;
  file: string;
}

/** The same traffic read twice: figures may be double-counted. */
export interface DuplicatesDoc {
  /** Calls whose exchange id was already read from another input (a capture and a HAR exported from it). */
  sameId: number;
  /** Calls with the same start time, method, URL, status and request-id as one already read (imported twice). */
  sameRequest: number;
  /** The inputs the duplicates were found in. */
  files: string[];
}

export interface AnalysisDoc {
  graphtap: "analyze";
  version: 1;
  inputs: Array<{ file: string; kind: "capture" | "har" }>;
  /** What was kept of the inputs (--session, --identity, --since, --until); null when everything was read. */
  filters: {
    sessions: string[] | null;
    identity: string | null;
    identityKeys: string[] | null;
    since: string | null;
    until: string | null;
  } | null;
  /** Logical exchanges read: a $batch part counts one, its envelope none (interface.md). */
  exchanges: number;
  /** Exchanges as recorded (what `list` and the proxy count): a $batch envelope counts one, its parts none. */
  recorded: number;
  duplicates: DuplicatesDoc;
  /** One-line warnings for stderr (double-counting). */
  warnings: string[];
  identities: number;
  firstAt: string | null;
  lastAt: string | null;
  refusals: number;
  summary: {
    flips: number;
    byExplanation: Record<Explanation, number>;
    topCatalyst: string | null;
    headline: string | null;
    failWindows: number;
    neverRecovered: number;
  };
  flips: FlipDoc[];
  catalysts: CatalystRank[];
  /** The resources counted in summary.neverRecovered, most refused first. */
  neverRecovered: NeverRecoveredDoc[];
}

export interface AnalyzeOptions {
  maxBetween?: number;
  maxLog?: number;
  /** Flips whose failing and succeeding exchanges are looked up whole (default 2000). */
  maxEvidence?: number;
  /** Only these sessions, identity, time range. */
  filter?: InputFilter;
}

export function analyzeFiles(files: readonly string[], opts: AnalyzeOptions = {}): AnalysisDoc {
  const inputs = openInputs(files, opts.filter);
  try {
    return analyzeInputs(inputs, opts);
  } finally {
    inputs.close();
  }
}

export function analyzeInputs(inputs: Inputs, opts: AnalyzeOptions = {}): AnalysisDoc {
  const finder = new FlipFinder(opts);
  const counter = new StreamCounter();
  for (const call of inputs.calls()) {
    counter.push(call);
    finder.push(call);
  }
  const scan = finder.finish();
  const ranks = rankCatalysts(scan.flips, scan.failWindowTemplates);
  const catalystOf = attributeCatalysts(scan.flips, ranks);
  const maxEvidence = opts.maxEvidence ?? 2000;
  const files = inputs.sources.map((s) => s.file);

  const identityCache = new Map<string, IdentityDoc>();
  const identityDoc = (key: string): IdentityDoc => {
    let doc = identityCache.get(key);
    if (!doc) {
      const id = inputs.identity(key);
      doc = {
        key,
        tenantId: id?.tenantId ?? null,
        objectId: id?.objectId ?? null,
        upn: id?.upn ?? null,
        guest: id?.guest ?? false,
        kind: id?.kind ?? (key === "anonymous" ? "anonymous" : "unknown"),
        appId: id?.appId ?? null,
        homeTenantId: id?.homeTenantId ?? null,
      };
      identityCache.set(key, doc);
    }
    return doc;
  };

  const flips = scan.flips.map((f, i) => {
    const withDetails = i < maxEvidence;
    const catalyst = catalystOf.get(f) ?? null;
    const catalystLast = catalyst === null ? undefined : f.templates.find((t) => t.template === catalyst)?.last;
    let tokenChange: FlipDoc["tokenChange"] = null;
    if (f.explanation === "token-refresh") {
      tokenChange = describeTokenChange(inputs.tokenClaims(f.failure) ?? {}, inputs.tokenClaims(f.success) ?? {});
    }
    const doc: FlipDoc = {
      identity: identityDoc(f.identityKey),
      template: f.template,
      resource: f.resource,
      failure: {
        ...callDoc(f.failure, withDetails ? inputs.details(f.failure) : undefined, files),
        refusals: f.refusals,
        failingSince: iso(f.firstFailure.startedAt),
        firstFailureExchangeId: f.firstFailure.id,
      },
      success: callDoc(f.success, withDetails ? inputs.details(f.success) : undefined, files),
      explanation: f.explanation,
      catalyst,
      catalystCall: catalystLast ? { ...betweenDoc(catalystLast), leadSeconds: (f.success.startedAt - catalystLast.time) / 1000 } : null,
      between: f.between.map(betweenDoc),
      betweenCount: f.betweenCount,
      betweenOmitted: f.betweenCount - f.between.length,
      windowTruncated: f.windowTruncated,
      waitSeconds: f.waitSeconds,
      tokenChange,
      warmFor: f.warmFor,
      warmEndedBy: f.warmEndedBy,
      warmEndedAt: f.warmEndedAt ? betweenDoc(windowCall(f.warmEndedAt, finder.template(f.warmEndedAt))) : null,
      warmCalls: f.warmCalls,
    };
    return doc;
  });

  const neverRecovered: NeverRecoveredDoc[] = scan.unrecovered.map((u) => ({
    identity: identityDoc(u.identityKey),
    template: u.template,
    resource: u.resource,
    status: u.last.status ?? null,
    errorCode: u.last.errorCode ?? null,
    refusals: u.refusals,
    firstAt: iso(u.first.startedAt),
    lastAt: iso(u.last.startedAt),
    lastRequestId: u.last.requestId ?? null,
    lastExchangeId: u.last.id,
    file: files[u.last.source] ?? "",
  }));

  const duplicates: DuplicatesDoc = { sameId: counter.sameId, sameRequest: counter.sameRequest, files: [...counter.dupSources].sort((a, b) => a - b).map((i) => files[i] ?? "") };
  const warnings: string[] = [];
  if (duplicates.sameId + duplicates.sameRequest > 0) {
    const what = [
      duplicates.sameId ? `${duplicates.sameId} with an exchange id already read from another input` : "",
      duplicates.sameRequest ? `${duplicates.sameRequest} with the same time, method, URL, status and request-id as one already read` : "",
    ].filter(Boolean);
    warnings.push(
      `the same traffic appears twice in ${duplicates.files.join(" and ")} (${what.join("; ")}): figures may be double-counted; ` +
        `analyze a capture or the HAR exported from it, not both, and import a HAR once`,
    );
  }

  const f0 = opts.filter;
  const filtered = f0 !== undefined && (f0.sessions?.length || f0.identity !== undefined || f0.since !== undefined || f0.until !== undefined);

  const byExplanation: Record<Explanation, number> = { catalyst: 0, "token-refresh": 0, retry: 0 };
  for (const f of flips) byExplanation[f.explanation]++;
  const top = ranks[0];
  return {
    graphtap: "analyze",
    version: 1,
    inputs: inputs.sources.map((s) => ({ file: s.file, kind: s.kind })),
    filters: filtered
      ? {
          sessions: f0!.sessions?.length ? [...f0!.sessions] : null,
          identity: f0!.identity ?? null,
          identityKeys: inputs.identityKeys ? [...inputs.identityKeys] : null,
          since: f0!.since === undefined ? null : iso(f0!.since),
          until: f0!.until === undefined ? null : iso(f0!.until),
        }
      : null,
    exchanges: scan.exchanges,
    recorded: counter.recorded,
    duplicates,
    warnings,
    identities: scan.identities,
    firstAt: scan.firstAt === undefined ? null : iso(scan.firstAt),
    lastAt: scan.lastAt === undefined ? null : iso(scan.lastAt),
    refusals: scan.refusals,
    summary: {
      flips: flips.length,
      byExplanation,
      topCatalyst: top && top.attributed > 0 ? top.template : null,
      headline: headline(flips, top && top.attributed > 0 ? top.template : null),
      failWindows: scan.failWindows,
      neverRecovered: scan.neverRecovered,
    },
    flips,
    catalysts: ranks,
    neverRecovered,
  };
}

/**
 * Counts on the merged stream, in memory bounded by the calls of one millisecond: the
 * recorded exchanges (a $batch's parts share their envelope's start time, so its parts
 * are all seen within one millisecond), and calls read twice (the same exchange read
 * from two inputs, or imported twice: identical copies start at the same millisecond).
 */
export class StreamCounter {
  recorded = 0;
  sameId = 0;
  sameRequest = 0;
  readonly dupSources = new Set<number>();
  private ms = NaN;
  private readonly ids = new Map<string, number>();
  private readonly tuples = new Map<string, number>();
  private readonly parents = new Set<string>();

  push(call: Call): void {
    if (call.startedAt !== this.ms) {
      this.ms = call.startedAt;
      if (this.ids.size) this.ids.clear();
      if (this.tuples.size) this.tuples.clear();
      if (this.parents.size) this.parents.clear();
    }
    if (call.parentId === undefined) this.recorded++;
    else {
      const k = `${call.source}\n${call.parentId}`;
      if (!this.parents.has(k)) {
        this.parents.add(k);
        this.recorded++;
      }
    }
    const other = this.ids.get(call.id);
    if (other !== undefined && other !== call.source) {
      this.sameId++;
      this.dupSources.add(other).add(call.source);
      return;
    }
    this.ids.set(call.id, call.source);
    // Without a request-id, two calls in one millisecond may well be two real calls.
    const rid = call.requestId ?? call.clientRequestId;
    if (rid === undefined) return;
    const part = call.parentId === undefined ? "" : call.id.slice(call.parentId.length);
    const key = `${call.method} ${call.url}\n${call.status ?? ""}\n${rid}\n${part}`;
    const seen = this.tuples.get(key);
    if (seen !== undefined) {
      this.sameRequest++;
      this.dupSources.add(seen).add(call.source);
    } else this.tuples.set(key, call.source);
  }
}

function windowCall(call: Call, template: string): WindowCall {
  return {
    exchangeId: call.id,
    source: call.source,
    time: call.startedAt,
    template,
    status: call.status,
    errorCode: call.errorCode,
    requestId: call.requestId,
  };
}

function betweenDoc(w: WindowCall): BetweenDoc {
  return {
    exchangeId: w.exchangeId,
    template: w.template,
    status: w.status ?? null,
    errorCode: w.errorCode ?? null,
    requestId: w.requestId ?? null,
    time: iso(w.time),
  };
}

function callDoc(call: Call, ex: Exchange | undefined, files: string[]): CallDoc {
  const g = ex ? graphFieldsOf(ex) : undefined;
  const d = g?.diagnostic;
  return {
    exchangeId: call.id,
    status: call.status ?? null,
    errorCode: call.errorCode ?? g?.errorCode ?? null,
    requestId: call.requestId ?? g?.requestId ?? null,
    time: iso(call.startedAt),
    clientRequestId: call.clientRequestId ?? g?.clientRequestId ?? null,
    errorMessage: g?.errorMessage ?? null,
    innerErrorCode: g?.innerErrorCode ?? null,
    dataCenter: d?.dataCenter ?? null,
    scaleUnit: d?.scaleUnit ?? null,
    slice: d?.slice ?? null,
    roleInstance: d?.roleInstance ?? null,
    serverDate: ex ? (header(ex.responseHeaders, "date") ?? null) : null,
    tokenHash: call.tokenHash ?? null,
    file: files[call.source] ?? "",
  };
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** "5.2 h", "12.5 min", "42 s", "8.5 s", "120 ms". */
export function duration(seconds: number): string {
  const s = Math.abs(seconds);
  if (s > 0 && s < 1) return `${Math.round(seconds * 1000)} ms`;
  if (s < 90) return `${round(seconds, s < 10 ? 1 : 0)} s`;
  if (s < 90 * 60) return `${round(seconds / 60, 1)} min`;
  if (s < 48 * 3600) return `${round(seconds / 3600, 1)} h`;
  return `${round(seconds / 86400, 1)} d`;
}

function round(x: number, digits: number): string {
  return x.toFixed(digits).replace(/\.0$/, "");
}

export function who(id: IdentityDoc): string {
  const name = id.upn ?? (id.appId ? `app ${id.appId}` : id.key);
  return id.guest ? `guest ${name}` : name;
}

/**
 * The one sentence a user reads first: the commonest (identity, template) pattern whose
 * flips were attributed to the top catalyst.
 */
function headline(flips: FlipDoc[], top: string | null): string | null {
  if (flips.length === 0) return null;
  const groups = new Map<string, FlipDoc[]>();
  for (const f of flips) {
    const k = `${f.identity.key}\n${f.template}`;
    const g = groups.get(k);
    if (g) g.push(f);
    else groups.set(k, [f]);
  }
  const score = (g: FlipDoc[]) => g.filter((f) => top !== null && f.catalyst === top).length;
  const best = [...groups.values()].sort((a, b) => score(b) - score(a) || b.length - a.length)[0]!;
  const first = best[0]!;
  const statuses = [...new Set(best.map((f) => `${f.failure.status ?? "?"}${f.failure.errorCode ? ` ${f.failure.errorCode}` : ""}`))].join(" / ");
  // Each flip is one episode (a run of refusals, then access); its refusals field counts the run.
  const refusals = best.reduce((sum, f) => sum + f.failure.refusals, 0);
  const times = refusals === 1 ? "once" : `${refusals} times`;
  const episodes = best.length === 1 ? "" : ` in ${best.length} episodes`;
  let text = `${first.template} was refused ${times} (${statuses})${episodes} for ${who(first.identity)}`;
  const hits = top === null ? [] : best.filter((f) => f.catalyst === top);
  if (hits.length > 0) {
    const each = hits.length === best.length ? (best.length === 1 ? "" : "each time ") : `in ${hits.length} of those episodes `;
    const callStatuses = [...new Set(hits.map((f) => f.catalystCall?.status).filter((s): s is number => s !== null && s !== undefined))];
    text += `, and ${each}access came back right after ${top}${callStatuses.length ? ` (${callStatuses.join("/")})` : ""}`;
  } else {
    const kinds = [...new Set(best.map((f) => f.explanation))];
    text += `, and access came back ${kinds.map((k) => (k === "token-refresh" ? "with a token refresh" : k === "retry" ? "on a plain retry" : "after a call in between")).join(" or ")}`;
  }
  const ended = best.filter((f) => f.warmEndedBy === "failure" && f.warmFor !== null).map((f) => f.warmFor!);
  const open = best.filter((f) => f.warmEndedBy === "end-of-capture");
  if (ended.length > 0) {
    text += `; it then worked for ${duration(median(ended))}${ended.length > 1 ? " (median)" : ""} before failing again`;
    if (open.length > 0) text += `, and was still working when the capture ended`;
  } else if (open.length > 0 && open[0]!.warmFor !== null) {
    text += `; it then worked until the capture ended (${duration(open[open.length - 1]!.warmFor!)} later)`;
  }
  return text;
}
