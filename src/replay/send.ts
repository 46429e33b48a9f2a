// Sending steps: undici with keep-alive, per-identity order, pacing, Retry-After on
// 429/503, one token refresh on a claims challenge, and every attempt recorded as an
// exchange (token redacted exactly as the proxy does it).
import { request, type Dispatcher } from "undici";
import { BodyTap } from "../exchange/body-tap.js";
import { newId } from "../exchange/id.js";
import { redactBodySecrets, redactRequestHeaders, redactResponseHeaders, type RedactedRequest } from "../exchange/redact.js";
import type { CapturedBody, Exchange, ExchangeError, ExchangePhase, HeaderList, TokenInfo } from "../exchange/types.js";
import { errorPhase, header } from "../exchange/types.js";
import { claimsChallenge } from "../graph/errors.js";
import type { Step } from "./plan.js";

export type Pace = { kind: "fast" } | { kind: "scaled"; factor: number };

export function parsePace(s: string): Pace | undefined {
  if (s === "fast") return { kind: "fast" };
  if (s === "original") return { kind: "scaled", factor: 1 };
  const m = /^(\d+(?:\.\d+)?)x$/i.exec(s);
  if (m && Number(m[1]) > 0) return { kind: "scaled", factor: Number(m[1]) };
  return undefined;
}

export interface SendOptions {
  dispatcher: Dispatcher;
  sessionId: string;
  /** Bytes of each body kept in the capture. */
  maxBody: number;
  timeoutMs: number;
  /** Retries after a 429/503 that said Retry-After. */
  maxRetries: number;
  /** A longer Retry-After is not waited for: the answer is kept as it is. */
  maxRetryWaitMs: number;
  signal: AbortSignal;
  record: (ex: Exchange) => void;
}

export interface Outcome {
  /** The last attempt's exchange (what the step compares). */
  exchange: Exchange;
  attempts: number;
  /** 429/503 answers that were waited out and retried. */
  throttled: number;
  waitedMs: number;
  /** The token was fetched again after a claims challenge. */
  tokenRefreshed: boolean;
}

/** Sends one step, retrying as the server asks; never throws for a transport failure. */
export async function sendStep(step: Step, opts: SendOptions): Promise<Outcome> {
  let attempts = 0;
  let throttled = 0;
  let waitedMs = 0;
  let tokenRefreshed = false;
  let token = step.token ? await step.token.get() : undefined;
  for (;;) {
    attempts++;
    const ex = await attempt(step, token, opts);
    opts.record(ex);
    if (opts.signal.aborted || ex.status === undefined) return { exchange: ex, attempts, throttled, waitedMs, tokenRefreshed };
    if ((ex.status === 429 || ex.status === 503) && throttled < opts.maxRetries) {
      const wait = retryAfterMs(header(ex.responseHeaders, "retry-after"));
      if (wait !== undefined && wait <= opts.maxRetryWaitMs) {
        throttled++;
        waitedMs += wait;
        await sleep(wait, opts.signal);
        if (opts.signal.aborted) return { exchange: ex, attempts, throttled, waitedMs, tokenRefreshed };
        continue;
      }
    }
    if (ex.status === 401 && !tokenRefreshed && step.token?.refreshable) {
      const challenge = header(ex.responseHeaders, "www-authenticate");
      const claims = challenge ? claimsChallenge(challenge) : undefined;
      if (claims !== undefined) {
        tokenRefreshed = true;
        token = await step.token.refresh(claims);
        continue;
      }
    }
    return { exchange: ex, attempts, throttled, waitedMs, tokenRefreshed };
  }
}

async function attempt(step: Step, token: string | undefined, opts: SendOptions): Promise<Exchange> {
  const headers: HeaderList = [...step.headers];
  if (token !== undefined) headers.push(["authorization", `Bearer ${token}`]);
  const startedAt = Date.now();
  const t0 = performance.now();
  const redacted = redactWithToken(step.headers, token, opts);
  const ex: Exchange = {
    id: newId(startedAt),
    sessionId: opts.sessionId,
    sourceId: step.source.id,
    startedAt,
    durationMs: 0,
    method: step.method,
    url: step.url,
    httpVersion: "1.1",
    requestHeaders: redacted.headers,
    responseHeaders: [],
  };
  if (redacted.token) ex.token = redacted.token;
  if (step.sendUrl !== step.url) ex.upstreamUrl = step.sendUrl;
  if (step.body) ex.requestBody = capture(redactBodySecrets(step.body), step.body.length, opts.maxBody);

  try {
    const flat: string[] = [];
    for (const [k, v] of headers) flat.push(k, v);
    const res = await request(step.sendUrl, {
      dispatcher: opts.dispatcher,
      method: step.method as Dispatcher.HttpMethod,
      headers: flat,
      ...(step.body ? { body: step.body } : {}),
      signal: opts.signal,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
    ex.ttfbMs = performance.now() - t0;
    ex.status = res.statusCode;
    const resHeaders: HeaderList = [];
    for (const [k, v] of Object.entries(res.headers)) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) resHeaders.push([k.toLowerCase(), one]);
    }
    ex.responseHeaders = redactResponseHeaders(resHeaders);
    // The same bounded, decoded copy the proxy keeps.
    const tap = new BodyTap(opts.maxBody);
    try {
      for await (const chunk of res.body) tap.push(chunk as Buffer);
    } catch (err) {
      ex.error = transportError(err, "response");
    }
    const body = tap.finish(header(resHeaders, "content-encoding"));
    if (body) ex.responseBody = { ...body, bytes: redactBodySecrets(body.bytes) };
    else if (header(resHeaders, "content-length") !== undefined) {
      ex.responseBody = { bytes: Buffer.alloc(0), wireSize: 0, truncated: false };
    }
  } catch (err) {
    ex.error = opts.signal.aborted ? { code: "CLIENT_ABORTED", message: "replay interrupted", phase: "client" } : transportError(err);
  }
  ex.durationMs = performance.now() - t0;
  return ex;
}

/**
 * The token's redaction (its hash, the claims kept) is the same for every request that
 * carries it: computed once per token and replay run, not per request. Same result as
 * redactRequestHeaders on the headers with Authorization appended.
 */
const redactedTokens = new WeakMap<SendOptions, Map<string, { value: string; token: TokenInfo | undefined }>>();

function redactWithToken(headers: HeaderList, token: string | undefined, opts: SendOptions): RedactedRequest {
  if (token === undefined) return redactRequestHeaders(headers);
  let cache = redactedTokens.get(opts);
  if (!cache) redactedTokens.set(opts, (cache = new Map()));
  let auth = cache.get(token);
  if (!auth) {
    const one = redactRequestHeaders([["authorization", `Bearer ${token}`]]);
    auth = { value: one.headers[0]![1], token: one.token };
    // A few tokens per identity at most (refreshes); a bound all the same.
    if (cache.size >= 256) cache.clear();
    cache.set(token, auth);
  }
  const out = redactRequestHeaders(headers);
  out.headers.push(["authorization", auth.value]);
  if (auth.token) out.token = { hash: auth.token.hash, claims: { ...auth.token.claims } };
  return out;
}

function capture(bytes: Buffer, wireSize: number, cap: number): CapturedBody {
  return { bytes: bytes.length > cap ? bytes.subarray(0, cap) : bytes, wireSize, truncated: bytes.length > cap };
}

export function transportError(err: unknown, phase?: ExchangePhase): ExchangeError {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  let code = e.cause?.code ?? e.code ?? "ERROR";
  // undici reports a peer that hung up as UND_ERR_SOCKET ("other side closed").
  if (code === "UND_ERR_SOCKET") code = "ECONNRESET";
  if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT" || code === "UND_ERR_CONNECT_TIMEOUT") code = "ETIMEDOUT";
  const message = e.cause?.message ?? e.message ?? String(err);
  return { code, message, phase: phase ?? errorPhase(code, "response") };
}

export function isTlsFailure(err: ExchangeError | undefined): boolean {
  return err !== undefined && err.phase === "tls";
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - now) : undefined;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
