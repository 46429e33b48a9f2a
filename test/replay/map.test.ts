import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { UserError } from "../../src/errors.js";
import { decodeShareId, encodeShareId } from "../../src/graph/shares.js";
import { loadMap, parseMap, Rewriter, UncoveredIds } from "../../src/replay/map.js";
import { tempDir } from "../helpers/tmp.js";

const err = (text: string) => {
  try {
    parseMap(text, "map.json");
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    expect((e as Error).message).not.toContain("\n");
    return (e as Error).message;
  }
  throw new Error("no error");
};

describe("map file validation", () => {
  test("invalid JSON names the line and column", () => {
    expect(err('{\n  "replace": {\n    "a": "b",\n  }\n}')).toMatch(/^map\.json: invalid JSON at line 4, column 3: /);
  });

  test("each mistake with its path in the file", () => {
    expect(err('{"tokens": {"alice": "x"}}')).toBe('map.json: tokens["alice"]: must start with env:, file: or cmd:');
    expect(err('{"tokens": {"alice": "cmd:  "}}')).toBe('map.json: tokens["alice"]: names nothing after its prefix');
    expect(err('{"replace": {"a": 3}}')).toBe('map.json: replace["a"]: must be a string');
    expect(err('{"replace": []}')).toBe("map.json: replace: must be an object");
    expect(err('{"replce": {}}')).toBe('map.json: (top level): unknown key "replce" (expected "replace" and "tokens")');
    expect(err("[]")).toBe("map.json: (top level): must be an object");
  });

  test("a missing file is one line", () => {
    expect(() => loadMap(join(tempDir(), "nope.json"))).toThrow(/^cannot read --map .*nope\.json: ENOENT$/);
  });

  test("a good file", () => {
    const dir = tempDir();
    const file = join(dir, "m.json");
    writeFileSync(file, JSON.stringify({ replace: { a: "b" }, tokens: { "x@y.com": "env:T" } }));
    expect(loadMap(file)).toEqual({ replace: { a: "b" }, tokens: { "x@y.com": "env:T" } });
  });
});

describe("rewriting", () => {
  const prodGroup = "11111111-2222-4333-8444-555555555555";
  const labGroup = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
  const prodShare = "https://contoso.sharepoint.com/:w:/s/Team/EabcDEF";
  const labShare = "https://contosolab.sharepoint.com/:w:/s/LabTeam/Exyz";
  const r = new Rewriter({
    [prodGroup]: labGroup,
    [prodShare]: labShare,
    "contoso.sharepoint.com": "contosolab.sharepoint.com",
    "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com": "alice_fabrikamlab.com#EXT#@contosolab.onmicrosoft.com",
  });

  test("path segments (case-insensitive), query values, host untouched", () => {
    expect(r.url(`https://graph.microsoft.com/v1.0/groups/${prodGroup.toUpperCase()}/drive?$filter=id eq '${prodGroup}'`)).toBe(
      `https://graph.microsoft.com/v1.0/groups/${labGroup}/drive?$filter=id%20eq%20'${labGroup}'`,
    );
  });

  test("unchanged parts stay byte-exact", () => {
    const url = "https://graph.microsoft.com/v1.0/me/drive/root:/a%20b.docx:?$select=id,name";
    expect(r.url(url)).toBe(url);
  });

  test("a percent-encoded guest upn in the path", () => {
    expect(r.url("https://graph.microsoft.com/v1.0/users/alice_fabrikam.com%23EXT%23@contoso.onmicrosoft.com")).toBe(
      "https://graph.microsoft.com/v1.0/users/alice_fabrikamlab.com%23EXT%23@contosolab.onmicrosoft.com",
    );
  });

  test("share ids: decoded, longest key first, encoded again", () => {
    const out = r.url(`https://graph.microsoft.com/v1.0/shares/${encodeShareId(prodShare)}/driveItem`);
    expect(out).toBe(`https://graph.microsoft.com/v1.0/shares/${encodeShareId(labShare)}/driveItem`);
    // Only the host key applies to another link of the same site.
    const other = encodeShareId("https://contoso.sharepoint.com/:x:/s/Team/Eother");
    expect(decodeShareId(r.shareId(other))).toBe("https://contosolab.sharepoint.com/:x:/s/Team/Eother");
    // Opaque s! tokens cannot be decoded: left as they are.
    expect(r.shareId("s!abcdefghijk")).toBe("s!abcdefghijk");
  });

  test("JSON bodies, recursively; non-JSON bodies untouched", () => {
    const body = Buffer.from(JSON.stringify({ recipients: [{ objectId: prodGroup }], n: 3, nested: { url: prodShare } }));
    expect(JSON.parse(r.body(body, "application/json").toString())).toEqual({ recipients: [{ objectId: labGroup }], n: 3, nested: { url: labShare } });
    const bin = Buffer.from(prodGroup);
    expect(r.body(bin, "application/octet-stream")).toBe(bin);
  });

  test("$batch parts: urls, headers and bodies", () => {
    const env = Buffer.from(
      JSON.stringify({
        requests: [
          { id: "1", method: "GET", url: `/groups/${prodGroup}/drive`, headers: { "x-ref": prodGroup } },
          { id: "2", method: "POST", url: "/x", body: { g: prodGroup }, headers: { "content-type": "application/json" } },
        ],
      }),
    );
    const out = JSON.parse(r.batch(env)!.toString());
    expect(out.requests[0]).toEqual({ id: "1", method: "GET", url: `/groups/${labGroup}/drive`, headers: { "x-ref": labGroup } });
    expect(out.requests[1].body).toEqual({ g: labGroup });
  });

  test("one pass: a replaced value is not replaced again", () => {
    const chain = new Rewriter({ a1: "b2", b2: "c3" });
    expect(chain.text("a1 b2")).toBe("b2 c3");
  });

  test("ids the map does not cover are found; covered and well-known ones are not", () => {
    const u = new UncoveredIds();
    const other = "99999999-2222-4333-8444-555555555555";
    const before = `https://graph.microsoft.com/v1.0/groups/${prodGroup}/members/${other}?x=00000003-0000-0000-c000-000000000000 b!AbCdEfGhIjKlMnOpQrStUvWx 01ABCDEFGHIJKLMNOPQRSTUVWXYZ234567`;
    u.scan(before, r.text(before));
    expect(u.list.map((x) => [x.kind, x.id])).toEqual([
      ["drive id", "b!AbCdEfGhIjKlMnOpQrStUvWx"],
      ["item id", "01ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"],
      ["GUID", other],
    ]);
  });
});
