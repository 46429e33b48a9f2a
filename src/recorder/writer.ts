// The batched writer. The proxy hands over finished exchanges as events; write() only
// queues them, and the queue goes to disk in one transaction per batch (256 items, or
// 20 ms after the first one), so a request never waits on an fsync. A failing disk is
// reported once and never thrown back into the proxy.
import type { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import type Database from "better-sqlite3";
import type { Exchange, TunnelRecord } from "../exchange/types.js";
import { header } from "../exchange/types.js";
import { newId } from "../exchange/id.js";
import { graphFieldsOf, type GraphFields } from "../graph/fields.js";
import { identityOf, type Identity } from "../graph/identity.js";
import type { SessionKind } from "./reader.js";
import { openCapture } from "./schema.js";

export interface SessionStart {
  kind: SessionKind;
  label?: string;
  args?: unknown;
  /** What a replay or import read from (a capture path, a HAR file…). */
  source?: string;
}

export interface WriterOptions {
  /** Items that trigger a flush at once (default 256). */
  batchSize?: number;
  /** How long the first queued item may wait for company (default 20 ms). */
  flushDelayMs?: number;
  /**
   * How long a flush waits for another process's write lock before trying again later
   * (default 200 ms). Short because a flush blocks the event loop while it waits.
   */
  busyTimeoutMs?: number;
  /** Queued items kept while the file is locked; older ones are dropped beyond it. */
  maxPending?: number;
}

const RETRY_DELAY_MS = 100;
const CLOSE_BUSY_TIMEOUT_MS = 5000;

let toolVersionCache: string | undefined;
/** The version in package.json, two folders up from both src/recorder and dist/recorder. */
function toolVersion(): string {
  if (toolVersionCache === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
        version?: unknown;
      };
      toolVersionCache = typeof pkg.version === "string" ? pkg.version : "unknown";
    } catch {
      toolVersionCache = "unknown";
    }
  }
  return toolVersionCache;
}

type Row = Record<string, string | number | Buffer | null>;

interface BatchResult {
  exchanges: number;
  tunnels: number;
  /** Rows refused by a constraint (a duplicate id). */
  rejected: number;
}

interface SeenToken {
  hash: string;
  claims: Record<string, unknown>;
  identity: Identity;
  first: number;
  last: number;
}

const INSERT_EXCHANGE_COLUMNS = [
  "id", "session_id", "parent_id", "part_id", "source_id", "started_at", "duration_ms", "ttfb_ms",
  "method", "url", "host", "path", "http_version", "status", "status_text", "error_code",
  "error_message", "error_phase", "token_hash", "identity_key", "request_id", "client_request_id",
  "graph_error_code", "graph_error_message", "graph_inner_error_code", "ags_diagnostic",
  "data_center", "scale_unit", "upstream_url", "client_address", "depends_on", "req_content_type",
  "req_body_size", "req_body_truncated", "req_body_encoding", "res_content_type", "res_body_size",
  "res_body_truncated", "res_body_encoding", "req_headers", "res_headers", "req_body", "res_body",
] as const;

const INSERT_EXCHANGE = `INSERT INTO exchanges (${INSERT_EXCHANGE_COLUMNS.join(", ")})
  VALUES (${INSERT_EXCHANGE_COLUMNS.map((c) => `@${c}`).join(", ")})`;

// Claims never change for one hash (same token), so a conflict only widens the window.
const UPSERT_IDENTITY = `INSERT INTO identities (token_hash, identity_key, kind, tenant_id, object_id,
    upn, app_id, guest, idp, home_tenant_id, claims, iat, exp, first_seen, last_seen)
  VALUES (@token_hash, @identity_key, @kind, @tenant_id, @object_id, @upn, @app_id, @guest, @idp,
    @home_tenant_id, @claims, @iat, @exp, @first_seen, @last_seen)
  ON CONFLICT (token_hash) DO UPDATE SET
    first_seen = min(coalesce(first_seen, excluded.first_seen), excluded.first_seen),
    last_seen  = max(coalesce(last_seen, excluded.last_seen), excluded.last_seen)`;

const INSERT_TUNNEL = `INSERT INTO tunnels (id, session_id, host, port, started_at, duration_ms,
    bytes_up, bytes_down, error_code, error_message, error_phase, client_address)
  VALUES (@id, @session_id, @host, @port, @started_at, @duration_ms, @bytes_up, @bytes_down,
    @error_code, @error_message, @error_phase, @client_address)`;

function hostAndPath(url: string): [string | null, string | null] {
  try {
    const u = new URL(url);
    return [u.hostname.toLowerCase(), u.pathname];
  } catch {
    return [null, null];
  }
}

function numberClaim(claims: Record<string, unknown>, name: string): number | null {
  const v = claims[name];
  return typeof v === "number" && Number.isFinite(v) ? Math.trunc(v) : null;
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"));
}

function isConstraint(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_CONSTRAINT");
}

/** Sends a source's 'exchange' and 'tunnel' events to a sink; returns an idempotent detach. */
export function subscribe(
  source: EventEmitter,
  sink: { write(ex: Exchange): void; writeTunnel(t: TunnelRecord): void },
): () => void {
  const onExchange = (ex: Exchange): void => sink.write(ex);
  const onTunnel = (t: TunnelRecord): void => sink.writeTunnel(t);
  source.on("exchange", onExchange);
  source.on("tunnel", onTunnel);
  let attached = true;
  return () => {
    if (!attached) return;
    attached = false;
    source.off("exchange", onExchange);
    source.off("tunnel", onTunnel);
  };
}

export class CaptureWriter {
  /** The session started by startSession(), if any. */
  sessionId: string | undefined;
  /** Exchanges committed to the file. */
  written = 0;
  /** Tunnels committed to the file. */
  tunnelsWritten = 0;
  /** Items lost to a write error (reported once on stderr). */
  dropped = 0;
  /** Committed batch transactions. */
  flushes = 0;

  private exchangeQueue: Exchange[] = [];
  private tunnelQueue: TunnelRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private reported = false;
  private readonly identityCache = new Map<string, Identity>();
  private readonly detachers: Array<() => void> = [];
  private readonly insertExchange: Database.Statement;
  private readonly upsertIdentity: Database.Statement;
  private readonly insertTunnel: Database.Statement;
  private readonly batchSize: number;
  private readonly flushDelayMs: number;
  private readonly busyTimeoutMs: number;
  private readonly maxPending: number;
  private readonly commit: Database.Transaction<(xs: Exchange[], ts: TunnelRecord[]) => BatchResult>;

  private constructor(
    readonly file: string,
    private readonly db: Database.Database,
    opts: WriterOptions,
  ) {
    this.batchSize = opts.batchSize ?? 256;
    this.flushDelayMs = opts.flushDelayMs ?? 20;
    this.busyTimeoutMs = opts.busyTimeoutMs ?? 200;
    this.maxPending = opts.maxPending ?? 10_000;
    db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
    this.insertExchange = db.prepare(INSERT_EXCHANGE);
    this.upsertIdentity = db.prepare(UPSERT_IDENTITY);
    this.insertTunnel = db.prepare(INSERT_TUNNEL);
    this.commit = db.transaction((xs: Exchange[], ts: TunnelRecord[]) => this.commitBatch(xs, ts));
  }

  /** Opens (creating if needed) a capture for writing. Throws UserError for a bad file. */
  static open(file: string, opts: WriterOptions = {}): CaptureWriter {
    return new CaptureWriter(file, openCapture(file, { create: true }), opts);
  }

  /** Items queued and not yet on disk. */
  get pending(): number {
    return this.exchangeQueue.length + this.tunnelQueue.length;
  }

  /** Records a new session (ending the one this writer started before) and returns its id. */
  startSession(info: SessionStart): string {
    if (this.closed) throw new Error("CaptureWriter is closed");
    this.endSession();
    const id = newId();
    this.db
      .prepare(
        `INSERT INTO sessions (id, kind, started_at, tool_version, label, args, source)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        info.kind,
        Date.now(),
        toolVersion(),
        info.label ?? null,
        info.args === undefined ? null : JSON.stringify(info.args),
        info.source ?? null,
      );
    this.sessionId = id;
    return id;
  }

  /** Queues an exchange; it reaches the disk with the next batch. Never throws. */
  write(ex: Exchange): void {
    if (this.closed) {
      this.dropped++;
      return;
    }
    this.exchangeQueue.push(ex);
    this.queued();
  }

  /** Queues a blind tunnel record. Never throws. */
  writeTunnel(t: TunnelRecord): void {
    if (this.closed) {
      this.dropped++;
      return;
    }
    this.tunnelQueue.push(t);
    this.queued();
  }

  /** Records every 'exchange' and 'tunnel' event of `source` until close(); returns a detach function. */
  attach(source: EventEmitter): () => void {
    const detach = subscribe(source, this);
    this.detachers.push(detach);
    return detach;
  }

  /** Writes everything queued now, in one transaction. Never throws. */
  flush(): void {
    this.clearTimer();
    if (this.pending === 0 || !this.db.open) return;
    const xs = this.exchangeQueue;
    const ts = this.tunnelQueue;
    this.exchangeQueue = [];
    this.tunnelQueue = [];
    try {
      const done = this.commit.immediate(xs, ts);
      // Counted only once the transaction committed.
      this.written += done.exchanges;
      this.tunnelsWritten += done.tunnels;
      this.dropped += done.rejected;
      this.flushes++;
    } catch (err) {
      if (isBusy(err) && !this.closed) {
        // Another process holds the write lock: keep the batch and try again shortly.
        this.exchangeQueue = xs.concat(this.exchangeQueue);
        this.tunnelQueue = ts.concat(this.tunnelQueue);
        this.trimQueue(err);
        this.schedule(RETRY_DELAY_MS);
        return;
      }
      this.dropped += xs.length + ts.length;
      this.report(err);
    }
  }

  /** Flushes, ends the session, closes the file. Safe to call more than once. */
  close(): void {
    if (this.closed) return;
    for (const detach of this.detachers.splice(0)) detach();
    // Last chance for the queue: wait longer for a lock than a live flush may.
    this.closed = true;
    try {
      this.db.pragma(`busy_timeout = ${CLOSE_BUSY_TIMEOUT_MS}`);
    } catch {
      // The file is already unusable; flush() will report why.
    }
    this.flush();
    this.endSession();
    try {
      this.db.close();
    } catch (err) {
      this.report(err);
    }
  }

  private endSession(): void {
    if (this.sessionId === undefined) return;
    try {
      this.db.prepare("UPDATE sessions SET ended_at = ? WHERE id = ?").run(Date.now(), this.sessionId);
    } catch (err) {
      this.report(err);
    }
  }

  private queued(): void {
    // A full batch is written at once so a bulk import never holds more than one batch
    // in memory; it costs the event loop what the timer's flush would have cost anyway.
    if (this.pending >= this.batchSize) this.flush();
    else if (this.timer === undefined) this.schedule(this.flushDelayMs);
  }

  private schedule(delay: number): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, delay);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private trimQueue(cause: unknown): void {
    const over = this.pending - this.maxPending;
    if (over <= 0) return;
    const fromExchanges = Math.min(over, this.exchangeQueue.length);
    this.exchangeQueue.splice(0, fromExchanges);
    this.tunnelQueue.splice(0, over - fromExchanges);
    this.dropped += over;
    this.report(cause);
  }

  /** Runs inside the transaction. */
  private commitBatch(xs: Exchange[], ts: TunnelRecord[]): BatchResult {
    const done: BatchResult = { exchanges: 0, tunnels: 0, rejected: 0 };
    const tokens = new Map<string, SeenToken>();
    for (const ex of xs) {
      const identity = this.identity(ex);
      try {
        this.insertExchange.run(this.exchangeRow(ex, identity));
      } catch (err) {
        // One bad row (a duplicate id) must not cost the rest of the batch.
        if (!isConstraint(err)) throw err;
        done.rejected++;
        this.report(err);
        continue;
      }
      done.exchanges++;
      if (ex.token) {
        const seen = tokens.get(ex.token.hash);
        if (seen) {
          seen.first = Math.min(seen.first, ex.startedAt);
          seen.last = Math.max(seen.last, ex.startedAt);
        } else {
          tokens.set(ex.token.hash, {
            hash: ex.token.hash,
            claims: ex.token.claims,
            identity,
            first: ex.startedAt,
            last: ex.startedAt,
          });
        }
      }
    }
    for (const t of tokens.values()) this.upsertIdentity.run(identityRow(t));
    for (const t of ts) {
      try {
        this.insertTunnel.run(tunnelRow(t));
      } catch (err) {
        if (!isConstraint(err)) throw err;
        done.rejected++;
        this.report(err);
        continue;
      }
      done.tunnels++;
    }
    return done;
  }

  private identity(ex: Exchange): Identity {
    if (!ex.token) return identityOf(undefined);
    let identity = this.identityCache.get(ex.token.hash);
    if (!identity) {
      identity = identityOf(ex.token);
      if (this.identityCache.size >= 10_000) this.identityCache.clear();
      this.identityCache.set(ex.token.hash, identity);
    }
    return identity;
  }

  private exchangeRow(ex: Exchange, identity: Identity): Row {
    let g: GraphFields;
    try {
      g = graphFieldsOf(ex);
    } catch {
      // The derived columns are a convenience; the exchange itself is what must be kept.
      g = {};
    }
    const [host, path] = hostAndPath(ex.url);
    const req = ex.requestBody;
    const res = ex.responseBody;
    return {
      id: ex.id,
      session_id: ex.sessionId,
      parent_id: ex.parentId ?? null,
      part_id: ex.partId ?? null,
      source_id: ex.sourceId ?? null,
      started_at: ex.startedAt,
      duration_ms: ex.durationMs,
      ttfb_ms: ex.ttfbMs ?? null,
      method: ex.method,
      url: ex.url,
      host,
      path,
      http_version: ex.httpVersion,
      status: ex.status ?? null,
      status_text: ex.statusText ?? null,
      error_code: ex.error?.code ?? null,
      error_message: ex.error?.message ?? null,
      error_phase: ex.error?.phase ?? null,
      token_hash: ex.token?.hash ?? null,
      identity_key: identity.key,
      request_id: g.requestId ?? null,
      client_request_id: g.clientRequestId ?? null,
      graph_error_code: g.errorCode ?? null,
      graph_error_message: g.errorMessage ?? null,
      graph_inner_error_code: g.innerErrorCode ?? null,
      ags_diagnostic: g.diagnostic?.raw ?? null,
      data_center: g.diagnostic?.dataCenter ?? null,
      scale_unit: g.diagnostic?.scaleUnit ?? null,
      upstream_url: ex.upstreamUrl ?? null,
      client_address: ex.clientAddress ?? null,
      depends_on: ex.dependsOn ? JSON.stringify(ex.dependsOn) : null,
      req_content_type: header(ex.requestHeaders, "content-type") ?? null,
      req_body_size: req ? req.wireSize : null,
      req_body_truncated: req ? (req.truncated ? 1 : 0) : null,
      req_body_encoding: req?.encoding ?? null,
      res_content_type: header(ex.responseHeaders, "content-type") ?? null,
      res_body_size: res ? res.wireSize : null,
      res_body_truncated: res ? (res.truncated ? 1 : 0) : null,
      res_body_encoding: res?.encoding ?? null,
      req_headers: JSON.stringify(ex.requestHeaders),
      res_headers: JSON.stringify(ex.responseHeaders),
      req_body: req ? req.bytes : null,
      res_body: res ? res.bytes : null,
    };
  }

  private report(err: unknown): void {
    if (this.reported) return;
    this.reported = true;
    const message = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ").trim();
    process.stderr.write(
      `graphtap: could not record to ${this.file}: ${message} (some exchanges are missing; further write errors are not shown)\n`,
    );
  }
}

function identityRow(t: SeenToken): Row {
  const id = t.identity;
  return {
    token_hash: t.hash,
    identity_key: id.key,
    kind: id.kind,
    tenant_id: id.tenantId ?? null,
    object_id: id.objectId ?? null,
    upn: id.upn ?? null,
    app_id: id.appId ?? null,
    guest: id.guest ? 1 : 0,
    idp: id.idp ?? null,
    home_tenant_id: id.homeTenantId ?? null,
    claims: JSON.stringify(t.claims),
    iat: numberClaim(t.claims, "iat"),
    exp: numberClaim(t.claims, "exp"),
    first_seen: t.first,
    last_seen: t.last,
  };
}

function tunnelRow(t: TunnelRecord): Row {
  return {
    id: t.id,
    session_id: t.sessionId,
    host: t.host,
    port: t.port,
    started_at: t.startedAt,
    duration_ms: t.durationMs,
    bytes_up: t.bytesUp,
    bytes_down: t.bytesDown,
    error_code: t.error?.code ?? null,
    error_message: t.error?.message ?? null,
    error_phase: t.error?.phase ?? null,
    client_address: t.clientAddress ?? null,
  };
}
