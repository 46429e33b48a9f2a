// URL templates and resource keys. A template groups calls to "the same kind of thing"
// (catalyst ranking); a resource key names one exact thing (flip detection, replay).
import { isShareId } from "./shares.js";

const VERSION = /^(v\d+(\.\d+)?|beta)$/i;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const GUID_IN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
/** contoso.sharepoint.com,{site-collection-guid},{web-guid} */
const SITE_ID = new RegExp(`^[a-z0-9.-]+\\.[a-z]{2,}(,${GUID_IN}){1,2}$`, "i");
/** Teams channel and chat ids: 19:…@thread.tacv2, 19:…@unq.gbl.spaces */
const THREAD_ID = /^\d{1,3}:[^@\s]+@[a-z0-9.]+$/i;
const UPN = /^[^@\s/]+@[a-z0-9-]+(\.[a-z0-9-]+)+$/i;
const NUMBER = /^\d+$/;
/** OneDrive for Business / SharePoint item ids: 01 + 32 upper-case base32 characters. */
const ITEM_ID = /^01[A-Z0-9]{32}$/;
/** OneDrive personal ids: {cid}!{n}, e.g. D4648F06C91D9D3D!54927 */
const PERSONAL_ITEM_ID = /^[0-9A-Za-z]+![0-9]+$/;
const DRIVE_ID = /^b![A-Za-z0-9_-]+$/;
const SHAREPOINT_HOST = /^[a-z0-9-]+(\.[a-z0-9-]+)*\.(sharepoint(-df|-mil)?\.(com|us|cn|de)|sharepoint\.microsoftonline\.us)$/i;
const HOSTNAME = /^[a-z0-9-]+(\.[a-z0-9-]+)+$/i;
const OPAQUE = /^[A-Za-z0-9+/=_!-]{16,}$/;
/** camelCase words, digits allowed between words: getOffice365ActiveUserDetail, oauth2PermissionGrants */
const WORD = /^[a-z]+(?:[A-Z]{1,2}[a-z]+|[A-Z]?\d+)*[A-Z]{0,2}$/;
const FUNCTION = /^([A-Za-z_$][\w.$]*)\((.*)\)$/s;

/**
 * The method plus the path with id-like segments replaced by `{name}` placeholders:
 * `GET /v1.0/groups/{id}/drive`. The query string is dropped. A relative URL (a $batch
 * part's) is placed under `version` when it does not start with one.
 */
export function templateOf(method: string, url: string, version?: string): string {
  const rawPath = splitUrl(url).path;
  const segs = splitPath(rawPath).filter((s) => s !== "");
  if (!isAbsolute(url) && version && !(segs[0] !== undefined && VERSION.test(segs[0]))) {
    segs.unshift(...version.split("/").filter((s) => s !== ""));
  }
  const out: string[] = [];
  for (let i = 0; i < segs.length; i++) {
    const seg = decode(segs[i]!);
    // Path addressing: root:/a/b.docx: (the path may span segments, the closing colon is optional at the end).
    const colon = seg.indexOf(":");
    if (colon > 0 && !FUNCTION.test(seg) && !THREAD_ID.test(seg) && (seg.endsWith(":") || seg[colon + 1] === "/")) {
      const rest = seg.slice(colon + 1);
      let closed = rest.length > 1 && rest.endsWith(":");
      let hasPath = rest.replace(/:$/, "").length > 0;
      while (!closed && i + 1 < segs.length) {
        i++;
        hasPath = true;
        closed = decode(segs[i]!).endsWith(":");
      }
      const prefix = placeholder(seg.slice(0, colon), out[out.length - 1], true) ?? seg.slice(0, colon);
      out.push(hasPath ? `${prefix}:{path}:` : `${prefix}:`);
      continue;
    }
    out.push(classify(seg, segs[i]!, out[out.length - 1]));
  }
  return `${method.toUpperCase()} /${out.join("/")}`;
}

function classify(seg: string, raw: string, prev: string | undefined): string {
  if (seg.startsWith("$")) return seg;
  const fn = FUNCTION.exec(seg);
  if (fn) return `${fn[1]}(${templateArgs(fn[2]!)})`;
  const p = placeholder(seg, prev, false);
  if (p) return p;
  // A kept segment is shown decoded unless decoding would change the path's structure.
  return /[/?#\s]/.test(seg) ? raw : seg;
}

/** The placeholder for an id-like segment, or undefined for a plain word. */
function placeholder(seg: string, prev: string | undefined, hostAllowed: boolean): string | undefined {
  if (GUID.test(seg)) return "{id}";
  if (isShareId(seg)) return "{shareId}";
  if (DRIVE_ID.test(seg)) return "{driveId}";
  if (SITE_ID.test(seg)) return "{siteId}";
  if (THREAD_ID.test(seg)) return "{id}";
  if (UPN.test(seg)) return "{upn}";
  if (NUMBER.test(seg)) return "{n}";
  if (ITEM_ID.test(seg) || PERSONAL_ITEM_ID.test(seg)) return "{itemId}";
  if (SHAREPOINT_HOST.test(seg)) return "{hostname}";
  // /sites/contoso.com is a host; microsoft.graph.group elsewhere is an OData cast.
  if ((hostAllowed || prev === "sites") && HOSTNAME.test(seg) && !/^microsoft\./i.test(seg)) return "{hostname}";
  if (prev === "domains" && HOSTNAME.test(seg)) return "{domain}";
  if (OPAQUE.test(seg) && !WORD.test(seg)) {
    if (prev === "drives") return "{driveId}";
    if (prev === "items") return "{itemId}";
    return "{id}";
  }
  return undefined;
}

/** `token='abc',period='D7'` → `token={token},period={period}`; positional keys are classified. */
function templateArgs(args: string): string {
  if (args.trim() === "") return "";
  return splitOutsideQuotes(args, ",")
    .map((arg) => {
      const eq = arg.indexOf("=");
      const name = eq > 0 ? arg.slice(0, eq).trim() : "";
      if (/^[A-Za-z_@][\w.]*$/.test(name)) return `${name}={${name.replace(/^@/, "")}}`;
      const value = unquote(arg.trim());
      return placeholder(value, undefined, false) ?? "{key}";
    })
    .join(",");
}

function unquote(s: string): string {
  return s.length >= 2 && s.startsWith("'") && s.endsWith("'") ? s.slice(1, -1).replace(/''/g, "'") : s;
}

/** Splits on `sep` outside single-quoted OData strings (where '' escapes a quote). */
function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (const ch of s) {
    if (ch === "'") quoted = !quoted;
    if (ch === sep && !quoted) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** Splits a path on `/`, except inside a function call's parentheses (delta(token='a/b')). */
function splitPath(path: string): string[] {
  const out: string[] = [];
  let cur = "";
  let depth = 0;
  let quoted = false;
  for (const ch of path) {
    if (depth > 0 && ch === "'") quoted = !quoted;
    else if (!quoted && ch === "(") depth++;
    else if (!quoted && ch === ")" && depth > 0) depth--;
    if (ch === "/" && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function decode(seg: string): string {
  try {
    return decodeURIComponent(seg);
  } catch {
    return seg;
  }
}

function isAbsolute(url: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(url);
}

interface UrlParts {
  scheme?: string;
  authority?: string;
  path: string;
  query?: string;
}

/**
 * Splits a URL without normalising it (new URL() would rewrite the path). A `#` starts
 * the fragment, except inside `#EXT#` of a guest UPN written unencoded.
 */
function splitUrl(url: string): UrlParts {
  let rest = url.trim();
  const out: UrlParts = { path: "" };
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(rest);
  if (m) {
    out.scheme = m[1]!;
    out.authority = m[2]!;
    rest = rest.slice(m[0].length);
  }
  const hash = fragmentStart(rest);
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf("?");
  if (q >= 0) {
    out.query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  out.path = rest;
  return out;
}

function fragmentStart(s: string): number {
  for (let i = s.indexOf("#"); i >= 0; i = s.indexOf("#", i + 1)) {
    const opens = s.slice(i, i + 5).toUpperCase() === "#EXT#";
    const closes = i >= 4 && s.slice(i - 4, i + 1).toUpperCase() === "#EXT#";
    if (!opens && !closes) return i;
  }
  return -1;
}

const DEFAULT_PORT: Record<string, string> = { https: "443", http: "80" };

/**
 * One exact resource: upper-case method + canonical absolute URL (scheme and host
 * lower-cased, default port and user info dropped, path as-is, query parameters sorted
 * by name, fragment dropped). A relative URL is resolved against `base` when given.
 */
export function resourceKey(method: string, url: string, base?: string): string {
  const m = method.toUpperCase();
  let parts = splitUrl(url);
  if (parts.scheme === undefined && base !== undefined) {
    const b = splitUrl(base);
    const dir = b.path.endsWith("/") ? b.path : `${b.path}/`;
    const rel = parts.path.replace(/^\/+/, "");
    parts = { ...b, path: `${dir}${rel}` };
    const q = splitUrl(url).query;
    if (q !== undefined) parts.query = q;
    else delete parts.query;
  }
  if (parts.scheme === undefined || parts.authority === undefined) return `${m} ${url.trim()}`;
  const scheme = parts.scheme.toLowerCase();
  let host = parts.authority.slice(parts.authority.lastIndexOf("@") + 1).toLowerCase();
  const port = /:(\d+)$/.exec(host);
  if (port && port[1] === DEFAULT_PORT[scheme]) host = host.slice(0, -port[0].length);
  const path = parts.path === "" ? "/" : parts.path;
  return `${m} ${scheme}://${host}${path}${canonicalQuery(parts.query)}`;
}

function canonicalQuery(query: string | undefined): string {
  if (query === undefined) return "";
  const pairs = query.split("&").filter((p) => p !== "");
  if (pairs.length === 0) return "";
  // Sorted by decoded name so `$top` and `%24top` sort alike; a stable sort keeps the
  // order of repeated names, which may matter to the server.
  const keyed = pairs.map((p) => ({ p, k: decode(p.split("=", 1)[0]!) }));
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  return `?${keyed.map((x) => x.p).join("&")}`;
}

/** The path of a URL, as written (no query, no fragment). */
export function pathOf(url: string): string {
  return splitUrl(url).path;
}
