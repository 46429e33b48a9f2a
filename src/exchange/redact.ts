// Secrets are removed here, at the proxy edge, before an Exchange exists: nothing
// downstream (recorder, console, HAR export) ever sees a raw token or cookie.
import { bearerToken, decodeJwtClaims, keptClaims, tokenHash } from "../graph/token.js";
import type { HeaderList, TokenInfo } from "./types.js";

/** Headers whose whole value is a credential. */
const SECRET_HEADERS = new Set(["proxy-authorization", "x-api-key", "ocp-apim-subscription-key"]);

export interface RedactedRequest {
  headers: HeaderList;
  token?: TokenInfo;
}

/** Authorization becomes `Bearer <hash>`; cookie values and other credentials are removed. */
export function redactRequestHeaders(headers: HeaderList): RedactedRequest {
  let token: TokenInfo | undefined;
  const out: HeaderList = [];
  for (const [name, value] of headers) {
    if (name === "authorization") {
      const raw = bearerToken(value);
      if (raw) {
        const hash = tokenHash(raw);
        token = { hash, claims: keptClaims(decodeJwtClaims(raw)) };
        out.push([name, `Bearer ${hash}`]);
      } else {
        // Basic or another scheme: keep the scheme name only, and only when it is one
        // (a bare credential with no scheme is dropped whole).
        const [first, ...rest] = value.trim().split(/\s+/);
        const scheme = first && rest.length > 0 && /^[A-Za-z][A-Za-z0-9._~+-]{0,29}$/.test(first) ? `${first} ` : "";
        out.push([name, `${scheme}[redacted]`]);
      }
    } else if (name === "cookie") {
      out.push([name, redactCookiePairs(value)]);
    } else if (SECRET_HEADERS.has(name)) {
      out.push([name, "[redacted]"]);
    } else {
      out.push([name, value]);
    }
  }
  return token ? { headers: out, token } : { headers: out };
}

export function redactResponseHeaders(headers: HeaderList): HeaderList {
  return headers.map(([name, value]) =>
    name === "set-cookie" ? [name, redactSetCookie(value)] : [name, value],
  );
}

/** `a=1; b=2` → `a=[redacted]; b=[redacted]`: names help debugging, values are secrets. */
function redactCookiePairs(value: string): string {
  return value
    .split(";")
    .map((pair) => {
      const eq = pair.indexOf("=");
      // A nameless cookie is all value: nothing of it is kept.
      return eq < 0 ? "[redacted]" : `${pair.slice(0, eq).trim()}=[redacted]`;
    })
    .join("; ");
}

/** Keeps the cookie name and attributes (Path, Expires…), drops the value. */
function redactSetCookie(value: string): string {
  const [first, ...attrs] = value.split(";");
  const eq = (first ?? "").indexOf("=");
  const pair = eq < 0 ? "[redacted]" : `${(first ?? "").slice(0, eq).trim()}=[redacted]`;
  return [pair, ...attrs.map((a) => a.trim())].join("; ");
}

/** Node's rawHeaders ([k, v, k, v…]) as a lower-cased HeaderList. */
export function headerListFromRaw(raw: string[]): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return out;
}

/** Quick test that a body may hold a credential at all (most bodies do not). */
const MAY_HOLD_SECRET = /authorization|_token|client_secret|client_assertion|assertion=|password=|code=|code_verifier/i;

/** JSON string values of these keys are credentials (OAuth token responses and requests). */
const JSON_SECRET =
  /("(?:access_token|refresh_token|id_token|client_secret|client_assertion)"\s*:\s*")((?:[^"\\]|\\.)*)("|$)/gi;
/** form-urlencoded fields that are credentials (token requests). */
const FORM_SECRET =
  /(^|[&?])(access_token|refresh_token|id_token|client_secret|client_assertion|assertion|password|code|code_verifier)=([^&]*)/gi;
/** `"Authorization": "Bearer …"` inside JSON, e.g. in a $batch part; escapes included. */
const JSON_AUTHORIZATION = /("authorization"\s*:\s*")((?:[^"\\]|\\.)*)("|$)/gi;

/**
 * Removes credentials from a body, in its bytes (works on truncated bodies too, where
 * parsing would fail): a bearer token in a `$batch` part becomes `Bearer <hash>` like
 * the Authorization header; OAuth secrets in JSON or form bodies become [redacted].
 * Graph's own `"code": "accessDenied"` is not a credential and stays.
 */
export function redactBodySecrets(bytes: Buffer): Buffer {
  if (bytes.length === 0) return bytes;
  const latin = bytes.toString("latin1");
  if (!MAY_HOLD_SECRET.test(latin)) return bytes;
  const text = bytes.toString("utf8");
  const scrubbed = text
    .replace(JSON_AUTHORIZATION, (_m, head: string, raw: string, tail: string) => {
      const value = unescapeJson(raw);
      const token = bearerToken(value) ?? value.trim();
      return `${head}Bearer ${tokenHash(token)}${tail}`;
    })
    .replace(JSON_SECRET, (_m, head: string, _v: string, tail: string) => `${head}[redacted]${tail}`)
    .replace(FORM_SECRET, (_m, lead: string, name: string) => `${lead}${name}=[redacted]`);
  return scrubbed === text ? bytes : Buffer.from(scrubbed, "utf8");
}

function unescapeJson(raw: string): string {
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw; // cut mid-escape (a truncated body): hash what is there
  }
}
