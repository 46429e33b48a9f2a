// Finding flips in one pass over the calls: per identity, the resources it was refused
// (401/403) and is still waiting on, and a rolling log of what it called since the
// oldest such refusal. A later 2xx for the same resource is a flip; its window is the
// log between the last refusal and the success. Two refusals with no success between
// them close a "stayed-failed" window: negative evidence for whatever was called in it.
// The log is dropped as soon as no refusal is pending and capped otherwise, so memory
// stays bounded however long the capture is.
import { resourceKey, templateOf } from "../graph/templates.js";
import type { Call } from "./inputs.js";

export type Explanation = "catalyst" | "token-refresh" | "retry";

/** One call of the identity inside a window. */
export interface WindowCall {
  exchangeId: string;
  source: number;
  time: number;
  template: string;
  status: number | undefined;
  errorCode: string | undefined;
  requestId: string | undefined;
}

/** What a window says about one template called in it. */
export interface WindowTemplate {
  template: string;
  calls: number;
  /** The last such call before the window closed (the likeliest trigger). */
  last: WindowCall;
  statuses: number[];
}

export interface FoundFlip {
  identityKey: string;
  resource: string;
  template: string;
  /** The last refusal before the success. */
  failure: Call;
  /** The first refusal of this run of refusals. */
  firstFailure: Call;
  /** Refusals in this run (failure included). */
  refusals: number;
  success: Call;
  /** The calls in the window, the last `maxBetween` of them (closest to the success). */
  between: WindowCall[];
  /** How many calls the window held in all. */
  betweenCount: number;
  /** True when the window began before the rolling log's cap: templates are partial. */
  windowTruncated: boolean;
  templates: WindowTemplate[];
  explanation: Explanation;
  /** Seconds from the failure to the success. */
  waitSeconds: number;
  /** Seconds the resource kept working; set at the next refusal or at the end. */
  warmFor: number | null;
  warmEndedBy: "failure" | "end-of-capture";
  /** The refusal that ended the warm period. */
  warmEndedAt?: Call;
  /** 2xx answers for the resource during the warm period (the success included). */
  warmCalls: number;
  /** Time of the last 2xx of the warm period. */
  lastWarmAt: number;
}

export interface FlipOptions {
  /** Window calls kept per flip (default 200); the rest are counted. */
  maxBetween?: number;
  /** Log entries kept per identity with a pending refusal (default 5000). */
  maxLog?: number;
  /** Called as each flip is found (the live console reports them while the proxy runs). */
  onFlip?: (flip: FoundFlip) => void;
  /** Keep found flips for finish() (default true); a long-running listener says false. */
  keepFlips?: boolean;
}

export interface FlipScan {
  exchanges: number;
  identities: number;
  firstAt: number | undefined;
  lastAt: number | undefined;
  flips: FoundFlip[];
  /** Stayed-failed windows that held at least one call. */
  failWindows: number;
  /**
   * Per template of the refused resource, per template called in the window: in how
   * many stayed-failed windows of that resource kind it appeared.
   */
  failWindowTemplates: Map<string, Map<string, number>>;
  refusals: number;
  /** Identity+resource pairs that were refused and never succeeded afterwards. */
  neverRecovered: number;
  /** Those pairs: the run of refusals still pending when the input ended. */
  unrecovered: Unrecovered[];
}

/** A resource an identity was refused and never given afterwards. */
export interface Unrecovered {
  identityKey: string;
  resource: string;
  template: string;
  /** The first refusal of the run still pending at the end. */
  first: Call;
  /** The last refusal. */
  last: Call;
  refusals: number;
}

interface LogEntry {
  call: Call;
  template: string;
}

interface Pending {
  first: Call;
  last: Call;
  /** Per-identity index of `last`. */
  lastIdx: number;
  refusals: number;
}

interface IdentityState {
  next: number;
  /** Entries with index base, base+1, … */
  log: LogEntry[];
  base: number;
  pending: Map<string, Pending>;
  warm: Map<string, FoundFlip>;
}

const TEMPLATE_CACHE_MAX = 100_000;

export class FlipFinder {
  private readonly states = new Map<string, IdentityState>();
  private readonly flips: FoundFlip[] = [];
  private readonly failTemplates = new Map<string, Map<string, number>>();
  private failWindows = 0;
  private refusals = 0;
  private count = 0;
  private firstAt: number | undefined;
  private lastAt: number | undefined;
  private readonly templateCache = new Map<string, string>();
  private readonly maxBetween: number;
  private readonly maxLog: number;
  private readonly onFlip: ((flip: FoundFlip) => void) | undefined;
  private readonly keepFlips: boolean;

  constructor(
    opts: FlipOptions = {},
    /** Claims of a call's token, for telling a refreshed token apart. */
    private readonly tokenOf: (call: Call) => string | undefined = (c) => c.tokenHash,
  ) {
    this.maxBetween = opts.maxBetween ?? 200;
    this.maxLog = Math.max(16, opts.maxLog ?? 5000);
    this.onFlip = opts.onFlip;
    this.keepFlips = opts.keepFlips ?? true;
  }

  template(call: Call): string {
    const k = `${call.method} ${call.url}`;
    let t = this.templateCache.get(k);
    if (t === undefined) {
      t = templateOf(call.method, call.url);
      if (this.templateCache.size >= TEMPLATE_CACHE_MAX) this.templateCache.clear();
      this.templateCache.set(k, t);
    }
    return t;
  }

  push(call: Call): void {
    this.count++;
    if (this.firstAt === undefined) this.firstAt = call.startedAt;
    if (this.lastAt === undefined || call.startedAt > this.lastAt) this.lastAt = call.startedAt;
    let st = this.states.get(call.identityKey);
    if (!st) {
      st = { next: 0, log: [], base: 0, pending: new Map(), warm: new Map() };
      this.states.set(call.identityKey, st);
    }
    const idx = st.next++;
    const status = call.status;
    const refused = status === 401 || status === 403;
    const ok = status !== undefined && status >= 200 && status < 300;

    if (st.pending.size > 0 || refused) {
      if (st.log.length === 0) st.base = idx;
      st.log.push({ call, template: this.template(call) });
    }
    if (!refused && !(ok && (st.pending.size > 0 || st.warm.size > 0))) {
      this.prune(st);
      return;
    }
    const resource = resourceKey(call.method, call.url);
    if (refused) {
      this.refusals++;
      const warm = st.warm.get(resource);
      if (warm) {
        warm.warmFor = (call.startedAt - warm.success.startedAt) / 1000;
        warm.warmEndedBy = "failure";
        warm.warmEndedAt = call;
        st.warm.delete(resource);
      }
      const p = st.pending.get(resource);
      if (p) {
        const seen = new Set<string>();
        for (let i = Math.max(p.lastIdx + 1, st.base); i < idx; i++) seen.add(st.log[i - st.base]!.template);
        if (seen.size > 0) {
          this.failWindows++;
          const kind = this.template(call);
          let counts = this.failTemplates.get(kind);
          if (!counts) this.failTemplates.set(kind, (counts = new Map()));
          for (const t of seen) counts.set(t, (counts.get(t) ?? 0) + 1);
        }
        p.last = call;
        p.lastIdx = idx;
        p.refusals++;
      } else {
        st.pending.set(resource, { first: call, last: call, lastIdx: idx, refusals: 1 });
      }
    } else {
      const p = st.pending.get(resource);
      if (p) {
        const flip = this.flip(st, resource, p, call, idx);
        if (this.keepFlips) this.flips.push(flip);
        this.onFlip?.(flip);
        st.pending.delete(resource);
        st.warm.set(resource, flip);
      } else {
        const warm = st.warm.get(resource);
        if (warm) {
          warm.warmCalls++;
          warm.lastWarmAt = call.startedAt;
        }
      }
    }
    this.prune(st);
  }

  private flip(st: IdentityState, resource: string, p: Pending, success: Call, idx: number): FoundFlip {
    const from = p.lastIdx + 1;
    const start = Math.max(from, st.base);
    const templates = new Map<string, WindowTemplate>();
    const between: WindowCall[] = [];
    const keepFrom = Math.max(start, idx - this.maxBetween);
    for (let i = start; i < idx; i++) {
      const e = st.log[i - st.base]!;
      const wc: WindowCall = {
        exchangeId: e.call.id,
        source: e.call.source,
        time: e.call.startedAt,
        template: e.template,
        status: e.call.status,
        errorCode: e.call.errorCode,
        requestId: e.call.requestId,
      };
      if (i >= keepFrom) between.push(wc);
      const t = templates.get(e.template);
      if (t) {
        t.calls++;
        t.last = wc;
        if (wc.status !== undefined && !t.statuses.includes(wc.status)) t.statuses.push(wc.status);
      } else {
        templates.set(e.template, { template: e.template, calls: 1, last: wc, statuses: wc.status === undefined ? [] : [wc.status] });
      }
    }
    const betweenCount = idx - from;
    const tokenChanged = this.tokenOf(p.last) !== this.tokenOf(success);
    const explanation: Explanation = tokenChanged ? "token-refresh" : betweenCount === 0 ? "retry" : "catalyst";
    return {
      identityKey: success.identityKey,
      resource,
      template: this.template(success),
      failure: p.last,
      firstFailure: p.first,
      refusals: p.refusals,
      success,
      between,
      betweenCount,
      windowTruncated: from < st.base,
      templates: [...templates.values()],
      explanation,
      waitSeconds: (success.startedAt - p.last.startedAt) / 1000,
      warmFor: null,
      warmEndedBy: "end-of-capture",
      warmCalls: 1,
      lastWarmAt: success.startedAt,
    };
  }

  /** Drops the log when nothing waits on it; trims what no pending window can reach; caps it. */
  private prune(st: IdentityState): void {
    if (st.pending.size === 0) {
      if (st.log.length > 0) st.log = [];
      st.base = st.next;
      return;
    }
    if (st.log.length < 1024) return;
    let min = Infinity;
    for (const p of st.pending.values()) if (p.lastIdx < min) min = p.lastIdx;
    // Entries up to the oldest pending refusal itself are never inside a window.
    let drop = min + 1 - st.base;
    // Over the cap: the oldest windows lose their beginning (flagged windowTruncated).
    if (st.log.length - drop > this.maxLog) drop = st.log.length - Math.floor(this.maxLog * 0.8);
    if (drop > 0 && (drop >= st.log.length / 4 || st.log.length > this.maxLog)) {
      st.log.splice(0, drop);
      st.base += drop;
    }
  }

  finish(): FlipScan {
    let neverRecovered = 0;
    const unrecovered: Unrecovered[] = [];
    for (const [identityKey, st] of this.states) {
      neverRecovered += st.pending.size;
      for (const [resource, p] of st.pending) {
        unrecovered.push({ identityKey, resource, template: this.template(p.last), first: p.first, last: p.last, refusals: p.refusals });
      }
      for (const flip of st.warm.values()) {
        flip.warmFor = this.lastAt === undefined ? null : (this.lastAt - flip.success.startedAt) / 1000;
        flip.warmEndedBy = "end-of-capture";
      }
    }
    return {
      exchanges: this.count,
      identities: this.states.size,
      firstAt: this.firstAt,
      lastAt: this.lastAt,
      flips: this.flips,
      failWindows: this.failWindows,
      failWindowTemplates: this.failTemplates,
      refusals: this.refusals,
      neverRecovered,
      // Most refused first, then the oldest.
      unrecovered: unrecovered.sort((a, b) => b.refusals - a.refusals || a.first.startedAt - b.first.startedAt),
    };
  }
}

/** Runs the finder over a stream of calls. */
export function findFlips(calls: Iterable<Call>, opts?: FlipOptions): FlipScan {
  const finder = new FlipFinder(opts);
  for (const c of calls) finder.push(c);
  return finder.finish();
}
