// The one currency between proxy, recorder, analyze and replay: a finished
// request/response pair. Everything in an Exchange is already safe to store:
// the proxy redacts secrets before it emits one (see ./redact.ts).

/** Headers in wire order, duplicates kept, names lower-cased. */
export type HeaderList = Array<[name: string, value: string]>;

/** A bounded copy of a message body. */
export interface CapturedBody {
  /** Decoded bytes (gzip/deflate/br removed), at most the capture cap. */
  bytes: Buffer;
  /** Bytes that crossed the wire (still encoded), whole message, not just the copy. */
  wireSize: number;
  /** True when `bytes` holds less than the whole decoded body. */
  truncated: boolean;
  /** The content-encoding the body had on the wire, if any. */
  encoding?: string;
}

/** Where an exchange broke, when it did not complete normally. */
export type ExchangePhase = "connect" | "tls" | "request" | "response" | "client";

export interface ExchangeError {
  /** A short stable code: ECONNREFUSED, ECONNRESET, ETIMEDOUT, CERT_INVALID, CLIENT_ABORTED… */
  code: string;
  message: string;
  phase: ExchangePhase;
}

/** Decoded, non-secret facts about the bearer token a request carried. */
export interface TokenInfo {
  /** Short SHA-256 prefix of the raw token: tells tokens apart, reveals nothing. */
  hash: string;
  /** Decoded JWT payload claims (no signature, no header); {} for an opaque token. */
  claims: Record<string, unknown>;
}

export interface Exchange {
  /** Unique id (ULID-like, sortable by start time). */
  id: string;
  /** The proxy run, replay run or import this exchange belongs to. */
  sessionId: string;
  /** For a $batch part: the id of the envelope exchange. */
  parentId?: string;
  /** For a $batch part: its `id` inside the batch. */
  partId?: string;
  /** For a $batch part: ids of parts it depends on. */
  dependsOn?: string[];
  /** For a replayed exchange: the id of the recorded exchange it re-sent. */
  sourceId?: string;

  /** Epoch milliseconds when the request started. */
  startedAt: number;
  /** Milliseconds from request start to the end of the response (or the error). */
  durationMs: number;
  /** Milliseconds from request start to the first response byte, if a response came. */
  ttfbMs?: number;

  method: string;
  /** Absolute URL as the client meant it: https://graph.microsoft.com/v1.0/... */
  url: string;
  httpVersion: string;
  /** Redacted: Authorization is `Bearer <hash>`, cookie values are removed. */
  requestHeaders: HeaderList;
  requestBody?: CapturedBody;

  /** HTTP status, or undefined when no response arrived (see error). */
  status?: number;
  statusText?: string;
  /** Redacted like requestHeaders (Set-Cookie values removed). */
  responseHeaders: HeaderList;
  responseBody?: CapturedBody;

  error?: ExchangeError;
  token?: TokenInfo;
  /** Where the request was really sent when --upstream redirected it. */
  upstreamUrl?: string;
  clientAddress?: string;
}

/** A CONNECT that graphtap did not decrypt: only its envelope is known. */
export interface TunnelRecord {
  id: string;
  sessionId: string;
  host: string;
  port: number;
  startedAt: number;
  durationMs: number;
  bytesUp: number;
  bytesDown: number;
  error?: ExchangeError;
  clientAddress?: string;
}

/**
 * Response headers that do not survive playing a recorded body back: hop-by-hop ones
 * (RFC 9110 §7.6.1), and length/encoding, wrong once the body is sent decoded.
 */
export const NOT_REPLAYABLE_HEADERS: ReadonlySet<string> = new Set([
  "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
  "transfer-encoding", "upgrade", "content-length", "content-encoding",
]);

const TLS_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|TLS|SSL|EPROTO/;
const CONNECT_ERROR = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/** Where an error with this code broke: TLS, connecting, or else `otherwise`. */
export function errorPhase(code: string, otherwise: ExchangePhase): ExchangePhase {
  if (TLS_ERROR.test(code)) return "tls";
  if (CONNECT_ERROR.has(code)) return "connect";
  return otherwise;
}

/** Case-insensitive lookup of the first header value. */
export function header(list: HeaderList, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of list) if (k === lower) return v;
  return undefined;
}

/** Body as UTF-8 text, or undefined when there is none. */
export function bodyText(body: CapturedBody | undefined): string | undefined {
  return body && body.bytes.length > 0 ? body.bytes.toString("utf8") : undefined;
}
