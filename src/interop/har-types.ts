// HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) as graphtap writes it, and
// the `_graphtap` custom fields (custom fields start with `_` per the spec) that let
// `graphtap import` rebuild each Exchange exactly: ids, session, token hash and claims.
import type { CapturedBody, ExchangeError } from "../exchange/types.js";

export interface HarNameValue {
  name: string;
  value: string;
}

/** What a CapturedBody knows beyond its bytes (which HAR carries itself). */
export type HarBodyFacts = Omit<CapturedBody, "bytes">;

/** Per entry: everything of an Exchange that HAR has no field for. */
export interface GraphtapEntryFields {
  exchangeId: string;
  sessionId: string;
  parentId?: string;
  partId?: string;
  dependsOn?: string[];
  sourceId?: string;
  /** Exact start, epoch ms (startedDateTime keeps only ms too, but this avoids parsing). */
  startedAt: number;
  durationMs: number;
  ttfbMs?: number;
  /** Absent when no response arrived (the HAR status is then 0). */
  status?: number;
  /** The reason phrase as received; HAR's statusText is filled in when there was none. */
  statusText?: string;
  tokenHash?: string;
  identityKey: string;
  /** The kept (non-secret) claims of the token. */
  claims?: Record<string, unknown>;
  upstreamUrl?: string;
  clientAddress?: string;
  error?: ExchangeError;
  requestBody?: HarBodyFacts;
  responseBody?: HarBodyFacts;
}

export interface GraphtapSessionFields {
  id: string;
  kind: string;
  startedAt: number;
  endedAt?: number;
  label?: string;
  source?: string;
}

/** On log: where the HAR came from. */
export interface GraphtapLogFields {
  format: 1;
  capture: string;
  sessions: GraphtapSessionFields[];
}

export interface HarEntry {
  pageref?: string;
  startedDateTime: string;
  time: number;
  request: {
    method: string;
    url: string;
    httpVersion: string;
    cookies: HarNameValue[];
    headers: HarNameValue[];
    queryString: HarNameValue[];
    postData?: { mimeType: string; text: string; params?: HarNameValue[]; /** Not in HAR 1.2: set when `text` is base64 of a binary body. */ _encoding?: "base64" };
    headersSize: number;
    bodySize: number;
  };
  response: {
    status: number;
    statusText: string;
    httpVersion: string;
    cookies: HarNameValue[];
    headers: HarNameValue[];
    content: { size: number; mimeType: string; text?: string; encoding?: "base64"; compression?: number };
    redirectURL: string;
    headersSize: number;
    bodySize: number;
    _error?: string;
  };
  cache: Record<string, never>;
  timings: { blocked?: number; dns?: number; connect?: number; ssl?: number; send: number; wait: number; receive: number };
  serverIPAddress?: string;
  _graphtap: GraphtapEntryFields;
}

export interface HarLog {
  log: {
    version: "1.2";
    creator: { name: string; version: string };
    pages?: Array<{
      startedDateTime: string;
      id: string;
      title: string;
      pageTimings: { onContentLoad: number; onLoad: number };
    }>;
    entries: HarEntry[];
    _graphtap?: GraphtapLogFields;
  };
}
