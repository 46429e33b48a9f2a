import { describe, expect, it } from "vitest";
import { describeTokenChange, identityOf, isGuest } from "../../src/graph/identity.js";
import { CONTOSO, FABRIKAM, guestClaims, memberClaims } from "./helpers.js";

describe("identityOf", () => {
  it("keys a member user by tenant and object id", () => {
    expect(identityOf({ hash: "a1b2c3d4e5f60718", claims: memberClaims })).toEqual({
      key: `${CONTOSO}:4d1c8c9e-2f5a-4c3e-8b7a-1e2d3c4b5a69`,
      kind: "user",
      tenantId: CONTOSO,
      objectId: "4d1c8c9e-2f5a-4c3e-8b7a-1e2d3c4b5a69",
      upn: "megan@contoso.com",
      appId: "14d82eec-204b-4c2f-b7e8-296a70dab67e",
      guest: false,
    });
  });

  it("gives every token of one person the same key", () => {
    const refreshed = { ...memberClaims, iat: 1770717000, exp: 1770722100, scp: "Files.ReadWrite.All User.Read", amr: ["pwd", "rsa"], xms_cc: ["CP1"] };
    const otherApp = { ...memberClaims, appid: "d3590ed6-52b3-4102-aeff-aad2292ab01c", upn: "Megan.Bowen@contoso.com" };
    const a = identityOf({ hash: "1111111111111111", claims: memberClaims });
    expect(identityOf({ hash: "2222222222222222", claims: refreshed }).key).toBe(a.key);
    expect(identityOf({ hash: "3333333333333333", claims: otherApp }).key).toBe(a.key);
    expect(identityOf({ hash: "4444444444444444", claims: { ...memberClaims, oid: "5e2d9d0f-0000-4c3e-8b7a-1e2d3c4b5a69" } }).key).not.toBe(a.key);
  });

  it("describes a B2B guest with its home tenant", () => {
    const id = identityOf({ hash: "a1b2c3d4e5f60718", claims: guestClaims });
    expect(id).toMatchObject({
      key: `${CONTOSO}:a6f1c3d2-5b4e-4f7a-9c8d-0e1f2a3b4c5d`,
      kind: "user",
      upn: "alice@fabrikam.com",
      guest: true,
      idp: `https://sts.windows.net/${FABRIKAM}/`,
      homeTenantId: FABRIKAM,
    });
  });

  it("takes upn from unique_name, preferred_username, then email", () => {
    const base = { tid: CONTOSO, oid: "4d1c8c9e-2f5a-4c3e-8b7a-1e2d3c4b5a69", scp: "User.Read" };
    expect(identityOf({ hash: "h", claims: { ...base, preferred_username: "megan@contoso.com", email: "m@x.com" } }).upn).toBe("megan@contoso.com");
    expect(identityOf({ hash: "h", claims: { ...base, email: "m@x.com" } }).upn).toBe("m@x.com");
    expect(identityOf({ hash: "h", claims: base }).upn).toBeUndefined();
  });

  it("keys an app-only token by tenant and app id", () => {
    const app = {
      aud: "https://graph.microsoft.com",
      iss: `https://sts.windows.net/${CONTOSO}/`,
      tid: CONTOSO,
      oid: "7c9a1b2d-3e4f-4a5b-8c6d-9e0f1a2b3c4d",
      sub: "7c9a1b2d-3e4f-4a5b-8c6d-9e0f1a2b3c4d",
      appid: "6731de76-14a6-49ae-97bc-6eba6914391e",
      roles: ["Sites.Read.All", "User.Read.All"],
      ver: "1.0",
    };
    const expected = { key: `app:${CONTOSO}:6731de76-14a6-49ae-97bc-6eba6914391e`, kind: "app", appId: "6731de76-14a6-49ae-97bc-6eba6914391e", guest: false };
    expect(identityOf({ hash: "h", claims: app })).toMatchObject(expected);
    // v2 tokens name the client azp; idtyp=app settles it even when oid differs from sub.
    const { appid: _appid, ...v2 } = app;
    expect(identityOf({ hash: "h", claims: { ...v2, azp: app.appid, ver: "2.0", idtyp: "app", sub: "other" } })).toMatchObject(expected);
  });

  it("treats a delegated token with app roles as a user", () => {
    expect(identityOf({ hash: "h", claims: { ...memberClaims, idtyp: undefined, roles: ["Task.Admin"] } }).kind).toBe("user");
  });

  it("handles no token and opaque tokens", () => {
    expect(identityOf(undefined)).toEqual({ key: "anonymous", kind: "anonymous", guest: false });
    expect(identityOf({ hash: "9f86d081884c7d65", claims: {} })).toEqual({ key: "token:9f86d081884c7d65", kind: "opaque", guest: false });
    expect(identityOf({ hash: "9f86d081884c7d65", claims: { aud: "x", exp: 1 } })).toMatchObject({ key: "token:9f86d081884c7d65", kind: "opaque" });
  });
});

describe("isGuest", () => {
  it("is false for members, including v2 tokens whose idp is their own tenant", () => {
    expect(isGuest(memberClaims)).toBe(false);
    expect(isGuest({ ...memberClaims, acct: 0 })).toBe(false);
    expect(isGuest({ ...memberClaims, iss: `https://login.microsoftonline.com/${CONTOSO}/v2.0`, idp: `https://sts.windows.net/${CONTOSO}/` })).toBe(false);
    expect(isGuest({ ...memberClaims, idp: `https://sts.windows.net/${CONTOSO}/` })).toBe(false);
  });

  it("is false for a personal Microsoft account in the consumer tenant", () => {
    expect(isGuest({ tid: "9188040d-6c67-4c5b-b112-36a304b66dad", oid: "00000000-0000-0000-1234-56789abcdef0", idp: "live.com" })).toBe(false);
  });

  it("is true for acct=1", () => {
    expect(isGuest({ tid: CONTOSO, oid: "x", acct: 1 })).toBe(true);
  });

  it("is true for a foreign identity provider", () => {
    const base = { tid: CONTOSO, iss: `https://sts.windows.net/${CONTOSO}/`, oid: "x" };
    expect(isGuest({ ...base, idp: `https://sts.windows.net/${FABRIKAM}/` })).toBe(true);
    expect(isGuest({ ...base, idp: "live.com" })).toBe(true);
    expect(isGuest({ ...base, idp: "mail" })).toBe(true);
    expect(isGuest({ ...base, idp: "google.com" })).toBe(true);
  });

  it("is true for #EXT# user principal names", () => {
    expect(isGuest({ tid: CONTOSO, oid: "x", upn: "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com" })).toBe(true);
    expect(isGuest({ tid: CONTOSO, oid: "x", unique_name: "bob_outlook.com#ext#@contoso.onmicrosoft.com" })).toBe(true);
  });
});

describe("describeTokenChange", () => {
  it("lists the claims that differ, including added and removed ones", () => {
    const after = { ...memberClaims, iat: 1770717000, exp: 1770722100, amr: ["pwd", "mfa"], xms_cc: ["CP1"] } as Record<string, unknown>;
    delete after["idtyp"];
    expect(describeTokenChange(memberClaims, after)).toEqual([
      { claim: "iat", before: 1770713400, after: 1770717000 },
      { claim: "exp", before: 1770718500, after: 1770722100 },
      { claim: "idtyp", before: "user", after: undefined },
      { claim: "xms_cc", before: undefined, after: ["CP1"] },
    ]);
  });

  it("compares arrays and objects by value", () => {
    expect(describeTokenChange({ wids: ["a", "b"], x: { y: [1] } }, { wids: ["a", "b"], x: { y: [1] } })).toEqual([]);
    expect(describeTokenChange({ wids: ["a", "b"] }, { wids: ["a", "c"] })).toEqual([{ claim: "wids", before: ["a", "b"], after: ["a", "c"] }]);
    expect(describeTokenChange({ x: { y: 1 } }, { x: { y: 2 } })).toHaveLength(1);
    expect(describeTokenChange({ x: [1] }, { x: { 0: 1 } })).toHaveLength(1);
  });
});
