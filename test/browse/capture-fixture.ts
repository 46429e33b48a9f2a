// A small capture written with CaptureWriter directly: a guest refused (401, then 403)
// and later let in (200) on one share, an owner's calls, a binary body, a POST, and a
// request that never got a response. Times are fixed so filters can be checked exactly.
import { join } from "node:path";
import { newId } from "../../src/exchange/id.js";
import type { Exchange, HeaderList, TokenInfo } from "../../src/exchange/types.js";
import { tokenHash } from "../../src/graph/token.js";
import { CaptureWriter } from "../../src/recorder/index.js";
import { tempDir } from "../helpers/tmp.js";

export const T0 = Date.parse("2026-02-10T09:00:00.000Z");
export const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
export const GUEST_OID = "0b7e4a55-1f0e-4f5c-9a3e-6a2b1c0d9e11";
export const OWNER_OID = "4d1c8c9e-2f5a-4c3e-8b7a-1e2d3c4b5a69";
export const GUEST_UPN = "alex_fabrikam.com#EXT#@contoso.onmicrosoft.com";
export const OWNER_UPN = "megan@contoso.com";
export const SHARE_URL = "https://graph.microsoft.com/v1.0/shares/u!aHR0cHM6Ly9jb250b3NvLnNoYXJlcG9pbnQuY29tL3NpdGVzL2Rlc2lnbi9kb2MuZG9jeA/driveItem";

export const guestToken: TokenInfo = {
  hash: tokenHash("guest-token-1"),
  claims: { tid: TENANT, oid: GUEST_OID, upn: GUEST_UPN, acct: 1, idp: "https://sts.windows.net/9f2c8b1e-7d1a-4b8e-a1c3-5e6f7a8b9c0d/", scp: "Files.Read.All", iat: 1770714000, exp: 1770717600 },
};
export const ownerToken: TokenInfo = {
  hash: tokenHash("owner-token-1"),
  claims: { tid: TENANT, oid: OWNER_OID, upn: OWNER_UPN, scp: "Files.ReadWrite.All Group.Read.All", iat: 1770714000, exp: 1770717600 },
};

/**
 * A raw bearer token as an app sends it (an unsigned JWT: graphtap decodes, never
 * verifies): `Bearer ${jwt({...})}` is seen as the identity of those claims.
 */
export function jwt(claims: Record<string, unknown>): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${part({ alg: "RS256", typ: "JWT" })}.${part(claims)}.c2lnbmF0dXJl`;
}

export const GUEST_KEY = `${TENANT}:${GUEST_OID}`;
export const OWNER_KEY = `${TENANT}:${OWNER_OID}`;

function json(value: unknown): { bytes: Buffer; wireSize: number; truncated: boolean } {
  const bytes = Buffer.from(JSON.stringify(value));
  return { bytes, wireSize: bytes.length, truncated: false };
}

function graphError(code: string, requestId: string): ReturnType<typeof json> {
  return json({ error: { code, message: `${code} for this share`, innerError: { date: "2026-02-10T09:00:00", "request-id": requestId, "client-request-id": requestId } } });
}

interface Spec {
  at: number;
  method?: string;
  url: string;
  status?: number;
  token?: TokenInfo;
  reqHeaders?: HeaderList;
  reqBody?: Exchange["requestBody"];
  resHeaders?: HeaderList;
  resBody?: Exchange["responseBody"];
  error?: Exchange["error"];
}

export interface Fixture {
  file: string;
  sessionId: string;
  exchanges: Exchange[];
}

export function exchangeOf(sessionId: string, s: Spec): Exchange {
  const ex: Exchange = {
    id: newId(T0 + s.at),
    sessionId,
    startedAt: T0 + s.at,
    durationMs: 40 + (s.at % 17),
    ttfbMs: 30,
    method: s.method ?? "GET",
    url: s.url,
    httpVersion: "1.1",
    requestHeaders: [
      ["host", new URL(s.url).host],
      ...(s.token ? ([["authorization", `Bearer ${s.token.hash}`]] as HeaderList) : []),
      ["client-request-id", `c-${s.at}`],
      ...(s.reqHeaders ?? []),
    ],
    responseHeaders: s.status === undefined ? [] : [["request-id", `r-${s.at}`], ...(s.resHeaders ?? [["content-type", "application/json; charset=utf-8"]])],
  };
  if (s.status !== undefined) ex.status = s.status;
  if (s.token) ex.token = s.token;
  if (s.reqBody) ex.requestBody = s.reqBody;
  if (s.resBody) ex.responseBody = s.resBody;
  if (s.error) ex.error = s.error;
  return ex;
}

export function buildCapture(dir = tempDir(), name = "capture.sqlite"): Fixture {
  const file = join(dir, name);
  const writer = CaptureWriter.open(file);
  const sessionId = writer.startSession({ kind: "proxy", label: "fixture" });
  const png = Buffer.from("89504e470d0a1a0a0000000d4948445200000001000000010806000000", "hex");
  const specs: Spec[] = [
    { at: 0, url: SHARE_URL, status: 401, token: guestToken, resBody: graphError("InvalidAuthenticationToken", "r-0"), resHeaders: [["content-type", "application/json"], ["www-authenticate", 'Bearer realm="", error="invalid_token"']] },
    { at: 1_000, url: "https://graph.microsoft.com/v1.0/me", status: 200, token: ownerToken, resBody: json({ id: OWNER_OID, userPrincipalName: OWNER_UPN }) },
    { at: 2_000, url: SHARE_URL, status: 403, token: guestToken, resBody: graphError("accessDenied", "r-2000") },
    { at: 3_000, url: "https://graph.microsoft.com/v1.0/groups/0f8e6c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b/drive", status: 200, token: ownerToken, resBody: json({ id: "b!xyz", driveType: "documentLibrary" }) },
    { at: 4_000, url: SHARE_URL, status: 200, token: guestToken, resBody: json({ id: "01ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", name: "doc.docx" }) },
    { at: 5_000, url: "https://graph.microsoft.com/v1.0/me/photo/$value", status: 200, token: ownerToken, resHeaders: [["content-type", "image/png"]], resBody: { bytes: png, wireSize: png.length, truncated: false } },
    {
      at: 6_000,
      method: "POST",
      url: "https://graph.microsoft.com/v1.0/me/drive/root/children?$select=id,name",
      status: 201,
      token: ownerToken,
      reqHeaders: [["content-type", "application/json"]],
      reqBody: json({ name: "New Folder", folder: {} }),
      resBody: json({ id: "01NEWFOLDER", name: "New Folder" }),
    },
    { at: 7_000, url: "https://graph.microsoft.com/v1.0/users?$top=5", status: 500, token: ownerToken, resBody: graphError("generalException", "r-7000") },
    { at: 8_000, url: "https://graph.microsoft.com/v1.0/sites/root", token: ownerToken, error: { code: "ECONNRESET", message: "socket hang up", phase: "response" } },
    { at: 9_000, url: "https://graph.microsoft.us/v1.0/me", status: 200, token: ownerToken, resBody: json({ id: OWNER_OID }) },
  ];
  const exchanges = specs.map((s) => exchangeOf(sessionId, s));
  for (const ex of exchanges) writer.write(ex);
  writer.close();
  return { file, sessionId, exchanges };
}
