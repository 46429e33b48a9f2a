// JSON batching (learn.microsoft.com/graph/json-batching): one POST /$batch carries up to
// 20 requests. graphtap analyzes the parts, not the envelope: a guest's refused
// /shares call hidden in a batch is still a flip.
import type { CapturedBody, Exchange, HeaderList } from "../exchange/types.js";
import { pathOf } from "./templates.js";

export interface BatchRequestPart {
  id: string;
  method: string;
  /** Relative to the envelope's version root: `/me/drive` or `me/drive`. */
  url: string;
  headers?: Record<string, string>;
  /** A JSON value, or a base64 string for non-JSON content. */
  body?: unknown;
  dependsOn?: string[];
}

export interface BatchResponsePart {
  id: string;
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** True for a `…/$batch` URL (query ignored, `%24batch` accepted). */
export function isBatchUrl(url: string): boolean {
  return /\/(\$|%24)batch\/?$/i.test(pathOf(url));
}

export function parseBatchRequest(body: string | Buffer): BatchRequestPart[] | undefined {
  const root = parseJsonObject(body);
  const requests = root?.["requests"];
  if (!Array.isArray(requests)) return undefined;
  const out: BatchRequestPart[] = [];
  for (const r of requests) {
    if (!isRecord(r)) return undefined;
    const id = idOf(r["id"]);
    const method = r["method"];
    const url = r["url"];
    if (id === undefined || typeof method !== "string" || typeof url !== "string") return undefined;
    const part: BatchRequestPart = { id, method, url };
    const headers = stringRecord(r["headers"]);
    if (headers) part.headers = headers;
    if (r["body"] !== undefined) part.body = r["body"];
    const deps = r["dependsOn"];
    if (Array.isArray(deps)) part.dependsOn = deps.map((d) => idOf(d)).filter((d): d is string => d !== undefined);
    out.push(part);
  }
  return out;
}

export function parseBatchResponse(body: string | Buffer): BatchResponsePart[] | undefined {
  const root = parseJsonObject(body);
  const responses = root?.["responses"];
  if (!Array.isArray(responses)) return undefined;
  const out: BatchResponsePart[] = [];
  for (const r of responses) {
    if (!isRecord(r)) return undefined;
    const id = idOf(r["id"]);
    const status = typeof r["status"] === "number" ? r["status"] : Number(r["status"]);
    if (id === undefined || !Number.isInteger(status)) return undefined;
    const part: BatchResponsePart = { id, status };
    const headers = stringRecord(r["headers"]);
    if (headers) part.headers = headers;
    if (r["body"] !== undefined) part.body = r["body"];
    out.push(part);
  }
  return out;
}

export function buildBatchRequest(parts: BatchRequestPart[]): string {
  return JSON.stringify({
    requests: parts.map((p) => {
      const r: Record<string, unknown> = { id: p.id, method: p.method, url: p.url };
      if (p.dependsOn && p.dependsOn.length > 0) r["dependsOn"] = p.dependsOn;
      if (p.headers) r["headers"] = p.headers;
      if (p.body !== undefined) r["body"] = p.body;
      return r;
    }),
  });
}

/** Envelope response headers a part inherits when it lacks them: what support asks for. */
const INHERITED_RESPONSE_HEADERS = ["request-id", "client-request-id", "x-ms-ags-diagnostic", "date"];

/**
 * The parts of a $batch envelope as exchanges of their own, in request order. Undefined
 * when `ex` is not a batch or its bodies cannot be read (missing, truncated, not JSON).
 * When the envelope itself was refused (no batch body, e.g. a 401 for the whole call),
 * every part carries the envelope's status and error body: none of them ran.
 */
export function expandBatch(ex: Exchange): Exchange[] | undefined {
  if (ex.method.toUpperCase() !== "POST" || !isBatchUrl(ex.url)) return undefined;
  if (!ex.requestBody || ex.requestBody.truncated) return undefined;
  const requests = parseBatchRequest(ex.requestBody.bytes);
  if (!requests) return undefined;

  let responses: Map<string, BatchResponsePart> | undefined;
  let envelopeFailed = false;
  if (ex.status !== undefined && ex.status >= 200 && ex.status < 300) {
    if (!ex.responseBody || ex.responseBody.truncated) return undefined;
    const parsed = parseBatchResponse(ex.responseBody.bytes);
    if (!parsed) return undefined;
    responses = new Map(parsed.map((p) => [p.id, p]));
  } else if (ex.status !== undefined) {
    envelopeFailed = true;
  }

  const base = batchBase(ex.url);
  const auth = ex.requestHeaders.find(([name]) => name === "authorization");
  const inherited = ex.responseHeaders.filter(([name]) => INHERITED_RESPONSE_HEADERS.includes(name));

  return requests.map((part) => {
    const requestHeaders = headerList(part.headers).filter(([name]) => name !== "authorization");
    // A part's own Authorization would be a raw token in the body: never carried over.
    if (auth) requestHeaders.push(auth);
    const out: Exchange = {
      id: `${ex.id}.${part.id}`,
      sessionId: ex.sessionId,
      parentId: ex.id,
      partId: part.id,
      startedAt: ex.startedAt,
      durationMs: ex.durationMs,
      method: part.method.toUpperCase(),
      url: partUrl(base, part.url),
      httpVersion: ex.httpVersion,
      requestHeaders,
      responseHeaders: [],
    };
    if (part.dependsOn && part.dependsOn.length > 0) out.dependsOn = part.dependsOn;
    if (ex.sourceId !== undefined) out.sourceId = `${ex.sourceId}.${part.id}`;
    if (ex.token) out.token = ex.token;
    if (ex.clientAddress !== undefined) out.clientAddress = ex.clientAddress;
    const reqBody = capturedBody(part.body);
    if (reqBody) out.requestBody = reqBody;

    if (envelopeFailed) {
      out.status = ex.status;
      if (ex.statusText !== undefined) out.statusText = ex.statusText;
      out.responseHeaders = [...ex.responseHeaders];
      if (ex.responseBody) out.responseBody = ex.responseBody;
      return out;
    }
    const res = responses?.get(part.id);
    if (!res) {
      out.responseHeaders = [...inherited];
      out.error = ex.error ?? {
        code: "BATCH_PART_MISSING",
        message: `the $batch response has no part with id ${JSON.stringify(part.id)}`,
        phase: "response",
      };
      return out;
    }
    out.status = res.status;
    const resHeaders = headerList(res.headers);
    for (const h of inherited) if (!resHeaders.some(([name]) => name === h[0])) resHeaders.push(h);
    out.responseHeaders = resHeaders;
    const resBody = capturedBody(res.body);
    if (resBody) out.responseBody = resBody;
    return out;
  });
}

/** Ordinary exchanges as they are; each $batch envelope replaced by its parts when it can be. */
export function* logicalExchanges(items: Iterable<Exchange>): Generator<Exchange> {
  for (const ex of items) {
    const parts = isBatchUrl(ex.url) ? expandBatch(ex) : undefined;
    if (parts) yield* parts;
    else yield ex;
  }
}

/** `https://graph.microsoft.com/v1.0/$batch?x` → `https://graph.microsoft.com/v1.0/` */
function batchBase(url: string): string {
  const noQuery = url.split(/[?#]/, 1)[0]!;
  return noQuery.replace(/(\$|%24)batch\/?$/i, "");
}

function partUrl(base: string, url: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return url;
  let rel = url.replace(/^\/+/, "");
  // Some clients repeat the version in the part URL; Graph's base already has it.
  const version = /\/([^/]+)\/$/.exec(base)?.[1];
  if (version && rel.toLowerCase().startsWith(`${version.toLowerCase()}/`)) rel = rel.slice(version.length + 1);
  // An unencoded '#' (a guest's #EXT# UPN) is part of the path in a part URL, not a fragment.
  return `${base}${rel.replace(/#/g, "%23")}`;
}

function headerList(headers: Record<string, string> | undefined): HeaderList {
  return headers ? Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]) : [];
}

/** Objects are stored as JSON; strings (base64 bodies of non-JSON content) as given. */
function capturedBody(body: unknown): CapturedBody | undefined {
  if (body === undefined || body === null) return undefined;
  const bytes = Buffer.from(typeof body === "string" ? body : JSON.stringify(body), "utf8");
  return { bytes, wireSize: bytes.length, truncated: false };
}

function parseJsonObject(body: string | Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(typeof body === "string" ? body : body.toString("utf8"));
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function idOf(v: unknown): string | undefined {
  if (typeof v === "string" && v !== "") return v;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return undefined;
}

function stringRecord(v: unknown): Record<string, string> | undefined {
  if (!isRecord(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val === "string") out[k] = val;
    else if (typeof val === "number" || typeof val === "boolean") out[k] = String(val);
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
