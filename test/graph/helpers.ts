import type { CapturedBody, Exchange, HeaderList } from "../../src/exchange/types.js";

export function body(value: string | object): CapturedBody {
  const bytes = Buffer.from(typeof value === "string" ? value : JSON.stringify(value), "utf8");
  return { bytes, wireSize: bytes.length, truncated: false };
}

export function exchange(over: Partial<Exchange> = {}): Exchange {
  return {
    id: "01JKZ8Q5R3X0000000000000AA",
    sessionId: "sess-1",
    startedAt: Date.parse("2026-02-10T09:00:00.000Z"),
    durationMs: 120,
    method: "GET",
    url: "https://graph.microsoft.com/v1.0/me",
    httpVersion: "1.1",
    requestHeaders: [] as HeaderList,
    responseHeaders: [] as HeaderList,
    status: 200,
    ...over,
  };
}

/** Claims of a member's delegated v1 token in Contoso. */
export const CONTOSO = "72f988bf-86f1-41af-91ab-2d7cd011db47";
export const FABRIKAM = "0b2a8a6e-3a3c-4d2b-9a55-7c1d2f4e9b10";
export const memberClaims = {
  aud: "00000003-0000-0000-c000-000000000000",
  iss: `https://sts.windows.net/${CONTOSO}/`,
  tid: CONTOSO,
  oid: "4d1c8c9e-2f5a-4c3e-8b7a-1e2d3c4b5a69",
  upn: "megan@contoso.com",
  name: "Megan Bowen",
  appid: "14d82eec-204b-4c2f-b7e8-296a70dab67e",
  scp: "Files.Read.All User.Read openid profile email",
  amr: ["pwd", "mfa"],
  iat: 1770713400,
  nbf: 1770713400,
  exp: 1770718500,
  ver: "1.0",
  idtyp: "user",
};

/** A Fabrikam user invited as a B2B guest into Contoso. */
export const guestClaims = {
  aud: "00000003-0000-0000-c000-000000000000",
  iss: `https://sts.windows.net/${CONTOSO}/`,
  tid: CONTOSO,
  oid: "a6f1c3d2-5b4e-4f7a-9c8d-0e1f2a3b4c5d",
  unique_name: "alice@fabrikam.com",
  idp: `https://sts.windows.net/${FABRIKAM}/`,
  acct: 1,
  appid: "14d82eec-204b-4c2f-b7e8-296a70dab67e",
  scp: "Files.Read.All User.Read",
  iat: 1770713400,
  nbf: 1770713400,
  exp: 1770718500,
  ver: "1.0",
};
