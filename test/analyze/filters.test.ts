// analyze's filters (--session, --identity, --since, --until), the warning for traffic
// read twice, and the help text; on the HAR fixture and a capture holding it twice.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { analyzeFiles } from "../../src/analyze/analysis.js";
import { UserError } from "../../src/errors.js";
import { readHar } from "../../src/interop/har.js";
import { CaptureWriter } from "../../src/recorder/writer.js";
import { ROOT, runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

const HAR = join(ROOT, "test/fixtures/guest-flip.har");
// Entries at 09:00:00 (401), 09:00:01, 09:00:02 (catalyst), 09:00:03.5 (200), 14:12:00 (401).

let twice: string;
let sessions: string[];

beforeAll(() => {
  const dir = tempDir("graphtap-analyze-filters-");
  // The same HAR imported twice into one capture: two sessions, new ids the second time.
  twice = join(dir, "twice.sqlite");
  const w = CaptureWriter.open(twice);
  sessions = [];
  for (const round of [1, 2]) {
    const session = w.startSession({ kind: "import", source: HAR });
    sessions.push(session);
    for (const ex of readHar(HAR)) w.write({ ...ex, id: round === 1 ? ex.id : `${ex.id}-2`, sessionId: session });
  }
  w.close();
});

describe("analyze filters", () => {
  it("--session keeps one import: no double-counting, the flip is found once", () => {
    const all = analyzeFiles([twice]);
    expect(all.exchanges).toBe(10);
    const one = analyzeFiles([twice], { filter: { sessions: [sessions[1]!.toLowerCase()] } });
    expect(one.exchanges).toBe(5);
    expect(one.flips).toHaveLength(1);
    expect(one.warnings).toEqual([]);
    expect(one.filters).toMatchObject({ sessions: [sessions[1]!.toLowerCase()], identity: null, since: null, until: null });
    expect(analyzeFiles([twice], { filter: { sessions } }).exchanges).toBe(10);
  });

  it("--session: an unknown id or a HAR input is a one-line user error", () => {
    expect(() => analyzeFiles([twice], { filter: { sessions: ["NOPE"] } })).toThrow(new RegExp(`^unknown session "NOPE"; the sessions are: ${sessions.join(", ")}$`));
    expect(() => analyzeFiles([twice, HAR], { filter: { sessions: [sessions[0]!] } })).toThrow(UserError);
    expect(() => analyzeFiles([HAR], { filter: { sessions: [sessions[0]!] } })).toThrow(/--session applies to captures only; .*guest-flip\.har is a HAR file/);
  });

  it("--identity: a key, a whole upn or part of one, any case", () => {
    const key = analyzeFiles([HAR]).flips[0]!.identity.key;
    for (const who of [key, key.toUpperCase(), "ALICE_fabrikam.com#EXT#@contoso.onmicrosoft.com", "Alice_Fabrikam"]) {
      const doc = analyzeFiles([HAR], { filter: { identity: who } });
      expect(doc.exchanges, who).toBe(5);
      expect(doc.filters?.identityKeys).toEqual([key]);
    }
    expect(analyzeFiles([HAR], { filter: { identity: "anonymous" } }).exchanges).toBe(0);
    expect(() => analyzeFiles([HAR], { filter: { identity: "mallory" } })).toThrow(/^no identity matches "mallory"; the identities are: alice_fabrikam\.com#EXT#@contoso\.onmicrosoft\.com \(/);
  });

  it("--since (inclusive) and --until (exclusive), on a HAR and on a capture alike", () => {
    const at = (s: string) => Date.parse(`2026-02-10T${s}Z`);
    for (const file of [HAR, twice]) {
      const k = file === HAR ? 1 : 2;
      expect(analyzeFiles([file], { filter: { since: at("09:00:02") } }).exchanges).toBe(3 * k);
      expect(analyzeFiles([file], { filter: { until: at("09:00:02") } }).exchanges).toBe(2 * k);
      // Without the first refusal there is no flip left.
      const late = analyzeFiles([file], { filter: { since: at("09:00:01"), until: at("10:00:00") } });
      expect(late.exchanges).toBe(3 * k);
      expect(late.flips).toEqual([]);
    }
    expect(() => analyzeFiles([HAR], { filter: { since: at("10:00:00"), until: at("09:00:00") } })).toThrow(/^bad --until: 2026-02-10T09:00:00.000Z is not after --since 2026-02-10T10:00:00.000Z$/);
  });
});

describe("traffic read twice", () => {
  it("the same HAR imported twice into one capture: same time, method, URL, status and request-id", () => {
    const doc = analyzeFiles([twice]);
    expect(doc.duplicates.sameId).toBe(0);
    expect(doc.duplicates.sameRequest).toBe(5);
    expect(doc.warnings).toHaveLength(1);
  });

  it("the same file given twice: the same exchange ids in two inputs", () => {
    const doc = analyzeFiles([HAR, HAR]);
    expect(doc.duplicates).toMatchObject({ sameId: 5, sameRequest: 0, files: [HAR, HAR] });
  });

  it("the CLI warns in one stderr line and still prints the report", async () => {
    const r = await runCli(["analyze", twice, "--json"]);
    expect(r.code).toBe(0);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^graphtap: warning: the same traffic appears twice in .*twice\.sqlite .*figures may be double-counted/);
    expect(JSON.parse(r.stdout).duplicates.sameRequest).toBe(5);
    const clean = await runCli(["analyze", HAR, "--json"]);
    expect(clean.stderr).toBe("");
  });
});

describe("the CLI", () => {
  it("--session, --identity, --since and --until reach the analysis", async () => {
    const r = await runCli(["analyze", twice, "--session", sessions[0]!, "--identity", "alice_FABRIKAM", "--since", "2026-02-10T09:00:00Z", "--until", "2026-02-10T12:00:00.000Z", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.exchanges).toBe(4);
    expect(doc.recorded).toBe(4);
    expect(doc.flips).toHaveLength(1);
    expect(doc.filters).toMatchObject({ sessions: [sessions[0]], identity: "alice_FABRIKAM", since: "2026-02-10T09:00:00.000Z", until: "2026-02-10T12:00:00.000Z" });
    const text = await runCli(["analyze", twice, "--session", sessions[0]!, "--since", "2026-02-10T09:00:00Z"]);
    expect(text.stdout.split("\n")[1]).toBe(`only session ${sessions[0]}, since 2026-02-10T09:00:00.000Z`);
  });

  it("a bad --since is a one-line error", async () => {
    const r = await runCli(["analyze", HAR, "--since", "yesterday"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim()).toMatch(/bad --since "yesterday": expected an ISO time/);
  });

  it("analyze --help marks files required without a default; replay --help keeps a space before every [type]", async () => {
    const a = await runCli(["analyze", "--help"]);
    expect(a.stdout).toMatch(/files .*\[array\] \[required\]\n/);
    expect(a.stdout).not.toContain("[default: []]");
    expect(a.stdout).toMatch(/--session .*\(repeatable; captures only\)/);
    const r = await runCli(["replay", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Retry-After ");
    expect(r.stdout).not.toMatch(/\S\[(number|string|boolean|array)\]/);
    expect(r.stdout.replace(/\s+/g, " ")).toContain("a $batch whose parts are all GET/HEAD (it counts as a read)");
  });
});
