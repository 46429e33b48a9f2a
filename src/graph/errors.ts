// Graph error bodies and WWW-Authenticate challenges: what a refusal says about itself.

/** The OData error body Graph returns: {"error":{"code","message","innerError":{…}}}. */
export interface GraphError {
  code: string;
  message: string;
  /** The most specific (deepest) innerError code, when one is given. */
  innerCode?: string;
  requestId?: string;
  clientRequestId?: string;
  date?: string;
}

/** One challenge of a WWW-Authenticate header (RFC 9110 §11.6.1). */
export interface Challenge {
  scheme: string;
  /** Parameter names lower-cased (they are case-insensitive); values unquoted. */
  params: Record<string, string>;
  /** For schemes like Negotiate that carry a bare token68 instead of parameters. */
  token68?: string;
}

// A cheap gate before JSON.parse: success bodies can be large, error bodies start like this.
const ERROR_PREFIX = /^\s*\{\s*"error"\s*:/;

/**
 * Parses a Graph (OData) error body. Also accepts the OAuth shape
 * {"error":"invalid_grant","error_description":"…"}. A truncated body still yields its
 * code and message when they came before the cut.
 */
export function parseGraphError(body: Buffer | string | undefined): GraphError | undefined {
  if (body === undefined) return undefined;
  // Test the prefix before decoding: a 10 MB download should not be turned into a string.
  const head = typeof body === "string" ? body.slice(0, 256) : body.subarray(0, 256).toString("utf8");
  if (!ERROR_PREFIX.test(head)) return undefined;
  const text = typeof body === "string" ? body : body.toString("utf8");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return salvageTruncated(text);
  }
  if (!isRecord(parsed)) return undefined;
  const err = parsed["error"];
  if (typeof err === "string") {
    const desc = parsed["error_description"];
    return { code: err, message: typeof desc === "string" ? desc : "" };
  }
  if (!isRecord(err)) return undefined;
  const code = typeof err["code"] === "string" ? err["code"] : "";
  const message = typeof err["message"] === "string" ? err["message"] : "";
  if (code === "" && message === "") return undefined;
  const out: GraphError = { code, message };
  // innerError nests; the deepest code is the most specific reason. request-id and date
  // sit at the first level in practice, but take them wherever they first appear.
  let inner = innerOf(err);
  for (let depth = 0; inner && depth < 16; depth++) {
    const c = inner["code"];
    if (typeof c === "string" && c !== "") out.innerCode = c;
    const rid = inner["request-id"] ?? inner["requestId"];
    if (out.requestId === undefined && typeof rid === "string") out.requestId = rid;
    const crid = inner["client-request-id"] ?? inner["clientRequestId"];
    if (out.clientRequestId === undefined && typeof crid === "string") out.clientRequestId = crid;
    const date = inner["date"];
    if (out.date === undefined && typeof date === "string") out.date = date;
    inner = innerOf(inner);
  }
  return out;
}

/** Graph spells it innerError; some workloads (SharePoint, Exchange) innererror. */
function innerOf(obj: Record<string, unknown>): Record<string, unknown> | undefined {
  const v = obj["innerError"] ?? obj["innererror"] ?? obj["InnerError"];
  return isRecord(v) ? v : undefined;
}

function salvageTruncated(text: string): GraphError | undefined {
  const code = /"code"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(text)?.[1];
  if (code === undefined) return undefined;
  const message = /"message"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(text)?.[1];
  return { code: unescapeJson(code), message: message === undefined ? "" : unescapeJson(message) };
}

function unescapeJson(s: string): string {
  try {
    return JSON.parse(`"${s}"`) as string;
  } catch {
    return s;
  }
}

const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/**
 * Parses a WWW-Authenticate value into its challenges. Several challenges may share one
 * header (`Bearer realm="x", Basic realm="y"`), and quoted values may hold commas.
 */
export function parseWwwAuthenticate(value: string): Challenge[] {
  const out: Challenge[] = [];
  const n = value.length;
  let i = 0;
  const isWs = (c: string | undefined) => c === " " || c === "\t";
  const skipWs = () => {
    while (i < n && isWs(value[i])) i++;
  };
  const skipSeparators = () => {
    while (i < n && (isWs(value[i]) || value[i] === ",")) i++;
  };
  const tokenEnd = (from: number) => {
    let j = from;
    while (j < n && TCHAR.test(value[j]!)) j++;
    return j;
  };
  // `name =` followed by a value: distinguishes a parameter from a new scheme or a token68
  // (which may end in `=` padding).
  const paramAt = (from: number): boolean => {
    const end = tokenEnd(from);
    if (end === from) return false;
    let j = end;
    while (j < n && isWs(value[j])) j++;
    if (value[j] !== "=") return false;
    j++;
    while (j < n && isWs(value[j])) j++;
    return j < n && value[j] !== "=" && value[j] !== ",";
  };

  while (true) {
    skipSeparators();
    if (i >= n) break;
    const schemeEnd = tokenEnd(i);
    if (schemeEnd === i) {
      i++; // not a token character: skip it rather than loop forever
      continue;
    }
    const challenge: Challenge = { scheme: value.slice(i, schemeEnd), params: {} };
    out.push(challenge);
    i = schemeEnd;
    skipWs();
    if (i < n && value[i] !== "," && !paramAt(i)) {
      const m = /^[A-Za-z0-9\-._~+/]+=*/.exec(value.slice(i));
      if (m) {
        challenge.token68 = m[0];
        i += m[0].length;
        continue;
      }
    }
    while (true) {
      skipSeparators();
      if (i >= n || !paramAt(i)) break;
      const nameEnd = tokenEnd(i);
      const name = value.slice(i, nameEnd).toLowerCase();
      i = nameEnd;
      skipWs();
      i++; // '='
      skipWs();
      let v = "";
      if (value[i] === '"') {
        i++;
        while (i < n && value[i] !== '"') {
          if (value[i] === "\\" && i + 1 < n) i++;
          v += value[i];
          i++;
        }
        i++; // closing quote
      } else {
        const s = i;
        while (i < n && value[i] !== "," && !isWs(value[i])) i++;
        v = value.slice(s, i);
      }
      challenge.params[name] = v;
    }
  }
  return out;
}

/**
 * The claims a Conditional Access / CAE challenge asks for: the base64 `claims=`
 * parameter decoded to its JSON text, or undefined when there is none.
 */
export function claimsChallenge(value: string): string | undefined {
  for (const ch of parseWwwAuthenticate(value)) {
    const raw = ch.params["claims"];
    if (raw === undefined || raw === "") continue;
    const trimmed = raw.trim();
    const text = trimmed.startsWith("{") ? trimmed : Buffer.from(trimmed, "base64").toString("utf8");
    try {
      JSON.parse(text);
      return text;
    } catch {
      continue;
    }
  }
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
