// Deciding how a captured body can be shown: as text (pretty JSON when it parses) or
// summarised as binary. Shared by `show`, the HAR writer and the Dev Proxy mocks.
import type { CapturedBody, HeaderList } from "../exchange/types.js";
import { header } from "../exchange/types.js";

const TEXT_TYPES = /^(text\/|application\/([\w.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded|graphql|problem\+json|x-ndjson)|multipart\/(mixed|form-data|related))/i;

/** The media type without parameters, lower-cased ('' when absent). */
export function mediaType(headers: HeaderList): string {
  return (header(headers, "content-type") ?? "").split(";", 1)[0]!.trim().toLowerCase();
}

/**
 * Text when the content type says so, or (no usable type) when the bytes are valid
 * UTF-8 without control characters other than whitespace.
 */
export function isTextBody(headers: HeaderList, bytes: Buffer): boolean {
  const type = mediaType(headers);
  if (type && TEXT_TYPES.test(type)) return true;
  if (type && type !== "application/octet-stream") return false;
  return looksLikeText(bytes);
}

function looksLikeText(bytes: Buffer): boolean {
  const sample = bytes.subarray(0, 4096);
  for (const b of sample) if (b < 9 || (b > 13 && b < 32) || b === 127) return false;
  // A lone continuation byte at the cut is fine; anything else invalid is binary.
  const text = sample.toString("utf8");
  const bad = (text.match(/\uFFFD/g) ?? []).length;
  return bad <= (sample.length < bytes.length ? 1 : 0);
}

/** Parsed JSON when the body is JSON (by type or by shape), else undefined. */
export function jsonBody(headers: HeaderList, body: CapturedBody | undefined): unknown {
  if (!body || body.bytes.length === 0 || body.truncated) return undefined;
  const type = mediaType(headers);
  const text = body.bytes.toString("utf8").trim();
  const jsonish = /json/.test(type) || ((type === "" || type.startsWith("text/")) && /^[[{]/.test(text));
  if (!jsonish) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export interface BodyView {
  kind: "none" | "json" | "text" | "binary";
  /** Pretty text for json/text; a one-line summary for binary. */
  text: string;
  bytes: number;
  wireSize: number;
  truncated: boolean;
  mediaType: string;
}

export function viewBody(headers: HeaderList, body: CapturedBody | undefined): BodyView {
  const type = mediaType(headers);
  if (!body || body.bytes.length === 0) {
    return { kind: "none", text: "", bytes: 0, wireSize: body?.wireSize ?? 0, truncated: body?.truncated ?? false, mediaType: type };
  }
  const base = { bytes: body.bytes.length, wireSize: body.wireSize, truncated: body.truncated, mediaType: type };
  const json = jsonBody(headers, body);
  if (json !== undefined) return { ...base, kind: "json", text: JSON.stringify(json, null, 2) };
  if (isTextBody(headers, body.bytes)) return { ...base, kind: "text", text: body.bytes.toString("utf8") };
  return { ...base, kind: "binary", text: `[binary body: ${body.bytes.length} bytes${type ? `, ${type}` : ""}]` };
}
