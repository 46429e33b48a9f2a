// Streaming reads of a capture. Everything that can return many rows is an iterator
// over stmt.iterate(): analyze and replay walk a million exchanges without holding them.
import type Database from "better-sqlite3";
import type { CapturedBody, Exchange, ExchangePhase, HeaderList, TunnelRecord } from "../exchange/types.js";
import { captureError, openCapture } from "./schema.js";

export type SessionKind = "proxy" | "replay" | "import" | "demo";

export interface SessionInfo {
  id: string;
  kind: SessionKind;
  /** Epoch ms. */
  startedAt: number;
  /** Epoch ms; undefined while the session runs, or when it never ended cleanly. */
  endedAt?: number;
  toolVersion?: string;
  label?: string;
  args?: unknown;
  source?: string;
  exchanges: number;
  tunnels: number;
}

export interface ExchangeFilter {
  sessionId?: string;
  identityKey?: string;
  tokenHash?: string;
  status?: number | number[];
  /** 2 → 2xx … 5 → 5xx. */
  statusClass?: 2 | 3 | 4 | 5;
  host?: string;
  method?: string;
  urlContains?: string;
  /** The exchanges of one $batch envelope. */
  parentId?: string;
  /** The replayed exchanges that re-sent this recorded one. */
  sourceId?: string;
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
  /** Only rows written after this one (seq is the write order; for tailing a live capture). */
  afterSeq?: number;
  limit?: number;
}

export interface TunnelFilter {
  sessionId?: string;
  host?: string;
  from?: number;
  to?: number;
  limit?: number;
}

/**
 * An exchange without headers and bodies, for fast scans. Every key is always present
 * (undefined when the column is NULL) so all summaries share one object shape.
 */
export interface ExchangeSummary {
  /** Write order in this capture. */
  seq: number;
  id: string;
  sessionId: string;
  parentId: string | undefined;
  partId: string | undefined;
  sourceId: string | undefined;
  startedAt: number;
  durationMs: number;
  method: string;
  url: string;
  status: number | undefined;
  tokenHash: string | undefined;
  identityKey: string | undefined;
  requestId: string | undefined;
  clientRequestId: string | undefined;
  /** The Graph error code from the response body (accessDenied, itemNotFound…). */
  errorCode: string | undefined;
  /** Where the exchange broke, when it did not complete. */
  errorPhase: ExchangePhase | undefined;
  /** The transport error (ECONNRESET, ETIMEDOUT…), when it did not complete. */
  upstreamErrorCode: string | undefined;
}

export interface IdentityRow {
  tokenHash: string;
  identityKey: string;
  kind: string;
  tenantId?: string;
  objectId?: string;
  upn?: string;
  appId?: string;
  guest: boolean;
  idp?: string;
  homeTenantId?: string;
  claims: Record<string, unknown>;
  /** Epoch seconds, from the token. */
  iat?: number;
  exp?: number;
  /** Epoch ms of the first and last exchange that carried the token. */
  firstSeen?: number;
  lastSeen?: number;
}

interface ExchangeRow {
  seq: number;
  id: string;
  session_id: string;
  parent_id: string | null;
  part_id: string | null;
  source_id: string | null;
  started_at: number;
  duration_ms: number;
  ttfb_ms: number | null;
  method: string;
  url: string;
  http_version: string;
  status: number | null;
  status_text: string | null;
  error_code: string | null;
  error_message: string | null;
  error_phase: string | null;
  token_hash: string | null;
  upstream_url: string | null;
  client_address: string | null;
  depends_on: string | null;
  req_body_size: number | null;
  req_body_truncated: number | null;
  req_body_encoding: string | null;
  res_body_size: number | null;
  res_body_truncated: number | null;
  res_body_encoding: string | null;
  req_headers: string;
  res_headers: string;
  req_body: Buffer | null;
  res_body: Buffer | null;
  token_claims: string | null;
}

const EXCHANGE_COLUMNS = `e.seq, e.id, e.session_id, e.parent_id, e.part_id, e.source_id, e.started_at,
  e.duration_ms, e.ttfb_ms, e.method, e.url, e.http_version, e.status, e.status_text,
  e.error_code, e.error_message, e.error_phase, e.token_hash, e.upstream_url, e.client_address,
  e.depends_on, e.req_body_size, e.req_body_truncated, e.req_body_encoding, e.res_body_size,
  e.res_body_truncated, e.res_body_encoding, e.req_headers, e.res_headers, e.req_body, e.res_body,
  i.claims AS token_claims`;

// Read in raw (array) mode: no per-row object with column names to build. Indexes below
// follow this list.
const SUMMARY_COLUMNS = `e.seq, e.id, e.session_id, e.parent_id, e.part_id, e.source_id, e.started_at,
  e.duration_ms, e.method, e.url, e.status, e.token_hash, e.identity_key, e.request_id,
  e.client_request_id, e.graph_error_code, e.error_phase, e.error_code`;

const ORDER = "ORDER BY e.started_at, e.seq";


interface Query {
  where: string;
  params: unknown[];
}

function exchangeWhere(f: ExchangeFilter | undefined): Query {
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (f) {
    const eq = (column: string, value: unknown): void => {
      if (value === undefined) return;
      clauses.push(`${column} = ?`);
      params.push(value);
    };
    eq("e.session_id", f.sessionId);
    eq("e.identity_key", f.identityKey);
    eq("e.token_hash", f.tokenHash);
    eq("e.host", f.host?.toLowerCase());
    eq("e.method", f.method?.toUpperCase());
    eq("e.parent_id", f.parentId);
    eq("e.source_id", f.sourceId);
    if (Array.isArray(f.status)) {
      // An empty list matches nothing, like an empty IN ().
      clauses.push(f.status.length ? `e.status IN (${f.status.map(() => "?").join(", ")})` : "0");
      params.push(...f.status);
    } else {
      eq("e.status", f.status);
    }
    if (f.statusClass !== undefined) {
      clauses.push("e.status >= ? AND e.status < ?");
      params.push(f.statusClass * 100, f.statusClass * 100 + 100);
    }
    if (f.urlContains !== undefined) {
      // instr, not LIKE: no wildcards to escape and case-sensitive like a URL path.
      clauses.push("instr(e.url, ?) > 0");
      params.push(f.urlContains);
    }
    if (f.from !== undefined) {
      clauses.push("e.started_at >= ?");
      params.push(f.from);
    }
    if (f.to !== undefined) {
      clauses.push("e.started_at < ?");
      params.push(f.to);
    }
    if (f.afterSeq !== undefined) {
      clauses.push("e.seq > ?");
      params.push(f.afterSeq);
    }
  }
  return { where: clauses.length ? `WHERE ${clauses.join(" AND ")}` : "", params };
}

function limitClause(q: Query, limit: number | undefined): string {
  if (limit === undefined) return "";
  q.params.push(Math.max(0, Math.floor(limit)));
  return "LIMIT ?";
}

function parseJson<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  return JSON.parse(text) as T;
}

function body(
  bytes: Buffer | null,
  size: number | null,
  truncated: number | null,
  encoding: string | null,
): CapturedBody | undefined {
  if (size === null) return undefined;
  const b: CapturedBody = { bytes: bytes ?? Buffer.alloc(0), wireSize: size, truncated: truncated === 1 };
  if (encoding !== null) b.encoding = encoding;
  return b;
}

/** A row back into the Exchange that was written: absent optionals stay absent. */
function toExchange(r: ExchangeRow): Exchange {
  const ex: Exchange = {
    id: r.id,
    sessionId: r.session_id,
    startedAt: r.started_at,
    durationMs: r.duration_ms,
    method: r.method,
    url: r.url,
    httpVersion: r.http_version,
    requestHeaders: parseJson<HeaderList>(r.req_headers, []),
    responseHeaders: parseJson<HeaderList>(r.res_headers, []),
  };
  if (r.parent_id !== null) ex.parentId = r.parent_id;
  if (r.part_id !== null) ex.partId = r.part_id;
  if (r.depends_on !== null) ex.dependsOn = parseJson<string[]>(r.depends_on, []);
  if (r.source_id !== null) ex.sourceId = r.source_id;
  if (r.ttfb_ms !== null) ex.ttfbMs = r.ttfb_ms;
  const reqBody = body(r.req_body, r.req_body_size, r.req_body_truncated, r.req_body_encoding);
  if (reqBody) ex.requestBody = reqBody;
  if (r.status !== null) ex.status = r.status;
  if (r.status_text !== null) ex.statusText = r.status_text;
  const resBody = body(r.res_body, r.res_body_size, r.res_body_truncated, r.res_body_encoding);
  if (resBody) ex.responseBody = resBody;
  if (r.error_code !== null) {
    ex.error = {
      code: r.error_code,
      message: r.error_message ?? "",
      phase: (r.error_phase ?? "request") as ExchangePhase,
    };
  }
  if (r.token_hash !== null) {
    ex.token = { hash: r.token_hash, claims: parseJson<Record<string, unknown>>(r.token_claims, {}) };
  }
  if (r.upstream_url !== null) ex.upstreamUrl = r.upstream_url;
  if (r.client_address !== null) ex.clientAddress = r.client_address;
  return ex;
}

type SummaryRaw = [
  number, string, string, string | null, string | null, string | null, number, number,
  string, string, number | null, string | null, string | null, string | null, string | null,
  string | null, string | null, string | null,
];

function toSummary(r: SummaryRaw): ExchangeSummary {
  return {
    seq: r[0],
    id: r[1],
    sessionId: r[2],
    parentId: r[3] ?? undefined,
    partId: r[4] ?? undefined,
    sourceId: r[5] ?? undefined,
    startedAt: r[6],
    durationMs: r[7],
    method: r[8],
    url: r[9],
    status: r[10] ?? undefined,
    tokenHash: r[11] ?? undefined,
    identityKey: r[12] ?? undefined,
    requestId: r[13] ?? undefined,
    clientRequestId: r[14] ?? undefined,
    errorCode: r[15] ?? undefined,
    errorPhase: (r[16] ?? undefined) as ExchangePhase | undefined,
    upstreamErrorCode: r[17] ?? undefined,
  };
}

interface TunnelRow {
  id: string;
  session_id: string;
  host: string;
  port: number;
  started_at: number;
  duration_ms: number;
  bytes_up: number;
  bytes_down: number;
  error_code: string | null;
  error_message: string | null;
  error_phase: string | null;
  client_address: string | null;
}

function toTunnel(r: TunnelRow): TunnelRecord {
  const t: TunnelRecord = {
    id: r.id,
    sessionId: r.session_id,
    host: r.host,
    port: r.port,
    startedAt: r.started_at,
    durationMs: r.duration_ms,
    bytesUp: r.bytes_up,
    bytesDown: r.bytes_down,
  };
  if (r.error_code !== null) {
    t.error = {
      code: r.error_code,
      message: r.error_message ?? "",
      phase: (r.error_phase ?? "connect") as ExchangePhase,
    };
  }
  if (r.client_address !== null) t.clientAddress = r.client_address;
  return t;
}

interface IdentityDbRow {
  token_hash: string;
  identity_key: string;
  kind: string;
  tenant_id: string | null;
  object_id: string | null;
  upn: string | null;
  app_id: string | null;
  guest: number;
  idp: string | null;
  home_tenant_id: string | null;
  claims: string;
  iat: number | null;
  exp: number | null;
  first_seen: number | null;
  last_seen: number | null;
}

function toIdentity(r: IdentityDbRow): IdentityRow {
  const id: IdentityRow = {
    tokenHash: r.token_hash,
    identityKey: r.identity_key,
    kind: r.kind,
    guest: r.guest === 1,
    claims: parseJson<Record<string, unknown>>(r.claims, {}),
  };
  if (r.tenant_id !== null) id.tenantId = r.tenant_id;
  if (r.object_id !== null) id.objectId = r.object_id;
  if (r.upn !== null) id.upn = r.upn;
  if (r.app_id !== null) id.appId = r.app_id;
  if (r.idp !== null) id.idp = r.idp;
  if (r.home_tenant_id !== null) id.homeTenantId = r.home_tenant_id;
  if (r.iat !== null) id.iat = r.iat;
  if (r.exp !== null) id.exp = r.exp;
  if (r.first_seen !== null) id.firstSeen = r.first_seen;
  if (r.last_seen !== null) id.lastSeen = r.last_seen;
  return id;
}

interface SessionRow {
  id: string;
  kind: SessionKind;
  started_at: number;
  ended_at: number | null;
  tool_version: string | null;
  label: string | null;
  args: string | null;
  source: string | null;
  exchanges: number;
  tunnels: number;
}

export class CaptureReader {
  private readonly statements = new Map<string, Database.Statement>();
  /** Scans not run to the end; close() must end them or SQLite refuses to close. */
  private readonly open = new Set<IterableIterator<unknown>>();

  private constructor(
    readonly file: string,
    private readonly db: Database.Database,
  ) {}

  /** Opens a capture read-only; throws UserError when it is not a readable capture. */
  static open(file: string): CaptureReader {
    const db = openCapture(file, { readonly: true });
    // No mmap: mapped pages count as resident memory (a 1 GB capture would look like
    // 1 GB of RSS), and on the 1M-row analyze bench plain reads were faster anyway.
    return new CaptureReader(file, db);
  }

  sessions(): SessionInfo[] {
    const rows = this.run(() =>
      this.stmt(
        `SELECT s.*,
           (SELECT count(*) FROM exchanges e WHERE e.session_id = s.id) AS exchanges,
           (SELECT count(*) FROM tunnels t WHERE t.session_id = s.id) AS tunnels
         FROM sessions s ORDER BY s.started_at, s.id`,
      ).all() as SessionRow[],
    );
    return rows.map((r) => {
      const s: SessionInfo = {
        id: r.id,
        kind: r.kind,
        startedAt: r.started_at,
        exchanges: r.exchanges,
        tunnels: r.tunnels,
      };
      if (r.ended_at !== null) s.endedAt = r.ended_at;
      if (r.tool_version !== null) s.toolVersion = r.tool_version;
      if (r.label !== null) s.label = r.label;
      if (r.args !== null) s.args = JSON.parse(r.args) as unknown;
      if (r.source !== null) s.source = r.source;
      return s;
    });
  }

  /** Whole exchanges (headers, bodies, token claims) in (startedAt, seq) order. */
  exchanges(filter?: ExchangeFilter): IterableIterator<Exchange> {
    const q = exchangeWhere(filter);
    const limit = limitClause(q, filter?.limit);
    const stmt = this.stmt(
      `SELECT ${EXCHANGE_COLUMNS} FROM exchanges e LEFT JOIN identities i ON i.token_hash = e.token_hash
       ${q.where} ${ORDER} ${limit}`,
    );
    return this.stream(stmt, q.params, toExchange as (r: unknown) => Exchange);
  }

  /** Slim rows (no headers, bodies or JSON) in (startedAt, seq) order, for big scans. */
  summaries(filter?: ExchangeFilter): IterableIterator<ExchangeSummary> {
    const q = exchangeWhere(filter);
    const limit = limitClause(q, filter?.limit);
    const stmt = this.stmt(`SELECT ${SUMMARY_COLUMNS} FROM exchanges e ${q.where} ${ORDER} ${limit}`, true);
    return this.stream(stmt, q.params, toSummary as (r: unknown) => ExchangeSummary);
  }

  exchange(id: string): Exchange | undefined {
    const row = this.run(() =>
      this.stmt(
        `SELECT ${EXCHANGE_COLUMNS} FROM exchanges e LEFT JOIN identities i ON i.token_hash = e.token_hash
         WHERE e.id = ?`,
      ).get(id),
    ) as ExchangeRow | undefined;
    return row ? toExchange(row) : undefined;
  }

  count(filter?: ExchangeFilter): number {
    const q = exchangeWhere(filter);
    if (filter?.limit !== undefined) {
      const limit = limitClause(q, filter.limit);
      const sql = `SELECT count(*) FROM (SELECT 1 FROM exchanges e ${q.where} ${limit})`;
      return this.run(() => this.stmt(sql).pluck().get(...q.params) as number);
    }
    return this.run(() => this.stmt(`SELECT count(*) FROM exchanges e ${q.where}`).pluck().get(...q.params) as number);
  }

  /** The highest seq written so far (0 when empty): a cursor for `afterSeq`. */
  lastSeq(): number {
    const v = this.run(() => this.stmt("SELECT max(seq) FROM exchanges").pluck().get());
    return typeof v === "number" ? v : 0;
  }

  tunnels(filter?: TunnelFilter): IterableIterator<TunnelRecord> {
    const clauses: string[] = [];
    const params: unknown[] = [];
    if (filter?.sessionId !== undefined) {
      clauses.push("session_id = ?");
      params.push(filter.sessionId);
    }
    if (filter?.host !== undefined) {
      clauses.push("host = ? COLLATE NOCASE");
      params.push(filter.host);
    }
    if (filter?.from !== undefined) {
      clauses.push("started_at >= ?");
      params.push(filter.from);
    }
    if (filter?.to !== undefined) {
      clauses.push("started_at < ?");
      params.push(filter.to);
    }
    const q: Query = { where: clauses.length ? `WHERE ${clauses.join(" AND ")}` : "", params };
    const limit = limitClause(q, filter?.limit);
    const stmt = this.stmt(`SELECT * FROM tunnels ${q.where} ORDER BY started_at, rowid ${limit}`);
    return this.stream(stmt, q.params, toTunnel as (r: unknown) => TunnelRecord);
  }

  identities(): IdentityRow[] {
    const rows = this.run(
      () => this.stmt("SELECT * FROM identities ORDER BY first_seen, token_hash").all() as IdentityDbRow[],
    );
    return rows.map(toIdentity);
  }

  tokenClaims(hash: string): Record<string, unknown> | undefined {
    const text = this.run(
      () => this.stmt("SELECT claims FROM identities WHERE token_hash = ?").pluck().get(hash) as string | undefined,
    );
    return text === undefined ? undefined : parseJson<Record<string, unknown>>(text, {});
  }

  /** Ends any scan still open (their iterators then report done) and closes the file. */
  close(): void {
    for (const it of this.open) it.return?.();
    this.open.clear();
    if (this.db.open) this.db.close();
  }

  /**
   * A cached prepared statement. A statement that is still being iterated (a caller
   * nesting two scans of the same shape) cannot be reused, so it gets a fresh one.
   */
  private stmt(sql: string, raw = false): Database.Statement {
    const key = raw ? `raw:${sql}` : sql;
    const cached = this.statements.get(key);
    if (cached && !cached.busy) return cached;
    const stmt = this.run(() => this.db.prepare(sql));
    if (raw) stmt.raw(true);
    if (!cached) this.statements.set(key, stmt);
    return stmt;
  }

  private run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw captureError(this.file, err);
    }
  }

  /**
   * Starts the statement now (so a second scan of the same shape sees it busy and
   * prepares its own) and streams its rows through `map`.
   */
  private stream<T>(stmt: Database.Statement, params: unknown[], map: (row: unknown) => T): IterableIterator<T> {
    let it: IterableIterator<unknown>;
    try {
      it = stmt.iterate(...params);
    } catch (err) {
      throw captureError(this.file, err);
    }
    this.open.add(it);
    return this.rows(it, map);
  }

  private *rows<T>(it: IterableIterator<unknown>, map: (row: unknown) => T): IterableIterator<T> {
    // Breaking out of the caller's loop returns this generator, whose finally returns
    // `it` and releases the statement.
    try {
      for (;;) {
        let next: IteratorResult<unknown>;
        try {
          next = it.next();
        } catch (err) {
          // A damaged page is often only found when the scan reaches it.
          throw captureError(this.file, err);
        }
        if (next.done) return;
        yield map(next.value);
      }
    } finally {
      it.return?.();
      this.open.delete(it);
    }
  }
}
