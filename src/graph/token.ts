// Bearer tokens: how graphtap tells them apart and reads them without keeping them.
import { createHash } from "node:crypto";

/** A short, stable fingerprint of a raw token: enough to tell tokens apart, useless to an attacker. */
export function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 16);
}

/** The token in an `Authorization: Bearer …` value, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(authorization);
  return m?.[1];
}

/**
 * Decoded JWT payload claims. Entra access tokens are JWS (header.payload.signature);
 * the signature is not checked: graphtap describes tokens, it does not trust them.
 * Returns {} for an opaque token (e.g. a personal-account token that is not a JWT).
 */
export function decodeJwtClaims(token: string): Record<string, unknown> {
  const parts = token.split(".");
  if (parts.length < 2 || !parts[1]) return {};
  try {
    const json = Buffer.from(parts[1], "base64url").toString("utf8");
    const value: unknown = JSON.parse(json);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/** The claims graphtap keeps of a token; everything else in the payload is dropped. */
export const KEPT_CLAIMS = [
  "aud", "iss", "tid", "oid", "sub", "upn", "unique_name", "preferred_username", "email",
  "name", "idp", "acct", "appid", "azp", "app_displayname", "scp", "roles", "amr", "acrs",
  "wids", "xms_cc", "iat", "nbf", "exp", "ver", "idtyp", "home_oid", "home_tid",
] as const;

/** Only the kept claims, so nothing unexpected (e.g. a nested secret) is written to disk. */
export function keptClaims(claims: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of KEPT_CLAIMS) if (name in claims) out[name] = claims[name];
  return out;
}
