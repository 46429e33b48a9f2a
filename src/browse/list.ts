// `graphtap sessions` and `graphtap list`: filtered, slim rows of a capture. The SQL
// filters (status, host, session, time, identity key) run in SQLite; template and
// several-identity matches are checked here on the slim summaries.
import { UserError } from "../errors.js";
import { expandBatch, isBatchUrl } from "../graph/batch.js";
import { templateOf } from "../graph/templates.js";
import type { CaptureReader, ExchangeFilter, ExchangeSummary, IdentityRow, SessionInfo } from "../recorder/index.js";

export interface ListOptions {
  /** "401", "4xx", or a comma list of both: "401,403,5xx". */
  status?: string;
  host?: string;
  /** An identity key, a token hash, or a case-insensitive substring of a UPN. */
  identity?: string;
  /** Exact template, or a case-insensitive substring of it. */
  template?: string;
  /**
   * ISO time (or anything Date.parse reads), inclusive; or a time of day as list prints
   * it (HH:MM:SS or HH:MM:SS.mmm), on the UTC day of the capture's first exchange.
   */
  since?: string;
  /** Like since, exclusive. */
  until?: string;
  /** A session id or a unique prefix of one. */
  session?: string;
  method?: string;
  /** 0 or undefined: no limit. */
  limit?: number;
}

export interface ListRow {
  id: string;
  sessionId: string;
  time: string;
  startedAt: number;
  identityKey: string | undefined;
  upn: string | undefined;
  method: string;
  status: number | undefined;
  template: string;
  url: string;
  durationMs: number;
  errorCode: string | undefined;
  /** The transport error when no response came (ECONNRESET…). */
  failure: string | undefined;
  requestId: string | undefined;
  parentId: string | undefined;
  /**
   * For a $batch envelope that succeeded: each part's status in request order (null for
   * a part the response lacks). A 403 inside a 200 batch shows here.
   */
  batch?: Array<number | null>;
}

interface StatusMatch {
  codes: Set<number>;
  classes: Set<number>;
}

export function parseStatus(spec: string): StatusMatch {
  const out: StatusMatch = { codes: new Set(), classes: new Set() };
  for (const part of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const cls = /^([1-5])xx$/i.exec(part);
    if (cls) out.classes.add(Number(cls[1]));
    else if (/^[1-5]\d\d$/.test(part)) out.codes.add(Number(part));
    else throw new UserError(`bad --status "${part}": use a code (401) or a class (4xx), comma-separated`);
  }
  if (out.codes.size + out.classes.size === 0) throw new UserError("bad --status: empty");
  return out;
}

const TIME_OF_DAY = /^(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/;

/**
 * An ISO time, or a time of day as list prints it (HH:MM:SS[.mmm], UTC) on the day of
 * `day()` (epoch ms of the capture's first exchange; asked only for a time of day).
 */
export function parseTime(flag: string, value: string, day?: () => number | undefined): number {
  const tod = TIME_OF_DAY.exec(value.trim());
  if (tod) {
    const [h, m, sec] = [Number(tod[1]), Number(tod[2]), Number(tod[3])];
    const ms = tod[4] ? Number(tod[4].padEnd(3, "0")) : 0;
    if (h > 23 || m > 59 || sec > 59) throw new UserError(`bad --${flag} "${value}": not a time of day (HH:MM:SS, up to 23:59:59)`);
    const first = day?.();
    if (first === undefined) throw new UserError(`bad --${flag} "${value}": the capture has no exchanges to take the day from; use an ISO time`);
    const d = new Date(first);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), h, m, sec, ms);
  }
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    throw new UserError(`bad --${flag} "${value}": use an ISO time such as 2026-02-10T09:00:00Z, or a time of day as list prints it (09:00:00.000, UTC, on the capture's first day)`);
  }
  return ms;
}

/** A session id from an exact id or a unique prefix. */
export function resolveSession(sessions: SessionInfo[], spec: string): SessionInfo {
  const want = spec.toUpperCase();
  const exact = sessions.find((s) => s.id === want);
  if (exact) return exact;
  const hits = sessions.filter((s) => s.id.startsWith(want));
  if (hits.length === 1) return hits[0]!;
  if (hits.length === 0) throw new UserError(`no session ${spec} in this capture (graphtap sessions lists them)`);
  throw new UserError(`session prefix ${spec} is ambiguous (${hits.length} sessions); give more characters`);
}

/**
 * The token hashes that belong to an identity given as key or token hash (exact), or as
 * a case-insensitive substring of a UPN (`megan` finds megan@contoso.com).
 */
export function resolveIdentity(identities: IdentityRow[], spec: string): Set<string> {
  const lower = spec.toLowerCase();
  const hashes = new Set<string>();
  for (const i of identities) {
    if (i.identityKey === spec || i.tokenHash === spec || (lower !== "" && i.upn?.toLowerCase().includes(lower))) hashes.add(i.tokenHash);
  }
  return hashes;
}

export interface Listing {
  rows: ListRow[];
  /** True when --limit stopped the scan before the end. */
  limited: boolean;
}

/** Above this many exchanges, list prints whole ids rather than collect them all. */
const PREFIX_SCAN_MAX = 200_000;

/**
 * An id prefix length that is unique in the whole capture, so a prefix printed by a
 * filtered list still names one exchange for `graphtap show`.
 */
export function capturePrefixLength(reader: CaptureReader): number {
  if (reader.count() > PREFIX_SCAN_MAX) return 26;
  const ids: string[] = [];
  for (const s of reader.summaries()) ids.push(s.id);
  return uniquePrefixLength(ids);
}

export function listExchanges(reader: CaptureReader, opts: ListOptions): Listing {
  const filter: ExchangeFilter = {};
  if (opts.host) filter.host = opts.host;
  if (opts.method) filter.method = opts.method;
  // The capture's first exchange, read only when a time of day needs its day.
  const firstDay = (): number | undefined => {
    for (const s of reader.summaries({ limit: 1 })) return s.startedAt;
    return undefined;
  };
  if (opts.since) filter.from = parseTime("since", opts.since, firstDay);
  if (opts.until) filter.to = parseTime("until", opts.until, firstDay);
  if (opts.session) filter.sessionId = resolveSession(reader.sessions(), opts.session).id;

  const identities = reader.identities();
  const upnByHash = new Map(identities.map((i) => [i.tokenHash, i.upn]));
  let hashes: Set<string> | undefined;
  if (opts.identity !== undefined) {
    hashes = resolveIdentity(identities, opts.identity);
    // A key goes to SQLite; a UPN or token hash is matched on the token hashes.
    if (opts.identity === "anonymous" || identities.some((i) => i.identityKey === opts.identity)) {
      filter.identityKey = opts.identity;
    } else if (hashes.size === 0) {
      return { rows: [], limited: false };
    }
  }
  let status: StatusMatch | undefined;
  if (opts.status) {
    status = parseStatus(opts.status);
    // One code or one class can go to SQLite; a mix is checked row by row.
    if (status.codes.size === 1 && status.classes.size === 0) filter.status = [...status.codes][0]!;
    else if (status.classes.size === 1 && status.codes.size === 0) {
      const cls = [...status.classes][0]!;
      if (cls >= 2) filter.statusClass = cls as 2 | 3 | 4 | 5;
    } else if (status.classes.size === 0) filter.status = [...status.codes];
  }
  const template = opts.template?.trim();
  const templateLower = template?.toLowerCase();
  const needsScan = hashes !== undefined && filter.identityKey === undefined;
  const limit = opts.limit && opts.limit > 0 ? opts.limit : undefined;
  // SQLite can apply the limit only when every remaining check is already in SQL.
  if (limit !== undefined && !needsScan && !template && !mixedStatus(status)) filter.limit = limit + 1;

  const rows: ListRow[] = [];
  let limited = false;
  for (const s of reader.summaries(filter)) {
    if (hashes && filter.identityKey === undefined && !(s.tokenHash && hashes.has(s.tokenHash))) continue;
    if (status && mixedStatus(status) && !statusMatches(status, s.status)) continue;
    const tpl = templateOf(s.method, s.url);
    if (template && tpl !== template && !tpl.toLowerCase().includes(templateLower!)) continue;
    if (limit !== undefined && rows.length >= limit) {
      limited = true;
      break;
    }
    const row = toRow(s, tpl, s.tokenHash ? upnByHash.get(s.tokenHash) : undefined);
    const parts = batchParts(reader, s);
    if (parts) row.batch = parts;
    rows.push(row);
  }
  return { rows, limited };
}

/** The part statuses of a successful $batch envelope (its bodies are read only for these). */
function batchParts(reader: CaptureReader, s: ExchangeSummary): Array<number | null> | undefined {
  if (s.method !== "POST" || s.status === undefined || s.status < 200 || s.status >= 300 || !isBatchUrl(s.url)) return undefined;
  const ex = reader.exchange(s.id);
  const parts = ex ? expandBatch(ex) : undefined;
  return parts?.map((p) => p.status ?? null);
}

function mixedStatus(s: StatusMatch | undefined): boolean {
  if (!s) return false;
  if (s.classes.size === 0) return false;
  if (s.classes.size === 1 && s.codes.size === 0) return [...s.classes][0]! < 2;
  return true;
}

function statusMatches(s: StatusMatch, status: number | undefined): boolean {
  if (status === undefined) return false;
  return s.codes.has(status) || s.classes.has(Math.floor(status / 100));
}

function toRow(s: ExchangeSummary, template: string, upn: string | undefined): ListRow {
  return {
    id: s.id,
    sessionId: s.sessionId,
    time: new Date(s.startedAt).toISOString(),
    startedAt: s.startedAt,
    identityKey: s.identityKey,
    upn,
    method: s.method,
    status: s.status,
    template,
    url: s.url,
    durationMs: s.durationMs,
    errorCode: s.errorCode,
    failure: s.upstreamErrorCode,
    requestId: s.requestId,
    parentId: s.parentId,
  };
}

/**
 * The shortest prefix length (at least `min`) that tells every listed id apart. Ids made
 * in one millisecond differ only at the end, so this can reach the full 26 characters.
 */
export function uniquePrefixLength(ids: readonly string[], min = 12): number {
  const sorted = [...ids].sort();
  let len = min;
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    let common = 0;
    while (common < a.length && a[common] === b[common]) common++;
    len = Math.max(len, common + 1);
  }
  return Math.min(len, 26);
}
