// What analyze reads: captures (SQLite) and HAR files, detected by content, each turned
// into a time-ordered stream of slim logical calls, and merged across files with a
// k-way merge so nothing is loaded whole (a HAR is JSON and parsed whole by nature).
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { UserError } from "../errors.js";
import type { Exchange } from "../exchange/types.js";
import { graphFieldsOf } from "../graph/fields.js";
import { identityOf, type Identity } from "../graph/identity.js";
import { expandBatch, isBatchUrl, logicalExchanges } from "../graph/batch.js";
import { readHarLossless } from "../interop/har-import.js";
import { CaptureReader, type ExchangeFilter, type ExchangeSummary } from "../recorder/reader.js";

/** One logical exchange, as slim as the analysis needs it. */
export interface Call {
  id: string;
  /** Index of the input it came from. */
  source: number;
  startedAt: number;
  method: string;
  url: string;
  status: number | undefined;
  tokenHash: string | undefined;
  identityKey: string;
  requestId: string | undefined;
  clientRequestId: string | undefined;
  errorCode: string | undefined;
  /** For a $batch part: the envelope's id (details are found through it). */
  parentId: string | undefined;
}

export interface IdentityInfo extends Identity {
  /** Claims of the newest token seen for it. */
  claims?: Record<string, unknown>;
}

/** What analyze keeps of the inputs: applied while streaming, nothing is loaded whole. */
export interface InputFilter {
  /** Session ids (captures only; case-insensitive). */
  sessions?: readonly string[];
  /** An identity key or a upn (case-insensitive; a part of a upn is enough). */
  identity?: string;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
}

export interface InputSource {
  readonly file: string;
  readonly kind: "capture" | "har";
  /** Logical calls in (startedAt, write order). */
  calls(): Iterator<Call>;
  tokenClaims(hash: string): Record<string, unknown> | undefined;
  identity(key: string): IdentityInfo | undefined;
  /** Every identity the input knows (key, upn), for resolving --identity. */
  identityList(): Array<{ key: string; upn: string | undefined }>;
  /** The input's sessions (captures; a HAR has none). */
  sessionIds(): string[];
  /** Limits calls() to these sessions and this time range (pushed down to SQL for a capture). */
  restrict(sessions: ReadonlySet<string> | undefined, since: number | undefined, until: number | undefined): void;
  /** The whole exchange behind a call (headers, bodies), for evidence. */
  details(call: Call): Exchange | undefined;
  close(): void;
}

const SQLITE_MAGIC = "SQLite format 3\0";

/** Opens one input, telling a capture from a HAR by its first bytes. */
export function openInput(file: string, index: number): InputSource {
  let head: Buffer;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new UserError(`${file} is a directory, not a capture or a HAR file`);
    head = Buffer.alloc(64);
    const fd = openSync(file, "r");
    try {
      head = head.subarray(0, readSync(fd, head, 0, 64, 0));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === "ENOENT" ? `${file} does not exist` : `cannot read ${file}: ${code ?? (err as Error).message}`);
  }
  if (head.length === 0) throw new UserError(`${file} is empty: not a capture or a HAR file`);
  if (head.toString("latin1", 0, SQLITE_MAGIC.length) === SQLITE_MAGIC) return new CaptureSource(file, index);
  const text = head.toString("utf8").replace(/^\uFEFF/, "").trimStart();
  if (text.startsWith("{")) return new HarSource(file, index);
  throw new UserError(`${file} is neither a graphtap capture (SQLite) nor a HAR file (JSON)`);
}

export interface Inputs {
  sources: InputSource[];
  /** The identity keys --identity resolved to (undefined: no identity filter). */
  identityKeys?: ReadonlySet<string> | undefined;
  /** Every input's calls, merged in time order. */
  calls(): Generator<Call>;
  details(call: Call): Exchange | undefined;
  tokenClaims(call: Call): Record<string, unknown> | undefined;
  identity(key: string): IdentityInfo | undefined;
  close(): void;
}

export function openInputs(files: readonly string[], filter: InputFilter = {}): Inputs {
  const sources: InputSource[] = [];
  let identityKeys: Set<string> | undefined;
  try {
    files.forEach((f, i) => sources.push(openInput(f, i)));
    if (filter.since !== undefined && filter.until !== undefined && filter.until <= filter.since) {
      throw new UserError(`bad --until: ${new Date(filter.until).toISOString()} is not after --since ${new Date(filter.since).toISOString()}`);
    }
    const sessions = filter.sessions?.length ? resolveSessions(sources, filter.sessions) : undefined;
    for (const s of sources) s.restrict(sessions, filter.since, filter.until);
    if (filter.identity !== undefined) identityKeys = resolveIdentity(sources, filter.identity);
  } catch (err) {
    for (const s of sources) s.close();
    throw err;
  }
  const since = filter.since;
  const until = filter.until;
  const keys = identityKeys;
  const filtered = keys !== undefined || since !== undefined || until !== undefined;
  return {
    sources,
    identityKeys: keys,
    calls: () => {
      const merged = mergeByTime(sources.map((s) => s.calls()));
      if (!filtered) return merged;
      return (function* () {
        for (const c of merged) {
          if (keys && !keys.has(c.identityKey)) continue;
          if (since !== undefined && c.startedAt < since) continue;
          if (until !== undefined && c.startedAt >= until) continue;
          yield c;
        }
      })();
    },
    details: (call) => sources[call.source]?.details(call),
    tokenClaims: (call) => (call.tokenHash === undefined ? undefined : sources[call.source]?.tokenClaims(call.tokenHash)),
    identity: (key) => {
      // The newest description wins when several inputs know the identity.
      for (let i = sources.length - 1; i >= 0; i--) {
        const id = sources[i]!.identity(key);
        if (id) return id;
      }
      return undefined;
    },
    close: () => {
      for (const s of sources) s.close();
    },
  };
}

/** --session ids, matched case-insensitively against every capture's sessions. */
function resolveSessions(sources: InputSource[], wanted: readonly string[]): Set<string> {
  const har = sources.find((s) => s.kind === "har");
  if (har) throw new UserError(`--session applies to captures only; ${har.file} is a HAR file (it has no sessions)`);
  const known = new Map<string, string>();
  for (const s of sources) for (const id of s.sessionIds()) known.set(id.toLowerCase(), id);
  const out = new Set<string>();
  for (const w of wanted) {
    const id = known.get(w.toLowerCase());
    if (id === undefined) {
      const list = [...known.values()];
      throw new UserError(`unknown session "${w}"; the sessions are: ${list.length ? list.join(", ") : "none"}`);
    }
    out.add(id);
  }
  return out;
}

/** --identity: a key or a upn, case-insensitive; a upn may be given in part. */
function resolveIdentity(sources: InputSource[], wanted: string): Set<string> {
  const w = wanted.toLowerCase();
  if (w === "anonymous") return new Set(["anonymous"]);
  const all = new Map<string, string | undefined>();
  for (const s of sources) for (const id of s.identityList()) if (!all.has(id.key) || id.upn) all.set(id.key, id.upn);
  const exact = [...all].filter(([key, upn]) => key.toLowerCase() === w || upn?.toLowerCase() === w).map(([key]) => key);
  const keys = exact.length ? exact : [...all].filter(([, upn]) => upn !== undefined && upn.toLowerCase().includes(w)).map(([key]) => key);
  if (keys.length === 0) {
    const list = [...all].map(([key, upn]) => (upn ? `${upn} (${key})` : key));
    throw new UserError(`no identity matches "${wanted}"; the identities are: ${list.length ? list.join(", ") : "none (no tokens recorded)"}`);
  }
  return new Set(keys);
}

/**
 * K-way merge of sorted streams on startedAt; ties keep input order (then each
 * stream's own order), so one capture read alone comes out exactly as stored.
 */
export function* mergeByTime(streams: Array<Iterator<Call>>): Generator<Call> {
  if (streams.length === 1) {
    const only = streams[0]!;
    for (let r = only.next(); !r.done; r = only.next()) yield r.value;
    return;
  }
  // A binary heap of stream heads; k is small, but a heap keeps it O(log k) per call.
  const heap: Array<{ call: Call; it: Iterator<Call> }> = [];
  const less = (a: Call, b: Call) => a.startedAt < b.startedAt || (a.startedAt === b.startedAt && a.source < b.source);
  const up = (i: number) => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(heap[i]!.call, heap[p]!.call)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l]!.call, heap[m]!.call)) m = l;
      if (r < heap.length && less(heap[r]!.call, heap[m]!.call)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (const it of streams) {
    const r = it.next();
    if (!r.done) {
      heap.push({ call: r.value, it });
      up(heap.length - 1);
    }
  }
  while (heap.length > 0) {
    const top = heap[0]!;
    yield top.call;
    const r = top.it.next();
    if (r.done) {
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        down(0);
      }
    } else {
      top.call = r.value;
      down(0);
    }
  }
}

/** A logical exchange (an ordinary one or a $batch part) as a Call. */
export function callOf(ex: Exchange, source: number, identityKey?: string): Call {
  const g = graphFieldsOf(ex);
  return {
    id: ex.id,
    source,
    startedAt: ex.startedAt,
    method: ex.method.toUpperCase(),
    url: ex.url,
    status: ex.status,
    tokenHash: ex.token?.hash,
    identityKey: identityKey ?? identityOf(ex.token).key,
    requestId: g.requestId,
    clientRequestId: g.clientRequestId,
    errorCode: g.errorCode,
    parentId: ex.parentId,
  };
}

class CaptureSource implements InputSource {
  readonly kind = "capture";
  private readonly reader: CaptureReader;
  private identityMap: Map<string, IdentityInfo> | undefined;
  private readonly claimsCache = new Map<string, Record<string, unknown> | undefined>();
  private sessions: ReadonlySet<string> | undefined;
  private readonly filter: ExchangeFilter = {};

  constructor(
    readonly file: string,
    private readonly index: number,
  ) {
    this.reader = CaptureReader.open(file);
  }

  restrict(sessions: ReadonlySet<string> | undefined, since: number | undefined, until: number | undefined): void {
    const mine = sessions && new Set(this.sessionIds().filter((id) => sessions.has(id)));
    this.sessions = mine;
    if (mine?.size === 1) this.filter.sessionId = [...mine][0]!;
    if (since !== undefined) this.filter.from = since;
    if (until !== undefined) this.filter.to = until;
  }

  sessionIds(): string[] {
    return this.reader.sessions().map((s) => s.id);
  }

  identityList(): Array<{ key: string; upn: string | undefined }> {
    return this.reader.identities().map((r) => ({ key: r.identityKey, upn: r.upn }));
  }

  *calls(): Generator<Call> {
    const source = this.index;
    const sessions = this.sessions;
    if (sessions?.size === 0) return;
    for (const s of this.reader.summaries(this.filter)) {
      if (sessions && !sessions.has(s.sessionId)) continue;
      // Summaries are enough for ordinary rows; only a $batch envelope needs its bodies.
      if (s.parentId === undefined && isBatchUrl(s.url) && s.method.toUpperCase() === "POST") {
        const parts = this.expand(s);
        if (parts) {
          for (const p of parts) yield callOf(p, source, s.identityKey);
          continue;
        }
        if (parts === null) continue;
      }
      yield {
        id: s.id,
        source,
        startedAt: s.startedAt,
        method: s.method.toUpperCase(),
        url: s.url,
        status: s.status,
        tokenHash: s.tokenHash,
        identityKey: s.identityKey ?? (s.tokenHash ? `token:${s.tokenHash}` : "anonymous"),
        requestId: s.requestId,
        clientRequestId: s.clientRequestId,
        errorCode: s.errorCode,
        parentId: s.parentId,
      };
    }
  }

  /** The parts of an envelope; null when its parts are stored as rows of their own (they come separately). */
  private expand(s: ExchangeSummary): Exchange[] | undefined | null {
    if (this.reader.count({ parentId: s.id, limit: 1 }) > 0) return null;
    const ex = this.reader.exchange(s.id);
    return ex ? expandBatch(ex) : undefined;
  }

  tokenClaims(hash: string): Record<string, unknown> | undefined {
    if (!this.claimsCache.has(hash)) this.claimsCache.set(hash, this.reader.tokenClaims(hash));
    return this.claimsCache.get(hash);
  }

  identity(key: string): IdentityInfo | undefined {
    if (!this.identityMap) {
      this.identityMap = new Map();
      // identities() is ordered by first_seen: the last row of a key is its newest token.
      for (const row of this.reader.identities()) {
        const id: IdentityInfo = { key: row.identityKey, kind: row.kind as Identity["kind"], guest: row.guest, claims: row.claims };
        if (row.tenantId) id.tenantId = row.tenantId;
        if (row.objectId) id.objectId = row.objectId;
        if (row.upn) id.upn = row.upn;
        if (row.appId) id.appId = row.appId;
        if (row.idp) id.idp = row.idp;
        if (row.homeTenantId) id.homeTenantId = row.homeTenantId;
        this.identityMap.set(row.identityKey, id);
      }
    }
    return this.identityMap.get(key);
  }

  details(call: Call): Exchange | undefined {
    if (call.parentId !== undefined) {
      const own = this.reader.exchange(call.id);
      if (own) return own;
      const parent = this.reader.exchange(call.parentId);
      return parent ? expandBatch(parent)?.find((p) => p.id === call.id) : undefined;
    }
    return this.reader.exchange(call.id);
  }

  close(): void {
    this.reader.close();
  }
}

class HarSource implements InputSource {
  readonly kind = "har";
  private readonly logical: Exchange[];
  private readonly byId = new Map<string, Exchange>();
  private readonly claims = new Map<string, Record<string, unknown>>();
  private readonly identities = new Map<string, IdentityInfo>();

  constructor(
    readonly file: string,
    private readonly index: number,
  ) {
    const har = readHarLossless(file);
    // Exporters usually write entries in start order but do not promise it; a stable
    // sort keeps file order for equal times.
    const sorted = har.exchanges.map((e, i) => ({ e, i })).sort((a, b) => a.e.startedAt - b.e.startedAt || a.i - b.i);
    this.logical = [...logicalExchanges(sorted.map((x) => x.e))];
    for (const ex of this.logical) {
      this.byId.set(ex.id, ex);
      if (ex.token) {
        this.claims.set(ex.token.hash, ex.token.claims);
        const id = identityOf(ex.token);
        this.identities.set(id.key, { ...id, claims: ex.token.claims });
      }
    }
  }

  *calls(): Generator<Call> {
    for (const ex of this.logical) yield callOf(ex, this.index);
  }

  restrict(): void {
    // A HAR has no sessions; time and identity are filtered on the merged stream.
  }

  sessionIds(): string[] {
    return [];
  }

  identityList(): Array<{ key: string; upn: string | undefined }> {
    return [...this.identities.values()].map((i) => ({ key: i.key, upn: i.upn }));
  }

  tokenClaims(hash: string): Record<string, unknown> | undefined {
    return this.claims.get(hash);
  }

  identity(key: string): IdentityInfo | undefined {
    return this.identities.get(key);
  }

  details(call: Call): Exchange | undefined {
    return this.byId.get(call.id);
  }

  close(): void {
    // Nothing held open: the file was read whole.
  }
}
