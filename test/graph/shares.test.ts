import { describe, expect, it } from "vitest";
import { decodeShareId, encodeShareId, isShareId } from "../../src/graph/shares.js";

// The sharing URL of the Graph docs' C# example (learn.microsoft.com/graph/api/shares-get).
const DOCS_URL = "https://onedrive.live.com/redir?resid=1231244193912!12&authKey=1201919!12921!1";
const DOCS_ID = "u!aHR0cHM6Ly9vbmVkcml2ZS5saXZlLmNvbS9yZWRpcj9yZXNpZD0xMjMxMjQ0MTkzOTEyITEyJmF1dGhLZXk9MTIwMTkxOSExMjkyMSEx";

/** The docs' algorithm written out step by step, as an independent oracle. */
function docsEncode(url: string): string {
  const b64 = Buffer.from(url, "utf8").toString("base64");
  return "u!" + b64.replace(/=+$/, "").replace(/\//g, "_").replace(/\+/g, "-");
}

describe("encodeShareId", () => {
  it("encodes the docs example", () => {
    expect(encodeShareId(DOCS_URL)).toBe(DOCS_ID);
  });

  it("produces base64url without padding for URLs whose base64 has + / and =", () => {
    const urls = [
      "https://contoso.sharepoint.com/:w:/s/marketing/EbX2y9lPq0tMnV3gJ8k5h7ABcDeFgHiJkLmNoPqRsTuVwX?e=4hTz9k",
      "https://contoso-my.sharepoint.com/personal/megan_contoso_com/Documents/Budget%20FY26.xlsx?web=1",
      "https://contoso.sharepoint.com/sites/dev/Shared Documents/ünïcödé ~?>.pptx",
      "https://x/?>?",
    ];
    const raw = urls.map((u) => Buffer.from(u).toString("base64")).join("");
    // Make sure the fixture really exercises the conversions.
    expect(raw).toMatch(/\+/);
    expect(raw).toMatch(/\//);
    expect(raw).toMatch(/=/);
    for (const u of urls) {
      const id = encodeShareId(u);
      expect(id).toBe(docsEncode(u));
      expect(id).toMatch(/^u![A-Za-z0-9_-]+$/);
      expect(decodeShareId(id)).toBe(u);
    }
  });
});

describe("decodeShareId", () => {
  it("decodes u! ids, with or without padding and in the standard alphabet", () => {
    expect(decodeShareId(DOCS_ID)).toBe(DOCS_URL);
    const u = "https://x/?>?";
    const std = Buffer.from(u).toString("base64");
    expect(std).toMatch(/[+/=]/);
    expect(decodeShareId(`u!${std}`)).toBe(u);
    expect(decodeShareId(`u%21${std.replace(/=+$/, "")}`)).toBe(u);
  });

  it("returns undefined for s! tokens and for ids that are not sharing URLs", () => {
    expect(decodeShareId("s!AmDvBqdpsTzHgcMDq-bVFKn_pxPy")).toBeUndefined();
    expect(decodeShareId("u!")).toBeUndefined();
    expect(decodeShareId("u!not base64")).toBeUndefined();
    expect(decodeShareId(`u!${Buffer.from("just text").toString("base64url")}`)).toBeUndefined();
    expect(decodeShareId(`u!${Buffer.from([0xff, 0xfe, 0x68]).toString("base64url")}`)).toBeUndefined();
    expect(decodeShareId("01BYE5RZ6QN3ZWBTUFOFD3GSPGOHDJD36K")).toBeUndefined();
  });
});

describe("isShareId", () => {
  it("accepts u! and s! ids only", () => {
    expect(isShareId(DOCS_ID)).toBe(true);
    expect(isShareId("s!AmDvBqdpsTzHgcMDq-bVFKn_pxPy")).toBe(true);
    expect(isShareId("b!-RIj2DuyvEyV1T4NlOaMHk8XkS_I8MdFlUCq1BlcjgmhRfAj3-Z8RY2VpuvV_tpd")).toBe(false);
    expect(isShareId("u!")).toBe(false);
    expect(isShareId("driveItem")).toBe(false);
    expect(isShareId("u!abc/def")).toBe(true);
    expect(isShareId("u!abc def")).toBe(false);
  });
});
