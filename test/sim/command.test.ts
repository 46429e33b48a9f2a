import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "node:https";
import { afterEach, expect, test, vi } from "vitest";
import command from "../../src/commands/sim.js";
import { UserError } from "../../src/errors.js";
import { decodeJwtClaims } from "../../src/graph/token.js";

const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function httpsGet(url: string, ca: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("graphtap sim: prints where it listens, the CA file, principals with tokens, the proxy line; SIGTERM stops it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "graphtap-sim-cmd-"));
  dirs.push(dir);
  const caOut = join(dir, "sim-ca.pem");
  let out = "";
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  });
  const before = new Set(process.listeners("SIGTERM"));
  const running = (command.handler as (a: unknown) => Promise<void>)({
    port: 0, scenario: "prod", warmFor: 120, propagationDelay: 0, tokenLifetime: 600, caOut, gzip: true, _: ["sim"], $0: "graphtap",
  });
  await vi.waitFor(() => expect(out).toContain("Ctrl-C"), { timeout: 30_000 });

  const url = /sim listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
  expect(url).toBeDefined();
  expect(out).toContain(`CA certificate: ${caOut}`);
  expect(out).toContain(`graphtap proxy --upstream graph.microsoft.com=${url} --upstream-ca ${caOut}`);
  expect(out).toContain("alice_fabrikam.com#EXT#@contoso.onmicrosoft.com");
  expect(out).toContain("warm for 120 s");
  const ca = readFileSync(caOut, "utf8");
  expect(ca).toContain("BEGIN CERTIFICATE");

  const meganToken = /megan \(member\)[^\n]*\n\s+token: (\S+)/.exec(out)?.[1];
  expect(meganToken).toBeDefined();
  const claims = decodeJwtClaims(meganToken!);
  expect((claims["exp"] as number) - (claims["iat"] as number)).toBe(600);
  const me = await httpsGet(`${url}/v1.0/me`, ca, meganToken!);
  expect(me.status).toBe(200);
  expect(JSON.parse(me.body).userPrincipalName).toBe("megan@contoso.onmicrosoft.com");

  const stop = process.listeners("SIGTERM").find((l) => !before.has(l));
  expect(stop).toBeDefined();
  (stop as () => void)();
  await running;
  expect(out).toContain("sim stopped after 1 requests");
  await expect(httpsGet(`${url}/v1.0/me`, ca, meganToken!)).rejects.toMatchObject({ code: "ECONNREFUSED" });
});

test("graphtap sim: bad arguments are a UserError", async () => {
  const handler = command.handler as (a: unknown) => Promise<void>;
  await expect(
    handler({ port: 0, scenario: "staging", warmFor: 1, propagationDelay: 0, tokenLifetime: 60, gzip: true, _: [], $0: "x" }),
  ).rejects.toBeInstanceOf(UserError);
  await expect(
    handler({ port: 70000, scenario: "lab", warmFor: 1, propagationDelay: 0, tokenLifetime: 60, gzip: true, _: [], $0: "x" }),
  ).rejects.toBeInstanceOf(UserError);
});
