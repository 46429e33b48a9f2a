// The commands as a user runs them (dist/cli.js; build first): --json parses, text is
// one line per exchange, user mistakes are one line on stderr.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { CLI, cleanEnv, ROOT, runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";
import { buildCapture, GUEST_UPN, jwt, OWNER_OID, OWNER_UPN, SHARE_URL, TENANT, type Fixture } from "./capture-fixture.js";

let fx: Fixture;
let dir: string;

beforeAll(() => {
  dir = tempDir();
  fx = buildCapture(dir);
});

describe("graphtap sessions / list / show", () => {
  it("sessions --json", async () => {
    const r = await runCli(["sessions", fx.file, "--json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Array<{ id: string; kind: string; exchanges: number }>;
    expect(doc).toEqual([expect.objectContaining({ id: fx.sessionId, kind: "proxy", exchanges: fx.exchanges.length })]);
  });

  it("list --json with filters, and the text form", async () => {
    const r = await runCli(["list", fx.file, "--status", "4xx", "--identity", GUEST_UPN, "--json"]);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<{ status: number; url: string; upn: string }>;
    expect(rows.map((x) => [x.status, x.url, x.upn])).toEqual([
      [401, SHARE_URL, GUEST_UPN],
      [403, SHARE_URL, GUEST_UPN],
    ]);
    const text = await runCli(["list", fx.file, "--template", "shares"]);
    expect(text.stdout.trimEnd().split("\n")).toHaveLength(3);
    expect(text.stdout).not.toContain("\u001b[");
  });

  it("list --identity megan and --since with a time list printed", async () => {
    const r = await runCli(["list", fx.file, "--identity", "megan", "--since", "09:00:05", "--until", "09:00:07.000", "--json"]);
    expect(r.stderr).toBe("");
    const rows = JSON.parse(r.stdout) as Array<{ status: number; upn: string }>;
    expect(rows.map((x) => [x.status, x.upn])).toEqual([
      [200, OWNER_UPN],
      [201, OWNER_UPN],
    ]);
  });

  it("show by prefix (text and --json); an unknown id is one line and exit 2", async () => {
    const list = await runCli(["list", fx.file, "--status", "403"]);
    const prefix = list.stdout.split(" ")[0]!;
    const text = await runCli(["show", fx.file, prefix]);
    expect(text.stderr).toBe("");
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("accessDenied");
    expect(text.stdout).toContain(`Request  GET ${SHARE_URL} HTTP/1.1`);
    const json = await runCli(["show", fx.file, prefix, "--json"]);
    const view = JSON.parse(json.stdout) as { id: string; status: number; graph: { errorCode: string }; identity: { guest: boolean } };
    expect(view).toMatchObject({ id: fx.exchanges[2]!.id, status: 403, graph: { errorCode: "accessDenied" }, identity: { guest: true } });
    const bad = await runCli(["show", fx.file, "ZZZZZZ"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toMatch(/^graphtap: no exchange ZZZZZZ/);
  });
});

describe("graphtap export / import", () => {
  it("export --har and --devproxy-mocks, then import the HAR into a new capture", async () => {
    const har = join(dir, "out.har");
    const mocks = join(dir, "mocks.json");
    const r = await runCli(["export", fx.file, "--har", har, "--devproxy-mocks", mocks]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`wrote ${fx.exchanges.length} entries to ${har}`);
    expect(JSON.parse(readFileSync(mocks, "utf8")).mocks.length).toBeGreaterThan(0);
    const db = join(dir, "imported.sqlite");
    const i = await runCli(["import", har, "--db", db]);
    expect(i.code).toBe(0);
    expect(i.stdout).toContain(`imported ${fx.exchanges.length} exchanges`);
    const s = JSON.parse((await runCli(["sessions", db, "--json"])).stdout) as Array<{ kind: string }>;
    expect(s.map((x) => x.kind)).toEqual(["import"]);
  });

  it("a malformed HAR is a one-line error", async () => {
    const r = await runCli(["import", join(ROOT, "test/fixtures/har/malformed-truncated.har"), "--db", join(dir, "never.sqlite")]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("is not a valid HAR file");
  });

  it("export without a target says what to give", async () => {
    const r = await runCli(["export", fx.file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--har OUT and/or --devproxy-mocks OUT");
  });
});

describe("graphtap serve", () => {
  it("prints `serving FILE on http://HOST:PORT`, answers, and stops on SIGTERM", async () => {
    const home = tempDir();
    const child = spawn(process.execPath, [CLI, "serve", fx.file, "--port", "0", "--home", home], { env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}`)), 15_000);
        child.stdout.on("data", () => {
          const m = /serving .* on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
      });
      expect(out).toContain(`serving ${fx.file} on ${url}`);
      const res = await fetch(`${url}/v1.0/me`, { headers: { authorization: `Bearer ${jwt({ tid: TENANT, oid: OWNER_OID, scp: "User.Read" })}` } });
      expect(res.status).toBe(200);
      // Megan's /me is not anyone's: a tokenless call is told whose recordings exist.
      const anon = await fetch(`${url}/v1.0/me`);
      expect(anon.status).toBe(404);
      expect(((await anon.json()) as { error: { message: string } }).error.message).toContain("as anonymous; 1 recording of other identities exists");
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  });

  it("a file that is not a capture is refused before any CA is made", async () => {
    const home = tempDir();
    const text = join(dir, "text.txt");
    writeFileSync(text, "not a capture\n");
    const r = await runCli(["serve", text, "--port", "0", "--home", home]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).not.toContain("created a CA");
    expect(existsSync(join(home, "ca.pem"))).toBe(false);
  });

  it("--match-header authorization is a one-line error that says why", async () => {
    const home = tempDir();
    const r = await runCli(["serve", fx.file, "--port", "0", "--home", home, "--match-header", "authorization"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^graphtap: --match-header authorization .*stored hashed.*identity is matched automatically/);
    expect(existsSync(join(home, "ca.pem"))).toBe(false);
  });
});
