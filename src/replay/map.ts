// The replay map file and the id rewriting it drives.
//
// Semantics (what `replace` means): every key is matched as a case-insensitive
// SUBSTRING, longest key first, in one pass (a replaced value is never matched
// again), inside
//   - each path segment, percent-decoded (so `alice_x.com#EXT#@…` matches `%23EXT%23`),
//   - each query value, percent-decoded,
//   - every string value of a JSON request body, recursively,
//   - $batch parts: their url, header values and JSON bodies,
//   - the sharing URL inside a `/shares/u!…` id (decoded, rewritten, encoded again),
//   - other request header values.
// Keys that hold a `/` (URLs, paths) also match across segments of the whole path.
// The host is never rewritten: where requests go is --upstream's job.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { UserError } from "../errors.js";
import { buildBatchRequest, parseBatchRequest } from "../graph/batch.js";
import { decodeShareId, encodeShareId } from "../graph/shares.js";

export type TokenSpec = `env:${string}` | `file:${string}` | `cmd:${string}`;

export interface ReplayMap {
  replace: Record<string, string>;
  tokens: Record<string, TokenSpec>;
}

const TokenSpecSchema = z
  .string()
  .refine((s) => /^(env|file|cmd):/.test(s), { message: "must start with env:, file: or cmd:" })
  .refine((s) => s.slice(s.indexOf(":") + 1).trim() !== "", { message: "names nothing after its prefix" });

const MapSchema = z
  .object({
    replace: z
      .record(z.string().min(1, { message: "an empty key would match everywhere" }), z.string({ message: "must be a string" }))
      .default({}),
    tokens: z.record(z.string().min(1), TokenSpecSchema).default({}),
  })
  .strict();

/** `["tokens","alice"]` → `tokens["alice"]`; numbers as `[0]`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else if (out === "" && typeof p === "string" && /^[A-Za-z_$][\w$]*$/.test(p)) out = p;
    else out += `[${JSON.stringify(String(p))}]`;
  }
  return out || "(top level)";
}

/** Line and column (1-based) of a character offset. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}

/** Parses and validates map text; every mistake is a UserError naming `label` and the path. */
export function parseMap(text: string, label: string): ReplayMap {
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (err) {
    const msg = (err as Error).message;
    const pos = /position (\d+)/.exec(msg);
    const lc = /line (\d+) column (\d+)/.exec(msg);
    const where = lc
      ? `line ${lc[1]}, column ${lc[2]}`
      : pos
        ? (({ line, column }) => `line ${line}, column ${column}`)(lineColumn(text, Number(pos[1])))
        : "end of file";
    throw new UserError(`${label}: invalid JSON at ${where}: ${msg.replace(/\s*(in JSON )?at position \d+.*$/, "")}`);
  }
  const parsed = MapSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    let message = issue.message;
    if (issue.code === "unrecognized_keys") message = `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => JSON.stringify(k)).join(", ")} (expected "replace" and "tokens")`;
    else if (issue.code === "invalid_type") message = `must be ${issue.expected === "record" || issue.expected === "object" ? "an object" : `a ${issue.expected}`}`;
    const more = parsed.error.issues.length > 1 ? ` (and ${parsed.error.issues.length - 1} more)` : "";
    throw new UserError(`${label}: ${formatPath(issue.path)}: ${message}${more}`);
  }
  return { replace: parsed.data.replace, tokens: parsed.data.tokens as Record<string, TokenSpec> };
}

export function loadMap(file: string): ReplayMap {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UserError(`cannot read --map ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseMap(text, file);
}

const SHARE_IN_TEXT = /\bu![A-Za-z0-9_-]{8,}/g;

/** Applies the `replace` section to URLs, strings, JSON bodies and $batch envelopes. */
export class Rewriter {
  private readonly pattern: RegExp | undefined;
  private readonly pathPattern: RegExp | undefined;
  private readonly values = new Map<string, string>();

  constructor(replace: Record<string, string>) {
    const keys = Object.keys(replace).sort((a, b) => b.length - a.length);
    for (const k of keys) if (!this.values.has(k.toLowerCase())) this.values.set(k.toLowerCase(), replace[k]!);
    const alt = (ks: string[]) => new RegExp(ks.map(escapeRegExp).join("|"), "gi");
    if (keys.length) this.pattern = alt(keys);
    const slashKeys = keys.filter((k) => k.includes("/"));
    if (slashKeys.length) this.pathPattern = alt(slashKeys);
  }

  get empty(): boolean {
    return this.pattern === undefined;
  }

  /** Substring replacement in plain text, with share ids inside it re-encoded. */
  text(s: string): string {
    if (!this.pattern) return s;
    // Share ids first: their base64 never contains a key, their decoded URL may.
    const withShares = s.includes("u!") ? s.replace(SHARE_IN_TEXT, (id) => this.shareId(id)) : s;
    return this.plain(withShares);
  }

  /** A `u!…` id: the sharing URL inside rewritten, then encoded again. */
  shareId(id: string): string {
    const url = decodeShareId(id);
    if (url === undefined) return this.plain(id);
    const next = this.plain(url);
    return next === url ? id : encodeShareId(next);
  }

  private plain(s: string): string {
    if (!this.pattern) return s;
    this.pattern.lastIndex = 0;
    return s.replace(this.pattern, (m) => this.values.get(m.toLowerCase()) ?? m);
  }

  /**
   * An absolute or relative URL: each path segment and each query value, decoded,
   * rewritten, and encoded again only if it changed (untouched parts stay byte-exact).
   */
  url(url: string): string {
    if (!this.pattern) return url;
    const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)?([^?]*)(\?[^#]*)?(#.*)?$/i.exec(url);
    if (!m) return this.text(url);
    const origin = m[1] ?? "";
    let path = (m[2] ?? "")
      .split("/")
      .map((seg) => this.segment(seg))
      .join("/");
    if (this.pathPattern) {
      const decoded = safeDecode(path);
      this.pathPattern.lastIndex = 0;
      if (this.pathPattern.test(decoded)) {
        this.pathPattern.lastIndex = 0;
        path = decoded
          .replace(this.pathPattern, (k) => this.values.get(k.toLowerCase()) ?? k)
          .split("/")
          .map(encodePathSegment)
          .join("/");
      }
    }
    // A rewritten path can never reach into the authority (https://graph…@evil/…).
    if (origin && path !== "" && !path.startsWith("/")) path = `/${path}`;
    const query = m[3] === undefined ? "" : `?${m[3].slice(1).split("&").map((p) => this.queryPair(p)).join("&")}`;
    return `${origin}${path}${query}${m[4] ?? ""}`;
  }

  private segment(raw: string): string {
    if (raw === "") return raw;
    const decoded = safeDecode(raw);
    if (/^u!/.test(decoded)) {
      const next = this.shareId(decoded);
      return next === decoded ? raw : encodePathSegment(next);
    }
    const next = this.text(decoded);
    return next === decoded ? raw : encodePathSegment(next);
  }

  private queryPair(pair: string): string {
    const eq = pair.indexOf("=");
    if (eq < 0) return pair;
    const raw = pair.slice(eq + 1);
    const decoded = safeDecode(raw);
    const next = this.text(decoded);
    return next === decoded ? pair : `${pair.slice(0, eq + 1)}${encodeQueryValue(next)}`;
  }

  /** Every string of a JSON value, recursively (object keys are left alone). */
  json(value: unknown): unknown {
    if (typeof value === "string") return this.text(value);
    if (Array.isArray(value)) return value.map((v) => this.json(v));
    if (value !== null && typeof value === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.json(v);
      return out;
    }
    return value;
  }

  /**
   * A request body: JSON is rewritten value by value (and re-serialised only if
   * something changed); anything else is sent as recorded.
   */
  body(bytes: Buffer, contentType: string | undefined): Buffer {
    if (!this.pattern || bytes.length === 0) return bytes;
    if (contentType !== undefined && !/json/i.test(contentType)) return bytes;
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString("utf8"));
    } catch {
      return bytes;
    }
    const next = this.json(parsed);
    const text = JSON.stringify(next);
    return text === JSON.stringify(parsed) ? bytes : Buffer.from(text, "utf8");
  }

  /** A $batch envelope body: each part's url, headers and body; undefined if it is not one. */
  batch(bytes: Buffer): Buffer | undefined {
    const parts = parseBatchRequest(bytes);
    if (!parts) return undefined;
    if (!this.pattern) return bytes;
    const next = parts.map((p) => {
      const out = { ...p, url: this.url(p.url) };
      if (p.headers) {
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(p.headers)) h[k] = this.text(v);
        out.headers = h;
      }
      if (p.body !== undefined) out.body = this.json(p.body);
      return out;
    });
    return Buffer.from(buildBatchRequest(next), "utf8");
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Percent-encodes what a path segment cannot hold; keeps Graph's `!,:@'()$=` readable. */
export function encodePathSegment(s: string): string {
  return encodeURIComponent(s).replace(/%(21|24|26|27|28|29|2A|2B|2C|3A|3B|3D|40)/gi, (_m, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

function encodeQueryValue(s: string): string {
  return encodeURIComponent(s).replace(/%(21|24|27|28|29|2A|2C|3A|40|2F)/gi, (_m, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

// ---------------------------------------------------------------------------------
// Ids the map does not cover

const ID_KINDS: Array<[kind: string, pattern: RegExp]> = [
  ["share id", /(?<![A-Za-z0-9_-])[us]![A-Za-z0-9_-]{8,}/g],
  ["drive id", /(?<![A-Za-z0-9_-])b![A-Za-z0-9_-]{20,}/g],
  ["item id", /(?<![A-Za-z0-9])01[A-Z0-9]{32}(?![A-Za-z0-9])/g],
  ["GUID", /(?<![0-9a-f])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9a-f])/gi],
  ["tenant domain", /(?<![a-z0-9-])[a-z0-9-]+\.(onmicrosoft\.(com|us)|sharepoint\.(com|us|cn))(?![a-z0-9-])/gi],
];

/** The same everywhere: Graph's app id, the personal-accounts tenant, the nil GUID. */
const WELL_KNOWN = new Set([
  "00000003-0000-0000-c000-000000000000",
  "9188040d-6c67-4c5b-b112-36a304b66dad",
  "00000000-0000-0000-0000-000000000000",
]);

export interface UncoveredId {
  id: string;
  kind: string;
  /** Requests it appeared in. */
  requests: number;
}

/**
 * Collects tenant-specific looking ids that a request still carries after rewriting:
 * the map does not cover them, so the lab will likely answer 404 for them.
 */
export class UncoveredIds {
  private readonly found = new Map<string, UncoveredId>();

  scan(original: string, rewritten: string): void {
    const seen = new Set<string>();
    const lowerRewritten = rewritten.toLowerCase();
    let masked = original;
    for (const [kind, pattern] of ID_KINDS) {
      pattern.lastIndex = 0;
      for (const m of masked.matchAll(pattern)) {
        const id = m[0];
        const key = kind === "GUID" || kind === "tenant domain" ? id.toLowerCase() : id;
        if (WELL_KNOWN.has(key) || seen.has(key)) continue;
        seen.add(key);
        if (!lowerRewritten.includes(id.toLowerCase())) continue;
        const entry = this.found.get(key);
        if (entry) entry.requests++;
        else this.found.set(key, { id, kind, requests: 1 });
      }
      // A share id's base64 must not be scanned again for shorter kinds.
      if (kind === "share id" || kind === "drive id") masked = masked.replace(pattern, " ");
    }
  }

  get list(): UncoveredId[] {
    return [...this.found.values()];
  }
}
