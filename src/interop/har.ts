// HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) read into Exchanges, so a
// browser DevTools, Fiddler or Charles export is analyzed like a capture. Raw bearer
// tokens in a HAR are redacted on read (hash + kept claims): they never leave this file.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { UserError } from "../errors.js";
import { redactBodySecrets, redactRequestHeaders, redactResponseHeaders } from "../exchange/redact.js";
import type { CapturedBody, Exchange, HeaderList } from "../exchange/types.js";

// Only what graphtap reads is validated; every other field (comments, _custom fields,
// cookies, cache) is tolerated and ignored. Exporters disagree on optional fields, so
// the schema is strict about the spec's required core and lenient about the rest.
const HarHeader = z.object({ name: z.string(), value: z.coerce.string() });
const Headers = z.array(HarHeader).nullish().transform((h) => h ?? []);

const HarRequest = z.object({
  method: z.string().min(1),
  url: z.string().min(1),
  httpVersion: z.string().nullish(),
  headers: Headers,
  postData: z
    .object({
      mimeType: z.string().nullish(),
      text: z.string().nullish(),
      encoding: z.string().nullish(),
    })
    .nullish(),
  bodySize: z.number().nullish(),
});

const HarResponse = z.object({
  status: z.number().int(),
  statusText: z.string().nullish(),
  httpVersion: z.string().nullish(),
  headers: Headers,
  content: z
    .object({
      size: z.number().nullish(),
      mimeType: z.string().nullish(),
      text: z.string().nullish(),
      encoding: z.string().nullish(),
    })
    .nullish(),
  bodySize: z.number().nullish(),
  _error: z.string().nullish(),
});

const HarTimings = z
  .object({
    blocked: z.number().nullish(),
    dns: z.number().nullish(),
    connect: z.number().nullish(),
    send: z.number().nullish(),
    wait: z.number().nullish(),
    receive: z.number().nullish(),
    ssl: z.number().nullish(),
  })
  .nullish();

const HarEntry = z.object({
  startedDateTime: z.string().refine((s) => Number.isFinite(Date.parse(s)), "not an ISO 8601 date"),
  time: z.number().nullish(),
  request: HarRequest,
  response: HarResponse,
  timings: HarTimings,
  serverIPAddress: z.string().nullish(),
});

const Har = z.object({
  log: z.object({
    version: z.string().nullish(),
    entries: z.array(HarEntry),
  }),
});

type HarEntry = z.infer<typeof HarEntry>;

/** What readHar() hands back besides the exchanges. */
export interface HarFile {
  file: string;
  /** Stable per file content: exchange ids are `${prefix}-${n}` so a re-read finds them again. */
  prefix: string;
  exchanges: Exchange[];
}

/**
 * Reads and validates a HAR file into Exchanges (entry order). Throws a one-line
 * UserError for a file that is not JSON or not HAR 1.2.
 */
export function readHarFile(file: string): HarFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UserError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseHar(text, file);
}

/** readHarFile() as an iterable of exchanges, for callers that only stream. */
export function readHar(file: string): Iterable<Exchange> {
  return readHarFile(file).exchanges;
}

export function parseHar(text: string, file = "HAR"): HarFile {
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (err) {
    throw new UserError(`${file} is not a valid HAR file: ${oneLine((err as Error).message)}`);
  }
  const parsed = Har.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("").replace(/^\./, "") : "the document";
    throw new UserError(`${file} is not a valid HAR file: ${where}: ${oneLine(issue?.message ?? "invalid")}`);
  }
  const prefix = `har-${createHash("sha256").update(text).digest("hex").slice(0, 8)}`;
  const sessionId = prefix;
  const exchanges = parsed.data.log.entries.map((e, i) => toExchange(e, `${prefix}-${i + 1}`, sessionId));
  return { file, prefix, exchanges };
}

function toExchange(e: HarEntry, id: string, sessionId: string): Exchange {
  const { headers: requestHeaders, token } = redactRequestHeaders(headerList(e.request.headers));
  const ex: Exchange = {
    id,
    sessionId,
    startedAt: Date.parse(e.startedDateTime),
    durationMs: Math.max(0, e.time ?? 0),
    method: e.request.method.toUpperCase(),
    url: e.request.url,
    httpVersion: e.request.httpVersion ?? "",
    requestHeaders,
    responseHeaders: redactResponseHeaders(headerList(e.response.headers)),
  };
  if (token) ex.token = token;
  const t = e.timings;
  if (t && typeof t.wait === "number" && t.wait >= 0) {
    // Time to first byte: everything before `receive` (-1 means "does not apply").
    ex.ttfbMs = [t.blocked, t.dns, t.connect, t.send, t.wait].reduce<number>((s, v) => s + (v && v > 0 ? v : 0), 0);
  }
  const reqText = e.request.postData?.text;
  if (reqText != null && reqText !== "") {
    const bytes = e.request.postData?.encoding === "base64" ? Buffer.from(reqText, "base64") : Buffer.from(reqText, "utf8");
    ex.requestBody = body(redactBodySecrets(bytes), e.request.bodySize);
  }
  // Status 0 is how DevTools and Charles write "no response" (blocked, aborted, offline).
  if (e.response.status > 0) {
    ex.status = e.response.status;
    if (e.response.statusText) ex.statusText = e.response.statusText;
    const c = e.response.content;
    if (c?.text != null && c.text !== "") {
      const bytes = c.encoding === "base64" ? Buffer.from(c.text, "base64") : Buffer.from(c.text, "utf8");
      ex.responseBody = body(redactBodySecrets(bytes), e.response.bodySize);
    }
  } else {
    ex.error = { code: "NO_RESPONSE", message: e.response._error ?? "the HAR entry has no response", phase: "response" };
  }
  if (e.serverIPAddress) ex.upstreamUrl = e.serverIPAddress;
  return ex;
}

/** Lower-cased names; HTTP/2 pseudo-headers (:authority…) are not headers. */
function headerList(headers: Array<{ name: string; value: string }>): HeaderList {
  const out: HeaderList = [];
  for (const h of headers) {
    const name = h.name.toLowerCase();
    if (!name.startsWith(":")) out.push([name, h.value]);
  }
  return out;
}

function body(bytes: Buffer, wireSize: number | null | undefined): CapturedBody {
  return { bytes, wireSize: wireSize && wireSize > 0 ? wireSize : bytes.length, truncated: false };
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}
