// How `graphtap serve` recognises "the same request": method + canonical URL (the
// resourceKey), minus ignored query parameters, plus a few headers that change what
// Graph answers, plus the body for requests that have one. The token itself never takes
// part (the capture holds only its hash, and today's token is never the recorded one):
// who is calling is matched by identity in ./server.ts instead.
import { createHash } from "node:crypto";
import { UserError } from "../errors.js";
import { redactBodySecrets } from "../exchange/redact.js";
import type { HeaderList } from "../exchange/types.js";
import { resourceKey } from "../graph/templates.js";

/** Headers that change Graph's answer for the same URL; --ignore-header drops one. */
export const DEFAULT_MATCH_HEADERS = ["prefer", "consistencylevel"] as const;

export interface MatchOptions {
  /** Query parameter names left out of the match (case-insensitive, e.g. $skiptoken). */
  ignoreQuery: readonly string[];
  /** Request headers that must be equal (lower-case names). */
  matchHeaders: readonly string[];
  /** Compare request bodies (POST/PATCH/PUT). */
  matchBody: boolean;
}

export function matchOptions(opts: {
  ignoreQuery?: readonly string[];
  ignoreHeaders?: readonly string[];
  matchHeaders?: readonly string[];
  ignoreBody?: boolean;
}): MatchOptions {
  for (const h of opts.matchHeaders ?? []) {
    if (h.trim().toLowerCase() === "authorization") {
      throw new UserError(
        "--match-header authorization cannot work: tokens are stored hashed and today's token is never the recorded one; " +
          "the caller's identity is matched automatically (--any-identity turns that off)",
      );
    }
  }
  const ignored = new Set((opts.ignoreHeaders ?? []).map((h) => h.toLowerCase()));
  const headers = new Set<string>([...DEFAULT_MATCH_HEADERS, ...(opts.matchHeaders ?? []).map((h) => h.toLowerCase())]);
  return {
    ignoreQuery: (opts.ignoreQuery ?? []).map((q) => q.toLowerCase()),
    matchHeaders: [...headers].filter((h) => !ignored.has(h)).sort(),
    matchBody: !opts.ignoreBody,
  };
}

function dropQuery(url: string, ignore: readonly string[]): string {
  if (ignore.length === 0) return url;
  const hash = url.indexOf("#");
  const noFrag = hash < 0 ? url : url.slice(0, hash);
  const q = noFrag.indexOf("?");
  if (q < 0) return noFrag;
  const kept = noFrag
    .slice(q + 1)
    .split("&")
    .filter((pair) => {
      const name = pair.split("=", 1)[0]!;
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // keep the raw name
      }
      return pair !== "" && !ignore.includes(decoded.toLowerCase());
    });
  return kept.length ? `${noFrag.slice(0, q)}?${kept.join("&")}` : noFrag.slice(0, q);
}

/** The part of the key every request has: method, URL, matched headers. */
export function baseKey(method: string, url: string, headers: HeaderList, opts: MatchOptions): string {
  const parts = [resourceKey(method, dropQuery(url, opts.ignoreQuery))];
  for (const name of opts.matchHeaders) {
    const values = headers.filter(([k]) => k === name).map(([, v]) => v.trim());
    if (values.length) parts.push(`${name}: ${values.join(", ")}`);
  }
  return parts.join("\n");
}

/**
 * A fingerprint of a request body, or "" when there is none or bodies are not matched.
 * JSON is compared by value (key order and whitespace do not matter); $batch part
 * tokens are hashed exactly as the proxy stored them, so recorded and live agree.
 */
export function bodyKey(body: Buffer | undefined, opts: MatchOptions): string {
  if (!opts.matchBody || !body || body.length === 0) return "";
  const scrubbed = redactBodySecrets(body);
  let canonical: string = scrubbed.toString("utf8");
  try {
    canonical = JSON.stringify(sortKeys(JSON.parse(canonical)));
  } catch {
    // not JSON: the bytes themselves
  }
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}
