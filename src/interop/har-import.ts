// graphtap import: a HAR file into a new "import" session of a capture. The HAR itself
// is read by ./har.ts (the one HAR reader); a HAR that graphtap wrote also carries
// `_graphtap` fields per entry, applied here so the import is lossless (ids, token hash
// and claims, exact body facts) instead of what a browser HAR can tell.
import { existsSync, readFileSync } from "node:fs";
import { UserError } from "../errors.js";
import { redactBodySecrets } from "../exchange/redact.js";
import { newId } from "../exchange/id.js";
import type { CapturedBody, Exchange, HeaderList } from "../exchange/types.js";
import { CaptureReader, CaptureWriter } from "../recorder/index.js";
import { readHarFile, type HarFile } from "./har.js";
import type { GraphtapEntryFields, HarBodyFacts } from "./har-types.js";

export interface ImportResult {
  sessionId: string;
  imported: number;
  /** Entries that carried graphtap's own fields (a HAR graphtap wrote). */
  lossless: number;
  /** Ids that already existed in the capture and were given new ones. */
  renamed: number;
}

interface RawEntry {
  request?: { headers?: Array<{ name?: unknown; value?: unknown }>; postData?: { text?: unknown; _encoding?: unknown } };
  _graphtap?: unknown;
}

/** `_graphtap` of each entry, by index; undefined where an entry has none. */
function graphtapFields(file: string): Array<{ fields: GraphtapEntryFields; raw: RawEntry } | undefined> {
  // readHarFile already validated the document; this pass only picks up our extension.
  const doc = JSON.parse(readFileSync(file, "utf8").replace(/^\uFEFF/, "")) as { log?: { entries?: RawEntry[] } };
  return (doc.log?.entries ?? []).map((raw) => {
    const f = raw._graphtap as Partial<GraphtapEntryFields> | undefined;
    if (!f || typeof f !== "object" || typeof f.exchangeId !== "string" || typeof f.startedAt !== "number") return undefined;
    return { fields: f as GraphtapEntryFields, raw };
  });
}

function withFacts(body: CapturedBody | undefined, facts: HarBodyFacts | undefined): CapturedBody | undefined {
  if (!body || !facts) return body;
  const out: CapturedBody = { bytes: body.bytes, wireSize: facts.wireSize, truncated: facts.truncated };
  if (facts.encoding) out.encoding = facts.encoding;
  return out;
}

/** The graphtap fields over what the HAR reader made of the entry. */
export function applyGraphtapFields(ex: Exchange, fields: GraphtapEntryFields, raw: RawEntry): Exchange {
  const out: Exchange = { ...ex, id: fields.exchangeId, startedAt: fields.startedAt, durationMs: fields.durationMs };
  if (fields.parentId) out.parentId = fields.parentId;
  if (fields.partId) out.partId = fields.partId;
  if (fields.dependsOn) out.dependsOn = fields.dependsOn;
  if (fields.sourceId) out.sourceId = fields.sourceId;
  if (fields.ttfbMs !== undefined) out.ttfbMs = fields.ttfbMs;
  else delete out.ttfbMs;
  if (fields.upstreamUrl) out.upstreamUrl = fields.upstreamUrl;
  else delete out.upstreamUrl;
  if (fields.clientAddress) out.clientAddress = fields.clientAddress;
  if (fields.tokenHash) {
    out.token = { hash: fields.tokenHash, claims: fields.claims ?? {} };
    // The HAR holds `Bearer <hash>` already; the reader took the hash for a raw token and
    // hashed it again. Only the exact redacted value is restored, never anything else.
    const rawAuth = raw.request?.headers?.find((h) => String(h.name).toLowerCase() === "authorization")?.value;
    if (rawAuth === `Bearer ${fields.tokenHash}`) out.requestHeaders = restoreAuth(out.requestHeaders, fields.tokenHash);
  }
  if (fields.status === undefined) {
    delete out.status;
    delete out.statusText;
    if (fields.error) out.error = fields.error;
  } else {
    if (fields.statusText !== undefined) out.statusText = fields.statusText;
    else delete out.statusText;
    if (fields.error) out.error = fields.error;
  }
  const post = raw.request?.postData;
  if (post?._encoding === "base64" && typeof post.text === "string" && out.requestBody) {
    out.requestBody = { ...out.requestBody, bytes: redactBodySecrets(Buffer.from(post.text, "base64")) };
  }
  const req = withFacts(out.requestBody, fields.requestBody);
  if (req) out.requestBody = req;
  const res = withFacts(out.responseBody, fields.responseBody);
  if (res) out.responseBody = res;
  return out;
}

function restoreAuth(headers: HeaderList, hash: string): HeaderList {
  return headers.map(([k, v]) => (k === "authorization" ? [k, `Bearer ${hash}`] : [k, v]));
}

/** Ids already present in the capture (so an import never collides with them). */
function takenIds(db: string, ids: string[]): Set<string> {
  if (!existsSync(db)) return new Set();
  const reader = CaptureReader.open(db);
  try {
    return new Set(ids.filter((id) => reader.exchange(id) !== undefined));
  } finally {
    reader.close();
  }
}

/**
 * Every entry of a HAR as an Exchange, with graphtap's own `_graphtap` fields applied
 * where present, so a HAR graphtap wrote reads back as the capture it came from (token
 * hash and claims, ids). What analyze reads; import adds fresh ids for foreign entries.
 */
export function readHarLossless(file: string): HarFile & { lossless: boolean[] } {
  const har = readHarFile(file);
  const extra = graphtapFields(file);
  return {
    ...har,
    exchanges: har.exchanges.map((ex, i) => {
      const g = extra[i];
      return g ? applyGraphtapFields(ex, g.fields, g.raw) : ex;
    }),
    lossless: har.exchanges.map((_, i) => extra[i] !== undefined),
  };
}

export function importHar(file: string, db: string, opts: { label?: string } = {}): ImportResult {
  const har = readHarLossless(file);
  const exchanges = har.exchanges.map((ex, i) => {
    const out = har.lossless[i] ? ex : { ...ex, id: newId(ex.startedAt) };
    out.httpVersion = out.httpVersion.replace(/^http\//i, "") || "1.1";
    return out;
  });
  const taken = takenIds(db, exchanges.map((e) => e.id));
  const rename = new Map<string, string>();
  for (const id of taken) rename.set(id, newId());

  let writer: CaptureWriter;
  try {
    writer = CaptureWriter.open(db);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`cannot open ${db}: ${(err as Error).message}`);
  }
  let sessionId: string;
  try {
    sessionId = writer.startSession({ kind: "import", source: file, ...(opts.label ? { label: opts.label } : {}) });
    for (const ex of exchanges) {
      const out: Exchange = { ...ex, id: rename.get(ex.id) ?? ex.id, sessionId };
      if (out.parentId) out.parentId = rename.get(out.parentId) ?? out.parentId;
      writer.write(out);
    }
  } finally {
    writer.close();
  }
  if (writer.dropped > 0) throw new UserError(`${writer.dropped} of ${exchanges.length} exchanges could not be written to ${db}`);
  return { sessionId, imported: exchanges.length, lossless: har.lossless.filter(Boolean).length, renamed: rename.size };
}
