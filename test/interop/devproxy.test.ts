import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { DEV_PROXY_MOCKS_SCHEMA, exportDevProxyMocks } from "../../src/interop/devproxy.js";
import { CaptureReader } from "../../src/recorder/index.js";
import { buildCapture, SHARE_URL, type Fixture } from "../browse/capture-fixture.js";
import { tempDir } from "../helpers/tmp.js";

// The mocks file as Dev Proxy documents it (mockresponseplugin.mocksfile.schema.json):
// request { url (required), method (enum), nth (integer), bodyFragment (string) },
// response { body (object | array | string), statusCode (integer), headers [{ name, value }] }.
const Method = z.enum(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE"]);
const MocksFile = z
  .object({
    $schema: z.string(),
    mocks: z.array(
      z
        .object({
          request: z
            .object({ url: z.string().min(1), method: Method.optional(), nth: z.number().int().min(1).optional(), bodyFragment: z.string().optional() })
            .strict(),
          response: z
            .object({
              body: z.union([z.record(z.string(), z.unknown()), z.array(z.unknown()), z.string()]).optional(),
              statusCode: z.number().int().optional(),
              headers: z.array(z.object({ name: z.string(), value: z.string() }).strict()).optional(),
            })
            .strict(),
        })
        .strict(),
    ),
  })
  .strict();

let fx: Fixture;
let file: string;
let mocks: z.infer<typeof MocksFile>;
let dir: string;

beforeAll(() => {
  dir = tempDir();
  fx = buildCapture(dir);
  file = join(dir, "mocks.json");
  const reader = CaptureReader.open(fx.file);
  try {
    const r = exportDevProxyMocks(reader, file);
    expect(r.skipped).toBe(1); // the reset request has no response to mock
  } finally {
    reader.close();
  }
  mocks = MocksFile.parse(JSON.parse(readFileSync(file, "utf8")));
});

describe("Dev Proxy mocks file", () => {
  it("validates against the documented shape, with the documented $schema", () => {
    expect(mocks.$schema).toBe(DEV_PROXY_MOCKS_SCHEMA);
    // A shape check that can fail: a wrong field name is refused.
    expect(MocksFile.safeParse({ $schema: "x", mocks: [{ request: { url: "u", nthh: 1 }, response: {} }] }).success).toBe(false);
  });

  it("repeated identical requests play back in order via nth, then keep the last answer", () => {
    const share = mocks.mocks.filter((m) => m.request.url === SHARE_URL);
    expect(share.map((m) => [m.request.nth, m.response.statusCode])).toEqual([
      [1, 401],
      [2, 403],
      [3, 200],
      [undefined, 200],
    ]);
    // Dev Proxy answers with the first matching mock: the catch-all must come after the nth ones.
    const idx = (m: (typeof share)[number]) => mocks.mocks.indexOf(m);
    expect(idx(share[3]!)).toBeGreaterThan(idx(share[2]!));
  });

  it("a request seen once has no nth", () => {
    const me = mocks.mocks.find((m) => m.request.url === "https://graph.microsoft.com/v1.0/me")!;
    expect(me.request).toEqual({ url: "https://graph.microsoft.com/v1.0/me", method: "GET" });
  });

  it("JSON bodies as objects, headers as name/value without hop-by-hop or length/encoding", () => {
    const post = mocks.mocks.find((m) => m.request.method === "POST")!;
    expect(post.response).toMatchObject({ statusCode: 201, body: { id: "01NEWFOLDER", name: "New Folder" } });
    const first = mocks.mocks[0]!;
    expect((first.response.body as { error: { code: string } }).error.code).toBe("InvalidAuthenticationToken");
    const names = mocks.mocks.flatMap((m) => m.response.headers ?? []).map((h) => h.name);
    expect(names).toContain("request-id");
    expect(names).toContain("www-authenticate");
    for (const bad of ["content-length", "content-encoding", "transfer-encoding", "connection"]) expect(names).not.toContain(bad);
  });

  it("a binary body is written beside the file and referenced as @file", () => {
    const photo = mocks.mocks.find((m) => m.request.url.endsWith("/photo/$value"))!;
    expect(typeof photo.response.body).toBe("string");
    const ref = (photo.response.body as string).slice(1);
    expect((photo.response.body as string).startsWith("@mocks-bodies/")).toBe(true);
    expect(existsSync(join(dir, ref))).toBe(true);
    expect(readFileSync(join(dir, ref))).toEqual(fx.exchanges[5]!.responseBody!.bytes);
  });
});
