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
        // Basic or another scheme: keep the scheme name only.
        out.push([name, `${value.split(/\s+/)[0] ?? ""} [redacted]`]);
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
      return eq < 0 ? pair.trim() : `${pair.slice(0, eq).trim()}=[redacted]`;
    })
    .join("; ");
}

/** Keeps the cookie name and attributes (Path, Expires…), drops the value. */
function redactSetCookie(value: string): string {
  const [first, ...attrs] = value.split(";");
  const eq = (first ?? "").indexOf("=");
  const name = eq < 0 ? (first ?? "").trim() : (first ?? "").slice(0, eq).trim();
  return [`${name}=[redacted]`, ...attrs.map((a) => a.trim())].join("; ");
}

/** Node's rawHeaders ([k, v, k, v…]) as a lower-cased HeaderList. */
export function headerListFromRaw(raw: string[]): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return out;
}

/**
 * A $batch part may carry its own `"Authorization": "Bearer …"` inside the JSON body.
 * The token is replaced by its hash in the bytes themselves (works on truncated
 * bodies too, where JSON parsing would fail).
 */
export function redactBodyTokens(bytes: Buffer): Buffer {
  if (bytes.indexOf("uthorization") < 0) return bytes;
  const text = bytes.toString("utf8");
  const scrubbed = text.replace(
    /("authorization"\s*:\s*")(?:bearer\s+)?([^"\\]+)(")?/gi,
    (_m, head: string, token: string, tail: string | undefined) => `${head}Bearer ${tokenHash(token)}${tail ?? ""}`,
  );
  return scrubbed === text ? bytes : Buffer.from(scrubbed, "utf8");
}
