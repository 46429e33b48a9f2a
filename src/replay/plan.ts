// One recorded exchange → one step to send (ids rewritten, target and token chosen),
// or a reason it is skipped. The safety rules live here: reads only unless told,
// https Graph hosts or an explicit --upstream only, never a token anywhere else.
import { randomUUID } from "node:crypto";
import { bodyText, header, type Exchange, type HeaderList } from "../exchange/types.js";
import { isBatchUrl, parseBatchRequest } from "../graph/batch.js";
import { DEFAULT_GRAPH_HOSTS } from "../graph/hosts.js";
import { identityOf } from "../graph/identity.js";
import { templateOf } from "../graph/templates.js";
import type { UpstreamTarget } from "../proxy/hosts.js";
import type { Rewriter, UncoveredIds } from "./map.js";
import type { TokenBook, TokenSource } from "./tokens.js";

export interface Step {
  /** 1-based position in the selection. */
  index: number;
  source: Exchange;
  method: string;
  /** The rewritten URL as Graph would see it (recorded host kept). */
  url: string;
  /** Where it is really sent (differs under --upstream). */
  sendUrl: string;
  /** Headers to send, without Authorization. */
  headers: HeaderList;
  body: Buffer | undefined;
  identityKey: string;
  upn: string | undefined;
  /** Undefined for a call recorded without a bearer token. */
  token: TokenSource | undefined;
  template: string;
  batch: boolean;
}

export interface Skip {
  index: number;
  source: string;
  method: string;
  url: string;
  reason: string;
}

export type Planned = { step: Step } | { skip: Skip } | { missingToken: { identityKey: string; upn: string | undefined } };

export interface PlanContext {
  rewriter: Rewriter;
  upstreams: Map<string, UpstreamTarget>;
  allowWrites: boolean;
  tokens: TokenBook;
  uncovered?: UncoveredIds;
}

const READS = new Set(["GET", "HEAD"]);
const GRAPH_HOSTS = new Set<string>(DEFAULT_GRAPH_HOSTS);
/** Set by the sender, meaningless to resend, or secrets the capture never kept. */
const DROPPED_HEADERS = new Set([
  "host", "authorization", "content-length", "connection", "keep-alive", "proxy-authorization",
  "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "expect", "cookie",
  "x-api-key", "ocp-apim-subscription-key", "content-encoding",
]);

export function planStep(ex: Exchange, index: number, ctx: PlanContext): Planned {
  const method = ex.method.toUpperCase();
  const skip = (reason: string): Planned => ({ skip: { index, source: ex.id, method, url: ex.url, reason } });

  let recorded: URL;
  try {
    recorded = new URL(ex.url);
  } catch {
    return skip("the recorded URL is not absolute");
  }
  if (recorded.protocol !== "https:") return skip("recorded over plain http: a token is only ever sent over https");
  const host = recorded.hostname.toLowerCase();
  const upstream = ctx.upstreams.get(host);
  if (!upstream && !GRAPH_HOSTS.has(host)) {
    return skip(`${host} is not a Graph host: not sent (add --upstream ${host}=URL to send it somewhere you trust)`);
  }

  const batch = method === "POST" && isBatchUrl(ex.url);
  const batchParts = batch && ex.requestBody ? parseBatchRequest(ex.requestBody.bytes) : undefined;
  const isRead = READS.has(method) || (batchParts !== undefined && batchParts.every((p) => READS.has(p.method.toUpperCase())));
  if (!isRead && !ctx.allowWrites) {
    const what = batch ? "a $batch with writes in it" : `${method} is a write`;
    return skip(`${what}: not sent without --allow-writes`);
  }
  if (ex.requestBody?.truncated) return skip("the recorded request body was truncated: it cannot be re-sent as it was");

  const identity = identityOf(ex.token);
  let token: TokenSource | undefined;
  if (ex.token) {
    token = ctx.tokens.sourceFor(identity.key, identity.upn);
    if (!token) return { missingToken: { identityKey: identity.key, upn: identity.upn } };
  }

  const url = ctx.rewriter.url(ex.url);
  let rewritten: URL;
  try {
    rewritten = new URL(url);
  } catch {
    return skip("the map turned the URL into something that is not a URL");
  }
  // The safety check again, on what is really sent: a map entry must never move a
  // token to another host or off https.
  if (rewritten.protocol !== "https:" || rewritten.hostname.toLowerCase() !== host || rewritten.username || rewritten.password) {
    return skip(`the map rewrote the URL to ${rewritten.origin}: the token is only sent to ${host} or its --upstream`);
  }
  const sendUrl = upstream ? joinUpstream(upstream.url, rewritten) : url;

  const contentType = header(ex.requestHeaders, "content-type");
  let body: Buffer | undefined;
  if (ex.requestBody && ex.requestBody.bytes.length > 0) {
    body = (batch ? ctx.rewriter.batch(ex.requestBody.bytes) : undefined) ?? ctx.rewriter.body(ex.requestBody.bytes, contentType);
  }

  const headers: HeaderList = [];
  for (const [name, value] of ex.requestHeaders) {
    if (DROPPED_HEADERS.has(name) || name.startsWith(":")) continue;
    // A fresh id per replayed call: support can tell the lab's call from prod's.
    if (name === "client-request-id") headers.push([name, randomUUID()]);
    else headers.push([name, ctx.rewriter.text(value)]);
  }

  if (ctx.uncovered) {
    const before = `${ex.url}\n${bodyText(ex.requestBody) ?? ""}`;
    const after = `${url}\n${body?.toString("utf8") ?? ""}`;
    ctx.uncovered.scan(before, after);
  }

  return {
    step: {
      index,
      source: ex,
      method,
      url,
      sendUrl,
      headers,
      body,
      identityKey: identity.key,
      upn: identity.upn,
      token,
      template: templateOf(method, url),
      batch,
    },
  };
}

/** https://127.0.0.1:9443/prefix + /v1.0/me?x → https://127.0.0.1:9443/prefix/v1.0/me?x */
function joinUpstream(base: URL, url: URL): string {
  const prefix = base.pathname.replace(/\/+$/, "");
  return `${base.origin}${prefix}${url.pathname}${url.search}`;
}
