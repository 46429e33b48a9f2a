// Bearer tokens for tests: real JWT shape (header.payload.signature), random signature,
// so a test can search the capture for every part of the raw token.
import { randomBytes } from "node:crypto";

export interface TestToken {
  raw: string;
  header: string;
  payload: string;
  signature: string;
  claims: Record<string, unknown>;
}

export const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
export const OBJECT_ID = "4d1c8c9e-2f5a-4c3e-8b7a-1e2d3c4b5a69";
export const UPN = "megan@contoso.com";

export function makeJwt(over: Record<string, unknown> = {}): TestToken {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    aud: "00000003-0000-0000-c000-000000000000",
    iss: `https://sts.windows.net/${TENANT}/`,
    tid: TENANT,
    oid: OBJECT_ID,
    upn: UPN,
    name: "Megan Bowen",
    appid: "14d82eec-204b-4c2f-b7e8-296a70dab67e",
    scp: "User.Read Files.Read.All",
    iat: now,
    nbf: now,
    exp: now + 3600,
    ver: "1.0",
    // Not a kept claim: must not reach the capture.
    xms_secret_nonce: randomBytes(12).toString("hex"),
    ...over,
  };
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const header = b64({ alg: "RS256", typ: "JWT", kid: randomBytes(6).toString("hex") });
  const payload = b64(claims);
  const signature = randomBytes(256).toString("base64url");
  return { raw: `${header}.${payload}.${signature}`, header, payload, signature, claims };
}
