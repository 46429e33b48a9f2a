// Capture → HAR 1.2 that Chrome DevTools, Fiddler and Charles open. Entries are
// streamed to the file one at a time (a capture can be larger than memory). Secrets are
// already redacted in every Exchange; nothing here adds any back.
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { UserError } from "../errors.js";
import type { CapturedBody, Exchange, HeaderList } from "../exchange/types.js";
import { identityOf } from "../graph/identity.js";
import type { CaptureReader, ExchangeFilter, SessionInfo } from "../recorder/index.js";
import { isTextBody, mediaType } from "../browse/body.js";
import type { GraphtapEntryFields, GraphtapLogFields, HarBodyFacts, HarEntry, HarLog, HarNameValue } from "./har-types.js";

const STATUS_TEXT: Record<number, string> = {
  200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
  301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified", 307: "Temporary Redirect",
  400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
  409: "Conflict", 410: "Gone", 412: "Precondition Failed", 413: "Payload Too Large", 423: "Locked",
  429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
  504: "Gateway Timeout",
};

export function toolVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
}

function nameValues(headers: HeaderList): HarNameValue[] {
  return headers.map(([name, value]) => ({ name, value }));
}

function queryString(url: string): HarNameValue[] {
  const q = url.indexOf("?");
  if (q < 0) return [];
  const search = url.slice(q + 1).split("#", 1)[0]!;
  const out: HarNameValue[] = [];
  for (const pair of search.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? "" : pair.slice(eq + 1);
    out.push({ name: safeDecode(name), value: safeDecode(value) });
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s;
  }
}

function bodyFacts(body: CapturedBody | undefined): HarBodyFacts | undefined {
  if (!body) return undefined;
  const f: HarBodyFacts = { wireSize: body.wireSize, truncated: body.truncated };
  if (body.encoding) f.encoding = body.encoding;
  return f;
}

function httpVersion(v: string): string {
  return /^http\//i.test(v) ? v.toUpperCase() : `HTTP/${v}`;
}

/** One Exchange as one HAR entry. */
export function toHarEntry(ex: Exchange): HarEntry {
  const identity = identityOf(ex.token);
  const fields: GraphtapEntryFields = {
    exchangeId: ex.id,
    sessionId: ex.sessionId,
    startedAt: ex.startedAt,
    durationMs: ex.durationMs,
    identityKey: identity.key,
  };
  if (ex.parentId) fields.parentId = ex.parentId;
  if (ex.partId) fields.partId = ex.partId;
  if (ex.dependsOn) fields.dependsOn = ex.dependsOn;
  if (ex.sourceId) fields.sourceId = ex.sourceId;
  if (ex.ttfbMs !== undefined) fields.ttfbMs = ex.ttfbMs;
  if (ex.status !== undefined) fields.status = ex.status;
  if (ex.statusText !== undefined) fields.statusText = ex.statusText;
  if (ex.token) {
    fields.tokenHash = ex.token.hash;
    fields.claims = ex.token.claims;
  }
  if (ex.upstreamUrl) fields.upstreamUrl = ex.upstreamUrl;
  if (ex.clientAddress) fields.clientAddress = ex.clientAddress;
  if (ex.error) fields.error = ex.error;
  const reqFacts = bodyFacts(ex.requestBody);
  if (reqFacts) fields.requestBody = reqFacts;
  const resFacts = bodyFacts(ex.responseBody);
  if (resFacts) fields.responseBody = resFacts;

  const total = Math.max(0, ex.durationMs);
  const wait = Math.min(total, Math.max(0, ex.ttfbMs ?? total));
  const entry: HarEntry = {
    pageref: ex.sessionId,
    startedDateTime: new Date(ex.startedAt).toISOString(),
    time: total,
    request: {
      method: ex.method,
      url: ex.url,
      httpVersion: httpVersion(ex.httpVersion),
      cookies: [],
      headers: nameValues(ex.requestHeaders),
      queryString: queryString(ex.url),
      headersSize: -1,
      bodySize: ex.requestBody ? ex.requestBody.wireSize : 0,
    },
    response: {
      status: ex.status ?? 0,
      statusText: ex.status !== undefined ? (ex.statusText ?? STATUS_TEXT[ex.status] ?? "") : "",
      httpVersion: httpVersion(ex.httpVersion),
      cookies: [],
      headers: nameValues(ex.responseHeaders),
      content: { size: ex.responseBody?.bytes.length ?? 0, mimeType: mediaTypeFull(ex.responseHeaders) },
      redirectURL: "",
      headersSize: -1,
      bodySize: ex.status === undefined ? -1 : (ex.responseBody?.wireSize ?? 0),
    },
    cache: {},
    timings: { send: 0, wait, receive: total - wait },
    _graphtap: fields,
  };
  const location = ex.responseHeaders.find(([k]) => k === "location")?.[1];
  if (location && ex.status !== undefined && ex.status >= 300 && ex.status < 400) entry.response.redirectURL = location;
  if (ex.error) entry.response._error = `${ex.error.code}: ${ex.error.message}`;

  const req = ex.requestBody;
  if (req && req.bytes.length > 0) {
    const mimeType = mediaTypeFull(ex.requestHeaders);
    entry.request.postData = isTextBody(ex.requestHeaders, req.bytes)
      ? { mimeType, text: req.bytes.toString("utf8") }
      : { mimeType, text: req.bytes.toString("base64"), _encoding: "base64" };
  }
  const res = ex.responseBody;
  if (res && res.bytes.length > 0) {
    if (isTextBody(ex.responseHeaders, res.bytes)) entry.response.content.text = res.bytes.toString("utf8");
    else {
      entry.response.content.text = res.bytes.toString("base64");
      entry.response.content.encoding = "base64";
    }
  }
  return entry;
}

/** The Content-Type as sent (with charset), which is what HAR's mimeType holds. */
function mediaTypeFull(headers: HeaderList): string {
  return headers.find(([k]) => k === "content-type")?.[1] ?? (mediaType(headers) || "");
}

function sessionFields(s: SessionInfo): GraphtapLogFields["sessions"][number] {
  const out: GraphtapLogFields["sessions"][number] = { id: s.id, kind: s.kind, startedAt: s.startedAt };
  if (s.endedAt !== undefined) out.endedAt = s.endedAt;
  if (s.label) out.label = s.label;
  if (s.source) out.source = s.source;
  return out;
}

export interface ExportResult {
  entries: number;
  file: string;
}

/** Writes the exchanges of `reader` (optionally filtered) as a HAR file at `out`. */
export function exportHar(reader: CaptureReader, out: string, filter: ExchangeFilter = {}): ExportResult {
  const sessions = reader.sessions().filter((s) => !filter.sessionId || s.id === filter.sessionId);
  const head: Omit<HarLog["log"], "entries"> = {
    version: "1.2",
    creator: { name: "graphtap", version: toolVersion() },
    pages: sessions.map((s) => ({
      startedDateTime: new Date(s.startedAt).toISOString(),
      id: s.id,
      title: `graphtap ${s.kind} session ${s.id}${s.label ? ` (${s.label})` : ""}`,
      pageTimings: { onContentLoad: -1, onLoad: -1 },
    })),
    _graphtap: { format: 1, capture: reader.file, sessions: sessions.map(sessionFields) },
  };
  let fd: number;
  try {
    fd = openSync(out, "w");
  } catch (err) {
    throw new UserError(`cannot write ${out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let entries = 0;
  try {
    // The log object without its closing brace, then the entries one by one.
    const prefix = JSON.stringify({ log: { ...head, entries: [] } }, null, 2);
    const cut = prefix.lastIndexOf('"entries": []');
    writeSync(fd, `${prefix.slice(0, cut)}"entries": [`);
    for (const ex of reader.exchanges(filter)) {
      const text = JSON.stringify(toHarEntry(ex), null, 2).replace(/\n/g, "\n      ");
      writeSync(fd, `${entries === 0 ? "" : ","}\n      ${text}`);
      entries++;
    }
    writeSync(fd, `${entries ? "\n    " : ""}]${prefix.slice(cut + '"entries": []'.length)}\n`);
  } finally {
    closeSync(fd);
  }
  return { entries, file: out };
}
