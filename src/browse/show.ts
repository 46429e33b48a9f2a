// `graphtap show`: one exchange by id or unique id prefix, with what Graph support asks
// for (request-id, client-request-id, error code, diagnostic) and who made the call.
import { UserError } from "../errors.js";
import type { Exchange } from "../exchange/types.js";
import { graphFieldsOf, type GraphFields } from "../graph/fields.js";
import { identityOf, type Identity } from "../graph/identity.js";
import { templateOf } from "../graph/templates.js";
import type { CaptureReader } from "../recorder/index.js";
import { viewBody, type BodyView } from "./body.js";

/** The exchange with this id, or the only one whose id starts with `spec` (any case). */
export function findExchange(reader: CaptureReader, spec: string): Exchange {
  const want = spec.trim().toUpperCase();
  if (want.length === 0) throw new UserError("give an exchange id (graphtap list shows them)");
  const exact = reader.exchange(want);
  if (exact) return exact;
  // Ids are not indexed by prefix in the reader's API; a slim scan is fast enough for
  // one lookup and stops at the second hit.
  const hits: string[] = [];
  for (const s of reader.summaries()) {
    if (s.id.startsWith(want)) {
      hits.push(s.id);
      if (hits.length > 1) break;
    }
  }
  if (hits.length === 0) throw new UserError(`no exchange ${spec} in ${reader.file} (graphtap list shows the ids)`);
  if (hits.length > 1) throw new UserError(`id prefix ${spec} is ambiguous (${hits.join(", ")}…); give more characters`);
  const found = reader.exchange(hits[0]!);
  if (!found) throw new UserError(`exchange ${hits[0]} vanished while reading ${reader.file}`);
  return found;
}

export interface ExchangeView {
  id: string;
  sessionId: string;
  parentId?: string;
  sourceId?: string;
  time: string;
  durationMs: number;
  ttfbMs?: number;
  method: string;
  url: string;
  template: string;
  httpVersion: string;
  status?: number;
  statusText?: string;
  error?: Exchange["error"];
  upstreamUrl?: string;
  clientAddress?: string;
  request: { headers: Array<[string, string]>; body: BodyView };
  response: { headers: Array<[string, string]>; body: BodyView };
  graph: GraphFields;
  identity: Identity & { tokenHash?: string; claims?: Record<string, unknown> };
}

export function viewExchange(ex: Exchange): ExchangeView {
  const v: ExchangeView = {
    id: ex.id,
    sessionId: ex.sessionId,
    time: new Date(ex.startedAt).toISOString(),
    durationMs: ex.durationMs,
    method: ex.method,
    url: ex.url,
    template: templateOf(ex.method, ex.url),
    httpVersion: ex.httpVersion,
    request: { headers: ex.requestHeaders, body: viewBody(ex.requestHeaders, ex.requestBody) },
    response: { headers: ex.responseHeaders, body: viewBody(ex.responseHeaders, ex.responseBody) },
    graph: safeFields(ex),
    identity: {
      ...identityOf(ex.token),
      ...(ex.token ? { tokenHash: ex.token.hash, claims: ex.token.claims } : {}),
    },
  };
  if (ex.parentId) v.parentId = ex.parentId;
  if (ex.sourceId) v.sourceId = ex.sourceId;
  if (ex.ttfbMs !== undefined) v.ttfbMs = ex.ttfbMs;
  if (ex.status !== undefined) v.status = ex.status;
  if (ex.statusText) v.statusText = ex.statusText;
  if (ex.error) v.error = ex.error;
  if (ex.upstreamUrl) v.upstreamUrl = ex.upstreamUrl;
  if (ex.clientAddress) v.clientAddress = ex.clientAddress;
  return v;
}

function safeFields(ex: Exchange): GraphFields {
  try {
    return graphFieldsOf(ex);
  } catch {
    return {};
  }
}
